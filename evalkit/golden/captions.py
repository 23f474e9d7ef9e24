"""Captions for punks, generated from their attribute labels and their pixels.

Two caption versions mirror what our users compared when they trained:

* ``v1``: short and generic (~180 characters): type, hair, one accessory, skin,
  background, style words and 1-3 hex codes.
* ``v2``: detailed and accurate (~320 characters): every labelled attribute,
  eye/skin/background hex codes read from the actual pixels and the image's
  full palette.

Pure functions: labels and a 24x24 RGB array in, a string out. The golden
build and the testbed trainer both caption through here, so the golden set and
the model's training data speak the same language.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

PUNK_TYPES = ("alien", "ape", "zombie", "female", "male")

# The classic CryptoPunks backdrop; the source images are transparent.
BACKGROUND_RGB = (0x63, 0x85, 0x96)

# Skin tones of the CryptoPunks generator, named as people describe them.
SKIN_NAMES = {
    "#EAD9D9": "albino",
    "#DBB180": "light",
    "#AE8B61": "medium",
    "#713F1D": "dark",
    "#7DA269": "green zombie",
    "#856F56": "brown ape",
    "#C8FBFB": "pale blue alien",
}

# Attribute groups, so v1 can pick "the hair" and "the accessory".
HEADWEAR = {
    "beanie", "pilotHelmet", "tiara", "pinkWithHat", "topHat", "cowboyHat", "tassleHat",
    "fedora", "policeCap", "capForward", "hoodie", "doRag", "cap", "headband", "knittedCap",
    "bandana",
}
HAIR = {
    "orangeSide", "pigtails", "blondeShort", "wildWhiteHair", "wildBlonde", "straightHairBlonde",
    "redMohawk", "halfShaved", "blondeBob", "vampireHair", "clownHairGreen", "straightHairDark",
    "straightHair", "darkHair", "purpleHair", "shavedHead", "peakSpike", "crazyHair",
    "mohawkDark", "mohawk", "mohawkThin", "frumpyHair", "wildHair", "messyHair", "stringyHair",
}


def attribute_words(name: str) -> str:
    """``blondeBob`` -> ``blonde bob``; ``3DGlasses`` -> ``3d glasses``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", name)
    return spaced.lower()


def hex_code(rgb) -> str:
    r, g, b = (int(v) for v in rgb[:3])
    return f"#{r:02X}{g:02X}{b:02X}"


def palette_by_frequency(img: np.ndarray) -> list[str]:
    """Hex codes of the distinct colours of a (24, 24, 3) uint8 image, most frequent first."""
    flat = [hex_code(p) for p in img.reshape(-1, 3)]
    return [c for c, _ in Counter(flat).most_common()]


def skin_hex(img: np.ndarray, background: str) -> str:
    """The face colour: the commonest colour in the face box, outline and backdrop excluded."""
    face = img[10:18, 8:16].reshape(-1, 3)
    counts = Counter(hex_code(p) for p in face)
    for colour, _ in counts.most_common():
        if colour not in ("#000000", background):
            return colour
    return counts.most_common(1)[0][0]


def eye_hex(img: np.ndarray, skin: str, background: str) -> str:
    """The eye colour: the commonest non-skin, non-outline colour in the eye band.

    Glasses or shades cover the eyes of many punks; then their colour is what a
    viewer sees there, and it is what the caption names.
    """
    band = img[11:14, 8:16].reshape(-1, 3)
    counts = Counter(hex_code(p) for p in band)
    for colour, _ in counts.most_common():
        if colour not in ("#000000", skin, background):
            return colour
    return "#000000"


def punk_type(labels: dict[str, int]) -> str:
    for t in PUNK_TYPES:
        if labels.get(t):
            return t
    raise ValueError("labels name none of the five punk types")


def _accessories(labels: dict[str, int]) -> list[str]:
    return [k for k, v in labels.items() if v and k not in PUNK_TYPES]


def caption_v1(labels: dict[str, int], img: np.ndarray) -> str:
    """Short generic caption (about 180 characters), 2 hex codes."""
    kind = punk_type(labels)
    background = hex_code(BACKGROUND_RGB)
    skin = skin_hex(img, background)
    acc = _accessories(labels)
    hair = next((a for a in acc if a in HAIR or a in HEADWEAR), None)
    other = next((a for a in acc if a != hair), None)
    parts = [f"{kind} punk portrait"]
    if hair:
        parts.append(attribute_words(hair))
    if other:
        parts.append(attribute_words(other))
    parts += [
        f"{SKIN_NAMES.get(skin, 'tinted')} skin",
        "blue gray background",
        "pixel art, 24x24, flat colors, sharp pixels",
        f"{skin} skin, {background} background",
    ]
    return ", ".join(parts)


def caption_v2(labels: dict[str, int], img: np.ndarray) -> str:
    """Detailed accurate caption (about 320 characters): all attributes, pixel-true hex codes."""
    kind = punk_type(labels)
    background = hex_code(BACKGROUND_RGB)
    skin = skin_hex(img, background)
    eyes = eye_hex(img, skin, background)
    acc = [attribute_words(a) for a in _accessories(labels)]
    palette = palette_by_frequency(img)[:12]
    parts = [
        f"cryptopunk portrait of a {kind}",
        *(acc if acc else ["no accessories"]),
        f"{SKIN_NAMES.get(skin, 'tinted')} skin {skin}",
        f"eyes {eyes}",
        f"solid background {background}",
        "centered bust facing right",
        "24x24 pixel art, 1px black outline, hard edges, no anti-aliasing, no gradients",
        "palette " + " ".join(palette),
    ]
    return ", ".join(parts)


CAPTIONERS = {"v1": caption_v1, "v2": caption_v2}
