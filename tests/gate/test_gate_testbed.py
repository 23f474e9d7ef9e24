"""`pytest evalkit` as a user runs it, on the shipped testbed (pytester subprocess runs, real renders on CPU).

Per checkpoint the gate collects ``test_render[ckpt]``, ``test_suite_mean[ckpt-metric]``,
``test_golden_distance[ckpt]``, ``test_memorisation[ckpt]``, ``test_baseline[ckpt-metric]`` and
``test_grid_sharpness[ckpt]`` (and palette/photorealism/adherence: every render against its per-image floor).

The perfect LoRA passes; the photoreal one fails the grid_sharpness and photorealism suite
means; the wrong-colours one fails palette_fidelity (its grid is not asserted: the file may be
replaced by a retrained one). A 6-prompt x 2-seed slice keeps rendering to ~15 s per checkpoint;
the render cache lives in one module-scoped reports folder, so only the first run of each
checkpoint renders and the rest score from the cache (``--score-only``: rendering is an error).
"""

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from evalkit.gate.quality import FORMULA
from evalkit.score.metrics import METRICS, SET_METRICS

ROOT = Path(__file__).resolve().parents[2]
EVALKIT = ROOT / "evalkit"
CK = ROOT / "checkpoints"
PROMPTS = Path(__file__).with_name("prompts_small.toml")
PERFECT, PHOTOREAL, WRONG = (CK / f"tiny_punks_{n}.safetensors" for n in ("perfect", "photoreal", "wrong_colors"))
TESTBED = ("--checkpoint", str(PERFECT), "--checkpoint", str(PHOTOREAL), "--checkpoint", str(WRONG))
RENDERS = 12  # 6 prompts x 2 seeds
M, S = len(METRICS), len(SET_METRICS)
PER_CHECKPOINT = 1 + M + S + M + 1 + M  # render, suite means, set checks, baselines, base change, image floors
RERUNS = 5

pytest_plugins = ["pytester"]


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    """The module's reports folder (one render cache for every run), two private copies of the prompt
    slice (baselines are written beside the prompts: never into tests/; ``own/`` is the one the perfect
    checkpoint records its baseline in, so the other runs find none), and an unloadable checkpoint."""
    d = tmp_path_factory.mktemp("gate")
    for sub in (d, d / "own"):
        sub.mkdir(exist_ok=True)
        shutil.copy(PROMPTS, sub / "prompts.toml")
    (d / "reports").mkdir()
    (d / "broken.safetensors").write_bytes(b"\x00" * 4)
    return d


@pytest.fixture(scope="module")
def _runs():
    return {}


def gate(pytester, suite, *args, prompts=None):
    return pytester.runpytest_subprocess(
        str(EVALKIT), f"--rootdir={ROOT}", "--prompts", str(prompts or suite / "prompts.toml"),
        "--reports-dir", str(suite / "reports"), "-p", "no:cacheprovider", *args,
    )


def junit(path):
    """name -> (outcome, {property: value}) for every testcase of a JUnit XML file."""
    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome = next((tag for tag in ("failure", "error", "skipped") if case.find(tag) is not None), "passed")
        out[case.get("name")] = (outcome, {p.get("name"): p.get("value") for p in case.iter("property")})
    return out


def all_checkpoints(suite):
    return ("--checkpoint", str(suite / "broken.safetensors"), *TESTBED)


@pytest.fixture
def perfect_run(pytester, suite, _runs):
    """The perfect checkpoint alone, recording its baseline (``own/baselines/``); run once, reused."""
    if "perfect" not in _runs:
        _runs["perfect"] = gate(pytester, suite, "--checkpoint", str(PERFECT), "-v", "--update-baseline",
                                prompts=suite / "own" / "prompts.toml")
    return _runs["perfect"]


