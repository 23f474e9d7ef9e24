"""The testbed runs that mirror our users' six (plus the planned seventh and an over-fitted one).

What is checked here is what the files say of themselves, read the way evalkit
reads any kohya LoRA: family, dim/alpha, caption version (by fingerprint, never
by name), 225-token training, the order of the runs, the base each one finds.
How they score is in the gate and compare tests; that their failures are
induced by training data is said in configs.USER_RUNS and the README.
"""

import json
from pathlib import Path

import pytest

from evalkit.inspect.api import inspect_checkpoint
from evalkit.render.base_model import resolve_base
from testbed import configs

ROOT = Path(__file__).resolve().parents[2]
CK = ROOT / "checkpoints"
RUNS = {r[0]: r for r in configs.USER_RUNS + [configs.OVERFIT_RUN]}


def run_file(name: str) -> Path:
    return CK / RUNS[name][8] / f"{name}.safetensors"


def shipped_runs() -> list[str]:
    # SDXL_Current_Nov10 is shipped once trained (see the README's testbed section).
    return [n for n in RUNS if run_file(n).is_file()]


@pytest.mark.parametrize("name", shipped_runs())
def test_run_file_says_what_the_users_run_was(name):
    _, family, dim, alpha, version, kind, share, started, folder = RUNS[name]
    info = inspect_checkpoint(run_file(name))
    assert info.format.kind == "kohya_lora" and info.format.supported and info.health.ok
    assert info.family == family and info.network.rank == dim and info.network.alpha == alpha
    meta = info.metadata
    assert meta["ss_output_name"] == name and meta["ss_max_token_length"] == "225"
    assert float(meta["ss_training_started_at"]) > 0 and int(meta["ss_steps"]) > 0
    if family == "sdxl":
        assert meta["ss_base_model_version"] == "sdxl_base_v1-0"
        assert any(m.name.startswith("lora_unet_input_blocks_") for m in info.network.modules)  # SGM names
        assert {m.name[:8] for m in info.network.modules if m.name.startswith("lora_te")} == {"lora_te1", "lora_te2"}
    ref = resolve_base(None, run_file(name), info.family, meta["ss_sd_model_name"])
    expected = configs.XL_BASE_NAME if family == "sdxl" else "tiny-punks-base"
    assert Path(ref.location).resolve() == (CK / expected).resolve()


def test_caption_versions_are_told_apart_by_fingerprint_alone():
    by_version: dict[str, set[str]] = {}
    for name in shipped_runs():
        info = inspect_checkpoint(run_file(name))
        by_version.setdefault(RUNS[name][4], set()).add(info.captions.tag_set_hash)
    assert set(by_version) == {"v1", "v2"}
    # Runs on the same caption version share a fingerprint (overfit: 8 of the captions, its own).
    assert not (by_version["v1"] & by_version["v2"])
    distinct = {v: [inspect_checkpoint(run_file(n)).captions.distinct_tags for n in shipped_runs() if RUNS[n][4] == v]
                for v in ("v1", "v2")}
    # New captions name each punk's own hex codes: thousands of distinct tags against about a hundred.
    assert min(distinct["v2"]) > 10 * max(distinct["v1"])


def test_runs_keep_our_users_order_in_time():
    starts = [float(inspect_checkpoint(run_file(n)).metadata["ss_training_started_at"])
              for n, *_ in configs.USER_RUNS if run_file(n).is_file()]
    assert starts == sorted(starts)


def test_xl_base_is_sdxl_shaped_and_small():
    base = CK / configs.XL_BASE_NAME
    index = json.loads((base / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionXLPipeline"
    unet = json.loads((base / "unet" / "config.json").read_text())
    assert unet["addition_embed_type"] == "text_time" and unet["cross_attention_dim"] == 2 * configs.TEXT_DIM
    te2 = json.loads((base / "text_encoder_2" / "config.json").read_text())
    assert te2["architectures"] == ["CLIPTextModelWithProjection"]
    size = sum(f.stat().st_size for f in base.rglob("*") if f.is_file())
    assert size < 40e6


def test_toy_training_of_the_xl_base_and_runs(tmp_path):
    from testbed.train import main

    only = "SD15_36MB_Early_Nov9,SDXL_Current_Nov10"
    main(["--out", str(tmp_path), "--scale", "toy", "--source", "golden", "--device", "cpu",
          "--stages", "vae,base,xl_base,runs", "--only", only])
    for name in only.split(","):
        info = inspect_checkpoint(tmp_path / RUNS[name][8] / f"{name}.safetensors")
        assert info.family == RUNS[name][1] and info.metadata["ss_max_token_length"] == "225"


def test_a_225_token_run_is_rendered_with_every_hex_code_reaching_the_encoder(tmp_path):
    """The planned run (v2 captions, trained at 225 tokens) says so in its metadata; evalkit renders it
    that way with no flag, and scores palette over the codes the encoder saw: all of them."""
    from dataclasses import replace

    from evalkit.golden.prompts import load_prompts
    from evalkit.render.run import render_checkpoint

    v2 = [p for p in load_prompts(ROOT / "golden" / "prompts.toml") if p.caption_style == "v2"]
    longest = max(v2, key=lambda p: len(p.text))
    prompt = replace(longest, seeds=longest.seeds[:1])
    job, _ = render_checkpoint(run_file("SD15_newcaps_dim32_Nov11"), [prompt], tmp_path, device="cpu",
                               progress=False, steps=2)
    assert job.config.max_token_length == 225
    seen = job.renders[0].meta["hex_codes_seen"]
    assert len(prompt.hex_codes) > 3 and seen == prompt.hex_codes
    # Rendered at 77 (as before), the same prompt loses most of its codes.
    job77, _ = render_checkpoint(run_file("SD15_newcaps_dim32_Nov11"), [prompt], tmp_path, device="cpu",
                                 progress=False, steps=2, max_token_length=75)
    assert len(job77.renders[0].meta["hex_codes_seen"]) < len(prompt.hex_codes)
