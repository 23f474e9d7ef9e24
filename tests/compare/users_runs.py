"""Recorded runs shaped like our users' six (and the planned seventh), for the compare tests.

Each run is a real kohya-format safetensors file (a few real SD1.5 or SDXL
module names and shapes, so `inspect_checkpoint` detects the family and rank
from the tensors) carrying the ``ss_*`` metadata sd-scripts writes, with
``ss_tag_frequency`` counted from the golden v1 or v2 captions. Per-render
scores are drawn around known true means (`TRUTH`), so the right attribution
is known; the runs go into a real score store through `ScoreStore.add_run`.
Stand-in: the scores are drawn, not rendered (the lead's end-to-end test
renders the testbed LoRAs).
"""

from __future__ import annotations

import functools
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from evalkit.compare.bootstrap import quality_of
from evalkit.gate.record import METRICS, CheckpointResult, ImageResult, RunRecord
from evalkit.golden.load import load_golden
from evalkit.golden.prompts import load_prompts
from evalkit.inspect.api import inspect_checkpoint
from evalkit.inspect.kohya_format import kohya_state_dict_to_file

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "golden"
PROMPTS = GOLDEN / "prompts.toml"
THRESHOLDS = {"grid_sharpness": {"direction": "min", "value": 0.6}, "palette_fidelity": {"direction": "min", "value": 0.25},
              "photorealism": {"direction": "max", "value": 0.256}}

# (module name, in, out): one cross-attention to_k (its input width names the model) and text-encoder layers.
MODULES = {
    "sd15": [("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k", 768, 320),
             ("lora_te_text_model_encoder_layers_0_self_attn_k_proj", 768, 768)],
    "sdxl": [("lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k", 2048, 640),
             ("lora_te1_text_model_encoder_layers_0_self_attn_k_proj", 768, 768),
             ("lora_te2_text_model_encoder_layers_0_self_attn_k_proj", 1280, 1280)],
}
SD15 = {"ss_base_model_version": "sd_v1", "ss_sd_model_name": "v1-5-pruned-emaonly.safetensors", "ss_resolution": "(512, 512)",
        "ss_shuffle_caption": "True", "ss_keep_tokens": "2", "ss_multires_noise_iterations": "6",
        "ss_multires_noise_discount": "0.3"}
SDXL = {"ss_base_model_version": "sdxl_base_v1-0", "ss_sd_model_name": "sd_xl_base_1.0.safetensors",
        "ss_resolution": "(1024, 1024)", "ss_shuffle_caption": "False", "ss_keep_tokens": "0",
        "ss_multires_noise_iterations": "None", "ss_multires_noise_discount": "None"}
COMMON = {"ss_network_module": "networks.lora", "ss_learning_rate": "0.0001", "ss_unet_lr": "0.0001",
          "ss_text_encoder_lr": "5e-05", "ss_lr_scheduler": "cosine_with_restarts", "ss_optimizer":
          "bitsandbytes.optim.adamw.AdamW8bit", "ss_mixed_precision": "fp16", "ss_total_batch_size": "4",
          "ss_noise_offset": "0.1", "ss_adaptive_noise_scale": "0.00357", "ss_min_snr_gamma": "5.0",
          "ss_max_token_length": "225", "ss_seed": "42", "ss_num_epochs": "10", "ss_session_id": "7"}

# name, family, network_dim, captions, epoch, steps, trained (unix time), true suite means (grid, palette, realism, adherence: 0.9 for all, the runs differ in the other three).
# Truth on SD1.5: dim 64 drifts to photographs, v2 captions add a little palette, three epochs of ten are undertrained.
RUNS = [
    ("SDXL_218MB_Nov8", "sdxl", 64, "v1", 10, 2500, 1762623660, (0.84, 0.58, 0.08, 0.9)),
    ("SD15_36MB_Early_Nov9", "sd15", 32, "v1", 3, 750, 1762654800, (0.65, 0.55, 0.13, 0.9)),
    ("SDXL_435MB_Nov9", "sdxl", 64, "v1", 10, 2500, 1762718040, (0.86, 0.60, 0.07, 0.9)),
    ("SD15_PERFECT_Nov9", "sd15", 32, "v1", 10, 2500, 1762719720, (0.95, 0.70, 0.03, 0.9)),
    ("SD15_bespoke_baby_Nov10", "sd15", 64, "v2", 10, 2500, 1762739640, (0.35, 0.48, 0.48, 0.9)),
    ("SDXL_Current_Nov10", "sdxl", 128, "v2", 10, 2500, 1762772880, (0.90, 0.05, 0.10, 0.9)),
]
SEVENTH = ("SD15_dim32_v2_planned", "sd15", 32, "v2", 10, 2500, 1762860000, (0.95, 0.78, 0.03, 0.9))
NOISE = 0.05
FIRST_RUN = ("20261110T120000Z-aaaa", "2026-11-10T12:00:00+00:00")  # (run_id, started_at) of the six's gate run
SEVENTH_RUN = ("20261111T120000Z-bbbb", "2026-11-11T12:00:00+00:00")