@pytest.fixture
def testbed(pytester, suite, _runs):
    """The three testbed checkpoints and an unloadable one, gated once (rendering what is not cached); reused."""
    if "testbed" not in _runs:
        xml = suite / "testbed.xml"
        result = gate(pytester, suite, *all_checkpoints(suite), "-v", f"--junitxml={xml}")
        _runs["testbed"] = (result, junit(xml))
    return _runs["testbed"]


def failed_ids(result):
    """Item names (``test_x[id]``) in the short summary's FAILED/ERROR lines (paths there are relative to the cwd)."""
    return {line.split()[1].split("::", 1)[1] for line in result.outlines if line.startswith(("FAILED ", "ERROR "))}


def test_perfect_passes_with_readable_ids(perfect_run, suite):
    result = perfect_run
    assert result.ret == 0
    result.assert_outcomes(passed=PER_CHECKPOINT - M, skipped=M)  # --update-baseline: comparisons skipped
    result.stdout.fnmatch_lines_random([
        "*::test_render[[]tiny_punks_perfect[]] PASSED*",
        "*::test_suite_mean[[]tiny_punks_perfect-grid_sharpness[]] PASSED*",
        "*::test_golden_distance[[]tiny_punks_perfect[]] PASSED*",
        "*::test_memorisation[[]tiny_punks_perfect[]] PASSED*",
        "*::test_grid_sharpness[[]tiny_punks_perfect[]] PASSED*",
        "*::test_palette_fidelity[[]tiny_punks_perfect[]] PASSED*",
        "*::test_baseline[[]tiny_punks_perfect-photorealism[]] SKIPPED*",
    ])


def test_photoreal_fails_grid_and_realism_naming_numbers_and_renders(testbed):
    result, cases = testbed
    assert result.ret == 1
    failed = failed_ids(result)
    for metric in ("grid_sharpness", "photorealism"):
        item = f"test_suite_mean[tiny_punks_photoreal-{metric}]"
        assert item in failed
        outcome, props = cases[f"test_suite_mean[tiny_punks_photoreal-{metric}]"]
        assert outcome == "failure" and float(props[f"{metric}_threshold"]) > 0
    out = result.stdout.str()
    line = next(ln for ln in result.outlines if ln.startswith("tiny_punks_photoreal: grid_sharpness: suite mean"))
    # mean, interval, threshold and the worst renders, each an existing PNG
    assert "one-sided 95% bounds" in line and "is not >= " in line and "; look at " in line
    pngs = [w.split(" (")[0] for w in line.split("; look at ")[1].split(", ")]
    assert pngs and all(p.endswith(".png") and Path(p).is_file() for p in pngs)
    assert "tiny_punks_photoreal: photorealism: suite mean" in out and "is not <= " in out
    # its renders' grid floors: one item, one line per render below its limit (worst first), each an existing PNG
    assert "test_grid_sharpness[tiny_punks_photoreal]" in failed
    at = result.outlines.index(next(ln for ln in result.outlines if ln.startswith("tiny_punks_photoreal: grid_sharpness: ")
                                    and "renders are not >= their per-image limit" in ln))
    below = int(result.outlines[at].split(": ")[2].split(" of ")[0])
    listed = [ln for ln in result.outlines[at + 1:at + 1 + min(below, 10)] if ln.startswith("  ") and "; look at " in ln]
    assert 0 < below <= RENDERS and len(listed) == min(below, 10)
    values = [float(ln.split(": ")[1].split(" ")[0]) for ln in listed]
    assert values == sorted(values) and all(Path(ln.split("; look at ")[1]).is_file() for ln in listed)
    # the perfect checkpoint in the same run passed everything it ran
    assert not any("tiny_punks_perfect" in f for f in failed)


def test_wrong_colors_fails_palette_fidelity(testbed):
    result, cases = testbed
    assert "test_suite_mean[tiny_punks_wrong_colors-palette_fidelity]" in failed_ids(result)
    assert cases["test_suite_mean[tiny_punks_wrong_colors-palette_fidelity]"][0] == "failure"
    assert "tiny_punks_wrong_colors: palette_fidelity: suite mean" in result.stdout.str()


