"""The project's gate settings: ``[gate]`` in ``evalkit.toml`` of the folder the gate runs from.

``evalkit init`` writes them; the command line wins over them, and they win
over evalkit's defaults (evalkit/paths.py). Relative paths are relative to the
``evalkit.toml`` they are written in, so the folder can move as a whole.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.paths import PROJECT_FILE

KEYS = ("golden", "prompts")


def project_table(rootdir: Path | None, name: str, shape: str = "a table") -> tuple[Path, dict]:
    """(the file, its ``[name]`` table or {}) of ``<rootdir>/evalkit.toml``; not TOML, or ``[name]`` not a
    table, is an EvalkitError naming the file (``shape`` says what the table should be)."""
    path = Path(rootdir or ".") / PROJECT_FILE
    if not path.is_file():
        return path, {}
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get(name, {})
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise EvalkitError(path, f"not valid TOML: {exc}") from None
    if not isinstance(table, dict):
        raise EvalkitError(path, f"[{name}] must be {shape}")
    return path, table


def gate_settings(rootdir: Path) -> dict[str, Path]:
    """{key: path} for the keys of ``[gate]`` that are set; a bad file or key is an EvalkitError naming it."""
    path, table = project_table(rootdir, "gate")
    out = {}
    for key, value in table.items():
        if key not in KEYS:
            raise EvalkitError(path, f"[gate] has an unknown key '{key}' (known: {', '.join(KEYS)})")
        if not isinstance(value, str) or not value:
            raise EvalkitError(path, f"[gate] {key} must be a path (a non-empty string)")
        out[key] = path.parent / Path(value).expanduser()
    return out
