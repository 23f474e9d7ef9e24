"""The fixed-seed prompt suite (``prompts.toml``).

Format::

    [defaults]
    negative = "photo, realistic, ..."
    seeds = [42, 43, 44, 45]

    [[prompts]]
    id = "male_mohawk"
    caption_style = "v1"
    text = "male punk, mohawk, ..."
    golden = ["0012", "0345"]      # golden punk ids this prompt should resemble
    # negative / seeds may be overridden per prompt
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

from evalkit.errors import EvalkitError, why_missing
from evalkit.golden.prompt import HEX_CODE, MAX_SEED, Prompt, hex_codes_in  # noqa: F401 (the suite's value type)

PROMPT_ID = re.compile(r"^[A-Za-z0-9_.-]+$")



def load_prompts(path: str | Path) -> list[Prompt]:
    """evalkit's prompts.toml, or a kohya sd-scripts sample-prompt file (.txt, .json, or .toml with [prompt])."""
    from evalkit.golden.kohya_prompts import load_kohya_prompts

    path = Path(path)
    if not path.is_file():
        raise EvalkitError(path, why_missing(path, "prompt suite does not exist"))
    if path.suffix.lower() in (".txt", ".json"):
        return load_kohya_prompts(path)
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise EvalkitError(path, f"is not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise EvalkitError(path, f"not valid TOML: {exc}") from None
    if "prompts" not in data and isinstance(data.get("prompt"), dict):
        return load_kohya_prompts(path, data)
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise EvalkitError(path, "[defaults] must be a table")
    entries = data.get("prompts")
    if not isinstance(entries, list) or not entries:
        raise EvalkitError(path, "holds no [[prompts]] entries")
    prompts: list[Prompt] = []
    seen: set[str] = set()
    for n, entry in enumerate(entries, 1):
        where = f"prompt #{n}"
        if not isinstance(entry, dict):
            raise EvalkitError(path, f"{where} is not a table ([[prompts]] entries hold id, text, seeds, ...)")
        pid = entry.get("id")
        if not isinstance(pid, str) or not PROMPT_ID.match(pid):
            raise EvalkitError(path, f"{where}: id must be letters, digits, '_', '-' or '.'")
        if pid in seen:
            raise EvalkitError(path, f"prompt id '{pid}' appears twice")
        seen.add(pid)
        text = entry.get("text")
        if not isinstance(text, str) or not text.strip():
            raise EvalkitError(path, f"prompt '{pid}' has no text")
        seeds = entry.get("seeds", defaults.get("seeds"))
        if not isinstance(seeds, list) or not seeds or not all(type(s) is int and s >= 0 for s in seeds):
            raise EvalkitError(path, f"prompt '{pid}': seeds must be a non-empty list of non-negative integers")
        if max(seeds) > MAX_SEED:  # torch.Generator.manual_seed would overflow mid-render
            raise EvalkitError(path, f"prompt '{pid}': seed {max(seeds)} is beyond the generator's range "
                                     f"(0..{MAX_SEED}, 2**64 - 1)")
        if len(set(seeds)) != len(seeds):
            raise EvalkitError(path, f"prompt '{pid}' repeats a seed")
        golden, negative = entry.get("golden", []), entry.get("negative", defaults.get("negative", ""))
        if not isinstance(golden, list) or not all(isinstance(g, str) for g in golden):
            raise EvalkitError(path, f"prompt '{pid}': golden must be a list of golden punk ids")
        if not isinstance(negative, str) or not isinstance(entry.get("caption_style", ""), str):
            raise EvalkitError(path, f"prompt '{pid}': negative and caption_style must be strings")
        prompts.append(
            Prompt(
                id=pid,
                text=text,
                negative=str(entry.get("negative", defaults.get("negative", ""))),
                seeds=tuple(seeds),
                golden=tuple(str(g) for g in entry.get("golden", [])),
                caption_style=str(entry.get("caption_style", "")),
            )
        )
    return prompts


def check_prompts_against_golden(prompts: list[Prompt], golden_ids, prompts_path) -> None:
    """Every golden id a prompt names must exist in the golden set in use."""
    known = set(golden_ids)
    for p in prompts:
        missing = [g for g in p.golden if g not in known]
        if missing:
            raise EvalkitError(prompts_path, f"prompt '{p.id}' names golden punks not in the golden set: {', '.join(missing[:5])}")


def prompt_suite_hash(prompts: list[Prompt]) -> str:
    """Stable hash of everything that changes what gets rendered."""
    rows = [{k: v for k, v in asdict(p).items() if k != "settings" or v} for p in prompts]  # old suites keep their hash
    payload = json.dumps(rows, sort_keys=True).encode()
    return hashlib.sha256(payload).hexdigest()[:16]
