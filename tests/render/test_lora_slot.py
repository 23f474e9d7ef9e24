"""LoraSlot, the one owner of what is on a pipeline, on the shipped tiny base and trained testbed LoRAs (CPU)."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from evalkit.errors import EvalkitError
from evalkit.inspect.api import inspect_checkpoint
from evalkit.render.base_model import load_pipeline, resolve_base
from evalkit.render.lora_slot import LoraSlot

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "checkpoints" / "tiny-punks-base"
PERFECT = ROOT / "checkpoints" / "tiny_punks_perfect.safetensors"
PHOTOREAL = ROOT / "checkpoints" / "tiny_punks_photoreal.safetensors"


def weights(pipe) -> dict:
    """Every weight a LoRA can touch (UNet and text encoder), copied."""
    return {f"{part}.{k}": v.detach().clone() for part in ("unet", "text_encoder")
            for k, v in getattr(pipe, part).state_dict().items()}


def differing(pipe, reference: dict) -> list[str]:
    now = weights(pipe)
    assert now.keys() == reference.keys(), "the module tree changed (a LoRA layer stayed on)"
    return [k for k, v in now.items() if not torch.equal(v, reference[k])]


@pytest.fixture(scope="module")
def loaded():
    pipe = load_pipeline(resolve_base(str(BASE), PERFECT, "sd15", None), "cpu", torch.float32)
    return pipe, weights(pipe)


@pytest.fixture
def pipe(loaded):
    pipe, base = loaded
    yield pipe
    # peft's unfuse is exact only to rounding: put the loaded weights back for the next test
    for part in ("unet", "text_encoder"):
        getattr(pipe, part).load_state_dict({k.split(".", 1)[1]: v for k, v in base.items() if k.startswith(part + ".")})


@pytest.fixture(scope="module")
def infos():
    return {f: inspect_checkpoint(f) for f in (PERFECT, PHOTOREAL)}


@pytest.mark.parametrize("fused", [True, False], ids=["merge", "peft"])
def test_take_off_restores_the_loaded_weights_bit_for_bit(pipe, loaded, infos, fused):
    attributes = set(vars(pipe))
    slot = LoraSlot(pipe)
    report = slot.put_on(PERFECT, infos[PERFECT], fused=fused)
    assert report["method"] == slot.method == ("merge" if fused else "peft")
    assert slot.lora == PERFECT
    if fused:  # merged in place: each of the 108 modules' weights changed, the module tree did not
        assert len(differing(pipe, loaded[1])) == 108
    # the slot owns what is on the pipe: no hidden evalkit attributes on the diffusers object
    assert not [k for k in set(vars(pipe)) - attributes if "evalkit" in k]
    slot.take_off()
    assert slot.method is None and slot.lora is None
    assert differing(pipe, loaded[1]) == []


def test_take_off_with_nothing_on_does_nothing(pipe, loaded):
    slot = LoraSlot(pipe)
    slot.take_off()
    slot.take_off()
    assert slot.method is None and differing(pipe, loaded[1]) == []


def test_the_same_lora_put_on_twice_is_on_once(pipe, loaded, infos):
    slot = LoraSlot(pipe)
    slot.put_on(PERFECT, infos[PERFECT])
    once = weights(pipe)
    again = slot.put_on(PERFECT, infos[PERFECT])
    assert again["method"] == "merge" and again["scales"] == {0.5: 108}
    assert differing(pipe, once) == []  # the delta is not added twice
    slot.take_off()
    assert differing(pipe, loaded[1]) == []


@pytest.fixture(scope="module")
def photoreal_alone(loaded, infos):
    """The weights with only PHOTOREAL merged onto the loaded base."""
    pipe, _ = loaded
    slot = LoraSlot(pipe)
    slot.put_on(PHOTOREAL, infos[PHOTOREAL])
    merged = weights(pipe)
    slot.take_off()
    return merged


@pytest.mark.parametrize("first_fused", [True, False], ids=["after-merge", "after-peft"])
def test_switching_loras_leaves_no_residue(pipe, loaded, infos, photoreal_alone, first_fused):
    slot = LoraSlot(pipe)
    slot.put_on(PERFECT, infos[PERFECT], fused=first_fused)
    assert slot.put_on(PHOTOREAL, infos[PHOTOREAL])["method"] == "merge"
    assert slot.lora == PHOTOREAL
    assert differing(pipe, photoreal_alone) == []  # exactly the second LoRA, nothing of the first
    slot.take_off()
    assert differing(pipe, loaded[1]) == []


def test_peft_fused_comes_off_through_unfuse(pipe, loaded, infos):
    slot = LoraSlot(pipe)
    slot.put_on(PERFECT, infos[PERFECT], fused=False)
    slot.fuse()
    assert slot.method == "peft-fused"
    with pytest.raises(RuntimeError, match="only an unfused peft LoRA can be fused"):
        slot.fuse()
    slot.unfuse()
    assert slot.method == "peft"
    slot.fuse()
    slot.take_off()
    assert slot.method is None
    now = weights(pipe)
    assert now.keys() == loaded[1].keys()  # no peft layer stayed
    assert all(torch.allclose(v, loaded[1][k], atol=1e-5) for k, v in now.items())  # fuse/unfuse: to rounding


def test_fuse_needs_an_unfused_peft_lora(pipe, infos):
    slot = LoraSlot(pipe)
    with pytest.raises(RuntimeError, match="empty"):
        slot.fuse()
    slot.put_on(PERFECT, infos[PERFECT], fused=True)
    with pytest.raises(RuntimeError, match="merge"):
        slot.fuse()
    slot.take_off()


def test_a_failed_put_on_leaves_the_slot_empty_and_the_base_exact(pipe, loaded, infos, tmp_path):
    # Zero up weights: every module matches and merges, then the probe does not move,
    # so the merge must be undone by the slot's own record of what it merged.
    state = load_file(str(PERFECT))
    inert = tmp_path / "inert.safetensors"
    save_file({k: torch.zeros_like(v) if k.endswith("lora_up.weight") else v for k, v in state.items()}, str(inert),
              metadata={"ss_network_module": "networks.lora"})
    slot = LoraSlot(pipe)
    slot.put_on(PERFECT, infos[PERFECT])
    with pytest.raises(EvalkitError, match="does not change the UNet's output"):
        slot.put_on(inert, inspect_checkpoint(inert))
    assert slot.method is None and slot.lora is None
    assert differing(pipe, loaded[1]) == []