def test_leaderboard_names_the_best(testbed):
    result, _ = testbed
    out = result.stdout.str()
    assert f"quality 0-10 = {FORMULA}" in out and "adhere^0.2" in FORMULA
    rows = [ln.split() for ln in result.outlines if ln.strip().startswith(("1 ", "2 ", "3 ")) and "tiny_punks_" in ln]
    assert [r[1] for r in rows][0] == "tiny_punks_perfect" and len(rows) == 3
    assert {r[1]: r[-1] for r in rows} == {"tiny_punks_perfect": "pass", "tiny_punks_photoreal": "fail",
                                           "tiny_punks_wrong_colors": "fail"}
    result.stdout.fnmatch_lines(["*-  broken *-  error", "best: tiny_punks_perfect", "run record: *run.json"])


def test_junit_has_score_properties(testbed):
    _, cases = testbed
    assert len(cases) == 4 * PER_CHECKPOINT
    _, props = cases["test_render[tiny_punks_photoreal]"]
    assert int(props["rendered"]) + int(props["cached"]) == RENDERS and "render_seconds" in props
    _, props = cases["test_suite_mean[tiny_punks_perfect-grid_sharpness]"]
    assert float(props["grid_sharpness_mean"]) > float(props["grid_sharpness_threshold"])
    low, high = map(float, props["grid_sharpness_interval"].split(".."))
    assert low <= float(props["grid_sharpness_mean"]) <= high
    assert {"mmd2", "mmd_p_value", "mmd_threshold"} <= cases["test_golden_distance[tiny_punks_perfect]"][1].keys()
    assert {"copy_rate", "copy_rate_limit"} <= cases["test_memorisation[tiny_punks_perfect]"][1].keys()
    _, props = cases["test_photorealism[tiny_punks_perfect]"]  # the worst render's score, limit and file
    assert {"photorealism", "threshold", "render"} <= props.keys() and props["render"].endswith(".png")
    assert float(props["photorealism"]) <= float(props["threshold"]) and props["renders_below_limit"] == "0"


def test_score_only_reruns_give_identical_verdicts_and_render_nothing(pytester, suite, testbed):
    _, first = testbed
    for i in range(RERUNS):
        xml = suite / f"rerun{i}.xml"
        result = gate(pytester, suite, *all_checkpoints(suite), "--score-only", "-q", f"--junitxml={xml}")
        assert result.ret == 1
        cases = junit(xml)
        flips = {name for name, (outcome, _) in cases.items() if outcome != first[name][0]}
        assert not flips, f"rerun {i} flipped {sorted(flips)}"
        for ck in ("perfect", "photoreal", "wrong_colors"):
            props = cases[f"test_render[tiny_punks_{ck}]"][1]
            assert (props["rendered"], props["cached"]) == ("0", str(RENDERS))


def test_baseline_update_then_regression_against_it(pytester, suite, perfect_run, testbed):
    own = suite / "own"
    written = own / "baselines" / "tiny_punks_perfect.json"  # <prompts dir>/baselines/<checkpoint>.json
    assert perfect_run.ret == 0 and written.is_file()
    perfect_run.stdout.fnmatch_lines(["*::test_baseline[[]tiny_punks_perfect-grid_sharpness[]] SKIPPED*",
                                      f"baseline written: {written}"])

    result = gate(pytester, suite, "--checkpoint", str(PHOTOREAL), "--baseline", str(written), "--score-only",
                  "-m", "baseline", prompts=own / "prompts.toml")
    assert result.ret == 1
    # -m baseline: only the comparisons. The photographic drift regresses the three image metrics; its
    # renders still show the asked punks, so prompt adherence holds against the perfect baseline.
    result.assert_outcomes(failed=3, passed=M - 3, deselected=PER_CHECKPOINT - M)
    assert {f"test_baseline[tiny_punks_photoreal-{m}]" for m in ("grid_sharpness", "palette_fidelity", "photorealism")} \
        == failed_ids(result)
    line = next(ln for ln in result.outlines if ln.startswith("tiny_punks_photoreal: grid_sharpness regressed"))
    for part in (f"against baseline {written}", "baseline 0.", "obtained 0.", "delta -", "one-sided 95% bounds",
                 "look at ", ".png)"):
        assert part in line
    obtained = own / "baselines" / "tiny_punks_photoreal.obtained.json"
    assert obtained.is_file() and f"obtained scores written to {obtained}" in line


