"""evalkit's pytest plugin: the command-line contract of `pytest evalkit`.

Registered through the ``pytest11`` entry point, so the options exist in any
pytest run once evalkit is installed. The collected evaluation lives in
``evalkit/test_punks.py``; this module only declares options and shared
fixtures.
Plugin state lives in ``config.stash`` under the keys below (set in
``evalkit/conftest.py``'s ``pytest_configure``), never as attributes on config.
"""

from __future__ import annotations

import pytest

from evalkit.paths import DEFAULT_GOLDEN, DEFAULT_PROMPTS, DEFAULT_REPORTS, REPO_ROOT  # noqa: F401 (re-exported)

GATE_SESSION = pytest.StashKey["object"]()  # the run's evalkit.gate.session.GateSession
SUMMARY_LINES = pytest.StashKey[list]()  # lines the terminal summary prints after the leaderboard


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("evalkit", "evalkit: evaluate punk LoRA checkpoints")
    group.addoption(
        "--checkpoint", action="append", default=[], metavar="FILE",
        help="LoRA checkpoint (.safetensors) to evaluate; repeat for several.",
    )
    group.addoption(
        "--checkpoint-dir", action="append", default=[], metavar="DIR",
        help="Evaluate every *.safetensors in DIR.",
    )
    group.addoption(
        "--base-model", default=None, metavar="ID_OR_PATH",
        help="Base model: hub id, local diffusers folder or single-file .safetensors. "
        "Default: the base named in the LoRA's metadata if found locally, else the "
        "default for the detected architecture.",
    )
    group.addoption(
        "--base-config", default=None, metavar="DIR",
        help="For a single-file --base-model: a local diffusers folder with the base's configs "
        "(model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/), so nothing is downloaded.",
    )
    group.addoption(
        "--batch-size", type=int, default=None, metavar="N",
        help="Images per pipeline call (never changes an image; default 8, halved on out-of-memory).",
    )
    group.addoption(
        "--compile", action="store_true", default=None,
        help="torch.compile the UNet and VAE decoder (GPU: ~1 min once, then ~1.5x faster; part of the cache key).",
    )
    group.addoption(
        "--golden", default=str(DEFAULT_GOLDEN), metavar="DIR",
        help="Golden punks: evalkit's golden/ folder or a kohya training folder "
        "(N_name/ subfolders of image + .txt caption). Default: %(default)s",
    )
    group.addoption(
        "--prompts", default=None, metavar="FILE",
        help="Prompt suite (TOML). Default: prompts.toml inside --golden.",
    )
    group.addoption(
        "--lora-scale", type=float, default=1.0, metavar="W",
        help="Adapter weight applied to the LoRA (default 1.0).",
    )
    group.addoption(
        "--device", default=None, metavar="DEV",
        help="torch device for rendering (default: cuda if available, else cpu).",
    )
    group.addoption(
        "--reports-dir", default=str(DEFAULT_REPORTS), metavar="DIR",
        help="Where the render cache, reports and score store live. Default: %(default)s",
    )
    group.addoption(
        "--update-baseline", action="store_true",
        help="Record each checkpoint's scores as its baseline (<prompts dir>/baselines/<checkpoint>.json) "
        "instead of comparing.",
    )
    group.addoption(
        "--baseline", default=None, metavar="NAME_OR_FILE",
        help="Compare against this baseline: a name in <prompts dir>/baselines/ or a .json file. "
        "Default: the checkpoint's own baseline there, if one was recorded.",
    )
    from evalkit.render.options import add_render_options

    add_render_options(group.addoption)  # the same render options as `evalkit render`, so caches are shared
    group.addoption(
        "--require-baseline", action="store_true",
        help="A checkpoint without a baseline fails test_baseline instead of skipping it "
        "(also EVALKIT_REQUIRE_BASELINE=1; the nightly workflow sets it).",
    )
    group.addoption(
        "--force", action="store_true",
        help="With --update-baseline: record a checkpoint even when it fails its suite thresholds.",
    )
    group.addoption(
        "--samples", default=None, metavar="OUTPUT_DIR",
        help="Judge the samples sd-scripts drew during training (OUTPUT_DIR/sample/), one entry per epoch, "
        "with --prompts their --sample_prompts file; nothing is rendered.",
    )
    group.addoption("--render-only", action="store_true", help="Render into the cache; score nothing.")
    group.addoption("--score-only", action="store_true", help="Score from the cache; never render.")
    group.addoption("--report", action="store_true", help="Write the HTML report after the run.")
    group.addoption("--sync", action="store_true", help="Sync scores to Supabase after the run.")


def pytest_configure(config: pytest.Config) -> None:
    from evalkit.score.metrics import MARKERS

    for name, help_ in MARKERS:
        config.addinivalue_line("markers", f"{name}: {help_}")
