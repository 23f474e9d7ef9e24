"""The bad-input attack of issue 22, as a reproducible harness.

`cases.py` builds the bad inputs (one `Case` each, in ten categories), `harness.py` runs each as a
real subprocess of the CLI or the gate and classifies what came out, `run_attack.py` is the command
(`PYTHONPATH=. python -m tests.attack.run_attack --out reports/attack.json`).
"""