def test_require_baseline_fails_a_missing_one_and_update_refuses_a_failing_checkpoint(
        pytester, suite, testbed, monkeypatch):
    forced = suite / "forced"  # a private prompts copy: the --force baseline must not reach the other tests
    forced.mkdir(exist_ok=True)
    shutil.copy(PROMPTS, forced / "prompts.toml")
    args = ("--checkpoint", str(WRONG), "--score-only", "-m", "baseline")
    result = gate(pytester, suite, *args, prompts=forced / "prompts.toml")
    assert result.ret == 0  # by default a missing baseline is a skip ...
    result.assert_outcomes(skipped=M, deselected=PER_CHECKPOINT - M)
    for how in (("--require-baseline",), ()):
        if not how:
            monkeypatch.setenv("EVALKIT_REQUIRE_BASELINE", "1")  # ... in CI it is a failure
        result = gate(pytester, suite, *args, *how, prompts=forced / "prompts.toml")
        assert result.ret == 1 and "test_baseline[tiny_punks_wrong_colors-palette_fidelity]" in failed_ids(result)
        result.stdout.fnmatch_lines(["*no baseline recorded for this checkpoint and --require-baseline*"])
    monkeypatch.delenv("EVALKIT_REQUIRE_BASELINE")

    target = forced / "baselines" / "tiny_punks_wrong_colors.json"
    result = gate(pytester, suite, *args, "--update-baseline", prompts=forced / "prompts.toml")
    assert result.ret == 1 and not target.exists()
    result.stdout.fnmatch_lines(["*--update-baseline refused: tiny_punks_wrong_colors fails its suite threshold "
                                 "on palette_fidelity*--force*"])
    result = gate(pytester, suite, *args, "--update-baseline", "--force", prompts=forced / "prompts.toml")
    assert result.ret == 0 and target.is_file()


def test_marker_keyword_and_exitfirst_selection(pytester, suite, testbed):
    result = gate(pytester, suite, "--checkpoint", str(PERFECT), "-m", "palette", "--score-only")
    # the palette suite mean and the renders' palette floors pass; the palette baseline comparison has no baseline
    result.assert_outcomes(passed=2, skipped=1, deselected=PER_CHECKPOINT - 3)

    result = gate(pytester, suite, "--checkpoint", str(PHOTOREAL), "-k", "render or suite_mean", "-x", "--score-only")
    assert result.ret == 1
    result.assert_outcomes(passed=1, failed=1, deselected=PER_CHECKPOINT - 1 - M)  # render + the suite means
    assert failed_ids(result) == {"test_suite_mean[tiny_punks_photoreal-grid_sharpness]"}
    result.stdout.fnmatch_lines(["*stopping after 1 failures*"])


def test_bad_golden_is_a_usage_error(pytester, suite):
    result = gate(pytester, suite, "--golden", str(pytester.path / "missing"))
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*missing: golden folder does not exist*"])


def test_unloadable_checkpoint_is_an_error_naming_the_file_and_the_others_still_run(testbed):
    result, cases = testbed
    assert result.ret == 1
    assert "test_render[broken]" in failed_ids(result)  # ERROR at setup, in the short summary
    assert cases["test_render[broken]"][0] == "error"
    assert {outcome for name, (outcome, _) in cases.items() if "[broken" in name and name != "test_render[broken]"} \
        == {"skipped"}
    result.stdout.fnmatch_lines(["*broken.safetensors: truncated: 4 bytes*"])
    assert cases["test_render[tiny_punks_perfect]"][0] == "passed"  # listed after broken, still evaluated
    # 3 x the testbed's items ran; broken: 1 error, the rest skipped ("not evaluated (see the error above)")
    assert sum(o == "passed" for o, _ in cases.values()) + sum(o == "failure" for o, _ in cases.values()) \
        == 3 * PER_CHECKPOINT - 3 * M  # the testbed's baseline comparisons are skipped (no baseline)


