"""The one set of render options, declared once for `evalkit render` and `pytest evalkit`.

Both commands add them through `add_render_options` (argparse's ``add_argument``
and pytest's ``addoption`` take the same arguments) and read them back with
`render_overrides`, so a render made by one is found by the other: the same
settings give the same cache key. Unset options (None) fall back to the
layered defaults in config.py.
"""

from __future__ import annotations

from evalkit.render.config import SAMPLERS

RENDER_OPTIONS = (
    ("--steps", dict(type=int, metavar="N", help="sampling steps (default: the base's evalkit.json, else 25)")),
    ("--guidance", dict(type=float, metavar="CFG", help="classifier-free guidance scale (default 7.5)")),
    ("--sampler", dict(metavar="NAME", help=f"sd-scripts sampler name: {', '.join(SAMPLERS)} (default dpmsolver++)")),
    ("--width", dict(type=int, metavar="PX", help="image width (default: the base's native size)")),
    ("--height", dict(type=int, metavar="PX", help="image height (default: the base's native size)")),
    ("--clip-skip", dict(type=int, metavar="K", help="kohya clip skip, 2 = penultimate layer (default: the LoRA's "
                                                     "ss_clip_skip, else the last layer)")),
    ("--max-token-length", dict(type=int, metavar="N", help="75, 150 or 225: encode prompts in 75-token windows as "
                                                            "sd-scripts does (default: the LoRA's ss_max_token_length, else 77)")),
)


def add_render_options(add) -> None:
    for flag, kwargs in RENDER_OPTIONS:
        add(flag, default=None, **kwargs)


def render_overrides(get) -> dict:
    """{config field: value} from a getter of option dests (``config.getoption`` or ``getattr(args, ...)``)."""
    return {flag[2:].replace("-", "_"): get(flag[2:].replace("-", "_")) for flag, _ in RENDER_OPTIONS}


def check_overrides(overrides: dict) -> dict:
    """The command line's render settings checked up front (a usage error before anything renders)."""
    from dataclasses import replace

    from evalkit.render.config import RenderConfig, checked

    for name, value in overrides.items():
        if value is not None:
            checked(replace(RenderConfig(), **{name: value}), f"--{name.replace('_', '-')}")
    return overrides
