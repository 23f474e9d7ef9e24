"""`pytest evalkit --checkpoint-dir` over a kohya output folder of one run's epochs (real renders on CPU).

The folder holds sd-scripts' names: ``RUN-000001``, ``RUN-000002`` and the final ``RUN``. Stand-ins
for trained epochs (no per-epoch testbed run is committed yet): the shipped testbed LoRAs' tensors,
unchanged, with the metadata rewritten to one ss_session_id / ss_output_name; the final file carries
no ss_epoch, so its epoch comes from sd-scripts' naming. One prompt x 2 seeds keeps rendering short.
"""

import json
from pathlib import Path

import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

ROOT = Path(__file__).resolve().parents[2]
CK = ROOT / "checkpoints"
PROMPTS = Path(__file__).with_name("prompts_small.toml")
EPOCHS = [("RUN-000001", "tiny_punks_photoreal", 1), ("RUN-000002", "tiny_punks_wrong_colors", 2),
          ("RUN", "tiny_punks_perfect", None)]

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.slow


def kohya_epoch(src: Path, dst: Path, epoch: int | None, session: str = "run-42") -> None:
    with safe_open(str(src), "np") as f:
        meta = dict(f.metadata() or {})
    meta.update(ss_session_id=session, ss_output_name="RUN")
    meta.pop("ss_epoch", None)
    meta.pop("ss_num_epochs", None)
    if epoch is not None:
        meta["ss_epoch"] = str(epoch)
    save_file(load_file(str(src)), str(dst), metadata=meta)


@pytest.fixture(scope="module")
def output_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("kohya")
    out = d / "output"
    out.mkdir()
    for name, src, epoch in EPOCHS:
        kohya_epoch(CK / f"{src}.safetensors", out / f"{name}.safetensors", epoch)
    # one prompt of the slice, two seeds: rendering on a shared CPU is the cost here
    text = PROMPTS.read_text()
    blocks = text.split("[[prompts]]")
    (d / "prompts.toml").write_text("[[prompts]]".join(blocks[:2]))
    return d


def test_one_run_of_three_epochs_is_named_in_the_summary_and_record(pytester, output_dir):
    reports = output_dir / "reports"
    result = pytester.runpytest_subprocess(
        str(ROOT / "evalkit"), f"--rootdir={ROOT}", "--prompts", str(output_dir / "prompts.toml"),
        "--reports-dir", str(reports), "-p", "no:cacheprovider", "--checkpoint-dir", str(output_dir / "output"), "--no-base-compare")
    out = result.stdout.str()
    assert "epochs of RUN (checkpoints): quality e1 " in out and " e3? " in out  # the final file: epoch by naming
    record = json.loads(next(reports.glob("*/run.json")).read_text())
    (run,) = record["epochs"]["runs"]
    assert [m["label"] for m in run["members"]] == ["RUN-000001", "RUN-000002", "RUN"]
    assert [m["epoch_assumed"] for m in run["members"]] == [False, False, True]
    q = next(c for c in run["curves"] if c["name"] == "quality")
    by_ck = {c["name"]: c["quality"] for c in record["checkpoints"]}
    assert [p["value"] for p in q["points"]] == [by_ck[m["label"]] for m in run["members"]]
    assert run["best_epoch"] == max(q["points"], key=lambda p: p["value"])["epoch"] == 3  # the crisp punks
    line = next(ln for ln in result.outlines if ln.strip().startswith("best epoch"))
    assert f"best epoch 3 (RUN); earliest within noise of it: epoch {run['earliest_within_noise']}" in line
    assert record["epochs"]["refused"] == []
