"""Diversity and near-copy collapse on real golden punks: sets replaced by copies of fewer punks.

The over-fitted testbed LoRA fails the gate on both (tests/gate/test_gate_overfit.py);
here its failure mode (the same few punks whatever the prompt) is built from
copies of a few golden punks, lightly noised so they are near copies, not
99%-cell copies.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from evalkit.score.diversity import diversity, nearest_collapse, vendi_score
from evalkit.score.set_level import nearest_golden

N = 32


def _near_copies(images, k, start, rng, noise=4.0):
    """N renders drawn from k golden punks (round robin), with pixel noise: near copies."""
    idx = (start + np.resize(np.arange(k), N)) % len(images)
    return np.clip(images[idx] + rng.normal(0, noise, images[idx].shape), 0, 255).astype(np.uint8)


@settings(max_examples=4, deadline=None)
@given(start=st.integers(0, 255), noise=st.floats(0, 5))
def test_diversity_falls_as_the_set_becomes_copies_of_fewer_punks(golden, reference, start, noise):
    rng = np.random.default_rng(start)
    rel = [diversity(_near_copies(golden.images, k, start, rng, noise), reference).relative for k in (32, 16, 8, 4, 2, 1)]
    assert all(a > b for a, b in zip(rel, rel[1:])), rel
    assert rel[0] > 0.6 and rel[-1] < 0.25  # distinct punks look like the golden set; one punk does not


def test_vendi_counts_distinct_rows():
    eye = np.eye(6) * 100.0  # far apart at bandwidth 1: six distinct items
    assert abs(vendi_score(eye, 1.0) - 6) < 1e-6
    assert abs(vendi_score(np.repeat(eye[:2], 3, axis=0), 1.0) - 2) < 1e-6
    assert abs(vendi_score(np.zeros((5, 3)), 1.0) - 1) < 1e-6


def test_near_copies_of_few_punks_across_prompts_collapse_where_distinct_punks_do_not(golden, reference):
    rng = np.random.default_rng(0)
    prompts = [f"p{i % 16}" for i in range(N)]  # 16 prompts x 2 seeds
    healthy = _near_copies(golden.images, N, 40, rng)  # a different punk for every render
    collapsed = _near_copies(golden.images, 3, 40, rng, noise=6.0)  # 3 punks whatever the prompt
    near_h = [nearest_golden(c, reference) for c in healthy]
    near_c = [nearest_golden(c, reference) for c in collapsed]
    assert not any(n.copied for n in near_c)  # exact-copy memorisation misses them ...
    h = nearest_collapse([n.golden_id for n in near_h], prompts)
    c = nearest_collapse([n.golden_id for n in near_c], prompts)
    assert h.share == 0.0 and h.distinct == N
    assert c.share == 1.0 and c.distinct == 3 and c.top[0][1] > 1  # ... the collapse does not


def test_a_suite_of_few_prompts_is_judged_against_golden_punks_of_those_prompts(golden, reference):
    """Two prompts' own golden punks are as varied as two prompts ask for (relative ~1), though far less
    varied than the whole golden set; copies of one punk per prompt fall well below."""
    groups = [tuple(golden.ids[i] for i in range(0, 8)), tuple(golden.ids[i] for i in range(100, 108))]
    per_render = [groups[k % 2] for k in range(8)]
    faithful = np.stack([golden.images[golden.ids.index(g[k // 2])] for k, g in enumerate(per_render)])
    own = diversity(faithful, reference, per_render)
    assert 0.8 < own.relative < 1.3
    assert diversity(faithful, reference).golden_vendi > own.golden_vendi  # the whole set is more varied
    one_each = np.stack([golden.images[golden.ids.index(g[0])] for g in per_render])
    assert diversity(one_each, reference, per_render).relative < 0.6 * own.relative
