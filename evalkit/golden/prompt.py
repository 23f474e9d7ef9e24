"""One prompt of a suite: the value evalkit's prompts.toml and kohya's sample-prompt files both give."""

from __future__ import annotations

import re
from dataclasses import dataclass

HEX_CODE = re.compile(r"#[0-9A-Fa-f]{6}\b")
# torch.Generator.manual_seed takes 64-bit seeds (0 .. 2**64 - 1): every prompt format checks against it.
MAX_SEED = 2**64 - 1


@dataclass(frozen=True)
class Prompt:
    id: str
    text: str
    negative: str
    seeds: tuple[int, ...]
    golden: tuple[str, ...]
    caption_style: str
    # Render settings of this prompt alone, ((RenderConfig field, value), ...): a kohya
    # sample-prompt line's --w/--h/--s/--l/--ss (kohya_prompts.py).
    settings: tuple = ()

    @property
    def hex_codes(self) -> list[str]:
        return hex_codes_in(self.text)


def hex_codes_in(text: str) -> list[str]:
    """Hex colour codes named in a prompt, upper-cased, in order of appearance."""
    return [m.upper() for m in HEX_CODE.findall(text)]
