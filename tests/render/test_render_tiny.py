"""The renderer on the shipped tiny base (real diffusers pipeline, CPU)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from evalkit.errors import EvalkitError
from evalkit.golden.prompts import Prompt
from evalkit.inspect.api import inspect_checkpoint
from evalkit.render.attach import attach_lora, detach_lora
from evalkit.render.base_model import load_pipeline, resolve_base
from evalkit.render.cache import RenderCache
from evalkit.render.config import RenderConfig
from evalkit.render.renderer import RenderJob, render_suite

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "checkpoints" / "tiny-punks-base"
PERFECT = ROOT / "checkpoints" / "tiny_punks_perfect.safetensors"
PROMPTS = [
    Prompt("male_cap", "male punk portrait, cap, medium skin, pixel art", "photo", (1, 2), (), "v1"),
    Prompt("female_bob", "female punk portrait, blonde bob, light skin, pixel art", "photo", (3,), (), "v1"),
]
FAST = RenderConfig(steps=4, guidance=5.0, width=192, height=192, batch_size=3)


@pytest.fixture(scope="module")
def pipe():
    return load_pipeline(resolve_base(str(BASE), PERFECT, "sd15", None), "cpu", torch.float32)


def job(cfg=FAST):
    return RenderJob("0" * 64, "tiny-punks-base", cfg, "cpu")


def test_fixed_seeds_do_not_depend_on_the_batch(pipe, tmp_path):
    together = render_suite(pipe, PROMPTS, job(), RenderCache(tmp_path / "a"), progress=False)
    alone = render_suite(pipe, PROMPTS, job(RenderConfig(**{**FAST.to_dict(), "batch_size": 1})), RenderCache(tmp_path / "b"), progress=False)
    for x, y in zip(together.renders, alone.renders):
        diff = np.abs(x.image().astype(int) - y.image().astype(int)).max()
        assert diff <= 1, (x.path.name, diff)
    # different seeds really give different images
    assert np.abs(together.renders[0].image().astype(int) - together.renders[1].image().astype(int)).max() > 10


def test_cache_hit_and_corruption(pipe, tmp_path):
    cache = RenderCache(tmp_path)
    first = render_suite(pipe, PROMPTS, job(), cache, progress=False)
    assert (first.rendered, first.cached) == (3, 0)
    second = render_suite(pipe, PROMPTS, job(), cache, progress=False)
    assert (second.rendered, second.cached) == (0, 3)
    victim = second.renders[1].path
    victim.write_bytes(victim.read_bytes()[:100])  # a truncated PNG must never be scored
    third = render_suite(pipe, PROMPTS, job(), cache, progress=False)
    assert (third.rendered, third.cached) == (1, 2)
    assert third.renders[1].image().shape == (192, 192, 3)


def test_config_change_misses_the_cache(pipe, tmp_path):
    cache = RenderCache(tmp_path)
    render_suite(pipe, PROMPTS[:1], job(), cache, progress=False)
    other = render_suite(pipe, PROMPTS[:1], job(RenderConfig(**{**FAST.to_dict(), "guidance": 3.0})), cache, progress=False)
    assert other.rendered == 2


def test_lora_takes_effect_and_unloads(pipe):
    info = inspect_checkpoint(PERFECT)
    report = attach_lora(pipe, PERFECT, info, scale=1.0)
    assert report["modules_wrapped"] == len(info.network.modules) == 108
    assert report["scales"] == {0.5: 108}  # alpha 16 / rank 32
    assert report["probe_change"] > 1e-3
    detach_lora(pipe)


def test_lora_matching_nothing_is_an_error(pipe, tmp_path):
    state = load_file(str(PERFECT))
    bogus = tmp_path / "bogus.safetensors"
    save_file({k.replace("lora_unet_", "lora_unet_nonexistent_").replace("lora_te_", "lora_te_nonexistent_"): v
               for k, v in state.items()}, str(bogus), metadata={"ss_network_module": "networks.lora"})
    with pytest.raises(EvalkitError) as info:
        attach_lora(pipe, bogus, inspect_checkpoint(bogus))
    assert str(bogus) in str(info.value) and "\n" not in str(info.value)
    detach_lora(pipe)


def test_offline_hub_base_is_one_line_error(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # what the hub reads from HF_HUB_OFFLINE=ON/1/true
    ref = resolve_base(None, PERFECT, "sd15", "no-such-base")
    assert ref.kind == "hub"
    with pytest.raises(EvalkitError) as info:
        load_pipeline(ref, "cpu", torch.float32)
    assert "hf download stable-diffusion-v1-5/stable-diffusion-v1-5" in str(info.value)


def test_pickle_base_refused(tmp_path):
    f = tmp_path / "v1-5-pruned.ckpt"
    f.write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(EvalkitError, match="pickle checkpoints are refused"):
        resolve_base(str(f), PERFECT, "sd15", None)


def test_fused_lora_renders_like_unfused_and_leaves_no_residue(pipe, tmp_path):
    from evalkit.render.attach import fuse
    from evalkit.render.lora_checks import probe

    before = probe(pipe)
    info = inspect_checkpoint(PERFECT)
    attach_lora(pipe, PERFECT, info)
    unfused = render_suite(pipe, PROMPTS[:1], job(), RenderCache(tmp_path / "u"), progress=False)
    fuse(pipe)
    fused = render_suite(pipe, PROMPTS[:1], job(), RenderCache(tmp_path / "f"), progress=False)
    detach_lora(pipe)
    for a, b in zip(unfused.renders, fused.renders):
        assert np.abs(a.image().astype(int) - b.image().astype(int)).mean() < 1.0
    assert torch.allclose(probe(pipe), before, atol=1e-5)  # base weights restored exactly


def test_merge_switch_renders_like_peft_fuse_and_restores_the_base_exactly(pipe, tmp_path):
    """The fast switch (merge.py) computes the same delta as diffusers' fuse_lora."""
    from evalkit.render.lora_checks import probe
    from evalkit.render.lora_slot import LoraSlot

    base_weights = {k: v.clone() for k, v in pipe.unet.state_dict().items()}
    before = probe(pipe)
    info = inspect_checkpoint(PERFECT)
    slot = LoraSlot(pipe)
    slot.put_on(PERFECT, info, fused=False)  # through diffusers/peft ...
    slot.fuse()  # ... then diffusers' own fuse_lora
    via_peft = render_suite(pipe, PROMPTS[:1], job(), RenderCache(tmp_path / "p"), progress=False)
    slot.take_off()
    report = slot.put_on(PERFECT, info, fused=True)
    assert report["method"] == "merge" and report["modules_merged"] == 108 and report["scales"] == {0.5: 108}
    via_merge = render_suite(pipe, PROMPTS[:1], job(), RenderCache(tmp_path / "m"), progress=False)
    # switching to another checkpoint first restores the base, then merges the new one
    other = ROOT / "checkpoints" / "tiny_punks_photoreal.safetensors"
    slot.put_on(other, inspect_checkpoint(other), fused=True)
    slot.take_off()
    for a, b in zip(via_peft.renders, via_merge.renders):
        assert np.abs(a.image().astype(int) - b.image().astype(int)).max() <= 2
    assert torch.equal(probe(pipe), before)
    assert all(torch.equal(v, base_weights[k]) for k, v in pipe.unet.state_dict().items())


