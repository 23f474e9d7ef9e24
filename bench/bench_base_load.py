"""Where a gate's "load base" stage goes on a GPU: each part timed in a fresh process, in order.

    python bench/bench_base_load.py --arch sd15      # builds a random-weight full-size base folder first

Parts: ``import torch``, CUDA's first context (``torch.cuda.init`` + a tiny kernel), ``import diffusers``
(with bytecode compiled beforehand, as an installed environment has), evalkit's LoRA loaders' import,
``from_pretrained`` of the local folder onto the CPU, then ``.to(cuda)``; and the alternative of loading
straight onto the GPU (``device_map="cuda"``). Each in its own subprocess so imports are cold. JSON to
``bench/results/base_load_<arch>_<gpu>.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

PARTS = r'''
import json, sys, time
t0 = time.perf_counter(); out = {}
def lap(name):
    global t0
    now = time.perf_counter(); out[name] = round(now - t0, 3); t0 = now
import torch; lap("import torch")
torch.cuda.init(); torch.zeros(1, device="cuda").add_(1); torch.cuda.synchronize(); lap("cuda context")
import diffusers; from diffusers import DiffusionPipeline; lap("import diffusers")
import evalkit.render.lora_slot, evalkit.render.run; lap("import evalkit loaders")
mode = sys.argv[2]
if mode == "cpu-then-to":
    pipe = DiffusionPipeline.from_pretrained(sys.argv[1], dtype=torch.float16, local_files_only=True,
                                             safety_checker=None, requires_safety_checker=False); lap("from_pretrained (cpu)")
    pipe.to("cuda"); torch.cuda.synchronize(); lap("to(cuda)")
else:
    pipe = DiffusionPipeline.from_pretrained(sys.argv[1], dtype=torch.float16, local_files_only=True,
                                             safety_checker=None, requires_safety_checker=False,
                                             device_map="cuda"); torch.cuda.synchronize(); lap("from_pretrained (device_map=cuda)")
print("PARTS " + json.dumps(out))
'''


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", choices=["sd15", "sdxl"], default="sd15")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    import torch
    from bench_gate import build_base, gpu_slug, compile_bytecode

    gpu = torch.cuda.get_device_name(0)
    work = Path(tempfile.mkdtemp(prefix="bench_base_load_"))
    base, built = build_base(args.arch, "cuda", work / "base")
    result = {"arch": args.arch, "gpu": gpu, "torch": torch.__version__, "bytecode_compiled_s": compile_bytecode(),
              "runs": []}
    for _ in range(args.repeat):
        for mode in ("cpu-then-to", "device-map"):
            proc = subprocess.run([sys.executable, "-c", PARTS, str(base), mode], capture_output=True, text=True, cwd=ROOT)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("PARTS ")), None)
            parts = json.loads(line[6:]) if line else {"error": (proc.stdout + proc.stderr)[-1500:]}
            result["runs"].append({"mode": mode, **parts})
            print(mode, json.dumps(parts), flush=True)
    out = args.out or ROOT / "bench" / "results" / f"base_load_{args.arch}_{gpu_slug(gpu)}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