# Written into the pytester folder and loaded with -p: after the whole run (record written, store
# updated, attribution and summary printed), which slow-to-import modules the process imported: the
# render stack, scipy.stats (the attribution's intervals need only scipy.special) and hypothesis (its
# pytest plugin imports it in the terminal summary; the gate collects no hypothesis test).
TORCH_PROBE = '''
import json, os, sys

SLOW = ("torch", "diffusers", "transformers", "peft", "hypothesis", "scipy.stats")

def pytest_unconfigure(config):
    heavy = sorted(m for m in sys.modules if any(m == s or m.startswith(s + ".") for s in SLOW))
    with open(os.environ["EVALKIT_TORCH_PROBE"], "w") as f:
        json.dump(heavy, f)
'''


def record_of(result) -> dict:
    """The run record the run's summary names (``run record: PATH``)."""
    import json

    line = next(line for line in result.outlines if line.startswith("run record: "))
    return json.loads(Path(line.split(": ", 1)[1]).read_text())


def judged(record) -> list:
    """What a run decided, per checkpoint: images (scores, limits, passes), set level, verdicts, quality."""
    return [{k: ck[k] for k in ("name", "status", "images", "set_level", "verdicts", "quality")}
            for ck in record["checkpoints"]]


def test_fully_cached_rerun_imports_no_torch_and_judges_as_an_uncached_scoring(pytester, suite, testbed, monkeypatch):
    """Issue 23: a re-run whose renders are all cached renders nothing, imports no torch/diffusers (the
    render path imports them only to render), nor scipy.stats or hypothesis (1-3 s of such a run), and
    reads the golden reference and the scores from disk;
    its verdicts are those of scoring the same renders afresh (score caches deleted first)."""
    pytester.makepyfile(torch_probe=TORCH_PROBE)
    probe = suite / "probe.json"
    monkeypatch.setenv("EVALKIT_TORCH_PROBE", str(probe))
    cache = suite / "reports" / "cache"
    shutil.rmtree(cache / "scores", ignore_errors=True)
    for f in cache.glob("golden-reference-*.npz"):
        f.unlink()
    checkpoints = ("--checkpoint", str(PERFECT), "--checkpoint", str(WRONG))
    fresh = gate(pytester, suite, *checkpoints, "-q", "-p", "torch_probe")
    assert fresh.ret == 1  # wrong_colors fails its palette
    assert list(cache.glob("golden-reference-*.npz")) and any((cache / "scores").rglob("*.json"))
    cached = gate(pytester, suite, *checkpoints, "-q", "-p", "torch_probe")
    assert cached.ret == 1
    import json

    assert json.loads(probe.read_text()) == []
    assert judged(record_of(cached)) == judged(record_of(fresh))
    assert [(c["rendered"], c["cached"]) for c in record_of(cached)["checkpoints"]] == [(0, RENDERS)] * 2


def test_scoring_in_worker_processes_judges_as_scoring_in_process(pytester, suite, testbed):
    """Issue 23: --score-workers 2 scores each checkpoint's renders in spawned processes while the gate goes
    on to the next checkpoint; the record's scores, set levels and verdicts are those of --score-workers 0."""
    cache = suite / "reports" / "cache"
    checkpoints = ("--checkpoint", str(PERFECT), "--checkpoint", str(WRONG))
    records = []
    for workers in ("2", "0"):
        shutil.rmtree(cache / "scores", ignore_errors=True)  # every render is scored afresh, by each path
        result = gate(pytester, suite, *checkpoints, "-q", "--score-workers", workers)
        assert result.ret == 1
        records.append(judged(record_of(result)))
    assert records[0] == records[1]


