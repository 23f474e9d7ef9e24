"""The gate's rules on plain numbers: bootstrap bounds, baselines, thresholds, set checks, quality.

No rendering here (milliseconds); tests/gate/test_gate_testbed.py runs the
same rules through pytest on real renders of the testbed.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from evalkit.errors import EvalkitError
from evalkit.gate import baseline as baselines
from evalkit.gate.quality import best, leaderboard, quality
from evalkit.gate.record import CheckpointResult, ImageResult, RunRecord, Verdict
from evalkit.gate.set_checks import memorisation_verdict, mmd_verdict
from evalkit.gate.stats import beyond, mean_bounds
from evalkit.gate.thresholds import golden_distribution, load_thresholds, read_overrides
from evalkit.golden.load import load_golden
from evalkit.score.golden_reference import build_reference
from evalkit.score.set_level import set_scores

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = {"grid_sharpness": {"q05": 1.0, "q95": 1.0}, "palette_fidelity": {"q05": 0.98, "q95": 1.0},
          "photorealism": {"q05": 0.0, "q95": 0.01}, "prompt_adherence": {"q05": 0.88, "q95": 1.0}}


# -- stats -----------------------------------------------------------------------------

def test_bounds_are_deterministic_and_one_sided():
    v = np.random.default_rng(1).normal(0.5, 0.1, 40)
    a, b = mean_bounds(v), mean_bounds(v)
    assert a == b and a.low < a.mean < a.high
    assert beyond(a, "min", a.high + 0.01) and not beyond(a, "min", a.high - 0.01)
    assert beyond(a, "max", a.low - 0.01) and not beyond(a, "max", a.low + 0.01)


def test_seed_noise_around_the_threshold_does_not_fail_but_a_clear_shortfall_does():
    rng = np.random.default_rng(0)
    noisy = 0.6 + rng.normal(0, 0.15, 12)  # centred on the floor: not confidently below
    assert not beyond(mean_bounds(noisy - noisy.mean() + 0.59), "min", 0.6)
    assert beyond(mean_bounds(noisy - noisy.mean() + 0.45), "min", 0.6)


# -- baselines -------------------------------------------------------------------------

def _baseline(tmp_path, values, metric="grid_sharpness"):
    rows = [(f"p{i // 4}", 40 + i % 4, {"grid_sharpness": 0.9, "palette_fidelity": 0.5, "photorealism": 0.1, metric: v})
            for i, v in enumerate(values)]
    doc = baselines.document("ref", "abc", tmp_path / "prompts.toml", "sha", "key", "base", rows)
    path = baselines.write(baselines.default_path(tmp_path / "prompts.toml", "ref"), doc)
    return baselines.read(path), rows


def _obtained(rows, metric, shift, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for p, s, scores in rows:
        new = dict(scores)
        new[metric] = scores[metric] + shift + rng.normal(0, noise)
        out.append((p, s, new, f"/renders/{p}-seed{s}.png"))
    return out


def test_baseline_file_round_trips_without_timestamps(tmp_path):
    base, rows = _baseline(tmp_path, np.linspace(0.8, 1.0, 16))
    assert base.path == tmp_path / "baselines" / "ref.json"
    assert base.scores[("p0", 40)]["grid_sharpness"] == pytest.approx(0.8)
    first = base.path.read_text()
    doc = baselines.document("ref", "abc", tmp_path / "prompts.toml", "sha", "key", "base", rows)
    baselines.write(base.path, doc)
    assert base.path.read_text() == first  # re-recording the same scores changes nothing


def test_identical_or_noisy_scores_are_no_regression_a_real_drop_is(tmp_path):
    base, rows = _baseline(tmp_path, np.linspace(0.8, 1.0, 16))
    same = baselines.compare(base, _obtained(rows, "grid_sharpness", 0.0), "grid_sharpness", 0.05)
    assert not same.regressed and same.delta.mean == pytest.approx(0.0)
    noisy = baselines.compare(base, _obtained(rows, "grid_sharpness", -0.03, noise=0.05), "grid_sharpness", 0.05)
    assert not noisy.regressed  # a drop smaller than the tolerance, however noisy
    drop = baselines.compare(base, _obtained(rows, "grid_sharpness", -0.2, noise=0.05), "grid_sharpness", 0.05)
    assert drop.regressed and drop.delta.high < -0.05
    msg = drop.message()
    for part in ("baseline 0.900", "obtained", "delta -0.", "one-sided 95% bounds", "tolerance -0.050", "/renders/", "ref.json"):
        assert part in msg


def test_photorealism_regresses_upwards(tmp_path):
    base, rows = _baseline(tmp_path, [0.05] * 8, metric="photorealism")
    up = baselines.compare(base, _obtained(rows, "photorealism", 0.3), "photorealism", 0.05)
    down = baselines.compare(base, _obtained(rows, "photorealism", -0.04), "photorealism", 0.05)
    assert up.regressed and not down.regressed


def test_comparison_uses_shared_pairs_and_refuses_a_disjoint_suite(tmp_path):
    base, rows = _baseline(tmp_path, [0.9] * 8)
    extra = _obtained(rows, "grid_sharpness", 0.0) + [("new_prompt", 1, dict(rows[0][2]), "x.png")]
    assert baselines.compare(base, extra, "grid_sharpness", 0.05).missing == 1
    with pytest.raises(EvalkitError, match="shares no"):
        baselines.compare(base, [("other", 1, dict(rows[0][2]), "x.png")], "grid_sharpness", 0.05)


def test_baseline_names_files_and_bad_content(tmp_path):
    prompts = tmp_path / "prompts.toml"
    with pytest.raises(EvalkitError, match="ghost.json: baseline does not exist"):
        baselines.resolve("ghost", prompts)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(EvalkitError, match="bad.json: is not a readable evalkit baseline"):
        baselines.read(bad)
    assert baselines.resolve(str(bad), prompts) == bad
    assert baselines.obtained_path(tmp_path / "baselines" / "ref.json", "new") == tmp_path / "baselines" / "new.obtained.json"


# -- thresholds ------------------------------------------------------------------------

def test_defaults_follow_the_golden_distribution():
    t = load_thresholds(GOLDEN)
    assert t.suite["grid_sharpness"] == pytest.approx(0.6) and t.suite["photorealism"] == pytest.approx(0.26)
    assert t.image["palette_fidelity"] == pytest.approx(0.03)  # 0.98 - 0.95
    assert t.suite["prompt_adherence"] == pytest.approx(0.68) and t.image["prompt_adherence"] == 0.0
    shifted = load_thresholds({**GOLDEN, "grid_sharpness": {"q05": 0.9, "q95": 1.0}})
    assert shifted.suite["grid_sharpness"] == pytest.approx(0.5)


def test_overrides_pyproject_then_evalkit_toml_per_prompt(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        "[tool.evalkit.thresholds]\ngrid_sharpness = 0.7\nphotorealism = 0.3\n"
        "[tool.evalkit.thresholds.prompts.zombie]\npalette_fidelity = 0.01\n")
    (tmp_path / "evalkit.toml").write_text("[thresholds]\ngrid_sharpness = 0.8\nmmd_effect = 0.4\n[thresholds.baseline]\nphotorealism = 0.1\n")
    t = load_thresholds(GOLDEN, read_overrides(tmp_path))
    assert t.suite["grid_sharpness"] == 0.8 and t.suite["photorealism"] == 0.3 and t.mmd_effect == 0.4
    assert t.baseline["photorealism"] == 0.1
    assert t.image_limit("palette_fidelity", "zombie") == 0.01
    assert t.image_limit("palette_fidelity", "ape") == t.image["palette_fidelity"]
    assert t.to_record()["palette_fidelity"]["prompts"] == {"zombie": 0.01}


@pytest.mark.parametrize("text, problem", [
    ("[thresholds]\ngrid_sharpnes = 0.5\n", "unknown threshold setting 'grid_sharpnes'"),
    ("[thresholds]\ngrid_sharpness = 'high'\n", "must be a number"),
    ("[thresholds.prompts.ape]\nsharpness = 0.1\n", "unknown metric 'sharpness'"),
    ("[thresholds\n", "not valid TOML"),
])
def test_bad_overrides_name_the_file(tmp_path, text, problem):
    (tmp_path / "evalkit.toml").write_text(text)
    with pytest.raises(EvalkitError) as exc:
        read_overrides(tmp_path)
    assert str(exc.value).startswith(str(tmp_path / "evalkit.toml")) and problem in str(exc.value)


def test_golden_distribution_is_scored_once_then_cached(tmp_path, monkeypatch):
    ref = build_reference(load_golden(ROOT / "golden").images[:6])
    first = golden_distribution(ref, tmp_path)
    assert first["grid_sharpness"]["q05"] > 0.95 and first["photorealism"]["q95"] < 0.05
    import evalkit.score.score_image as score_image

    monkeypatch.setattr(score_image, "score_image", lambda *a, **k: pytest.fail("re-scored despite the cache"))
    assert golden_distribution(ref, tmp_path) == first
    assert len(list(tmp_path.glob("golden-distribution-*.json"))) == 1


# -- set level -------------------------------------------------------------------------

def test_copies_of_golden_punks_fail_memorisation_distinct_punks_pass():
    golden = load_golden(ROOT / "golden")
    ref = build_reference(golden.images[:40])
    copied = set_scores(list(golden.images[:8]), ref, permutations=50)
    fresh = set_scores(list(golden.images[200:208]), ref, permutations=50)
    v = memorisation_verdict(copied, 0.15, ["a.png ~ golden 0"])
    assert not v.passed and v.value == 1.0 and "8 of 8 renders copy" in v.message and "a.png" in v.message
    assert memorisation_verdict(fresh, 0.15).passed
    assert mmd_verdict(fresh, 0.15).passed  # real punks the reference has not seen: small distance
    assert not mmd_verdict(fresh, -1.0).passed


# -- quality and the record ------------------------------------------------------------

def test_quality_is_a_clipped_weighted_geometric_mean():
    good = {"grid_sharpness": 1.0, "palette_fidelity": 1.0, "photorealism": 0.0, "prompt_adherence": 1.0}
    assert quality(good) == 10.0
    assert quality({**good, "grid_sharpness": 1.2, "photorealism": -0.1}) == 10.0
    assert quality({**good, "palette_fidelity": 0.0}) == 0.0
    assert quality({**good, "grid_sharpness": 0.5}) == pytest.approx(10 * 0.5 ** 0.3, abs=0.01)
    # A LoRA that ignores its prompts (half the asked type and accessories) loses its adherence term.
    assert quality({**good, "prompt_adherence": 0.5}) == pytest.approx(10 * 0.5 ** 0.2, abs=0.01)
    assert quality({**good, "grid_sharpness": None}) is None
    # A record from before adherence existed has no mean for it: no quality, never a guess.
    assert quality({k: v for k, v in good.items() if k != "prompt_adherence"}) is None


def _ck(name, q, status):
    return CheckpointResult(name=name, path=f"{name}.safetensors", sha256=None, model_hash=None, info=None, quality=q, status=status)


def test_leaderboard_ranks_by_quality_and_prefers_passing_checkpoints():
    cks = [_ck("a", 9.0, "fail"), _ck("b", 7.0, "pass"), _ck("broken", None, "error")]
    assert best(cks).name == "b"
    lines = leaderboard(cks)
    assert lines[-1] == "best: b"
    rows = [line.split()[1] for line in lines[2:-1]]
    assert rows == ["a", "b", "broken"]
    assert leaderboard([_ck("a", 3.0, "fail")])[-1] == "best: none passed the gate (highest quality: a)"


def _image(prompt_id, seed, cells, **scores):
    full = {"grid_sharpness": 1.0, "palette_fidelity": 0.8, "photorealism": 0.0, "prompt_adherence": 0.9, **scores}
    return ImageResult(prompt_id, seed, "text", [], f"{prompt_id}-{seed}.png", np.asarray(cells).tolist(), full,
                       {m: True for m in full})


def test_a_lora_that_leaves_its_base_unchanged_is_flagged_and_never_best(golden):
    """Issue 22 finding 9: on a base that already draws punks, a LoRA that does almost nothing scores
    as well as the base; it must be named for what it is, not crowned."""
    from evalkit.gate.base_compare import base_verdict, compare_to_base

    punks = golden.images[:12]
    other = golden.images[12:24]
    base = [_image(f"p{i}", 42, c) for i, c in enumerate(punks)]
    same = [_image(f"p{i}", 42, c) for i, c in enumerate(punks)]
    same[0] = _image("p0", 42, other[0])  # one render tipped onto another punk: the median stays 0
    changed = [_image(f"p{i}", 42, c, palette_fidelity=0.7) for i, c in enumerate(other)]
    weak, good = _ck("weak", 9.6, "pass"), _ck("good", 9.1, "pass")
    weak.vs_base = compare_to_base(same, base, "tiny-punks-base")
    good.vs_base = compare_to_base(changed, base, "tiny-punks-base")
    assert weak.indistinguishable and not good.indistinguishable
    assert weak.vs_base["changed_share"]["unchanged_renders"] == 11
    assert good.vs_base["deltas"]["palette_fidelity"]["mean"] == pytest.approx(-0.1)
    assert not base_verdict("weak", weak.vs_base, 9.6).passed and base_verdict("good", good.vs_base, 9.1).passed
    assert best([weak, good]).name == "good"
    lines = leaderboard([weak, good])
    assert lines[-1] == "best: good"
    assert "same as its base" in next(line for line in lines if " weak " in line)
    assert "tiny-punks-base (base alone)" in lines[-2] and lines[-2].endswith("base")
    assert leaderboard([weak])[-1] == "best: none (every scored checkpoint is indistinguishable from its base)"
    # Too few renders for a distribution-free bound at 95%: never flagged.
    assert not compare_to_base(same[:4], base[:4], "b")["indistinguishable"]


def test_record_with_per_image_thresholds_round_trips(tmp_path):
    im = ImageResult("p", 42, "text", ["#638596"], "r.png", [[[0, 0, 0]]], {"grid_sharpness": 0.5},
                     {"grid_sharpness": True}, thresholds={"grid_sharpness": 0.3})
    ck = _ck("a", 5.0, "pass")
    ck.images, ck.verdicts = [im], [Verdict("threshold", "grid_sharpness", True, 0.5, 0.4, 0.6, 0.6)]
    rec = RunRecord("id", "t0", "t1", "p.toml", "sha", "golden", {}, {"evalkit": "0"}, "cpu", "pytest", [ck])
    path = rec.write(tmp_path)
    assert RunRecord.read(path).to_dict() == rec.to_dict() == json.loads(path.read_text())


def test_a_baseline_recorded_before_a_metric_existed_compares_the_others_and_skips_it(tmp_path):
    rows = [(f"p{i}", 42, {"grid_sharpness": 0.9, "palette_fidelity": 0.8, "photorealism": 0.1}) for i in range(4)]
    doc = baselines.document("old", "abc", tmp_path / "prompts.toml", "sha", "key", "base", rows)
    assert "prompt_adherence" not in doc["means"] and "prompt_adherence" not in doc["images"][0]
    base = baselines.read(baselines.write(tmp_path / "old.json", doc))
    assert base.has("grid_sharpness") and not base.has("prompt_adherence")
    obtained = [(p, s, {**v, "prompt_adherence": 0.9}, f"{p}.png") for p, s, v in rows]
    assert not baselines.compare(base, obtained, "grid_sharpness", 0.05).regressed
    with pytest.raises(EvalkitError, match="shares no"):
        baselines.compare(base, obtained, "prompt_adherence", 0.05)
