"""The tiny punk testbed: a small Stable-Diffusion-architecture model trained on
real CryptoPunks, and kohya-format LoRAs on it that fail the way our users'
runs failed. `python -m testbed.train` makes all of it."""
