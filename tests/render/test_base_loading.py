"""Loading a base the way current diffusers / huggingface_hub want it (issue 21): no deprecated loader
argument, the hub's own offline flag (HF_HUB_OFFLINE=ON included), `hf download` in the message."""

import subprocess
import sys
import warnings
from pathlib import Path

import torch

from evalkit.render.base_model import load_pipeline, resolve_base

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "checkpoints" / "tiny-punks-base"
PERFECT = ROOT / "checkpoints" / "tiny_punks_perfect.safetensors"


def test_loading_the_testbed_base_warns_of_no_deprecated_argument():
    ref = resolve_base(str(BASE), PERFECT, "sd15", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_pipeline(ref, "cpu", torch.float32)
    assert not [w for w in caught if "deprecat" in str(w.message).lower()], [str(w.message) for w in caught]


def test_hf_hub_offline_on_is_offline_as_the_hub_reads_it():
    """A fresh process: the hub reads HF_HUB_OFFLINE when it is imported; "ON" was refused by hand parsing."""
    code = ("from evalkit.render.base_model import load_pipeline, resolve_base; import torch\n"
            f"from pathlib import Path; ref = resolve_base(None, Path({str(PERFECT)!r}), 'sd15', 'no-such-base')\n"
            "try:\n    load_pipeline(ref, 'cpu', torch.float32)\nexcept Exception as exc:\n    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300,
                         env={"HF_HUB_OFFLINE": "ON", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": "/tmp"})
    out = out.stdout + out.stderr
    assert "base model not available offline" in out and "hf download stable-diffusion-v1-5" in out, out
