"""`pytest evalkit` as a user runs it, on the shipped testbed (pytester, real renders on CPU).

The perfect LoRA passes; the photoreal one fails on grid_sharpness and
photorealism; the wrong-colours one fails on palette_fidelity. A 6-prompt x
2-seed slice of the suite keeps this at ~10 s of rendering per checkpoint.
"""

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EVALKIT = ROOT / "evalkit"
CK = ROOT / "checkpoints"
PROMPTS = Path(__file__).with_name("prompts_small.toml")

pytest_plugins = ["pytester"]


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    return tmp_path_factory.mktemp("reports")


def gate(pytester, reports, *args):
    return pytester.runpytest_subprocess(
        str(EVALKIT), f"--rootdir={ROOT}", "--prompts", str(PROMPTS), "--reports-dir", str(reports), "-p", "no:cacheprovider", *args
    )


def test_perfect_passes(pytester, reports):
    result = gate(pytester, reports, "--checkpoint", str(CK / "tiny_punks_perfect.safetensors"), "-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*test_grid_sharpness?tiny_punks_perfect? PASSED*"])
    assert result.ret == 0


def test_photoreal_fails_on_grid_and_realism(pytester, reports):
    result = gate(pytester, reports, "--checkpoint", str(CK / "tiny_punks_photoreal.safetensors"))
    assert result.ret == 1
    out = result.stdout.str()
    assert "test_punks.py::test_grid_sharpness[tiny_punks_photoreal]" in out
    assert "test_punks.py::test_photorealism[tiny_punks_photoreal]" in out
    assert "grid_sharpness: suite mean" in out and "look at" in out and ".png" in out


def test_wrong_colors_fails_on_palette(pytester, reports):
    result = gate(pytester, reports, "--checkpoint", str(CK / "tiny_punks_wrong_colors.safetensors"))
    assert result.ret == 1
    assert "test_punks.py::test_palette_fidelity[tiny_punks_wrong_colors]" in result.stdout.str()


def test_rerun_scores_from_cache_with_same_verdicts_and_junit(pytester, reports):
    ck = ["--checkpoint", str(CK / "tiny_punks_perfect.safetensors"), "--checkpoint", str(CK / "tiny_punks_photoreal.safetensors")]
    verdicts = []
    for i in range(2):
        xml = pytester.path / f"junit{i}.xml"
        result = gate(pytester, reports, *ck, "--score-only", f"--junitxml={xml}")  # --score-only: nothing may render
        assert result.ret == 1
        cases = ET.parse(xml).getroot().iter("testcase")
        verdicts.append({c.get("name"): c.find("failure") is None for c in cases})
        props = {p.get("name"): p.get("value") for p in ET.parse(xml).getroot().iter("property")}
        assert "grid_sharpness_mean" in props and "photorealism_interval" in props
    assert verdicts[0] == verdicts[1] and len(verdicts[0]) == 6


def test_marker_selection(pytester, reports):
    result = gate(pytester, reports, "--checkpoint", str(CK / "tiny_punks_perfect.safetensors"), "-m", "palette", "--score-only")
    result.assert_outcomes(passed=1, deselected=2)


def test_bad_golden_is_usage_error(pytester, reports):
    result = gate(pytester, reports, "--golden", str(pytester.path / "missing"))
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*missing: golden folder does not exist*"])


def test_unloadable_checkpoint_is_an_error_naming_the_file(pytester, reports):
    bad = pytester.path / "broken.safetensors"
    bad.write_bytes(b"\x00" * 4)
    result = gate(pytester, reports, "--checkpoint", str(bad), "--checkpoint", str(CK / "tiny_punks_perfect.safetensors"), "--score-only")
    assert result.ret == 1
    out = result.stdout.str()
    assert "broken.safetensors" in out
    result.assert_outcomes(passed=3, failed=3)
