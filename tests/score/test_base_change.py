"""The share of cells a LoRA changes against its base (evalkit/score/base_change.py), on real golden punks."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from evalkit.score.base_change import JND_DELTA_E, changed_share
from evalkit.score.colour import delta_e, rgb_to_lab


def test_identical_punks_change_nothing_and_other_punks_change_much(golden):
    punks = golden.images[:16]
    assert np.all(changed_share(punks, punks) == 0)
    other = np.roll(punks, 1, axis=0)
    assert np.all(changed_share(other, punks) > 0.05)  # two different punks differ in more than 5% of cells


@settings(max_examples=40, deadline=None)
@given(index=st.integers(0, 255), cells=st.lists(st.integers(0, 575), min_size=1, max_size=60, unique=True))
def test_share_counts_exactly_the_visibly_recoloured_cells_and_grows_with_them(golden, index, cells):
    """Recolour k cells of a golden punk to the colour farthest from each: the share is k/576,
    and recolouring a superset never lowers it (monotone in the corruption)."""
    punk = golden.images[index]
    flat = punk.reshape(-1, 3).copy()
    flat[cells] = 255 - flat[cells]
    moved = delta_e(rgb_to_lab(flat[cells]), rgb_to_lab(punk.reshape(-1, 3)[cells])) > JND_DELTA_E
    corrupted = flat.reshape(punk.shape)
    share = changed_share(corrupted[None], punk[None])[0]
    assert share == pytest.approx(moved.sum() / 576)
    fewer = punk.reshape(-1, 3).copy()
    fewer[cells[: len(cells) // 2]] = 255 - fewer[cells[: len(cells) // 2]]
    assert changed_share(fewer.reshape(punk.shape)[None], punk[None])[0] <= share


def test_changes_below_one_noticeable_difference_do_not_count(golden):
    punk = golden.images[0].astype(int)
    nudged = np.clip(punk + 1, 0, 255).astype(np.uint8)  # one level of 255: far below a JND
    assert changed_share(nudged[None], golden.images[:1])[0] == 0


def test_unpaired_shapes_are_refused(golden):
    with pytest.raises(ValueError, match="paired"):
        changed_share(golden.images[:2], golden.images[:3])
