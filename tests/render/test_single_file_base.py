"""A single-file base (`v1-5-pruned-emaonly.safetensors` style) with a local config folder, on CPU.

The trained testbed base is written in the original LDM layout (ldm_single_file.py) and
loaded back through diffusers' ``from_single_file`` with ``--base-config`` pointing at the
testbed folder, so nothing is downloaded. It must be the same model: the same weights,
the same renders bit for bit, through `evalkit render`'s code and through the gate.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from ldm_single_file import component_states, write_ldm_single_file

from evalkit.errors import EvalkitError
from evalkit.golden.prompts import load_prompts
from evalkit.render import run
from evalkit.render.base_model import BaseRef, load_pipeline, resolve_base, single_file_pipeline_class

ROOT = Path(__file__).resolve().parents[2]
BASE_DIR = ROOT / "checkpoints" / "tiny-punks-base"
PERFECT = ROOT / "checkpoints" / "tiny_punks_perfect.safetensors"
PROMPTS = ROOT / "tests" / "gate" / "prompts_small.toml"

pytest_plugins = ["pytester"]


@pytest.fixture(scope="module")
def single_file(tmp_path_factory) -> Path:
    path = write_ldm_single_file(BASE_DIR, tmp_path_factory.mktemp("bases") / "tiny-punks-base.safetensors")
    yield path
    for key in [k for k in run._PIPELINES if k[0].location == str(path)]:
        del run._PIPELINES[key]


@pytest.fixture(scope="module")
def two_prompts(tmp_path_factory) -> Path:
    """The first two prompts of the gate's slice at one seed: 2 renders."""
    suite = load_prompts(PROMPTS)[:2]
    lines = [f"[[prompts]]\nid = {json.dumps(p.id)}\ntext = {json.dumps(p.text)}\nnegative = {json.dumps(p.negative)}\n"
             f"seeds = [42]\ngolden = {json.dumps(list(p.golden))}\ncaption_style = {json.dumps(p.caption_style)}\n"
             for p in suite]
    path = tmp_path_factory.mktemp("prompts") / "prompts.toml"
    path.write_text("\n".join(lines))
    return path


def test_single_file_base_loads_the_folder_weights(single_file):
    folder = load_pipeline(resolve_base(str(BASE_DIR), PERFECT, "sd15", None), "cpu", torch.float32)
    ref = resolve_base(str(single_file), PERFECT, "sd15", None, str(BASE_DIR))
    assert (ref.kind, ref.config_dir) == ("single_file", str(BASE_DIR))
    loaded = load_pipeline(ref, "cpu", torch.float32)
    assert type(loaded).__name__ == "StableDiffusionPipeline"
    for (name, want), got in zip(component_states(folder).items(), component_states(loaded).values()):
        assert want.keys() == got.keys(), name
        assert all(torch.equal(want[k], got[k]) for k in want), f"{name} weights differ after the LDM round trip"


def test_single_file_base_renders_what_the_folder_renders(single_file, two_prompts, tmp_path):
    prompts = load_prompts(two_prompts)
    by_folder, _ = run.render_checkpoint(PERFECT, prompts, tmp_path / "folder", base_model=str(BASE_DIR),
                                         device="cpu", progress=False)
    by_file, _ = run.render_checkpoint(PERFECT, prompts, tmp_path / "file", base_model=str(single_file),
                                       base_config=str(BASE_DIR), device="cpu", progress=False)
    assert by_file.base_label == "tiny-punks-base.safetensors" and by_file.rendered == 2
    # the config folder's evalkit.json applies to the single file too (testbed: 20 steps, 192 px)
    assert by_file.config == by_folder.config and by_file.config.width == 192
    for a, b in zip(by_folder.renders, by_file.renders):
        assert np.array_equal(a.image(), b.image()), a.path.name


def test_single_file_base_without_config_is_a_one_line_error(single_file, two_prompts, tmp_path):
    with pytest.raises(EvalkitError) as error:
        run.render_checkpoint(PERFECT, load_prompts(two_prompts), tmp_path, base_model=str(single_file),
                              device="cpu", progress=False)
    message = str(error.value)
    assert message.startswith(f"{single_file}: ") and "--base-config" in message and "\n" not in message


def test_base_config_without_model_index_is_a_one_line_error(single_file, tmp_path):
    (tmp_path / "unet").mkdir()
    with pytest.raises(EvalkitError) as error:
        single_file_pipeline_class(BaseRef("single_file", str(single_file), str(tmp_path)))
    assert str(error.value).startswith(f"{tmp_path / 'model_index.json'}: ") and "--base-config" in str(error.value)


def test_sdxl_is_read_from_the_config_folder_not_its_name(tmp_path):
    """The class comes from model_index.json: an SDXL config folder named 'base' loads as SDXL."""
    for name, cls in (("StableDiffusionXLPipeline", "StableDiffusionXLPipeline"),
                      ("StableDiffusionPipeline", "StableDiffusionPipeline")):
        folder = tmp_path / f"base-{cls}"
        folder.mkdir()
        (folder / "model_index.json").write_text(json.dumps({"_class_name": name}))
        assert single_file_pipeline_class(BaseRef("single_file", "x.safetensors", str(folder))).__name__ == cls
    xl_named_sd = tmp_path / "my-xl-style-sd15"
    shutil.copytree(tmp_path / "base-StableDiffusionPipeline", xl_named_sd)
    assert single_file_pipeline_class(BaseRef("single_file", "x.safetensors", str(xl_named_sd))).__name__ \
        == "StableDiffusionPipeline"


def test_gate_renders_through_a_single_file_base(pytester, single_file, two_prompts, tmp_path):
    """`pytest evalkit --base-model FILE --base-config DIR`: the gate's renders are the single file's."""
    reports = tmp_path / "reports"
    result = pytester.runpytest_subprocess(
        str(ROOT / "evalkit"), f"--rootdir={ROOT}", "-p", "no:cacheprovider", "--checkpoint", str(PERFECT),
        "--base-model", str(single_file), "--base-config", str(BASE_DIR), "--prompts", str(two_prompts), "--no-base-compare",
        "--reports-dir", str(reports), "--render-only", "--batch-size", "1")
    assert result.ret == 0, result.stdout.str()[-2000:]
    pngs = {p.name: p for p in (reports / "cache").rglob("*.png")}
    sidecars = [json.loads(p.with_suffix(".json").read_text()) for p in pngs.values()]
    assert len(sidecars) == 2 and {s["base"] for s in sidecars} == {"tiny-punks-base.safetensors"}
    assert {s["config"]["batch_size"] for s in sidecars} == {1}
    folder_job, _ = run.render_checkpoint(PERFECT, load_prompts(two_prompts), tmp_path / "folder",
                                          base_model=str(BASE_DIR), device="cpu", progress=False, batch_size=1)
    for r in folder_job.renders:
        # another process (its own CPU thread pool): equal to within one level, as across batches
        gate_image = np.asarray(Image.open(pngs[r.path.name])).astype(int)
        assert np.abs(r.image().astype(int) - gate_image).max() <= 1, r.path.name
