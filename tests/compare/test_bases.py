"""The base family across runs: compared at matched settings, or named confounded; never carried over.

Hand-made runs whose right answer is known. The pooled fit once assumed every
setting acts alike on both bases; when dim 64 drifts on SD1.5 only, that made
SDXL look better than SD1.5 although it scored lower at every matched setting.
"""

from __future__ import annotations

import numpy as np

from evalkit.compare.attribution import ALL_RUNS, attribute
from evalkit.compare.runs import ScoredRun
from evalkit.gate.record import METRICS

RENDERS = 24


def run(name, base, dim, means, seed):
    rng = np.random.default_rng(seed)
    values = np.clip(np.array(means) + rng.normal(0, 0.01, (RENDERS, len(METRICS))), 0, 1)
    return ScoredRun(name, {"base": base, "network_dim": dim, "captions": "v1"}, [(f"p{i}", 42) for i in range(RENDERS)],
                     {m: values[:, k] for k, m in enumerate(METRICS)})


def pooled(result):
    return result.stratum(ALL_RUNS)


def test_the_base_effect_is_the_difference_at_the_best_runs_settings():
    # SDXL is 0.1 palette worse than SD1.5 at dim 32 and at dim 64; dim 64 ruins SD1.5 only.
    runs = [run("sd15_32", "SD1.5", 32, (0.95, 0.70, 0.03, 0.9), 1), run("sd15_64", "SD1.5", 64, (0.30, 0.30, 0.50, 0.9), 2),
            run("xl_64", "SDXL", 64, (0.95, 0.50, 0.03, 0.9), 3), run("xl_32", "SDXL", 32, (0.95, 0.60, 0.03, 0.9), 4)]
    result = attribute(runs, resamples=400)
    st = pooled(result)
    assert st.reference == "sd15_32"
    base = next(f for f in st.factors if f.name == "base")
    assert base.status == "estimable"
    (effect,) = base.effects
    assert effect.changes == {"base": ["SD1.5", "SDXL"]}
    palette = effect.metrics["palette_fidelity"]
    # The matched pair (xl_32 against sd15_32) says -0.1; the additive fit said +0.05, the wrong sign.
    assert palette.high < 0 and abs(palette.estimate + 0.10) < 0.02
    assert effect.quality.high < 0  # and SDXL scores lower in quality, as it does
    assert [f.name for f in st.factors] == ["base"]  # the other settings' effects are the per-base tables'
    sdxl = result.stratum("SDXL")
    assert [e.changes for f in sdxl.factors for e in f.effects] == [{"network_dim": [32, 64]}]


def test_no_matched_run_means_the_base_is_confounded_not_estimated():
    # As in our users' runs: SDXL never at the best SD1.5 run's dim, so no base effect exists in the data.
    runs = [run("sd15_32", "SD1.5", 32, (0.95, 0.70, 0.03, 0.9), 1), run("sd15_64", "SD1.5", 64, (0.30, 0.30, 0.50, 0.9), 2),
            run("xl_64", "SDXL", 64, (0.90, 0.45, 0.08, 0.9), 3), run("xl_128", "SDXL", 128, (0.80, 0.05, 0.28, 0.9), 4)]
    st = pooled(attribute(runs, resamples=400))
    base = next(f for f in st.factors if f.name == "base")
    assert base.status == "confounded" and base.effects == [] and base.confounded_with == ["network_dim"]
    (group,) = st.groups
    assert group.factors == ["base", "network_dim"] and group.joint is None


def test_two_runs_of_two_bases_give_their_joint_difference_by_setting_names():
    runs = [run("sd15_32", "SD1.5", 32, (0.95, 0.70, 0.03, 0.9), 1), run("xl_64", "SDXL", 64, (0.90, 0.40, 0.08, 0.9), 2)]
    result = attribute(runs, resamples=300)
    (st,) = result.strata
    (group,) = st.groups
    assert group.factors == ["base", "network_dim"]
    assert group.joint.changes == {"base": ["SD1.5", "SDXL"], "network_dim": [32, 64]}
    assert abs(group.joint.metrics["palette_fidelity"].estimate + 0.30) < 0.02
    assert result.next_runs == []
