"""Configs of the tiny SD1-architecture punk model.

Same families as SD1.5 (AutoencoderKL, UNet2DConditionModel with conv proj_in
cross-attention, CLIP text encoder with the real CLIP tokenizer), scaled down:
192x192 renders, a VAE with factor 8 so each 24x24 latent pixel is one punk
cell (8 image pixels), a 3-level UNet and a 4-layer text encoder.
"""

from __future__ import annotations

RESOLUTION = 192
LATENT = RESOLUTION // 8
TEXT_DIM = 64

VAE = dict(
    in_channels=3, out_channels=3,
    down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
    block_out_channels=[32, 64, 64, 64], layers_per_block=1, latent_channels=4,
    norm_num_groups=16, sample_size=RESOLUTION,
)

UNET = dict(
    sample_size=LATENT, in_channels=4, out_channels=4,
    down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    up_block_types=["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    block_out_channels=[48, 96, 128], layers_per_block=1, cross_attention_dim=TEXT_DIM,
    attention_head_dim=8, norm_num_groups=16, use_linear_projection=False,
)

TEXT_ENCODER = dict(
    vocab_size=49408, hidden_size=TEXT_DIM, intermediate_size=4 * TEXT_DIM, num_hidden_layers=4,
    num_attention_heads=4, max_position_embeddings=77, hidden_act="quick_gelu",
    bos_token_id=49406, eos_token_id=49407, pad_token_id=49407,
)

# SD1.5's training noise schedule.
SCHEDULER = dict(
    num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
    prediction_type="epsilon", steps_offset=1, clip_sample=False, set_alpha_to_one=False,
)

# The three LoRAs reproducing our users' outcomes: (name, network_dim, alpha, dataset).
LORAS = [
    ("tiny_punks_perfect", 32, 16, "punks"),
    ("tiny_punks_photoreal", 64, 32, "photoreal"),
    ("tiny_punks_wrong_colors", 128, 64, "wrong_colors"),
]
