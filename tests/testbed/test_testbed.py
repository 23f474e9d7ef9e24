"""The testbed: its trainer runs (toy scale, CPU) and the shipped base draws punks."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from evalkit.golden.load import load_golden
from evalkit.golden.prompts import load_prompts
from evalkit.inspect.api import inspect_checkpoint
from evalkit.render.base_model import load_pipeline, resolve_base
from evalkit.render.cache import RenderCache
from evalkit.render.config import RenderConfig
from evalkit.render.renderer import RenderJob, render_suite
from evalkit.score.golden_reference import build_reference
from evalkit.score.score_image import score_image

ROOT = Path(__file__).resolve().parents[2]
CK = ROOT / "checkpoints"
LORAS = {"tiny_punks_perfect": 32, "tiny_punks_photoreal": 64, "tiny_punks_wrong_colors": 128}


def test_toy_training_runs_end_to_end(tmp_path):
    from testbed.train import main

    main(["--out", str(tmp_path), "--scale", "toy", "--source", "golden", "--device", "cpu", "--stages", "vae,base,loras"])
    base = tmp_path / "tiny-punks-base"
    assert (base / "model_index.json").is_file()
    log = json.loads((base / "testbed_log.json").read_text())
    assert log["vae"]["steps"] == 3 and log["base"]["steps"] == 3
    for name, dim in LORAS.items():
        info = inspect_checkpoint(tmp_path / f"{name}.safetensors")
        assert info.format.kind == "kohya_lora" and info.format.supported
        assert info.network.rank == dim
        assert info.metadata["ss_network_dim"] == str(dim)
        assert info.metadata["ss_sd_model_name"] == "tiny-punks-base"
        assert info.hashes.model_hash_matches is True
        assert any(m.name.startswith("lora_te_text_model_encoder_") for m in info.network.modules)


@pytest.mark.parametrize("name", sorted(LORAS))
def test_shipped_loras_are_kohya_files_for_the_shipped_base(name):
    info = inspect_checkpoint(CK / f"{name}.safetensors")
    assert info.network.rank == LORAS[name] and info.network.alpha == LORAS[name] / 2
    assert len(info.network.modules) == 108
    assert info.family == "sd15" and info.architecture.cross_attention_dim == 64
    assert info.health.ok and not info.warnings
    ref = resolve_base(None, CK / f"{name}.safetensors", info.family, info.metadata["ss_sd_model_name"])
    assert Path(ref.location).resolve() == (CK / "tiny-punks-base").resolve()


def test_base_size_budget():
    size = sum(f.stat().st_size for f in (CK / "tiny-punks-base").rglob("*") if f.is_file())
    assert size < 45e6


def test_base_alone_renders_punk_like_images(tmp_path):
    """No LoRA: evalkit's own scores of the base's renders clear agreed floors."""
    pipe = load_pipeline(resolve_base(str(CK / "tiny-punks-base"), CK / "x", "sd15", None), "cpu", torch.float32)
    prompts = load_prompts(ROOT / "golden" / "prompts.toml")[::3]
    cfg = RenderConfig(steps=20, guidance=5.0, width=192, height=192, batch_size=8)
    job = render_suite(pipe, prompts, RenderJob("base" * 16, "tiny-punks-base", cfg, "cpu"), RenderCache(tmp_path), progress=False)
    ref = build_reference(load_golden(ROOT / "golden"))
    scores = [score_image(r.image(), ref) for r in job.renders]
    assert np.mean([s.grid_sharpness for s in scores]) >= 0.8
    assert np.mean([s.photorealism for s in scores]) <= 0.15
    assert np.mean([s.palette_fidelity for s in scores]) >= 0.25