def test_merge_of_a_lora_matching_nothing_is_an_error(pipe, tmp_path):
    from evalkit.render.lora_slot import LoraSlot

    state = load_file(str(PERFECT))
    bogus = tmp_path / "bogus.safetensors"
    save_file({k.replace("lora_unet_", "lora_unet_nonexistent_").replace("lora_te_", "lora_te_nonexistent_"): v
               for k, v in state.items()}, str(bogus), metadata={"ss_network_module": "networks.lora"})
    slot = LoraSlot(pipe)
    with pytest.raises(EvalkitError, match="matched no module") as info:
        slot.put_on(bogus, inspect_checkpoint(bogus), fused=True)
    assert str(bogus) in str(info.value) and "\n" not in str(info.value)
    slot.take_off()


def test_text_embeddings_are_reused_across_seeds_and_checkpoints_that_leave_the_text_encoder(pipe, tmp_path):
    from evalkit.render.renderer import render_batch
    from evalkit.render.text_cache import embeddings_for

    cache = embeddings_for(pipe)
    cache._store.clear()
    cache.hits = cache.misses = 0
    render_suite(pipe, PROMPTS, job(), RenderCache(tmp_path / "a"), progress=False)
    assert (cache.misses, cache.hits) == (2, 1)  # two prompts, three seeds
    other = RenderJob("1" * 64, "tiny-punks-base", FAST, "cpu")  # another LoRA, base text encoder
    render_suite(pipe, PROMPTS, other, RenderCache(tmp_path / "b"), progress=False)
    assert (cache.misses, cache.hits) == (2, 4)
    trains_te = RenderJob("2" * 64, "tiny-punks-base", FAST, "cpu", text_encoder_key="2" * 64 + "@1.0")
    render_suite(pipe, PROMPTS, trains_te, RenderCache(tmp_path / "c"), progress=False)
    assert cache.misses == 4  # its own text encoder: encoded again
    # The reused embeddings give the pipeline's own images.
    chunk = [(PROMPTS[0], 1)]
    ours = render_batch(pipe, chunk, FAST, "cpu")[0]
    theirs = pipe(prompt=[PROMPTS[0].text], negative_prompt=[PROMPTS[0].negative], num_inference_steps=FAST.steps,
                  guidance_scale=FAST.guidance, height=192, width=192, output_type="np",
                  generator=[torch.Generator("cpu").manual_seed(1)]).images[0]
    assert np.abs(ours.astype(int) - np.rint(theirs * 255).astype(int)).max() <= 1


