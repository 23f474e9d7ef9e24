"""Where things live by default, and the one way evalkit writes a file that must never be half-written.

Foundation: every stage may import this module; of evalkit it imports only the errors (a foundation too).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Callable

from evalkit.errors import EvalkitError

REPO_ROOT = Path(__file__).resolve().parent.parent  # evalkit's checkout (an installed copy has no testbed)
# The golden punks and the default prompt suite are package data: in the checkout
# evalkit/golden/data is a link to golden/, in a wheel a copy of it (pyproject.toml).
# Resolved, so a checkout's runs name golden/ as they always did (records group by it).
DEFAULT_GOLDEN = Path(str(resources.files("evalkit") / "golden" / "data")).resolve()
DEFAULT_PROMPTS = DEFAULT_GOLDEN / "prompts.toml"
# Relative: the folder the command runs in, wherever evalkit is installed.
DEFAULT_REPORTS = Path(os.environ.get("EVALKIT_REPORTS_DIR") or "reports")
PROJECT_FILE = "evalkit.toml"  # the project's settings, in the folder the gate runs from (`evalkit init`)
DEFAULT_CHECKPOINTS = REPO_ROOT / "checkpoints"
DEFAULT_CHECKPOINT = DEFAULT_CHECKPOINTS / "tiny_punks_perfect.safetensors"
MIGRATIONS_DIR = REPO_ROOT / "supabase" / "migrations"


def atomic_write(path: Path, write: Callable[[Path], object]) -> Path:
    """``write(tmp)`` into a sibling temporary file, then rename it over ``path``; returns ``path``.

    A killed run leaves either the old file or the new one under the real
    name, never half of one (the rename is atomic on one filesystem). The
    parent folder is created. ``write`` must not infer a format from the
    temporary name's suffix (``.tmp``): pass it explicitly.
    """
    import secrets

    path = Path(path)
    # One temporary name per writer: two processes writing the same file at once (a gate's --report
    # and `evalkit report`) would otherwise rename each other's temporary file away (found by the attack).
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:  # a folder where the file goes, a full disk: one line naming the file, never a traceback
        if tmp.is_file():
            tmp.unlink()
        raise EvalkitError(path, f"cannot be written: {exc.strerror or type(exc).__name__}") from None
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    """`atomic_write` of UTF-8 text."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def add_reports_dir_option(parser) -> None:
    """``--reports-dir`` of every command that reads the runs and the score store (one spelling, one default)."""
    parser.add_argument("--reports-dir", default=str(DEFAULT_REPORTS), metavar="DIR",
                        help="folder holding the runs and the score store, evalkit.sqlite (default: %(default)s)")
