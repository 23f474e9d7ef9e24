"""Text from files made safe for a terminal: control characters shown as escapes, never obeyed.

Checkpoint names, ``ss_*`` metadata, prompts and server answers are hostile: an
``ss_optimizer`` of ``"\\x1b[2J"`` would clear the screen, a newline in a file name
would break the leaderboard's table, a right-to-left override would reorder what
the reader sees. Everything that prints text that came from a file passes it
through `printable` (``--json`` output is escaped by the JSON encoder instead).
"""

from __future__ import annotations

import unicodedata

# Invisible characters that reorder or hide text (bidi overrides and isolates, marks).
_BIDI = {0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _unsafe(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ord(ch) in _BIDI


def printable(text: object) -> str:
    """``str(text)`` with every control, line-separator and bidi character written as an escape.

    One line in, one line out: ``printable("a\\nb") == "a\\\\nb"``; plain text is unchanged.
    """
    text = str(text)
    if text.isprintable():  # the common case, fast
        return text
    return "".join(_escape(ch) if _unsafe(ch) else ch for ch in text)


def printable_lines(text: object) -> str:
    """Each line of a multi-line message escaped, the line breaks kept."""
    return "\n".join(printable(line) for line in str(text).split("\n"))
