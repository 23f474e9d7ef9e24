"""Attribution over recorded runs in a real score store, shaped like our users' six runs and the planned seventh."""

from __future__ import annotations

import json

import numpy as np
import pytest
from users_runs import true_quality

from evalkit.cli import main
from evalkit.compare.api import compare_store
from evalkit.gate.record import METRICS

SD15 = "SD1.5"


def contains(iv, truth, slack=0.5):
    """The truth inside the interval widened by ``slack`` of its width (the coverage test checks the level itself)."""
    pad = slack * (iv["high"] - iv["low"])
    return iv["low"] - pad <= truth <= iv["high"] + pad


def factor(stratum, name):
    return next(f for f in stratum["factors"] if f["name"] == name)


def stratum(result, name):
    return next(s for s in result["strata"] if s["name"] == name)


def true_effect(truth, to_run, from_run):
    out = {m: truth[to_run][k] - truth[from_run][k] for k, m in enumerate(METRICS)}
    out["quality"] = true_quality(truth[to_run]) - true_quality(truth[from_run])
    return out


def check_effect(effect, expected):
    assert contains(effect["quality"], expected["quality"]), (effect["quality"], expected["quality"])
    for m in METRICS:
        assert contains(effect["metrics"][m], expected[m]), (m, effect["metrics"][m], expected[m])


def test_six_runs_confound_dim_and_captions_on_sd15(six_store, truth):
    result = compare_store(six_store).to_dict()
    assert result["schema_version"] == 1 and result["level"] == 0.95 and result["resampling"] == "paired"
    sd15 = stratum(result, SD15)
    assert sd15["reference"] == "SD15_PERFECT_Nov9"
    assert sorted(sd15["runs"]) == ["SD15_36MB_Early_Nov9", "SD15_PERFECT_Nov9", "SD15_bespoke_baby_Nov10"]
    dim, captions = factor(sd15, "network_dim"), factor(sd15, "captions")
    assert dim["status"] == captions["status"] == "confounded"
    assert dim["effects"] == [] and captions["effects"] == []  # no separate effect invented
    assert dim["confounded_with"] == ["captions"] and captions["confounded_with"] == ["network_dim"]
    group = next(g for g in sd15["groups"] if "captions" in g["factors"])
    assert group["factors"] == ["network_dim", "captions"]
    # Their joint effect is what the runs do show: the photoreal failure came with dim 64 + v2 together.
    assert group["joint"]["changes"]["network_dim"] == [32, 64]
    check_effect(group["joint"], true_effect(truth, "SD15_bespoke_baby_Nov10", "SD15_PERFECT_Nov9"))
    assert group["joint"]["metrics"]["photorealism"]["low"] > 0.3
    # alpha kept at dim/2 throughout: one setting, not a second confounded factor
    assert sd15["constant"]["network_alpha/dim"] == 0.5
    # The same on SDXL, and everything differing with the base is one group across all runs.
    sdxl = stratum(result, "SDXL")
    assert factor(sdxl, "network_dim")["status"] == "confounded"
    overall = stratum(result, "all runs")
    base_group = next(g for g in overall["groups"] if "base" in g["factors"])
    assert {"network_dim", "captions", "resolution", "shuffle_caption"} <= set(base_group["factors"])

    first = result["next_runs"][0]
    assert first["config"] == "SD1.5, network_dim 32, v2 captions"
    assert first["from_run"] == "SD15_PERFECT_Nov9" and first["stratum"] == SD15
    assert first["separates"] == ["network_dim", "captions"]
    assert first["settings"]["network_dim"] == 32 and first["settings"]["base"] == SD15


