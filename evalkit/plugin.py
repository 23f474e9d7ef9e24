"""evalkit's pytest plugin: the command-line contract of `pytest evalkit`.

Registered through the ``pytest11`` entry point, but it declares its options
and markers only in a run that collects the evaluation (`gate_requested`: a
path inside the evalkit package, or ``--pyargs evalkit``). Another project's
pytest run in the same environment sees none of them, so its own conftest may
define ``--device`` or ``--report`` (issue 21); they are declared after the
run's initial conftests, each as ``--evalkit-NAME`` too, and only so where a
project's own option already has the name. A conftest inside evalkit
alone would not do: pytest loads none for ``--pyargs evalkit``. The collected
evaluation lives in ``evalkit/test_punks.py``.
Plugin state lives in ``config.stash`` under the keys below (set in
``evalkit/conftest.py``'s ``pytest_configure``), never as attributes on config.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evalkit.paths import DEFAULT_GOLDEN, DEFAULT_PROMPTS, DEFAULT_REPORTS, REPO_ROOT  # noqa: F401 (re-exported)

GATE_SESSION = pytest.StashKey["object"]()  # the run's evalkit.gate.session.GateSession
SUMMARY_LINES = pytest.StashKey[list]()  # lines the terminal summary prints after the leaderboard
GATE_REQUESTED = pytest.StashKey[bool]()  # this run collects the evaluation: its options were declared


PACKAGE_DIR = Path(__file__).resolve().parent


def gate_requested(args: list[str], pyargs: bool, invocation_dir: Path) -> bool:
    """Whether pytest's positional arguments ask for the evaluation: a path in the package, or
    ``--pyargs evalkit[.module]``. (Before options are known, an option's value may look positional;
    a value inside the package is itself a request for it.)"""
    for arg in args:
        target = str(arg).split("::", 1)[0]
        if pyargs and re.fullmatch(r"evalkit(\.\w+)*", target):
            return True
        path = (invocation_dir / target).resolve()
        if path == PACKAGE_DIR or PACKAGE_DIR in path.parents:
            return True
    return False


DEST = "evalkit_"  # every option's dest carries it: never the dest of a project's own option


def option(config: pytest.Config, name: str):
    """The value of the gate option ``name`` (its dest without the prefix, e.g. ``reports_dir``)."""
    return config.getoption(DEST + name)


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]):
    """Declare the gate's options only for its own runs, and after the initial conftests have declared
    theirs, so a flag a project already uses (``--device``) keeps its meaning there and the gate's
    option is spelled ``--evalkit-device`` instead."""
    rewrite_tests_only(early_config)
    result = yield
    ns = early_config.known_args_namespace
    if gate_requested(ns.file_or_dir, ns.pyargs, early_config.invocation_params.dir):
        early_config.stash[GATE_REQUESTED] = True
        # pytest has no public list of declared flags; its Parser keeps them on its groups.
        groups = [parser._anonymous, *parser._groups]  # noqa: SLF001
        add_gate_options(parser, taken={n for g in groups for o in g.options for n in o.names()})
    return result


def rewrite_tests_only(config: pytest.Config) -> None:
    """Leave evalkit's product modules to Python's own import. pytest rewrites the asserts of every module
    of a distribution that registers a ``pytest11`` plugin: all of evalkit, ~140 modules, parsed and
    rewritten again on every run where bytecode is not written (PYTHONDONTWRITEBYTECODE, read-only
    installs): ~1 s of a cached gate re-run. Its test files (test_punks.py) and conftest.py keep their
    rewriting: pytest rewrites those by name. (pytest has no public way to unmark a name: its hook keeps
    the marks in ``_must_rewrite``; where that is absent, nothing changes.)"""
    hook = getattr(config.pluginmanager, "rewrite_hook", None)
    marked = getattr(hook, "_must_rewrite", None)
    if isinstance(marked, set) and "evalkit" in marked:
        marked.discard("evalkit")
        getattr(hook, "_marked_for_rewrite_cache", {}).clear()


def add_gate_options(parser: pytest.Parser, taken: set[str] = frozenset()) -> None:
    """Every option as ``--evalkit-NAME`` (dest ``evalkit_NAME``) and, unless ``taken``, as ``--NAME``."""
    evalkit_group = parser.getgroup("evalkit", "evalkit: evaluate punk LoRA checkpoints "
                                    "(each also as --evalkit-NAME; only that spelling where a project's own "
                                    "option has the name)")

    def add(flag: str, **kwargs) -> None:
        name = flag[2:]
        evalkit_group.addoption(*([flag] if flag not in taken else []), f"--evalkit-{name}",
                                dest=DEST + name.replace("-", "_"), **kwargs)

    add(
        "--checkpoint", action="append", default=[], metavar="FILE",
        help="LoRA checkpoint (.safetensors) to evaluate; repeat for several.",
    )
    add(
        "--checkpoint-dir", action="append", default=[], metavar="DIR",
        help="Evaluate every *.safetensors in DIR.",
    )
    add(
        "--base-model", default=None, metavar="ID_OR_PATH",
        help="Base model: hub id, local diffusers folder or single-file .safetensors. "
        "Default: the base named in the LoRA's metadata if found locally, else the "
        "default for the detected architecture.",
    )
    add(
        "--base-config", default=None, metavar="DIR",
        help="For a single-file --base-model: a local diffusers folder with the base's configs "
        "(model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/), so nothing is downloaded.",
    )
    add(
        "--batch-size", type=int, default=None, metavar="N",
        help="Images per pipeline call (never changes an image; default 8, halved on out-of-memory).",
    )
    add(
        "--compile", action="store_true", default=None,
        help="torch.compile the UNet and VAE decoder (GPU: ~1 min once, then ~1.5x faster; part of the cache key).",
    )
    add(
        "--golden", default=None, metavar="DIR",
        help="Golden punks: evalkit's golden set or a kohya training folder "
        "(N_name/ subfolders of image + .txt caption). Default: [gate] golden in ./evalkit.toml, "
        "else the golden set evalkit ships.",
    )
    add(
        "--prompts", default=None, metavar="FILE",
        help="Prompt suite (TOML). Default: [gate] prompts in ./evalkit.toml, else prompts.toml inside --golden.",
    )
    add(
        "--lora-scale", type=float, default=1.0, metavar="W",
        help="Adapter weight applied to the LoRA (default 1.0).",
    )
    add(
        "--device", default=None, metavar="DEV",
        help="torch device for rendering (default: cuda if available, else cpu).",
    )
    add(
        "--reports-dir", default=str(DEFAULT_REPORTS), metavar="DIR",
        help="Where the render cache, reports and score store live (EVALKIT_REPORTS_DIR moves the default). "
        "Default: %(default)s in the current folder.",
    )
    add(
        "--update-baseline", action="store_true",
        help="Record each checkpoint's scores as its baseline (<prompts dir>/baselines/<checkpoint>.json) "
        "instead of comparing.",
    )
    add(
        "--baseline", default=None, metavar="NAME_OR_FILE",
        help="Compare against this baseline: a name in <prompts dir>/baselines/ or a .json file. "
        "Default: the checkpoint's own baseline there, if one was recorded.",
    )
    from evalkit.render.options import add_render_options

    add_render_options(add)  # the same render options as `evalkit render`, so caches are shared
    add(
        "--require-baseline", action="store_true",
        help="A checkpoint without a baseline fails test_baseline instead of skipping it "
        "(also EVALKIT_REQUIRE_BASELINE=1; the nightly workflow sets it).",
    )
    add(
        "--force", action="store_true",
        help="With --update-baseline: record a checkpoint even when it fails its suite thresholds.",
    )
    add("--samples", default=None, metavar="OUTPUT_DIR",
        help="Judge the samples sd-scripts drew during training (OUTPUT_DIR/sample/), one entry per epoch, "
        "with --prompts their --sample_prompts file; nothing is rendered.")
    add("--no-base-compare", action="store_true",
        help="Do not render and score the base alone (once per base and render config, cached), so no "
        "change against the base is shown and test_changes_base is skipped.")
    add("--score-workers", type=int, default=None, metavar="N",
        help="Processes that score a checkpoint's renders while the next one renders (0: score in the gate's "
        "own process, after each checkpoint). Default: 2 when rendering on CUDA, else 0.")
    add("--render-only", action="store_true", help="Render into the cache; score nothing.")
    add("--score-only", action="store_true", help="Score from the cache; never render.")
    add("--progress", action="store_true",
        help="Show the render line (images done/total, img/s, ETA) even when the output is not a terminal "
        "(a CI log: one line per tenth); -q hides it.")
    add("--report", action="store_true", help="Write the HTML report after the run.")
    add("--sync", action="store_true", help="Sync scores to Supabase after the run.")


def pytest_configure(config: pytest.Config) -> None:
    if not config.stash.get(GATE_REQUESTED, False):
        return
    from evalkit.score.metrics import MARKERS

    for name, help_ in MARKERS:
        config.addinivalue_line("markers", f"{name}: {help_}")