# -- issue 22 finding 9: a LoRA that does almost nothing is flagged, never named best ------------------

def weaken(src: Path, dst: Path, factor: float) -> Path:
    """A real kohya file: ``src`` with every ``.alpha`` scaled by ``factor`` (its effect scales with it),
    as another training run (its own output name and session), so no epoch curve joins it to ``src``."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    weights = load_file(src)
    with safe_open(src, "pt") as f:
        meta = dict(f.metadata())
    meta.update(ss_output_name=dst.stem, ss_session_id="0")
    save_file({k: v * factor if k.endswith(".alpha") else v for k, v in weights.items()}, dst, meta)
    return dst


@pytest.fixture
def weak_run(pytester, suite, _runs, testbed):
    """The perfect LoRA and ``weak`` (the perfect one at a hundredth of its strength: above the took-effect
    check's relative threshold, so it renders, but most of its renders are the base's cell for cell).
    After ``testbed``, so only weak's renders are new: the base alone and perfect come from the cache."""
    if "weak" not in _runs:
        weak = weaken(PERFECT, suite / "weak.safetensors", 0.01)
        xml = suite / "weak.xml"
        result = gate(pytester, suite, "--checkpoint", str(PERFECT), "--checkpoint", str(weak), f"--junitxml={xml}",
                      "-k", "render or changes_base or suite_mean")
        _runs["weak"] = (result, junit(xml))
    return _runs["weak"]


def test_a_lora_indistinguishable_from_its_base_fails_and_is_never_best(weak_run):
    """The testbed's base already draws punks, so the weak LoRA scores as well as the base alone and, before
    the comparison, topped the leaderboard."""
    result, cases = weak_run
    assert result.ret == 1
    assert cases["test_changes_base[weak]"][0] == "failure"
    assert cases["test_changes_base[tiny_punks_perfect]"][0] == "passed"
    out = result.stdout.str()
    assert "indistinguishable from its base" in out and "tiny-punks-base (base alone)" in out
    assert "same as its base" in next(line for line in result.outlines if " weak " in line)
    result.stdout.fnmatch_lines(["best: tiny_punks_perfect"])


def test_the_record_keeps_each_lora_against_its_base_rendered_once(weak_run, suite):
    import json

    records = [json.loads(p.read_text()) for p in (suite / "reports").glob("*/run.json")]
    record = next(r for r in records if {c["name"] for c in r["checkpoints"]} == {"weak", "tiny_punks_perfect"})
    vs = {c["name"]: c["vs_base"] for c in record["checkpoints"]}
    assert vs["weak"]["indistinguishable"] and not vs["tiny_punks_perfect"]["indistinguishable"]
    assert vs["weak"]["n"] == vs["tiny_punks_perfect"]["n"] == RENDERS
    assert abs(vs["weak"]["quality_delta"]) < 0.2  # its quality is the base's own
    assert vs["tiny_punks_perfect"]["changed_share"]["median_high"] > 0.05
    # One base alone for the whole module (one render config): rendered once, then from the cache.
    assert len(list((suite / "reports" / "cache" / "base-alone").glob("*/*.png"))) == RENDERS
    props = junit(suite / "weak.xml")["test_render[tiny_punks_perfect]"][1]
    assert props["rendered"] == "0"


def test_no_base_compare_skips_the_comparison(pytester, suite, weak_run):
    result = gate(pytester, suite, "--checkpoint", str(suite / "weak.safetensors"), "--score-only", "--no-base-compare",
                  "-k", "changes_base", "-rs")
    assert result.ret == 0
    result.assert_outcomes(skipped=1, deselected=PER_CHECKPOINT - 1)
    result.stdout.fnmatch_lines(["*--no-base-compare: the base alone was not rendered*"])
    assert "(base alone)" not in result.stdout.str()  # no base row in the leaderboard
