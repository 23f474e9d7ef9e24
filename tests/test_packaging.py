"""What a user's install gets (issue 21): runtime dependencies are what evalkit/ imports (or what diffusers
needs to run evalkit's loaders, named in a comment beside each), and the quick start needs no root."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMPORT_NAMES = {"Pillow": "PIL"}
NEEDED_BY_DIFFUSERS = {"transformers", "peft", "accelerate", "tqdm"}  # never imported by evalkit itself


def imported_modules() -> set[str]:
    found = set()
    for f in (ROOT / "evalkit").rglob("*.py"):
        found |= set(re.findall(r"^\s*(?:from|import)\s+([A-Za-z_]\w*)", f.read_text(encoding="utf-8"), re.M))
    return found


def test_every_runtime_dependency_is_imported_by_evalkit_or_named_as_diffusers_need():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.match(r"[A-Za-z0-9_.-]+", d).group() for d in deps}
    imported = imported_modules()
    unused = {n for n in names - NEEDED_BY_DIFFUSERS if IMPORT_NAMES.get(n, n).replace("-", "_") not in imported}
    assert not unused, f"runtime dependencies evalkit/ never imports: {sorted(unused)}"


def test_the_quick_start_setup_needs_no_root_and_ci_still_installs_the_system_packages():
    setup = (ROOT / ".ci" / "setup").read_text()
    assert "apt-get" not in setup and "sudo" not in setup
    run = (ROOT / ".ci" / "run").read_text()
    assert "bash .ci/setup\n" in run and "bash .ci/setup-system\n" in run
    assert "apt-get install" in (ROOT / ".ci" / "setup-system").read_text()
