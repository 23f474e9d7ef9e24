"""The split rule of evalkit/render/distributed.py, as a pure function (no processes)."""

from pathlib import Path

import pytest

from evalkit.golden.prompts import Prompt
from evalkit.render.distributed import World, plan

SUITE = [Prompt(f"p{i}", f"text {i}", "photo", (42, 43, 44), (), "v1") for i in range(5)]  # 15 slots


def items(ranks):
    return [(s.checkpoint, *slot) for shares in ranks for s in shares for slot in s.slots]


@pytest.mark.parametrize("world", [1, 2, 3, 4, 7, 40])
@pytest.mark.parametrize("batch", [1, 4, 16])
def test_every_item_exactly_once_in_sorted_order(world, batch):
    cks = [Path("c.safetensors"), Path("a.safetensors"), Path("b.safetensors"), Path("a.safetensors")]
    ranks = plan(cks, SUITE, world, lambda ck: batch)
    expected = [(Path(c), i, s) for c in "abc" for i, p in enumerate(SUITE) for s in p.seeds]
    expected = [(Path(f"{c}.safetensors"), i, s) for c, i, s in expected]
    assert items(ranks) == expected  # concatenating the ranks gives the one-process order: contiguous
    assert len(ranks) == world


@pytest.mark.parametrize("world", [2, 3, 4, 5])
def test_shares_are_balanced_within_one_batch_and_cut_on_batch_boundaries(world):
    batch = {Path("a.safetensors"): 4, Path("b.safetensors"): 3, Path("c.safetensors"): 4, Path("d.safetensors"): 5}
    ranks = plan(list(batch), SUITE, world, batch.get)
    sizes = [sum(len(s.slots) for s in shares) for shares in ranks]
    assert max(sizes) - min(sizes) <= 2 * max(batch.values())
    assert abs(max(sizes) - 60 / world) <= max(batch.values())
    for shares in ranks:
        for s in shares:
            index = [i * 3 + [42, 43, 44].index(seed) for i, seed in s.slots]
            assert index[0] % batch[s.checkpoint] == 0  # a share starts where a one-process batch starts
            assert index == list(range(index[0], index[0] + len(index)))


def test_checkpoints_stay_on_few_ranks():
    cks = [Path(f"ck{i}.safetensors") for i in range(4)]
    ranks = plan(cks, SUITE, 2, lambda ck: 5)
    assert [[s.checkpoint.stem for s in shares] for shares in ranks] == [["ck0", "ck1"], ["ck2", "ck3"]]
    many = plan([Path(f"ck{i}.safetensors") for i in range(7)], SUITE, 3, lambda ck: 1)
    switches = sum(len(shares) for shares in many)
    assert switches <= 7 + 3 - 1  # at most checkpoints + ranks - 1 LoRA loads in all


def test_share_prompts_keep_suite_order_and_only_their_seeds():
    share = plan([Path("a.safetensors")], SUITE, 2, lambda ck: 2)[1][0]
    prompts = share.prompts(SUITE)
    assert [(p.id, s) for p in prompts for s in p.seeds] == [(SUITE[i].id, s) for i, s in share.slots]
    by_id = {p.id: p for p in SUITE}
    assert all(p.text == by_id[p.id].text and p.negative == by_id[p.id].negative for p in prompts)


def test_world_from_launcher_env(monkeypatch):
    assert World.from_env({}) == World(0, 1, 0)
    assert World.from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == World(3, 4, 1)
    from evalkit.errors import EvalkitError

    with pytest.raises(EvalkitError, match="must be integers"):
        World.from_env({"RANK": "x", "WORLD_SIZE": "2"})
