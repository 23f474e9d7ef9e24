"""Is a folder we are about to write into usable? Asked before any work, so a bad one costs nothing.

An unusable ``--reports-dir`` (a file, a folder under ``/proc``, one without write
permission) used to surface only after minutes of rendering, as a traceback from
the first write. `writable_dir` creates the folder if needed and proves a file can
be written and removed there, turning every failure into one `EvalkitError` line.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from evalkit.errors import EvalkitError


def writable_dir(path: str | os.PathLike, what: str = "--reports-dir") -> Path:
    """``path`` as a Path, created if missing; raises `EvalkitError` naming it when nothing can be written there."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise EvalkitError(path, f"{what} is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".evalkit-write-check-"):
            pass
    except OSError as exc:
        raise EvalkitError(path, f"{what} is not usable: {exc.strerror or type(exc).__name__}") from None
    return path
