"""kohya sd-scripts sample-prompt files (``--sample_prompts``) as an evalkit prompt suite.

The forms sd-scripts' ``train_util.load_prompts`` accepts:

- ``.txt``: one prompt a line (blank lines and lines starting with ``#`` skipped),
  flags after `` --`` as in ``train_util.line_to_prompt_dict``: ``--n`` negative,
  ``--w``/``--h`` size, ``--d`` seed, ``--l`` CFG scale, ``--s`` steps, ``--ss`` sampler;
- ``.json``: a list of such lines or of dicts;
- ``.toml``: ``[prompt]`` (shared keys) with ``[[prompt.subset]]`` entries.

Dict keys are sd-scripts' own: ``prompt``, ``negative_prompt``, ``width``,
``height``, ``seed``, ``sample_steps``, ``scale``, ``sample_sampler``. Sizes are
rounded down to a multiple of 8 (at least 64) and steps clamped to 1..1000, as
``sample_image_inference`` does. Unlike sd-scripts, which logs a bad value and
renders anyway (an unknown sampler becomes DDIM), a bad flag is a one-line
error naming the file and line. A prompt without ``--d`` gets a fixed seed
derived from its text, so every run renders the same image (sd-scripts would
draw a random one).
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.golden.prompt import MAX_SEED, Prompt
from evalkit.golden.kohya_samplers import check_sampler

# .txt flag -> sd-scripts' dict key
FLAGS = {"n": "negative_prompt", "w": "width", "h": "height", "d": "seed", "l": "scale", "s": "sample_steps",
         "ss": "sample_sampler"}
# Flags sd-scripts knows that do not apply to SD1.5/SDXL sampling here (controlnet, flow models): ignored, as there.
IGNORED_FLAGS = {"g", "cn", "ctr", "rcfg", "fs"}
KEYS = set(FLAGS.values()) | {"prompt", "guidance_scale", "controlnet_image", "cfg_trunc_ratio", "renorm_cfg",
                               "flow_shift", "enum"}


def text_seed(text: str) -> int:
    """The fixed seed of a prompt that names none: from its text, stable across runs and machines."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "big") % 2**31


def line_to_dict(line: str, where: str) -> dict:
    """One .txt line as sd-scripts' prompt dict; a malformed flag is an error naming ``where``."""
    parts = line.split(" --")
    entry = {"prompt": parts[0].strip()}
    for part in parts[1:]:
        flag, _, value = part.strip().partition(" ")
        flag, value = flag.lower(), value.strip()
        if flag in IGNORED_FLAGS:
            continue
        if flag not in FLAGS:
            raise EvalkitError(None, f"{where}: unknown flag --{flag} (known: {', '.join('--' + f for f in FLAGS)})")
        if not value:
            raise EvalkitError(None, f"{where}: --{flag} has no value")
        entry[FLAGS[flag]] = value
    return entry


def _int(value, name: str, where: str) -> int:
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        return int(value)
    except (TypeError, ValueError):
        raise EvalkitError(None, f"{where}: {name} must be a whole number, got {value!r}") from None


def to_prompt(entry: dict, enum: int, where: str) -> Prompt:
    unknown = sorted(set(entry) - KEYS - {"subset"})
    if unknown:
        raise EvalkitError(None, f"{where}: unknown key {unknown[0]!r} (sd-scripts' keys: {', '.join(sorted(FLAGS.values()))}, prompt)")
    text = entry.get("prompt")
    if not isinstance(text, str) or not text.strip():
        raise EvalkitError(None, f"{where}: no prompt text")
    text = text.strip()
    settings = {}
    for key, field in (("width", "width"), ("height", "height")):
        if key in entry:
            px = _int(entry[key], f"--{key[0]} ({key})", where)
            settings[field] = max(64, px - px % 8)  # sample_image_inference's rounding
    if "sample_steps" in entry:
        settings["steps"] = max(1, min(1000, _int(entry["sample_steps"], "--s (steps)", where)))
    if "scale" in entry:
        try:
            settings["guidance"] = float(entry["scale"])
        except (TypeError, ValueError):
            raise EvalkitError(None, f"{where}: --l (CFG scale) must be a number, got {entry['scale']!r}") from None
    if "sample_sampler" in entry:
        settings["sampler"] = check_sampler(str(entry["sample_sampler"]).strip().lower(), where)
    seed = _int(entry["seed"], "--d (seed)", where) if "seed" in entry else text_seed(text)
    if seed < 0:
        raise EvalkitError(None, f"{where}: --d (seed) must not be negative")
    if seed > MAX_SEED:  # torch.Generator.manual_seed would overflow mid-render
        raise EvalkitError(None, f"{where}: --d (seed) {seed} is beyond the generator's range (0..{MAX_SEED})")
    negative = entry.get("negative_prompt") or ""
    return Prompt(id=f"sample_{enum:02d}", text=text, negative=str(negative), seeds=(seed,), golden=(),
                  caption_style="kohya", settings=tuple(sorted(settings.items())))


def load_kohya_prompts(path: Path, toml_data: dict | None = None) -> list[Prompt]:
    path = Path(path)
    try:
        raw = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EvalkitError(path, f"is not UTF-8 text (byte {exc.start})") from None
    entries: list[tuple[object, str]] = []  # (line or dict, where)
    if path.suffix.lower() == ".txt":
        for n, line in enumerate(raw.splitlines(), 1):
            if line.strip() and not line.startswith("#"):
                entries.append((line.strip(), f"line {n}"))
    elif path.suffix.lower() == ".json":
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise EvalkitError(path, f"not valid JSON: {exc}") from None
        if not isinstance(data, list):
            raise EvalkitError(path, "a kohya .json prompt file is a list of prompt lines or objects")
        entries = [(e, f"prompt #{i}") for i, e in enumerate(data, 1)]
    else:
        data = toml_data if toml_data is not None else tomllib.loads(raw)
        shared = data["prompt"]
        subsets = shared.get("subset")
        if not isinstance(subsets, list) or not all(isinstance(s, dict) for s in subsets):
            raise EvalkitError(path, "[prompt] has no [[prompt.subset]] entries")
        base = {k: v for k, v in shared.items() if k != "subset"}
        entries = [({**base, **s}, f"[[prompt.subset]] #{i}") for i, s in enumerate(subsets, 1)]
    prompts = []
    for entry, where in entries:
        try:
            if isinstance(entry, str):
                entry = line_to_dict(entry, where)
            if not isinstance(entry, dict):
                raise EvalkitError(None, f"{where}: expected a prompt line or object, got {type(entry).__name__}")
            prompts.append(to_prompt(entry, len(prompts), where))
        except EvalkitError as exc:
            raise EvalkitError(path, str(exc)) from None
    if not prompts:
        raise EvalkitError(path, "holds no prompts")
    return prompts
