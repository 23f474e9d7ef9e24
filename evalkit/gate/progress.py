"""The gate's live render line: one per checkpoint, through pytest's terminal reporter.

While a checkpoint renders (minutes on a GPU, more on a CPU) the line shows
images done of total, images per second and the time left, rewritten in place
on a terminal. Off a terminal (a CI log) it is not shown unless asked with
``--progress``, and then as a plain line per tenth of the work (a log holds no
carriage returns). ``-q`` silences it.
"""

from __future__ import annotations

import time
from contextlib import nullcontext

from evalkit.terminal_text import printable

STEPS = 10  # plain lines per checkpoint off a terminal


def progress_text(name: str, done: int, total: int, seconds: float) -> str:
    """``render NAME: 3/12 images, 0.50 img/s, ETA 18 s`` (rate and ETA once an image is done)."""
    text = f"render {printable(name)}: {done}/{total} images"
    if done and seconds > 0:
        rate = done / seconds
        text += f", {rate:.2f} img/s"
        text += f", ETA {round((total - done) / rate)} s" if done < total else f", {seconds:.0f} s"
    return text


class ProgressLine:
    """tqdm's update/set_postfix/close, as the renderer drives a bar (render/renderer.py), for one checkpoint."""

    def __init__(self, config, name: str, total: int, live: bool):
        self.tr = config.pluginmanager.get_plugin("terminalreporter")
        self.capman = config.pluginmanager.get_plugin("capturemanager")
        self.name, self.total, self.live = name, total, live
        self.done, self.shown_step = 0, 0
        self.start = time.monotonic()
        self._write(first=True)

    def _write(self, first: bool = False, last: bool = False) -> None:
        text = progress_text(self.name, self.done, self.total, time.monotonic() - self.start)
        # Items run with output captured; the reporter's own stream is the terminal.
        with self.capman.global_and_fixture_disabled() if self.capman else nullcontext():
            if self.live:
                if first:
                    self.tr.ensure_newline()
                self.tr.rewrite(text, erase=True)
                if last:
                    self.tr.write("\n")
                self.tr.flush()
            else:
                step = STEPS * self.done // max(self.total, 1)
                if first or last or step > self.shown_step:
                    self.shown_step = step
                    self.tr.write_line(text)
            # pytest writes its next item's location prefix again after this line.
            self.tr.currentfspath = None

    def update(self, n: int) -> None:
        self.done += n
        if self.done < self.total:
            self._write()

    def set_postfix(self, **_) -> None:  # the line computes its own rate
        pass

    def close(self) -> None:
        self._write(last=True)


def progress_factory(config, wanted: bool):
    """For the gate session: ``factory(name)(total) -> ProgressLine``, or None when no line is shown."""
    tr = config.pluginmanager.get_plugin("terminalreporter")
    if tr is None or config.get_verbosity() < 0:
        return None
    live = bool(tr.isatty())
    if not (live or wanted):
        return None
    return lambda name: (lambda total: ProgressLine(config, name, total, live))
