"""`evalkit calibrate`: the quality weights fitted to ratings mirroring our users', leave-one-out, evalkit.toml.

The rated checkpoints are the testbed's LoRAs mirroring our users' runs (checkpoints/users_runs/,
rated by file as ../shared/reference/users-runs.md says: PERFECT 9, SDXL_435MB 7, SDXL_Current 4,
bespoke_baby 0). Their records hold real golden punks drawn as each run fails (tests/score/
score_synth.py: crisp, half photographic, hue-shifted, photographic), scored by the real score_image.
"""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.stats import spearmanr
from score_synth import photographic, upscale, wrong_colours

from evalkit.cli import main
from evalkit.gate.calibration import Rated, fit_weights, load_weights, spearman
from evalkit.gate.quality import FORMULA, WEIGHTS, quality
from evalkit.gate.record import CheckpointResult, ImageResult, RunRecord
from evalkit.score.metrics import IMAGE_METRICS
from evalkit.score.score_image import score_image
from evalkit.store.ratings import file_sha256
from evalkit.store.store import ScoreStore

ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "checkpoints" / "users_runs"
SIZE = 192


def crisp(cells, seed):
    return upscale(cells, SIZE)


def half_drift(cells, seed):
    mix = 0.5 * upscale(cells, SIZE) / 255 + 0.5 * photographic(cells, SIZE, seed)
    return np.rint(mix * 255).astype(np.uint8)


def hue_shift(cells, seed):
    return upscale(wrong_colours(cells), SIZE)


def photo(cells, seed):
    return np.rint(photographic(cells, SIZE, seed) * 255).astype(np.uint8)


# run -> (how it draws, our users' rating)
USERS = {"SD15_PERFECT_Nov9": (crisp, 9), "SDXL_435MB_Nov9": (half_drift, 7), "SDXL_Current_Nov10": (hue_shift, 4),
         "SD15_bespoke_baby_Nov10": (photo, 0)}


def scored(name, draw, reference, reports) -> CheckpointResult:
    images = []
    for k in range(6):
        cells = reference.cells[k * 11]
        arr = draw(cells, k)
        rel = f"cache/{name}/{k}.png"
        (reports / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr).save(reports / rel)
        s = score_image(arr, reference)
        images.append(ImageResult(prompt_id=f"p{k}", seed=42, prompt="punk", hex_codes=[], render=rel,
                                  grid24=s.cells.tolist(), scores={m: round(float(v), 4) for m, v in s.values.items()},
                                  passed={m: True for m in s.values}))
    path = RUNS / f"{name}.safetensors"
    ck = CheckpointResult(name=name, path=str(path), sha256=file_sha256(path), model_hash=None, info=None, images=images)
    ck.quality = quality({m.name: ck.mean(m.name) for m in IMAGE_METRICS})
    return ck


@pytest.fixture(scope="module")
def reports(tmp_path_factory, reference):
    reports = tmp_path_factory.mktemp("cal") / "reports"
    record = RunRecord(run_id="20261125T100000Z-cccc", started_at="2026-11-25T10:00:00+00:00", finished_at=None,
                       prompts_path="p.toml", prompts_sha256="0" * 64, golden_path=str(ROOT / "golden"), thresholds={},
                       versions={}, device="cpu", command="pytest evalkit",
                       checkpoints=[scored(n, d, reference, reports) for n, (d, _) in USERS.items()])
    ScoreStore.default(reports).add_run(record)
    return reports


def cli(capsys, *argv):
    rc = main([*map(str, argv)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_spearman_is_scipys():
    rng = np.random.default_rng(0)
    for _ in range(20):
        x, y = rng.integers(0, 5, 8), rng.normal(size=8)  # ties on one side
        assert spearman(x, y) == pytest.approx(spearmanr(x, y).statistic)
    assert spearman([1, 1, 1], [1, 2, 3]) is None and spearman([1], [2]) is None


def test_too_few_ratings_is_one_line(capsys, reports, tmp_path):
    assert cli(capsys, "rate", RUNS / "SD15_PERFECT_Nov9.safetensors", "9", "--reports-dir", reports)[0] == 0
    rc, out, err = cli(capsys, "calibrate", "--reports-dir", reports, "--rootdir", tmp_path)
    assert rc == 4 and len(err.strip().splitlines()) == 1
    assert "calibration needs ratings of at least 4 evaluated checkpoints, found 1" in err
    assert not (tmp_path / "evalkit.toml").exists()


def test_calibration_ranks_at_least_as_well_as_the_default(capsys, reports, tmp_path):
    for name, (_, rating) in USERS.items():
        assert cli(capsys, "rate", RUNS / f"{name}.safetensors", rating, "--reports-dir", reports)[0] == 0
    (tmp_path / "evalkit.toml").write_text("[thresholds]\ngrid_sharpness = 0.5\n")
    rc, out, err = cli(capsys, "calibrate", "--reports-dir", reports, "--rootdir", tmp_path)
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == "4 rated checkpoints" and lines[1].startswith(f"default:    quality 0-10 = {FORMULA}  Spearman rho ")
    rho_default = float(lines[1].rsplit(" ", 1)[1])
    rho_fitted = float(lines[2].split("Spearman rho ")[1].split(" ")[0])
    assert rho_fitted >= rho_default
    assert "leave-one-out" in lines[2]
    weights = load_weights(tmp_path)
    assert set(weights) == {m.name for m in IMAGE_METRICS} and all(w >= 0.05 for w in weights.values())
    assert sum(weights.values()) == pytest.approx(1)
    text = (tmp_path / "evalkit.toml").read_text()
    assert "[thresholds]\ngrid_sharpness = 0.5" in text and text.count("[quality]") == 1
    assert f"quality 0-10 = {lines[2].split('quality 0-10 = ')[1].split('  Spearman')[0]}" in text
    # calibrating again replaces the section, never duplicates it
    assert cli(capsys, "calibrate", "--reports-dir", reports, "--rootdir", tmp_path)[0] == 0
    assert (tmp_path / "evalkit.toml").read_text().count("[quality]") == 1


def test_the_fit_is_monotone_and_keeps_the_default_when_it_ranks_best():
    means = [{m.name: (v if m.direction.higher_is_better else 1 - v) for m in IMAGE_METRICS} for v in (0.9, 0.7, 0.5, 0.3)]
    rated = [Rated(f"r{i}", m, 9 - 2 * i) for i, m in enumerate(means)]  # every metric agrees with the ratings
    c = fit_weights(rated)
    assert c.weights == pytest.approx(WEIGHTS) and c.rho_default == c.rho_fitted == 1.0
    with pytest.raises(Exception, match="nothing to rank by"):
        fit_weights([Rated(r.name, r.means, 5) for r in rated])


def test_bad_weights_in_evalkit_toml_name_the_file(tmp_path):
    from evalkit.errors import EvalkitError

    for body, message in [("[quality]\nweights = { grid = 1 }\n", "unknown metric 'grid'"),
                          ("[quality]\nweights = { grid_sharpness = 0.5 }\n", "sum to 0.5000"),
                          ("[quality]\nweights = 3\n", "needs weights")]:
        (tmp_path / "evalkit.toml").write_text(body)
        with pytest.raises(EvalkitError, match=message) as e:
            load_weights(tmp_path)
        assert "evalkit.toml" in str(e.value)
