"""The quality score fitted to people's ratings: same form, new weights, leave-one-out checked.

    quality = 10 x prod over IMAGE_METRICS of goodness(mean) ^ w      (w >= MIN_WEIGHT, sum w = 1)

The form is `evalkit.gate.quality`'s, so it stays monotone in every metric
(a better mean always raises quality) and has one free parameter per metric
less one. `fit_weights` searches the weight simplex on a grid of
``GRID_STEP`` and keeps the weights with the highest Spearman rank
correlation with the ratings; ties go to the smaller squared error between
rating and quality, then to the weights nearest the registry's defaults (so
the defaults are kept unless something ranks better, and the fitted rho is
never below the default's). Leave-one-out: each rated run's quality is
predicted by weights fitted to the others, and rho over those predictions is
the honest figure printed beside the in-sample one.

The fitted weights live in ``evalkit.toml`` under ``[quality]``
(``weights = {metric = w, ...}``); `load_weights` reads them for the gate
and the report, which name the formula they used.
"""

from __future__ import annotations

import itertools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.gate.quality import WEIGHTS, formula_text, quality
from evalkit.score.metrics import IMAGE_METRICS

MIN_RATED = 4
GRID_STEP = 0.05
MIN_WEIGHT = 0.05  # every metric keeps a say: quality stays strictly monotone in each
CONFIG = "evalkit.toml"


def spearman(x, y) -> float | None:
    """Spearman's rho (Pearson on average ranks); None for fewer than 2 pairs or a constant side."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2:
        return None
    rx, ry = _ranks(x), _ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def _ranks(v: np.ndarray) -> np.ndarray:
    order = np.argsort(v, kind="stable")
    ranks = np.empty(len(v))
    ranks[order] = np.arange(len(v), dtype=float)
    for value in np.unique(v):  # ties share their mean rank
        tie = v == value
        ranks[tie] = ranks[tie].mean()
    return ranks


@dataclass(frozen=True)
class Rated:
    """One rated checkpoint: its suite means (metric -> mean) and the people's 0-10 rating."""

    name: str
    means: dict[str, float]
    rating: float


@dataclass(frozen=True)
class Calibration:
    weights: dict[str, float]
    rho_default: float | None
    rho_fitted: float | None  # in sample
    rho_loo: float | None  # leave-one-out predictions
    n: int

    @property
    def formula(self) -> str:
        return formula_text(self.weights)


def _grid(k: int) -> np.ndarray:
    steps = round(1 / GRID_STEP)
    rows = [c + (steps - sum(c),) for c in itertools.product(range(steps + 1), repeat=k - 1) if sum(c) <= steps]
    grid = np.asarray(rows, float) / steps
    return grid[(grid >= MIN_WEIGHT - 1e-9).all(1)]


def _goodness(rated: list[Rated]) -> np.ndarray:
    """(n, k) factors in [0, 1], floored above 0 so a power of 0 stays defined."""
    g = np.array([[m.direction.goodness(r.means[m.name]) for m in IMAGE_METRICS] for r in rated], float)
    return np.clip(g, 1e-6, 1.0)


def _best(g: np.ndarray, ratings: np.ndarray, grid: np.ndarray, default: np.ndarray) -> np.ndarray:
    q = 10 * np.exp(np.log(g) @ grid.T)  # (n, candidates)
    rho = np.array([_or(spearman(q[:, j], ratings), -2.0) for j in range(len(grid))])
    sse = ((q - ratings[:, None]) ** 2).sum(0)
    near = np.abs(grid - default).sum(1)
    j = np.lexsort((near, sse, -np.round(rho, 9)))[0]
    return grid[j]


def _or(value, default):
    return default if value is None else value


def fit_weights(rated: list[Rated]) -> Calibration:
    """Weights that rank the rated checkpoints as people did (module docstring); needs `MIN_RATED`."""
    if len(rated) < MIN_RATED:
        raise EvalkitError(None, f"calibration needs ratings of at least {MIN_RATED} evaluated checkpoints, "
                                 f"found {len(rated)}: rate more with `evalkit rate RUN_OR_CHECKPOINT SCORE`")
    ratings = np.array([r.rating for r in rated], float)
    if len(set(ratings)) < 2:
        raise EvalkitError(None, f"all {len(rated)} ratings are {ratings[0]:g}: nothing to rank by")
    g = _goodness(rated)
    default = np.array([WEIGHTS[m.name] for m in IMAGE_METRICS], float)
    grid = np.vstack([_grid(len(IMAGE_METRICS)), default])
    w = _best(g, ratings, grid, default)
    loo = []
    for i in range(len(rated)):
        keep = np.arange(len(rated)) != i
        wi = _best(g[keep], ratings[keep], grid, default)
        loo.append(10 * float(np.exp(np.log(g[i]) @ wi)))
    weights = {m.name: round(float(x), 4) for m, x in zip(IMAGE_METRICS, w)}
    return Calibration(weights, spearman([quality(r.means) for r in rated], ratings),
                       spearman([quality(r.means, weights) for r in rated], ratings), spearman(loo, ratings), len(rated))


# -- evalkit.toml -----------------------------------------------------------------------


def load_weights(rootdir: Path) -> dict[str, float] | None:
    """The calibrated weights in ``<rootdir>/evalkit.toml`` ``[quality]``, or None (the registry's defaults)."""
    path = Path(rootdir) / CONFIG
    if not path.is_file():
        return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8")).get("quality")
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise EvalkitError(path, f"not valid TOML: {exc}") from None
    if not data:
        return None
    weights = data.get("weights") if isinstance(data, dict) else None
    if not isinstance(weights, dict):
        raise EvalkitError(path, "[quality] needs weights = {metric = number, ...}")
    names = [m.name for m in IMAGE_METRICS]
    unknown = sorted(set(weights) - set(names))
    if unknown:
        raise EvalkitError(path, f"[quality] weights: unknown metric '{unknown[0]}' (known: {', '.join(names)})")
    out = {}
    for n in names:  # a metric the file does not name (added since it was fitted) keeps no weight
        v = weights.get(n, 0.0)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
            raise EvalkitError(path, f"[quality] weights.{n} must be a number in [0, 1], got {v!r}")
        out[n] = float(v)
    if abs(sum(out.values()) - 1) > 1e-3:
        raise EvalkitError(path, f"[quality] weights sum to {sum(out.values()):.4f}, not 1")
    return out


SECTION = re.compile(r"(?ms)^\[quality\][^\[]*")


def write_weights(rootdir: Path, c: Calibration) -> Path:
    """Write (or replace) the ``[quality]`` section of ``<rootdir>/evalkit.toml``; other sections stay as they are."""
    from evalkit.paths import atomic_write_text

    path = Path(rootdir) / CONFIG
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    cells = ", ".join(f"{k} = {v:g}" for k, v in c.weights.items())
    rho = lambda r: "n/a" if r is None else f"{r:.3f}"  # noqa: E731
    section = (f"[quality]\n# evalkit calibrate: fitted to {c.n} rated checkpoints; Spearman rho default "
               f"{rho(c.rho_default)}, fitted {rho(c.rho_fitted)}, leave-one-out {rho(c.rho_loo)}\n"
               f"# quality 0-10 = {c.formula}\nweights = {{ {cells} }}\n")
    text = SECTION.sub(lambda _: section, text) if SECTION.search(text) else (text + ("\n" if text and not text.endswith("\n") else "") + section)
    atomic_write_text(path, text)
    return path
