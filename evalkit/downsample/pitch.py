"""Pitch and phase of each axis from the edge profiles.

Peaks of the profiles' spectrum propose pitches; each proposal (and its
multiples, in case the peak is a harmonic) is scored by how much edge energy a
comb of lines at that pitch captures, minus what a comb would capture by
chance, with a weak prior for the punk filling the frame.

Most renders have square cells, and one pitch fitted to both axes is the most
robust estimate, so that is the first hypothesis. A model may also draw the
punk in a band shorter (or narrower) than the frame: then each axis's own best
pitches are hypotheses too; the line walk decides between them.
"""

from __future__ import annotations

import numpy as np

from evalkit.downsample.profiles import comb_capture

GRID = 24
# Comb-score cost per unit of |log(pitch / (frame / 24))|.
PITCH_PRIOR = 0.1
# Pitches per axis kept as hypotheses besides the shared one.
OWN_CANDIDATES = 3
# Per-axis pitches closer than this (relative) are one pitch.
SAME_PITCH = 0.015


def pitch_range(w: int, h: int) -> tuple[float, float]:
    """Pitches searched: the punk spans between half and one and a half times the frame's shorter side."""
    side = min(w, h)
    return max(3.0, side / (2 * GRID)), side / (GRID / 1.5)


def fit_pitch(ex, ey, w, h):
    """The shared pitch of both axes; None when the spectrum proposes nothing.

    Returns ``(shared, score)``: ``shared = (pitch, phase_x, phase_y)`` the
    best single pitch for both axes; ``score`` in [0, 1] its mean
    chance-corrected comb capture. `own_pitches` gives each axis's own
    hypotheses; which one wins is decided on the walked lines
    (`evalkit.downsample.grid.fit_lines`): uneven cells blur a comb's score.
    """
    pmin, pmax = pitch_range(w, h)
    n = 1 << int(np.ceil(np.log2(16 * max(w, h))))
    spec_x = np.abs(np.fft.rfft(ex - ex.mean(), n)) ** 2
    spec_y = np.abs(np.fft.rfft(ey - ey.mean(), n)) ** 2
    frame = min(w, h) / GRID
    joint = _candidates(spec_x + spec_y, n, pmin, pmax, frame)
    if not joint:
        return None
    # one pitch for both axes (square cells)
    best, best_score = None, -np.inf
    for p in joint:
        result = _search_pitch((ex, ey), p, span=0.03, steps=13)
        score = result[2] - PITCH_PRIOR * abs(np.log(result[0] / frame))
        if score > best_score + 1e-9:
            best, best_score = result, score
    p, (phase_x, phase_y), _ = _search_pitch((ex, ey), best[0], span=0.004, steps=9)
    score = 0.5 * (comb_capture(ex, p, phase_x) + comb_capture(ey, p, phase_y))
    return (p, phase_x, phase_y), score


def own_pitches(e: np.ndarray, side: int, w: int, h: int) -> list[tuple[float, float, float]]:
    """The `OWN_CANDIDATES` best ``(pitch, phase, comb score)`` of one axis's profile ``e`` on its own, best first.

    ``side`` is that axis's frame length: its frame pitch (the punk filling
    this axis only) is always among the hypotheses.
    """
    pmin, pmax = pitch_range(w, h)
    n = 1 << int(np.ceil(np.log2(16 * max(w, h))))
    frame = min(w, h) / GRID
    spec = np.abs(np.fft.rfft(e - e.mean(), n)) ** 2
    # the axis's own frame pitch too: the punk may fill one axis and not the other
    filled = [side / GRID] if pmin <= side / GRID <= pmax else []
    scored = []
    for c in sorted(set(_candidates(spec, n, pmin, pmax, frame)) | set(filled)):
        pa, (phase,), raw = _search_pitch((e,), c, span=0.03, steps=13)
        scored.append((raw - PITCH_PRIOR * abs(np.log(pa / frame)), pa, phase))
    scored.sort(reverse=True)
    kept: list[tuple[float, float, float]] = []
    for _, pa, _ in scored:
        if len(kept) < OWN_CANDIDATES and all(abs(pa / q - 1) > SAME_PITCH for q, _, _ in kept):
            pa, (phase,), raw = _search_pitch((e,), pa, span=0.004, steps=9)
            kept.append((pa, phase, raw - PITCH_PRIOR * abs(np.log(pa / frame))))
    for pa in filled:  # always a hypothesis: uneven cells can hide it from the comb
        if all(abs(pa / q - 1) > SAME_PITCH for q, _, _ in kept):
            pa, (phase,), raw = _search_pitch((e,), pa, span=0.03, steps=13)
            kept.append((pa, phase, raw - PITCH_PRIOR * abs(np.log(pa / frame))))
    return kept


