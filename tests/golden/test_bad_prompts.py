"""Prompt-suite values that used to pass validation and crash later (issue 22)."""

import pytest
import torch

from evalkit.errors import EvalkitError
from evalkit.golden.prompts import MAX_SEED, load_prompts


def suite(tmp_path, seeds: str):
    p = tmp_path / "prompts.toml"
    p.write_text(f'[[prompts]]\nid = "ape"\ntext = "ape punk"\nseeds = {seeds}\n')
    return p


@pytest.mark.parametrize("seed", [2**64, 2**70])
def test_a_seed_beyond_the_generators_range_is_refused_up_front(tmp_path, seed):
    """Before: 2**70 loaded, then `render` died with ValueError: Overflow when unpacking long long."""
    path = suite(tmp_path, f"[1, {seed}]")
    with pytest.raises(EvalkitError) as error:
        load_prompts(path)
    assert str(error.value).startswith(f"{path}: prompt 'ape': seed {seed} is beyond the generator's range")


def test_the_largest_accepted_seed_is_the_generators_largest():
    torch.Generator("cpu").manual_seed(MAX_SEED)
    with pytest.raises((RuntimeError, ValueError, OverflowError)):
        torch.Generator("cpu").manual_seed(MAX_SEED + 1)


def test_the_largest_seed_loads_and_a_boolean_seed_does_not(tmp_path):
    assert load_prompts(suite(tmp_path, f"[{MAX_SEED}]"))[0].seeds == (MAX_SEED,)
    with pytest.raises(EvalkitError, match="non-negative integers"):
        load_prompts(suite(tmp_path, "[true]"))


@pytest.mark.parametrize("seed", [2**64, 2**70])
def test_a_kohya_prompt_file_seed_beyond_the_generators_range_is_refused_up_front(tmp_path, seed):
    """Found by the attack (tests/attack): `--d 2**70` in a kohya .txt loaded, then `render` died with
    ValueError: Overflow when unpacking long long, exit 1."""
    path = tmp_path / "prompts.txt"
    path.write_text(f"a punk --d 1\nanother punk --d {seed}\n")
    with pytest.raises(EvalkitError) as error:
        load_prompts(path)
    assert str(error.value) == f"{path}: line 2: --d (seed) {seed} is beyond the generator's range (0..{MAX_SEED})"