def test_rerender_check_reproduces_the_cache_and_names_what_is_missing(tmp_path):
    from evalkit.render.reproduce import check_reproduction, compare
    from evalkit.render.run import render_checkpoint

    opts = dict(device="cpu", steps=4, guidance=5.0, batch_size=3, progress=False)
    render_checkpoint(PERFECT, PROMPTS, tmp_path, **opts)
    opts.pop("progress")
    r = check_reproduction(PERFECT, PROMPTS, tmp_path, n=2, **opts)
    assert r.checked == 3 and r.reproduced and r.max_abs_diff == 0  # rounded up to the whole first batch
    assert "reproduced 3/3" in r.line() and "same stack" in r.line()
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[1, 2, 0] = 7
    assert compare([a, a], [a, b]) == [0, 7]
    longer = PROMPTS + [Prompt("extra", "ape punk portrait, pixel art", "photo", (5,), (), "v1")]
    with pytest.raises(EvalkitError, match="extra seed 5 is not in the render cache"):
        check_reproduction(PERFECT, longer, tmp_path, n=4, **opts)


def test_a_base_retrained_in_place_misses_the_cache_and_copies_share_its_key(tmp_path):
    import shutil

    from evalkit.render.base_identity import base_fingerprint
    from evalkit.render.run import render_checkpoint

    base = tmp_path / "tiny-punks-base"
    shutil.copytree(BASE, base)
    copy = tmp_path / "elsewhere" / "tiny-punks-base"
    shutil.copytree(BASE, copy)
    assert base_fingerprint("dir", str(base)) == base_fingerprint("dir", str(copy)) == base_fingerprint("dir", str(BASE))
    opts = dict(device="cpu", steps=2, guidance=5.0, batch_size=3, progress=False)
    one = PROMPTS[:1]
    first, _ = render_checkpoint(PERFECT, one, tmp_path / "r", base_model=str(base), **opts)
    assert first.rendered == 2 and first.base_key == f"tiny-punks-base@{base_fingerprint('dir', str(copy))}"
    weights = base / "unet" / "diffusion_pytorch_model.safetensors"
    state = load_file(weights)
    save_file({k: v + 0.01 * torch.randn_like(v) for k, v in state.items()}, weights)  # "retrained" under the same name
    from evalkit.render import run

    run._PIPELINES.clear()
    retrained, _ = render_checkpoint(PERFECT, one, tmp_path / "r", base_model=str(base), **opts)
    assert (retrained.rendered, retrained.cached) == (2, 0)
    assert retrained.renders[0].meta["base_fingerprint"] == base_fingerprint("dir", str(base)) != first.base_fingerprint
    run._PIPELINES.clear()
    rerun, _ = render_checkpoint(PERFECT, one, tmp_path / "r", base_model=str(base), **opts)
    assert (rerun.rendered, rerun.cached) == (0, 2) and not run._PIPELINES  # all cached: no weights loaded


