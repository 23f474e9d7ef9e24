"""Benchmark: how many 512x512 renders evalkit scores per second on one CPU core.

    python bench/bench_score.py [--images 200] [--size 512] [--out bench/results/score_cpu.json]

Scores a mix of renders built from the real golden punks (crisp, noisy,
blurred, photographic drift, hue-shifted) with `score_image` (grid recovery
and the three per-image scores), from arrays and from PNG files, and compares
with a baseline measured in the same run: a plain PIL resize to 24x24 plus a
colour count, the least any scorer must do. Target: >= 50 images/s, so
scoring never slows the GPU. Threads are pinned to one (BLAS / OpenMP env
vars and, where the OS allows, CPU affinity).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from scipy.ndimage import gaussian_filter  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evalkit.golden.load import load_golden  # noqa: E402
from evalkit.score.golden_reference import build_reference  # noqa: E402
from evalkit.score.score_image import score_file, score_image  # noqa: E402

TARGET = 50.0


def make_renders(golden, n: int, size: int) -> list[np.ndarray]:
    """``n`` uint8 renders of golden punks, cycling through five kinds of render."""
    rng = np.random.default_rng(0)
    out = []
    for k in range(n):
        cells = golden.images[k % len(golden)]
        pitch = size / 24 * rng.uniform(0.96, 1.0)
        off = rng.uniform(-0.4, 0.4, 2) * pitch
        xs = np.clip(np.floor((np.arange(size) + 0.5 - off[0]) / pitch).astype(int), 0, 23)
        ys = np.clip(np.floor((np.arange(size) + 0.5 - off[1]) / pitch).astype(int), 0, 23)
        img = cells[ys][:, xs].astype(np.float32) / 255
        kind = k % 5
        if kind == 1:
            img = img + rng.normal(0, 0.03, img.shape)
        elif kind == 2:
            img = gaussian_filter(img, (0.2 * pitch, 0.2 * pitch, 0))
        elif kind == 3:
            img = gaussian_filter(img, (0.15 * pitch, 0.15 * pitch, 0)) + rng.normal(0, 0.05, img.shape)
        elif kind == 4:
            img = img[..., ::-1]  # channel swap: off-palette colours
        out.append(np.clip(np.rint(img * 255), 0, 255).astype(np.uint8))
    return out


def baseline(img: np.ndarray) -> int:
    small = Image.fromarray(img).resize((24, 24), Image.NEAREST)
    return len(np.unique(np.asarray(small).reshape(-1, 3), axis=0))


def rate(fn, items, repeat: int = 1) -> float:
    """Items per second over the best of ``repeat`` passes (after one warm-up item)."""
    fn(items[0])
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        for item in items:
            fn(item)
        best = min(best, time.perf_counter() - t)
    return len(items) / best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--golden", default=str(ROOT / "golden"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "score_cpu.json"))
    args = ap.parse_args(argv)
    pinned = False
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
            pinned = True
        except OSError:
            pass

    golden = load_golden(args.golden)
    t = time.perf_counter()
    reference = build_reference(golden)
    reference_s = time.perf_counter() - t
    renders = make_renders(golden, args.images, args.size)

    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i, img in enumerate(renders):
            path = Path(tmp) / f"r{i:04d}.png"
            Image.fromarray(img).save(path)
            files.append(path)
        results = {
            "score_image (array)": rate(lambda im: score_image(im, reference), renders, args.repeat),
            "score_file (PNG decode + score)": rate(lambda p: score_file(p, reference), files, args.repeat),
            "baseline: PIL resize 24x24 + colour count (array)": rate(baseline, renders, args.repeat),
            "baseline: PNG decode + PIL resize + colour count": rate(
                lambda p: baseline(np.asarray(Image.open(p).convert("RGB"))), files, args.repeat
            ),
        }

    score_rate = results["score_image (array)"]
    report = {
        "images": args.images,
        "size": args.size,
        "images_per_second": {k: round(v, 1) for k, v in results.items()},
        "ratio_to_baseline": round(score_rate / results["baseline: PIL resize 24x24 + colour count (array)"], 4),
        "ms_per_image": round(1000 / score_rate, 2),
        "target_images_per_second": TARGET,
        "meets_target": bool(score_rate >= TARGET),
        "reference_build_seconds": round(reference_s, 3),
        "one_core": {"threads": 1, "affinity_pinned": pinned},
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "processor": platform.processor() or platform.machine(),
            "cpus_visible": os.cpu_count(),
        },
    }
    for name, value in results.items():
        print(f"{name:52s} {value:8.1f} images/s")
    print(f"{'score_image vs baseline (array)':52s} {report['ratio_to_baseline']:8.3f} x")
    print(f"target {TARGET:.0f} images/s on one core: {'met' if report['meets_target'] else 'NOT met'} "
          f"({report['ms_per_image']} ms per {args.size}x{args.size} render); golden reference built in {reference_s:.2f} s")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
