"""The run-level design: factors coded as columns, and which of them the runs can tell apart.

Each run is a row. A factor becomes one indicator column per level other
than the reference run's, except a training-length factor (steps, epochs)
with three or more numeric levels, which becomes one trend column: log2 of
the value when all values are positive (an effect per doubling), else the
value itself. Every column is 0 on the reference run.

A column is separately estimable when no combination of the other columns
reproduces it. Columns that some combination ties together are aliased:
``P = I - pinv(X) X`` projects onto the null space of X, ``P[i, i] > 0`` says
column i takes part in a dependency and ``P[i, j] != 0`` links two columns in
one. The linked factors form a confounded group, named together; no separate
effect is given for any of them. P does not depend on the choice of a basis
of the null space, so the groups do not either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

TOLERANCE = 1e-8


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def sort_levels(levels) -> list:
    return sorted(set(levels), key=lambda v: (0, float(v), "") if is_number(v) else (1, 0.0, str(v)))


@dataclass(frozen=True)
class Coding:
    factor: str
    kind: str  # "levels" (one indicator per non-reference level), "log2" or "linear" (one trend column)
    levels: tuple
    reference: Any

    @property
    def column_levels(self) -> list:
        """The level each column measures against the reference (None for a trend column)."""
        return [None] if self.kind != "levels" else [v for v in self.levels if v != self.reference]

    def code(self, value: Any) -> list[float]:
        if self.kind == "levels":
            return [1.0 if value == level else 0.0 for level in self.column_levels]
        return [self.position(value) - self.position(self.reference)]

    def position(self, value: Any) -> float:
        return math.log2(value) if self.kind == "log2" else float(value)

    def contrast(self, level: Any) -> list[float]:
        """Coefficients over this factor's columns giving the effect of ``level`` against the reference."""
        return self.code(level)


def coding(factor: str, values: list, reference: Any, trend: bool = False) -> Coding:
    levels = tuple(sort_levels(values))
    if trend and len(levels) > 2 and all(is_number(v) for v in levels):
        kind = "log2" if all(v > 0 for v in levels) else "linear"
    else:
        kind = "levels"
    return Coding(factor, kind, levels, reference)


def design_matrix(codings: list[Coding], rows: list[dict[str, Any]]) -> tuple[np.ndarray, list[tuple[str, Any]]]:
    """(runs x columns matrix, (factor, level) of each column); no intercept column."""
    labels = [(c.factor, level) for c in codings for level in c.column_levels]
    if not codings:
        return np.zeros((len(rows), 0)), labels
    matrix = np.array([[x for c in codings for x in c.code(row[c.factor])] for row in rows], dtype=float)
    return matrix.reshape(len(rows), len(labels)), labels


def null_projector(matrix: np.ndarray) -> np.ndarray:
    if matrix.shape[1] == 0:
        return np.zeros((0, 0))
    scale = np.abs(matrix).max(axis=0)
    scaled = matrix / np.where(scale > 0, scale, 1.0)
    return np.eye(matrix.shape[1]) - np.linalg.pinv(scaled, rcond=1e-10) @ scaled


def aliased_columns(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(column takes part in a dependency, columns i and j share one), both from the null projector.

    The reference row is all zeros, so the intercept never takes part in a
    dependency and is left out here.
    """
    p = null_projector(matrix)
    involved = np.diag(p) > TOLERANCE if p.size else np.zeros(0, bool)
    linked = np.abs(p) > TOLERANCE if p.size else np.zeros((0, 0), bool)
    return involved, linked


def confounded_groups(codings: list[Coding], rows: list[dict[str, Any]]) -> list[list[str]]:
    """Groups of factors the rows cannot tell apart, in the codings' order."""
    matrix, labels = design_matrix(codings, rows)
    involved, linked = aliased_columns(matrix)
    parent = {c.factor: c.factor for c in codings}

    def root(f):
        while parent[f] != f:
            parent[f] = parent[parent[f]]
            f = parent[f]
        return f

    for i in np.flatnonzero(involved):
        for j in np.flatnonzero(linked[i] & involved):
            parent[root(labels[j][0])] = root(labels[i][0])
    bad = {labels[i][0] for i in np.flatnonzero(involved)}
    groups: dict[str, list[str]] = {}
    for c in codings:
        if c.factor in bad:
            groups.setdefault(root(c.factor), []).append(c.factor)
    return list(groups.values())


def independent_columns(matrix: np.ndarray, order: list[int]) -> list[int]:
    """Columns in ``order`` kept greedily while each adds to the rank (intercept assumed)."""
    kept: list[int] = []
    base = np.ones((matrix.shape[0], 1))
    for i in order:
        trial = np.column_stack([base, matrix[:, kept + [i]]])
        if np.linalg.matrix_rank(trial, tol=1e-9 * max(1.0, np.abs(trial).max())) == trial.shape[1]:
            kept.append(i)
    return kept
