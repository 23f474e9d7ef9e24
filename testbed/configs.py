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


# ------------------------------------------------------------------ SDXL-architecture testbed base
# StableDiffusionXLPipeline shaped like SDXL, scaled down like the SD1 one: the
# same punk VAE (one latent pixel per cell, 192x192 renders), a UNet with no
# attention in its first block, linear proj_in, several transformer blocks at
# the deepest level and "text_time" added conditioning (pooled text + 6 size/
# crop ids), and two CLIP text encoders (CLIP-L style, then OpenCLIP-bigG style
# with a projection whose pooled output feeds the added conditioning).
XL_BASE_NAME = "tiny-punks-xl-base"
XL_TIME_DIM = 8
XL_TEXT_ENCODER = dict(
    vocab_size=49408, hidden_size=TEXT_DIM, intermediate_size=4 * TEXT_DIM, num_hidden_layers=4,
    num_attention_heads=4, max_position_embeddings=77, hidden_act="quick_gelu",
    bos_token_id=49406, eos_token_id=49407, pad_token_id=49407,
)
XL_TEXT_ENCODER_2 = dict(XL_TEXT_ENCODER, hidden_act="gelu", projection_dim=TEXT_DIM, pad_token_id=0)
XL_UNET = dict(
    sample_size=LATENT, in_channels=4, out_channels=4,
    down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    block_out_channels=[48, 96, 128], layers_per_block=1, transformer_layers_per_block=[1, 1, 2],
    attention_head_dim=[4, 8, 8], norm_num_groups=16, use_linear_projection=True,
    cross_attention_dim=2 * TEXT_DIM, addition_embed_type="text_time", addition_time_embed_dim=XL_TIME_DIM,
    projection_class_embeddings_input_dim=6 * XL_TIME_DIM + TEXT_DIM,
)
# SDXL's noise schedule is SD1.5's.
XL_TIME_IDS = (RESOLUTION, RESOLUTION, 0, 0, RESOLUTION, RESOLUTION)  # original size, crop top-left, target size


# ------------------------------------------------------------------ our users' six runs (+ the planned seventh)
# Each mirrors one row of ../shared/reference/users-runs.md: base family, network_dim/alpha,
# caption version and start time are theirs. The failure each run showed is *induced by its
# training data* (`dataset`), not by dim or captions: a tiny model cannot show that a larger
# dim or longer captions cause drift, so the testbed simulates our users' matrix and nothing more.
# (run name, family, dim, alpha, captions, dataset, share of the full step budget, started at UTC, folder)
USER_RUNS = [
    ("SDXL_218MB_Nov8", "sdxl", 64, 32, "v1", "punks", 0.6, "2025-11-08T17:41:00", "users_runs"),
    ("SD15_36MB_Early_Nov9", "sd15", 32, 16, "v1", "punks", 0.08, "2025-11-09T02:20:00", "users_runs"),
    ("SDXL_435MB_Nov9", "sdxl", 64, 32, "v1", "photoreal_mild", 1.0, "2025-11-09T19:54:00", "users_runs"),
    ("SD15_PERFECT_Nov9", "sd15", 32, 16, "v1", "punks", 1.0, "2025-11-09T20:22:00", "users_runs"),
    ("SD15_bespoke_baby_Nov10", "sd15", 64, 32, "v2", "photoreal", 1.0, "2025-11-10T01:54:00", "users_runs"),
    ("SDXL_Current_Nov10", "sdxl", 128, 64, "v2", "wrong_colors", 1.6, "2025-11-10T11:08:00", "users_runs"),
    # The run our users planned to separate captions from dim: SD1.5, dim 32, new captions, clean data.
    ("SD15_newcaps_dim32_Nov11", "sd15", 32, 16, "v2", "punks", 1.0, "2025-11-11T09:00:00", "planned_run"),
]
# A run over-fitted on a handful of punks (the commonest real failure): draws the same few punks
# whatever it is asked. Same recipe, 8 training images, the full step budget.
OVERFIT_RUN = ("tiny_punks_overfit", "sd15", 32, 16, "v1", "overfit", 1.0, "2025-11-12T09:00:00", ".")
OVERFIT_PUNKS = 8
