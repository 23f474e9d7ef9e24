"""`evalkit render` split over 2 processes on gloo (CPU, the shipped tiny testbed), launched
by torchrun (first test) and by accelerate launch (second test).

Two checkpoints x 2 prompts x 3 seeds at 2 steps, batch size 2: the split
puts all of a_perfect and the first batch of b_photoreal on rank 0 and the
rest on rank 1, so one checkpoint really is shared between ranks. The 2-rank
images must be byte-identical to a 1-process render, each rendered once; a
rank that fails (a broken checkpoint, or a rank killed mid-render) must make
the run fail with a line naming the rank and checkpoint, keeping every image
already rendered in the cache.
"""

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from evalkit.golden.prompts import load_prompts
from evalkit.render.cache import RenderCache
from evalkit.render.distributed import render_checkpoints

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "checkpoints" / "tiny-punks-base"
PROMPTS = Path(__file__).with_name("prompts_tiny.toml")
FAST = ["--steps", "2", "--batch-size", "2", "--device", "cpu"]
IMAGES = 12  # 2 checkpoints x 2 prompts x 3 seeds


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Sorted names decide the split; links keep the real files (same sha256, same cache folders)."""
    d = tmp_path_factory.mktemp("ckpts")
    for name, src in [("a_perfect", "tiny_punks_perfect"), ("b_photoreal", "tiny_punks_photoreal")]:
        (d / f"{name}.safetensors").symlink_to(ROOT / "checkpoints" / f"{src}.safetensors")
    broken = d / "c_broken.safetensors"
    broken.write_bytes((ROOT / "checkpoints" / "tiny_punks_perfect.safetensors").read_bytes()[:4096])  # truncated
    return d


@pytest.fixture(scope="module")
def reference(checkpoints, tmp_path_factory):
    """The same renders from one process with one thread (each torchrun worker gets OMP_NUM_THREADS=1)."""
    out = tmp_path_factory.mktemp("one_process")
    run = one_process(checkpoints, out)
    assert not run.errors and sum(r.rendered for r in run.results) == IMAGES
    return pngs(out)


def one_process(checkpoints, reports):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return render_checkpoints([checkpoints / "a_perfect.safetensors", checkpoints / "b_photoreal.safetensors"],
                                  load_prompts(PROMPTS), reports, base_model=str(BASE), device="cpu", steps=2,
                                  batch_size=2)
    finally:
        torch.set_num_threads(threads)


def pngs(reports: Path) -> dict[str, str]:
    """{checkpoint folder/png name: sha256} of every image the cache would serve (as the gate reads it)."""
    cache, found = RenderCache(reports / "cache"), {}
    for png in sorted((reports / "cache").rglob("*.png")):
        meta = json.loads(png.with_suffix(".json").read_text()) if png.with_suffix(".json").is_file() else {}
        if cache.get(png, meta.get("prompt_digest", "")):
            found[f"{png.parent.parent.name}/{png.name}"] = hashlib.sha256(png.read_bytes()).hexdigest()
    return found


def launch(launcher: str, *args):
    """2 processes through torchrun or accelerate launch (which drives torchrun's agent; --multi_gpu runs on CPU too)."""
    if launcher == "torchrun":
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    else:
        with socket.socket() as s:  # a free port: other test runs may share this machine
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cmd = [str(Path(sys.executable).with_name("accelerate")), "launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(port)]
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    return subprocess.run([*cmd, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def render_args(checkpoints, reports, *names):
    ck = [a for n in names for a in ("--checkpoint", str(checkpoints / f"{n}.safetensors"))]
    return ["render", *ck, "--base-model", str(BASE), "--prompts", str(PROMPTS), "--reports-dir", str(reports), *FAST]


def test_two_ranks_render_each_image_once_identically_and_a_failing_rank_is_named(checkpoints, reference, tmp_path):
    proc = launch("torchrun", "-m", "evalkit.cli", *render_args(checkpoints, tmp_path, "a_perfect", "b_photoreal", "c_broken"),
                    "--json")
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("evalkit render: error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    assert errors[0].startswith(f"evalkit render: error: rank 1: {checkpoints / 'c_broken.safetensors'}: ")
    assert errors[0].endswith("images already rendered stay cached")
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    by_name = {Path(d["checkpoint"]).stem: d for d in lines if "checkpoint" in d}
    assert by_name["a_perfect"]["ranks"] == [0] and by_name["b_photoreal"]["ranks"] == [0, 1]
    total = lines[-1]["run"]
    assert (total["ranks"], total["rendered"], total["cached"], total["failed"]) == (2, IMAGES, 0, 1)
    # every (checkpoint, prompt, seed) exactly once: 12 renders made 12 distinct cached images, byte-identical
    assert pngs(tmp_path) == reference and len(reference) == IMAGES


def test_a_rank_killed_mid_render_loses_nothing_already_rendered(checkpoints, reference, tmp_path):
    proc = launch("accelerate", str(Path(__file__).with_name("crash_rank.py")), "1",
                    *render_args(checkpoints, tmp_path, "a_perfect", "b_photoreal"))
    assert proc.returncode != 0
    # the launcher's summary (torchrun's agent) names the dead rank as the root cause
    assert re.search(r"Root Cause[^=]*rank\s*: 1 \(local_rank: 1\)\n\s*exitcode\s*: 9", proc.stderr), proc.stderr[-3000:]
    survived = pngs(tmp_path)
    photoreal = hashlib.sha256((checkpoints / "b_photoreal.safetensors").read_bytes()).hexdigest()[:16]
    assert len([k for k in survived if k.startswith(photoreal)]) >= 2  # rank 1's two finished images were not lost with it
    assert all(reference[k] == sha for k, sha in survived.items())
    # the same command on one process renders only what is missing, and the set is complete and identical
    run = one_process(checkpoints, tmp_path)
    assert not run.errors
    assert sum(r.rendered for r in run.results) == IMAGES - len(survived)
    assert pngs(tmp_path) == reference