def test_the_seventh_run_separates_them(seven_store, truth):
    result = compare_store(seven_store).to_dict()
    sd15 = stratum(result, SD15)
    assert len(sd15["runs"]) == 4
    assert sd15["reference"] == "SD15_dim32_v2_planned"  # the best run now
    assert not [g for g in sd15["groups"] if "captions" in g["factors"]]
    dim, captions = factor(sd15, "network_dim"), factor(sd15, "captions")
    assert dim["status"] == captions["status"] == "estimable"
    (dim_effect,) = dim["effects"]
    (caption_effect,) = captions["effects"]
    assert dim_effect["changes"] == {"network_dim": [32, 64]}
    check_effect(dim_effect, true_effect(truth, "SD15_bespoke_baby_Nov10", "SD15_dim32_v2_planned"))
    check_effect(caption_effect, true_effect(truth, "SD15_PERFECT_Nov9", "SD15_dim32_v2_planned"))
    # dim 64 is what drifts to photographs; v1 captions only cost palette
    assert dim_effect["metrics"]["photorealism"]["low"] > 0.3 and dim_effect["quality"]["high"] < -2
    assert caption_effect["metrics"]["palette_fidelity"]["high"] < 0
    assert abs(caption_effect["metrics"]["photorealism"]["estimate"]) < 0.03
    for effect in (dim_effect, caption_effect):
        for iv in [effect["quality"], *effect["metrics"].values()]:
            assert iv["low"] <= iv["estimate"] <= iv["high"]
    assert not [n for n in result["next_runs"] if n["stratum"] == SD15]


def test_newest_evaluation_of_each_checkpoint_counts_once(seven_store, users_six):
    from users_runs import record

    from evalkit.store.store import ScoreStore

    # The perfect run gated again later, with other renders: its newest evaluation replaces the old one.
    perfect = next(c for c in users_six if c.name == "SD15_PERFECT_Nov9")
    again = type(perfect)(**{**perfect.__dict__, "images": perfect.images[:16]})
    ScoreStore.default(seven_store).add_run(record("20261112T120000Z-cccc", "2026-11-12T12:00:00+00:00", [again]))
    result = compare_store(seven_store).to_dict()
    runs = [r for r in result["runs"] if r["name"] == "SD15_PERFECT_Nov9"]
    assert len(runs) == 1 and runs[0]["renders"] == 16 and runs[0]["run_id"].endswith("cccc")
    assert result["resampling"] == "within-run"  # the runs no longer share every (prompt, seed)


def test_cli_text(seven_store, capsys):
    assert main(["compare", "--reports-dir", str(seven_store), "--run", "20261110T120000Z-aaaa"]) == 0
    out = capsys.readouterr().out
    assert "confounded: network_dim + captions changed together" in out
    assert "next run: SD1.5, network_dim 32, v2 captions" in out
    assert "captions v1 (tags-afca6c3edf5f) -> v2 (tags-cce42d8f59ec)" in out
    assert "SD15_dim32_v2_planned" not in out  # --run: only that gate run's checkpoints


def test_cli_json(seven_store, capsys):
    assert main(["compare", "--reports-dir", str(seven_store), "--json", "--resamples", "500"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["resamples"] == 500 and data["metrics"] == list(METRICS)
    assert set(data) >= {"schema_version", "level", "resampling", "directions", "runs", "strata", "next_runs",
                         "notes", "captions", "prompts", "golden"}
    assert {c["label"] for c in data["captions"].values()} == {"v1", "v2"}
    run = next(r for r in data["runs"] if r["name"] == "SD15_PERFECT_Nov9")
    assert run["factors"]["base"] == "SD1.5" and run["factors"]["steps"] == 2500 and run["unknown"] == []
    assert np.isclose(run["quality"], true_quality([run["means"][m] for m in METRICS]))
    effect = factor(stratum(data, SD15), "network_dim")["effects"][0]
    assert set(effect) == {"changes", "quality", "metrics"} and set(effect["quality"]) == {"estimate", "low", "high"}


@pytest.mark.parametrize("level", [0.8, 0.99])
def test_the_level_sets_the_width(six_store, level):
    wide = compare_store(six_store, level=0.95).stratum(SD15).groups[0].joint.quality
    other = compare_store(six_store, level=level).stratum(SD15).groups[0].joint.quality
    assert other.estimate == wide.estimate
    assert ((other.high - other.low) < (wide.high - wide.low)) == (level < 0.95)
