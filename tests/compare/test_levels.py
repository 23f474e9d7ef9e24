"""Numeric settings are binned: time-budgeted runs of one recipe (216, 218, 226 steps) are one level.

The last two tests use the real testbed LoRAs' own metadata (checkpoints/users_runs,
checkpoints/planned_run: steps 19/216/218/226 on SD1.5); only their scores are drawn
around known means (stand-in: rendering them is the end-to-end test's job).
"""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from test_attribution_store import check_effect, factor, stratum
from users_runs import FIRST_RUN, ROOT, checkpoint, record, slots, true_quality

from evalkit.compare.api import compare_records
from evalkit.compare.levels import TOLERANCE, Span, bins
from evalkit.compare.text import summary_lines
from evalkit.gate.record import METRICS

CK = ROOT / "checkpoints"
# Known means (grid, palette, realism, adherence: the same 0.9 for every run), additive on SD1.5 with the planned run as the best:
# dim 64 drifts to photographs, v1 captions cost a little palette, 19 steps cost a little more.
TRUTH = {
    "SD15_newcaps_dim32_Nov11": (0.95, 0.78, 0.03, 0.9),
    "SD15_PERFECT_Nov9": (0.95, 0.70, 0.03, 0.9),
    "SD15_36MB_Early_Nov9": (0.93, 0.62, 0.03, 0.9),
    "SD15_bespoke_baby_Nov10": (0.35, 0.48, 0.48, 0.9),
    "SDXL_218MB_Nov8": (0.84, 0.58, 0.08, 0.9),
    "SDXL_435MB_Nov9": (0.80, 0.45, 0.16, 0.9),
    "SDXL_Current_Nov10": (0.81, 0.05, 0.28, 0.9),
}


def test_time_budgeted_steps_are_one_level_and_the_early_run_another():
    levels = bins([19, 216, 218, 226])
    assert levels[19] == 19 and not isinstance(levels[19], Span)
    assert levels[216] is levels[218] is levels[226] and str(levels[226]) == "216-226"
    assert bins([146, 185, 242]) == {146: 146, 185: 185, 242: 242}  # 27% and 31% apart: three levels
    # A level never spans more than the tolerance: 100 and 111 are apart even with 109 between them.
    levels = bins([100, 109, 111])
    assert levels[100] is levels[109] and levels[111] == 111
    assert bins([0, 0.01])[0] == 0 and bins([0, 0.01])[0.01] == 0.01  # zero is a level of its own


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(1e-6, 1e6, allow_nan=False), min_size=1, max_size=12))
def test_a_level_spans_at_most_the_tolerance_and_keeps_order(values):
    levels = bins(values)
    groups: dict[float, list[float]] = {}
    for v, level in levels.items():
        groups.setdefault(float(level), []).append(v)
    for members in groups.values():
        assert max(members) <= min(members) * (1 + TOLERANCE) * (1 + 1e-12)
    ordered = sorted(levels)
    assert [float(levels[v]) for v in ordered] == sorted(float(levels[v]) for v in ordered)  # bins keep order


def real_runs(names):
    rng, suite = np.random.default_rng(3), slots()
    return [checkpoint(next(CK.glob(f"*/{n}.safetensors")), TRUTH[n], rng, suite) for n in names]


def true_effect(to_run, from_run):
    out = {m: TRUTH[to_run][k] - TRUTH[from_run][k] for k, m in enumerate(METRICS)}
    out["quality"] = true_quality(TRUTH[to_run]) - true_quality(TRUTH[from_run])
    return out


def test_on_the_real_metadata_the_planned_run_separates_dim_from_captions():
    result = compare_records([record(*FIRST_RUN, real_runs(TRUTH))])
    data = result.to_dict()
    sd15 = stratum(data, "SD1.5")
    assert sd15["reference"] == "SD15_newcaps_dim32_Nov11"
    dim, captions, steps = factor(sd15, "network_dim"), factor(sd15, "captions"), factor(sd15, "steps")
    assert dim["status"] == captions["status"] == "estimable"
    (dim_effect,), (caption_effect,) = dim["effects"], captions["effects"]
    # Which setting explains which failure: dim 64 the photographic drift, v1 captions a little palette.
    check_effect(dim_effect, true_effect("SD15_bespoke_baby_Nov10", "SD15_newcaps_dim32_Nov11"))
    check_effect(caption_effect, true_effect("SD15_PERFECT_Nov9", "SD15_newcaps_dim32_Nov11"))
    assert dim_effect["metrics"]["photorealism"]["low"] > 0.3
    assert abs(caption_effect["metrics"]["photorealism"]["estimate"]) < 0.03
    # 216/218/226 steps are one level; the early run's 19 steps (and 1 epoch) are the only length change,
    # confounded only with the other measures of that one length.
    assert steps["levels"] == [19, "216-226"] and steps["reference"] == "216-226"
    (length,) = sd15["groups"]
    assert set(length["factors"]) == {"epoch", "max_train_steps", "num_epochs", "steps"}
    assert length["joint"]["changes"]["steps"] == ["216-226", 19]
    check_effect(length["joint"], true_effect("SD15_36MB_Early_Nov9", "SD15_PERFECT_Nov9"))
    run = next(r for r in data["runs"] if r["name"] == "SD15_PERFECT_Nov9")
    assert run["factors"]["steps"] == 216 and run["binned"]["steps"] == "216-226"  # its own value, and its level
    assert not [n for n in data["next_runs"] if n["stratum"] == "SD1.5"]
    text = "\n".join(summary_lines(result))
    assert "steps 216-226 -> 19" in text and "network_dim 32 -> 64: quality" in text
    assert "level: steps 216-226 holds 216, 218, 226 (values within 10% are one level)" in text
    json.dumps(data)  # levels that bin several values are written as their range


def test_on_the_real_metadata_the_six_confound_dim_and_captions_but_not_steps():
    result = compare_records([record(*FIRST_RUN, real_runs([n for n in TRUTH if "newcaps" not in n]))]).to_dict()
    sd15 = stratum(result, "SD1.5")
    groups = sorted(sorted(g["factors"]) for g in sd15["groups"])
    assert groups == [["captions", "network_dim"], ["epoch", "max_train_steps", "num_epochs", "steps"]]
    assert result["next_runs"][0]["config"] == "SD1.5, network_dim 32, v2 captions"
    assert result["next_runs"][0]["separates"] == ["network_dim", "captions"]
    # No next run changes a length (epoch, steps) alone: it follows from the rest of a run.
    assert all(not set(n["changes"]) & {"epoch", "num_epochs", "steps", "max_train_steps"} for n in result["next_runs"])
