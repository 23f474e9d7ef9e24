"""Issue 20's testbed run: the perfect run's recipe saved every epoch, with the samples sd-scripts would draw.

``checkpoints/epochs_run`` was made by ``python -m testbed.epochs --out checkpoints/epochs_run`` on
the CPU (``testbed_log.json`` there: 5 epochs of 24 steps at batch 64, 1722 s). Its samples are
scored here without rendering, as ``evalkit score --kohya-samples`` does. What it shows, and no
more: the best epoch is the last one and quality at the end is above the first epoch's. The base
already draws punks, so epoch 1 is good too, and with 3 samples per epoch it is within noise of
the best (the curve names it as the earliest such epoch); the test asserts that honestly.
"""

from pathlib import Path

from evalkit.gate.samples import score_samples
from evalkit.golden.kohya_prompts import load_kohya_prompts

RUN = Path(__file__).resolve().parents[2] / "checkpoints" / "epochs_run"


def test_the_samples_name_a_late_best_epoch_of_one_run_of_five(reference):
    scored = score_samples(RUN, reference, load_kohya_prompts(RUN / "prompts.txt"))
    assert not scored.unparsed and not scored.refused and not scored.unmatched
    (run,) = scored.runs
    assert run.run == "tiny_punks_epochs" and [e for e, _, _ in run.members] == [1, 2, 3, 4, 5]
    assert run.best >= 4  # a late epoch
    q = run.quality
    assert q.points[-1].value > q.points[0].value
    assert run.earliest_within_noise is not None and run.earliest_within_noise <= run.best
    assert len(scored.images) == 15  # 3 prompts x 5 epochs, one seed each


def test_every_epoch_file_is_a_kohya_checkpoint_of_one_session():
    from evalkit.inspect.api import inspect_checkpoint

    files = sorted(RUN.glob("tiny_punks_epochs*.safetensors"))
    assert [f.name for f in files][-1] == "tiny_punks_epochs.safetensors" and len(files) == 5
    metas = [inspect_checkpoint(f, tensor_health=False).metadata for f in files]
    assert len({m["ss_session_id"] for m in metas}) == 1
    assert sorted(int(m["ss_epoch"]) for m in metas) == [1, 2, 3, 4, 5]


def test_rendering_the_epochs_agrees_with_their_samples(tmp_path, reference):
    """Issue 20's "Done when": the gate renders every epoch's LoRA at the sample prompts (``--checkpoint-dir``
    over the run's folder, ``--prompts`` its sd-scripts prompt file) and its curve agrees with the one
    from the sample images: the same best epoch, or each curve's best within noise of the other's."""
    import json
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(RUN.parents[1] / "evalkit"), f"--rootdir={RUN.parents[1]}",
         "-p", "no:cacheprovider", "-q", "--checkpoint-dir", str(RUN), "--prompts", str(RUN / "prompts.txt"),
         "--reports-dir", str(tmp_path), "--no-base-compare", "-k", "render or suite_mean"],
        cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-2000:]
    record = json.loads(next(tmp_path.glob("*/run.json")).read_text())
    (rendered,) = record["epochs"]["runs"]
    assert rendered["run"] == "tiny_punks_epochs" and [m["epoch"] for m in rendered["members"]] == [1, 2, 3, 4, 5]
    (sampled,) = score_samples(RUN, reference, load_kohya_prompts(RUN / "prompts.txt")).runs

    def within_noise(curve: dict, epoch: int) -> bool:  # the curve's rule: high(epoch) >= low(best)
        points = {p["epoch"]: p for p in curve["points"]}
        return points[epoch]["high"] >= points[curve["best"]]["low"]

    quality = next(c for c in rendered["curves"] if c["name"] == "quality")
    sampled_quality = sampled.quality.to_dict()
    assert rendered["best_epoch"] == sampled.best or (
        within_noise(quality, sampled.best) and within_noise(sampled_quality, rendered["best_epoch"]))
    print(f"rendered best epoch {rendered['best_epoch']}, samples' {sampled.best}")