class MemoryLimitedPipeline:
    """The tiny pipeline behind a pretend GPU that holds `limit` images per call.

    A stand-in (mock) for a real CUDA out-of-memory: this machine has no GPU, and a real
    CPU allocation failure would meet the kernel's OOM killer, not an exception. Above
    the limit each call raises torch.OutOfMemoryError, as CUDA's allocator does; every
    other attribute is the real pipeline's. `fail_after` images in, every call fails.
    """

    def __init__(self, pipe, limit: int, fail_after: int | None = None):
        self._pipe, self.limit, self.fail_after, self.calls, self.done = pipe, limit, fail_after, [], 0

    def __getattr__(self, name):
        return getattr(self._pipe, name)

    def __call__(self, **kwargs):
        n = len(kwargs["generator"])
        self.calls.append(n)
        if n > self.limit or (self.fail_after is not None and self.done >= self.fail_after):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        self.done += n
        return self._pipe(**kwargs)


def test_out_of_memory_halves_the_batch_and_keeps_every_image(pipe, tmp_path):
    cfg = RenderConfig(**{**FAST.to_dict(), "batch_size": 4})
    many = [Prompt("male_cap", PROMPTS[0].text, "photo", (1, 2, 3, 4, 5), (), "v1")]
    limited = MemoryLimitedPipeline(pipe, limit=2)
    got = render_suite(limited, many, job(cfg), RenderCache(tmp_path / "oom"), progress=False)
    assert got.rendered == 5 and limited.calls[:2] == [4, 2] and max(limited.calls[2:]) <= 2
    plain = render_suite(pipe, many, job(RenderConfig(**{**FAST.to_dict(), "batch_size": 1})),
                         RenderCache(tmp_path / "plain"), progress=False)
    for x, y in zip(got.renders, plain.renders):  # the retried batches render the same images
        assert np.abs(x.image().astype(int) - y.image().astype(int)).max() <= 1, x.path.name


def test_out_of_memory_at_batch_one_is_a_clear_error_and_rendered_images_stay_cached(pipe, tmp_path):
    cfg = RenderConfig(**{**FAST.to_dict(), "batch_size": 2})
    many = [Prompt("male_cap", PROMPTS[0].text, "photo", (1, 2, 3, 4, 5), (), "v1")]
    cache = RenderCache(tmp_path)
    with pytest.raises(EvalkitError) as error:
        render_suite(MemoryLimitedPipeline(pipe, limit=2, fail_after=2), many, job(cfg), cache, progress=False)
    message = str(error.value)
    assert "out of GPU memory even at batch 1" in message and "2 images already rendered stay cached" in message
    assert "\n" not in message
    again = render_suite(pipe, many, job(cfg), cache, progress=False)  # memory freed: only the rest renders
    assert (again.cached, again.rendered) == (2, 3)


@pytest.mark.parametrize("marker, label", [(".dora_scale", "DoRA"), (".hada_w1_a", "LoHa")])
def test_unsupported_lora_is_refused_before_the_base_loads(tmp_path, marker, label):
    """DoRA and LyCORIS files get one line naming the file and why, and nothing is rendered."""
    from evalkit.render.run import render_checkpoint

    state = load_file(str(PERFECT))
    first = next(k for k in state if k.endswith(".lora_down.weight")).removesuffix(".lora_down.weight")
    state[first + marker] = torch.ones(4, 4)
    bad = tmp_path / f"punks_{label.lower()}.safetensors"
    save_file(state, str(bad), metadata={"ss_network_module": "networks.lora"})
    with pytest.raises(EvalkitError) as error:
        render_checkpoint(bad, PROMPTS, tmp_path / "reports", base_model=str(BASE), device="cpu", progress=False)
    message = str(error.value)
    assert message.startswith(f"{bad}: ") and "\n" not in message and label in message, message
    assert not (tmp_path / "reports" / "cache").exists() or not list((tmp_path / "reports" / "cache").rglob("*.png"))
