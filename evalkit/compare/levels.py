"""Numeric settings binned into levels: values within 10% of each other are one level in practice.

Time-budgeted training stops wherever the budget runs out, so runs of one
recipe record 216, 218 and 226 steps: compared value by value, steps would
be a setting of its own that differs between every run and is confounded
with whatever else changed. The rule, over the values one setting takes in
the compared runs (numbers only; text settings are compared as they are):

    sort the distinct values by size; a level starts at the smallest value not
    yet placed and takes every value up to (1 + TOLERANCE) times it.

So one level never spans more than 10% (a real difference is never hidden
inside a level; at worst two close values on either side of a boundary stay
two levels, which loses a comparison, never invents one). Zero is a level of
its own. A level that holds several values is a `Span`: it compares as one
number (their geometric mean, for a trend) and reads as its range, "216-226";
each run's own value is still in its run summary.
"""

from __future__ import annotations

import math
from typing import Any

TOLERANCE = 0.10


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


class Span(float):
    """A level binning several close values: one number for the design, its range for people."""

    values: tuple

    def __new__(cls, values):
        values = tuple(sorted(set(values)))
        if all(v > 0 for v in values):
            centre = math.exp(sum(math.log(v) for v in values) / len(values))
        else:
            centre = sum(values) / len(values)
        obj = super().__new__(cls, centre)
        obj.values = values
        return obj

    def __reduce__(self):
        return (Span, (self.values,))

    def __str__(self) -> str:
        low, high = self.values[0], self.values[-1]
        return f"{_text(low)}-{_text(high)}" if low >= 0 else f"{_text(low)} to {_text(high)}"

    __repr__ = __str__


def bins(values, tolerance: float = TOLERANCE) -> dict[Any, Any]:
    """value -> its level, for the distinct numeric values of one setting (the module docstring's rule)."""
    ordered = sorted(set(values), key=lambda v: (abs(v), v))
    groups: list[list] = []
    for v in ordered:
        start = groups[-1][0] if groups else None
        if start is not None and (start > 0) == (v > 0) and start != 0 and abs(v) <= abs(start) * (1 + tolerance):
            groups[-1].append(v)
        else:
            groups.append([v])
    out: dict[Any, Any] = {}
    for group in groups:
        level = group[0] if len(group) == 1 else Span(group)
        out.update({v: level for v in group})
    return out


def bin_levels(rows: list[dict[str, Any]], tolerance: float = TOLERANCE) -> list[dict[str, Any]]:
    """The rows (factor -> level, one per run) with every all-numeric setting binned across the rows."""
    names = {f for r in rows for f in r}
    mapping: dict[str, dict] = {}
    for f in names:
        known = [r[f] for r in rows if r.get(f) is not None]
        if known and all(_is_number(v) for v in known):
            mapping[f] = bins(known, tolerance)
    return [{f: mapping[f].get(v, v) if f in mapping and v is not None else v for f, v in r.items()} for r in rows]


def binned(level: dict[str, Any]) -> dict[str, str]:
    """factor -> the level's range, for the factors of one run whose level bins several values."""
    return {f: str(v) for f, v in level.items() if isinstance(v, Span)}
