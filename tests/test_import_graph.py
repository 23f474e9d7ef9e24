"""The package layout is the data path: each stage imports only from the stages before it, and nothing cycles.

    inspect -> render -> downsample -> score -> gate -> store -> report -> sync

Foundation (golden/, errors.py, paths.py, the package's __init__) may be
imported by every stage and imports only foundation. The top-level modules
(cli, plugin, conftest, test_punks) wire the stages together and may import any
of them; no stage imports them. Every import counts, also those inside a
function (lazy imports hide a dependency, they do not remove it).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "evalkit"
STAGES = ("inspect", "render", "downsample", "score", "gate", "store", "compare", "report", "sync")
FOUNDATION = ("evalkit", "evalkit.errors", "evalkit.paths", "evalkit.terminal_text", "evalkit.usable_dir", "evalkit.image_io",
              "evalkit.image_arrays", "evalkit.golden", "evalkit.timing", "evalkit.code_fingerprint")


def _module_name(path: Path) -> str:
    parts = ("evalkit", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("evalkit"):
                for alias in node.names:  # `from evalkit.x import y`: y may be a module of package x
                    sub = f"{node.module}.{alias.name}"
                    targets.add(sub if sub in modules else node.module)
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.startswith("evalkit")}
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _layer(module: str) -> str:
    if module == "evalkit" or any(module == f or module.startswith(f + ".") for f in FOUNDATION[1:]):
        return "foundation"
    part = module.split(".")[1]
    if module.endswith(".cli"):  # a stage's command line is glue: it may call checks of later stages
        return "top"
    return part if part in STAGES else "top"


def test_the_graph_is_read():
    graph = _graph()
    assert "evalkit.gate.session" in graph and "evalkit.score.metrics" in graph["evalkit.gate.session"]
    assert {_layer(m) for m in graph} >= {"foundation", "top", *STAGES}


def test_each_stage_imports_only_earlier_stages_and_foundation():
    bad = []
    for module, targets in sorted(_graph().items()):
        layer = _layer(module)
        if layer == "top":
            continue
        for t in sorted(targets):
            other = _layer(t)
            if layer == "foundation":
                ok = other == "foundation"
            else:
                ok = other == "foundation" or (other in STAGES and STAGES.index(other) <= STAGES.index(layer))
            if not ok:
                bad.append(f"{module} ({layer}) imports {t} ({other})")
    assert not bad, "imports against the data path:\n" + "\n".join(bad)


def test_no_import_cycles():
    graph = _graph()
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for t in sorted(graph[node]):
            if state.get(t) == "open":
                cycles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t not in state:
                visit(t, stack + [t])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)
