"""Where one gate run's wall time goes: seconds per stage, each second counted once.

A nightly job waits for the whole `pytest evalkit` process, not for the UNet
(issue 23), so the gate times its own stages: the process start (interpreter,
imports, pytest), setup (golden set, prompts), the golden reference and
thresholds, base loads, LoRA swaps, renders, scoring, the run record, store and
report. Stages nest (the golden reference may be built inside scoring); the
clock is exclusive, so an inner stage pauses the outer one and the stages add up
to the wall time. What no stage claims is pytest's own work and the verdicts.
Wall clock: on CUDA a stage that launches work asynchronously is charged where
the work is waited for (renders wait for their images, so render time is real).
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager


def process_age() -> float | None:
    """Seconds since this process started (Linux /proc), or None where that cannot be read."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: start time, ticks after boot
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started)
    except (OSError, ValueError, IndexError, AttributeError):
        return None


class StageClock:
    """Exclusive wall seconds per named stage. ``with clock.stage("render"): ...``; stages nest."""

    def __init__(self, started_before: float | None = None):
        self.origin = time.perf_counter() - (started_before or 0.0)
        self.seconds: dict[str, float] = {}
        if started_before:
            self.seconds["start"] = started_before  # before the clock existed: interpreter, imports, pytest
        self._stack: list[tuple[str, float]] = []

    def _charge(self, now: float) -> None:
        if self._stack:
            name, since = self._stack[-1]
            self.seconds[name] = self.seconds.get(name, 0.0) + now - since

    @contextmanager
    def stage(self, name: str):
        now = time.perf_counter()
        self._charge(now)
        self._stack.append((name, now))
        try:
            yield
        finally:
            now = time.perf_counter()
            self._charge(now)
            self._stack.pop()
            if self._stack:  # the outer stage resumes now
                self._stack[-1] = (self._stack[-1][0], now)

    def elapsed(self) -> float:
        return time.perf_counter() - self.origin

    def to_dict(self) -> dict:
        """{"wall_s": since the process started (or the clock did), "stages_s": {stage: s}, "other_s": the rest}."""
        wall = self.elapsed()
        stages = {k: round(v, 3) for k, v in self.seconds.items()}
        return {"wall_s": round(wall, 3), "stages_s": stages, "other_s": round(max(0.0, wall - sum(self.seconds.values())), 3)}

    def line(self) -> str:
        """One terminal line: 'time: 12.3 s: render 8.1 s, score 2.0 s, ..., other 0.4 s' (largest first)."""
        d = self.to_dict()
        parts = sorted(d["stages_s"].items(), key=lambda kv: -kv[1]) + [("other", d["other_s"])]
        return f"time: {d['wall_s']:.1f} s: " + ", ".join(f"{k} {v:.1f} s" for k, v in parts if v >= 0.05)


class _NoClock:
    """For callers without a gate run (`evalkit render`, tests): stages cost nothing and are not kept."""

    @contextmanager
    def stage(self, name: str):
        yield


NO_CLOCK = _NoClock()
