"""`evalkit score --kohya-samples`: sd-scripts' sample names parsed, scored, one epoch curve per run.

The samples are real golden punks drawn as an under-trained run draws them early (the photographic
drift of tests/score/score_synth.py, then a half blend) and crisp later, saved under sd-scripts' names.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from score_synth import photographic, upscale

from evalkit.cli import main
from evalkit.golden.prompts import load_prompts
from evalkit.score.kohya_samples import NO_NAME, parse_sample_name

PROMPTS = Path(__file__).resolve().parents[1] / "gate" / "prompts_small.toml"
SIZE = 192
SEEDS = (42, 43)


def test_names_as_sd_scripts_writes_them():
    s = parse_sample_name(Path("SD15_PERFECT_Nov9_e000006_01_20251109202211_42.png"))
    assert (s.run, s.epoch, s.steps, s.index, s.timestamp, s.seed) == ("SD15_PERFECT_Nov9", 6, None, 1, "20251109202211", 42)
    s = parse_sample_name(Path("run_000500_00_20251109202211.png"))  # per-step sample, prompt without --d
    assert (s.run, s.epoch, s.steps, s.seed) == ("run", None, 500, None)
    s = parse_sample_name(Path("e000002_03_20251109202211_7.png"))  # no --output_name
    assert (s.run, s.epoch, s.index) == (NO_NAME, 2, 3)
    for bad in ("RUN_e6_00_20251109202211_42.png", "RUN_e000006_00_2025_42.png", "RUN-000006.png",
                "RUN_e000006_00_20251109202211_42.txt", "RUN_e000006_x0_20251109202211_42.png", "notes.png"):
        assert parse_sample_name(Path(bad)) is None, bad


def _draw(cells, epoch, seed):
    """Epoch 1 photographic drift, epoch 2 half way, epoch 3 and later crisp punks."""
    crisp = upscale(cells, SIZE).astype(np.float32) / 255
    drift = photographic(cells, SIZE, seed)
    mix = {1: 1.0, 2: 0.5}.get(epoch, 0.0)
    return np.rint(((1 - mix) * crisp + mix * drift) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def output_dir(tmp_path_factory, golden):
    d = tmp_path_factory.mktemp("kohya") / "output"
    sample = d / "sample"
    sample.mkdir(parents=True)
    prompts = load_prompts(PROMPTS)[:2]
    # the --sample_prompts file the samples came from (sd-scripts' .txt form)
    (d / "prompts.txt").write_text("".join(f"{p.text} --n {p.negative} --d 42\n" for p in prompts))
    for epoch in range(1, 5):
        for i, p in enumerate(prompts):
            for seed in SEEDS:
                cells = golden.images[golden.index(p.golden[SEEDS.index(seed)])]
                name = f"RUN_e{epoch:06d}_{i:02d}_2025110920{epoch:02d}{i}{seed % 10}_{seed}.png"
                Image.fromarray(_draw(cells, epoch, seed)).save(sample / name)
    (sample / "RUN_e000004_00_notatime_42.png").write_bytes(b"not read")
    (sample / "preview.png").write_bytes(b"not read")
    return d


def run(capsys, *argv):
    rc = main(["score", *map(str, argv)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_samples_give_a_rising_curve_and_a_late_best_epoch(capsys, output_dir, golden):
    rc, out, err = run(capsys, "--kohya-samples", output_dir, "--prompts", output_dir / "prompts.txt",
                       "--golden", golden.root, "--json")
    assert rc == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    images, summary = rows[:-1], rows[-1]
    assert len(images) == 4 * 2 * len(SEEDS) and {r["run"] for r in images} == {"RUN"}
    assert {r["prompt"] for r in images} == {"sample_00", "sample_01"}
    (curve,) = summary["epochs"]["runs"]
    q = next(c for c in curve["curves"] if c["name"] == "quality")
    values = [p["value"] for p in q["points"]]
    assert [p["epoch"] for p in q["points"]] == [1, 2, 3, 4]
    assert values[0] < values[1] < values[2]  # the curve rises
    assert curve["best_epoch"] in (3, 4) and curve["earliest_within_noise"] == 3  # 3 and 4 are drawn alike
    # never guessed: the two files whose names do not parse are listed, counted and skipped
    assert sorted(Path(p).name for p in summary["skipped"]) == ["RUN_e000004_00_notatime_42.png", "preview.png"]
    assert "skipped 2 file(s) whose names are not sd-scripts sample names" in err


def test_terminal_summary_names_the_best_epoch(capsys, output_dir, golden):
    rc, out, _ = run(capsys, "--kohya-samples", output_dir, "--golden", golden.root)
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].startswith("RUN_e000001_00_") and "(epoch 1, prompt 00)" in lines[0]
    i = next(k for k, ln in enumerate(lines) if ln.startswith("epochs of RUN (samples): quality e1 "))
    assert "best epoch" in lines[i + 1] and "earliest within noise of it: epoch 3 (e000003)" in lines[i + 1]
    assert any(ln.startswith("skipped 2 file(s)") for ln in lines)


def test_two_trainings_into_one_folder_are_refused(capsys, tmp_path, output_dir, golden):
    sample = tmp_path / "sample"
    sample.mkdir()
    src = sorted((output_dir / "sample").glob("RUN_e00000[12]_00_*_42.png"))
    for p in src:
        (sample / p.name).write_bytes(p.read_bytes())
    again = src[0].name.replace("_2025110920", "_2025111020")  # the same epoch/prompt/seed a day later
    (sample / again).write_bytes(src[0].read_bytes())
    rc, out, _ = run(capsys, "--kohya-samples", tmp_path, "--golden", golden.root)
    assert rc == 0
    assert "epochs: RUN: two samples of epoch 1, prompt 00" in out and "more than one training run" in out
    assert "epochs: no run has samples of two or more epochs" in out


def test_a_prompt_index_beyond_the_prompt_file_is_skipped(capsys, tmp_path, output_dir, golden):
    one = tmp_path / "one.txt"
    one.write_text((output_dir / "prompts.txt").read_text().splitlines()[0] + "\n")
    rc, out, _ = run(capsys, "--kohya-samples", output_dir, "--prompts", one, "--golden", golden.root)
    assert rc == 0
    assert f"skipped {4 * len(SEEDS)} sample(s) whose prompt index is not in the prompt file" in out


@pytest.mark.parametrize("argv, message", [
    (["--kohya-samples", "{missing}"], "is not a folder"),
    (["--kohya-samples", "{empty}"], "holds no sd-scripts sample images"),
    (["--kohya-samples", "{empty}", "x.png"], "give no IMAGE_OR_DIR with it"),
    ([], "give render files or folders, or --kohya-samples OUTPUT_DIR"),
])
def test_bad_input_is_one_line(capsys, tmp_path, argv, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.png").write_bytes(b"")
    argv = [a.format(missing=tmp_path / "missing", empty=tmp_path / "empty") for a in argv]
    rc, out, err = run(capsys, *argv)
    assert rc == 4 and message in err and len(err.strip().splitlines()) == 1
