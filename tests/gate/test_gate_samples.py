"""`pytest evalkit --samples OUTPUT_DIR`: the gate on the samples sd-scripts drew, nothing rendered.

The samples are real golden punks drawn as an under-trained run draws them (tests/score/
test_kohya_samples.py's drawing: photographic drift at epoch 1, half at 2, crisp from 3), under
sd-scripts' names; the gate judges each epoch as a checkpoint and names the same best epoch as
`evalkit score --kohya-samples` on the same folder.
"""

import json
from pathlib import Path

import pytest
from PIL import Image
from test_kohya_samples import _draw

from evalkit.cli import main
from evalkit.golden.prompts import load_prompts

ROOT = Path(__file__).resolve().parents[2]
PROMPTS = Path(__file__).with_name("prompts_small.toml")

pytest_plugins = ["pytester"]


@pytest.fixture(scope="module")
def output_dir(tmp_path_factory, golden):
    d = tmp_path_factory.mktemp("kohya") / "output"
    (d / "sample").mkdir(parents=True)
    prompts = load_prompts(PROMPTS)[:2]
    (d / "prompts.txt").write_text("".join(f"{p.text} --d 42\n" for p in prompts))
    for epoch in (1, 2, 3):
        for i, p in enumerate(prompts):
            for k, gid in enumerate(p.golden[:3]):  # three samples per prompt: seed 42 and two redraws
                cells = golden.images[golden.index(gid)]
                name = f"my_run_e{epoch:06d}_{i:02d}_2025110920{epoch:02d}{i}{k}_{42 + k}.png"
                Image.fromarray(_draw(cells, epoch, 42 + k)).save(d / "sample" / name)
    (d / "sample" / "my_run_e000003_00_garbled.png").write_bytes(b"x")
    return d


def gate(pytester, output_dir, *args):
    return pytester.runpytest_subprocess(
        str(ROOT / "evalkit"), f"--rootdir={ROOT}", "--reports-dir", str(output_dir / "reports"),
        "-p", "no:cacheprovider", *args)


def test_the_gate_judges_each_epoch_of_samples_and_names_the_best(pytester, output_dir, golden, capsys):
    result = gate(pytester, output_dir, "--samples", str(output_dir), "--prompts", str(output_dir / "prompts.txt"), "-v")
    out = result.stdout.str()
    # one entry per epoch; per-image floors over the suite's seed 42, the suite means over all three samples
    result.stdout.fnmatch_lines_random(["*test_render[[]my_run_e000001[]] PASSED*",
                                        "*test_suite_mean[[]my_run_e000003-grid_sharpness[]] PASSED*",
                                        "*test_grid_sharpness[[]my_run_e000003[]] PASSED*"])
    assert "test_suite_mean[my_run_e000001-photorealism] FAILED" in out  # the drifted first epoch
    assert "samples: skipped 1 file(s) whose names are not sd-scripts sample names: my_run_e000003_00_garbled.png" in out
    record = json.loads(next((output_dir / "reports").glob("*/run.json")).read_text())
    (run,) = record["epochs"]["runs"]
    assert run["run"] == "my_run" and [m["epoch"] for m in run["members"]] == [1, 2, 3]
    assert all(len(c["images"]) == 6 for c in record["checkpoints"])
    # the score command on the same folder: the same curve, the same best epoch
    assert main(["score", "--kohya-samples", str(output_dir), "--prompts", str(output_dir / "prompts.txt"),
                 "--golden", str(golden.root), "--json"]) == 0
    scored = json.loads(capsys.readouterr().out.splitlines()[-1])["epochs"]["runs"][0]
    assert scored["best_epoch"] == run["best_epoch"] == 3
    q = lambda r: [p["value"] for p in next(c for c in r["curves"] if c["name"] == "quality")["points"]]  # noqa: E731
    assert q(scored) == pytest.approx(q(run), abs=0.011)  # the record rounds scores to 4 digits


@pytest.mark.parametrize("args, message", [
    (["--samples", "{out}"], "--samples needs --prompts"),
    (["--samples", "{out}/missing", "--prompts", "{out}/prompts.txt"], "is not a folder"),
])
def test_bad_samples_input_is_a_usage_error(pytester, output_dir, args, message):
    result = gate(pytester, output_dir, *[a.format(out=output_dir) for a in args])
    assert result.ret == 4 and message in result.stderr.str()