def comb_score(e: np.ndarray, pitch: float, w: int, h: int) -> float:
    """One axis's comb score at ``pitch`` (best phase), as `own_pitches` ranks its hypotheses: raw capture minus the prior."""
    _, _, raw = _search_pitch((e,), pitch, span=0.0, steps=1)
    return raw - PITCH_PRIOR * abs(np.log(pitch / (min(w, h) / GRID)))


def _candidates(spec, n, pmin, pmax, frame) -> list[float]:
    """Pitches proposed by the three strongest spectral peaks (and their multiples) plus the frame pitch."""
    k_lo, k_hi = int(np.floor(n / pmax)), int(np.ceil(n / pmin))
    k_hi = min(k_hi, spec.size - 2)
    if k_hi <= k_lo + 2:
        return []
    band = spec[k_lo : k_hi + 1]
    interior = (band[1:-1] > band[:-2]) & (band[1:-1] >= band[2:])
    peaks = np.nonzero(interior)[0] + 1
    if peaks.size == 0:
        return []
    peaks = peaks[np.argsort(band[peaks])[::-1][:3]]
    candidates: list[float] = []
    for i in peaks:
        y0, y1, y2 = band[i - 1], band[i], band[i + 1]
        denom = y0 - 2 * y1 + y2
        shift = 0.5 * (y0 - y2) / denom if denom < 0 else 0.0
        p = n / (k_lo + i + shift)
        for m in (1, 2, 3):
            if pmin <= p * m <= pmax:
                candidates.append(p * m)
    if pmin <= frame <= pmax:
        candidates.append(frame)
    unique: list[float] = []
    for p in sorted(candidates):
        if not unique or p > unique[-1] * 1.01:
            unique.append(p)
    return unique


def _search_pitch(profiles, p0, span, steps):
    """Best pitch in ``p0 * (1 +- span)`` by raw comb capture (captured minus chance) summed over ``profiles``.

    Returns ``(pitch, phases (one per profile), raw score)``.
    """
    pitches = p0 * (1.0 + np.linspace(-span, span, steps))
    bins = max(8, int(np.ceil(4 * p0)))
    half = max(1, int(round(bins / p0)))  # +-1 px: a fixed window, so p/2 cannot tie with p
    folds = [_fold(e, pitches, bins, half) for e in profiles]
    total = sum(s for s, _ in folds)
    i = int(np.argmax(total))
    return float(pitches[i]), tuple(float(ph[i]) for _, ph in folds), float(total[i])


def _fold(e, pitches, bins, half):
    """Fold a profile modulo each pitch; best window's (captured - expected) and its phase."""
    tot = e.sum()
    m = pitches.size
    if tot <= 0:
        return np.zeros(m), np.zeros(m)
    b = np.arange(1, e.size + 1, dtype=np.float64)
    u = (b[None, :] / pitches[:, None]) % 1.0
    idx = np.minimum((u * bins).astype(np.int64), bins - 1) + np.arange(m)[:, None] * bins
    hist = np.bincount(idx.ravel(), weights=np.broadcast_to(e, idx.shape).ravel(), minlength=m * bins)
    hist = hist.reshape(m, bins) / tot
    wrapped = np.concatenate([hist[:, -half:], hist, hist[:, :half]], axis=1)
    c = np.concatenate([np.zeros((m, 1)), np.cumsum(wrapped, axis=1)], axis=1)
    width = 2 * half + 1
    window = c[:, width:] - c[:, :-width]  # window centred on each bin
    j = np.argmax(window, axis=1)
    captured = window[np.arange(m), j]
    phase = (j + 0.5) / bins * pitches
    return captured - width / bins, phase