def true_quality(means) -> float:
    return float(quality_of(np.array(means, dtype=float), tuple(METRICS)))


@functools.cache
def golden():
    return load_golden(GOLDEN)


@functools.cache
def tag_frequency(version: str) -> str:
    golden_set = golden()
    counts = Counter(t.strip().lower() for c in golden_set.captions[version] for t in c.split(",") if t.strip())
    return json.dumps({"10_punks": dict(counts)})


def write_lora(folder: Path, name: str, family: str, dim: int, captions: str | None, epoch: int, steps: int,
               trained: float, *, metadata: bool = True) -> Path:
    rng = np.random.default_rng(dim)
    tensors = {}
    for module, n_in, n_out in MODULES[family]:
        tensors[f"{module}.lora_down.weight"] = (rng.normal(0, 0.02, (dim, n_in))).astype(np.float16)
        tensors[f"{module}.lora_up.weight"] = (rng.normal(0, 0.02, (n_out, dim))).astype(np.float16)
        tensors[f"{module}.alpha"] = np.array(dim / 2, dtype=np.float16)
    meta: dict[str, str] = {}
    if metadata:
        meta = {**COMMON, **(SD15 if family == "sd15" else SDXL), "ss_output_name": name, "ss_network_dim": str(dim),
                "ss_network_alpha": str(dim / 2), "ss_epoch": str(epoch), "ss_steps": str(steps),
                "ss_max_train_steps": "2500", "ss_training_started_at": str(trained),
                "ss_dataset_dirs": json.dumps({"10_punks": {"n_repeats": 10, "img_count": 256}})}
        if captions:
            meta["ss_tag_frequency"] = tag_frequency(captions)
    path = folder / f"{name}.safetensors"
    kohya_state_dict_to_file(path, tensors, meta)
    return path


def slots(n_prompts: int = 8):
    return [(p.id, s, p.text) for p in load_prompts(PROMPTS)[:n_prompts] for s in p.seeds]


def checkpoint(path: Path, truth, rng, suite) -> CheckpointResult:
    """A scored checkpoint: each render's scores = truth + a prompt effect shared by all runs + noise."""
    info = inspect_checkpoint(path, tensor_health=False).to_dict()
    grid = golden().images[0].tolist()
    prompt_effect = np.random.default_rng(99).normal(0, 0.03, (len(suite), len(METRICS)))
    images = []
    for k, (pid, seed, text) in enumerate(suite):
        values = np.clip(np.array(truth) + prompt_effect[k] + rng.normal(0, NOISE, len(METRICS)), 0, 1)
        scores = {m: round(float(v), 5) for m, v in zip(METRICS, values)}
        images.append(ImageResult(prompt_id=pid, seed=seed, prompt=text, hex_codes=[], render=f"cache/{path.stem}/{pid}-{seed}.png",
                                  grid24=grid, scores=scores, passed={m: True for m in METRICS}))
    ck = CheckpointResult(name=path.stem, path=str(path), sha256=info["hashes"]["sha256"],
                          model_hash=info["hashes"]["tensor_sha256"], info=info, images=images)
    ck.quality = round(true_quality([ck.mean(m) for m in METRICS]), 2)
    ck.status = "pass" if ck.quality >= 7 else "fail"
    return ck


def record(run_id: str, started: str, checkpoints: list[CheckpointResult], *, prompts_sha256: str = "5" * 64,
           golden_path: str = str(GOLDEN), prompts_path: str = str(PROMPTS)) -> RunRecord:
    return RunRecord(run_id=run_id, started_at=started, finished_at=started, prompts_path=prompts_path,
                     prompts_sha256=prompts_sha256, golden_path=golden_path, thresholds=THRESHOLDS,
                     versions={"evalkit": "0.1.0", "python": sys.version.split()[0]}, device="cpu",
                     command="pytest evalkit --checkpoint-dir checkpoints", checkpoints=checkpoints)


def users_checkpoints(folder: Path, runs=RUNS, seed: int = 0, n_prompts: int = 8) -> list[CheckpointResult]:
    rng = np.random.default_rng(seed)
    suite = slots(n_prompts)
    return [checkpoint(write_lora(folder, name, fam, dim, cap, ep, st, t), truth, rng, suite)
            for name, fam, dim, cap, ep, st, t, truth in runs]
