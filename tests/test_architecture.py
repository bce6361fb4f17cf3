"""The package's shape (docs/ARCHITECTURE.md): a one-way pipeline. No import cycle among
detector's modules, and no stage imports a later one; only the wiring modules (config,
session, replay, live, parallel, cluster, pipeline, verify, cli) see every stage."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "detector"

# Stages in pipeline order; a module may import its own stage and earlier ones. Names are
# module paths or package prefixes (ending in ".").
STAGES: list[tuple[str, tuple[str, ...]]] = [
    (
        "base",
        (
            "detector.errors",
            "detector.csvdata",
            "detector.compiled",
            "detector.dialects",
            "detector.textsafe",
            "detector.yamlsrc",
            "detector.parsedcache",
            "detector.plain",
            "detector.patterns",
            "detector.facts",
            "detector.pools",
            "detector.pdns",
            "detector.owners",
            "detector.activity",
            "detector.netnames",
        ),
    ),
    ("source", ("detector.source.",)),
    ("decode", ("detector.decode",)),
    (
        "flows",
        (
            "detector.flowtable",
            "detector.screen",
            "detector.behaviour",
            "detector.flows",
            "detector.fanout",
        ),
    ),
    ("dissect", ("detector.dissect.", "detector.reassembly")),
    ("enrich", ("detector.enrich", "detector.chia")),
    ("features", ("detector.features",)),
    ("model", ("detector.trees", "detector.model")),
    ("score", ("detector.rules.", "detector.score")),
    ("suspects", ("detector.spill", "detector.heap", "detector.suspects", "detector.nodehosts")),
    ("hashrate", ("detector.hashrate",)),
    ("energy", ("detector.energy",)),
    ("sinks", ("detector.sinks.",)),
    ("report", ("detector.report.",)),
]
WIRING = (
    "detector.config",
    "detector.session",
    "detector.replay",
    "detector.live",
    "detector.parallel",
    "detector.cluster",
    "detector.pipeline",
    "detector.verify",
    "detector.evaluate",
    "detector.train",
    "detector.cli",
    "detector.startup",
    "detector.__main__",
    "detector",
)
TOOLS = ("detector.synth.",)  # generators: not a stage, imported by no stage


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """detector modules imported anywhere in a module (functions included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    # "detector" itself: every import of a submodule runs the package's __init__ anyway
    return {m for m in found if m in known and m not in (name, "detector")}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(path, name, known) for name, path in modules.items()}


def _stage(module: str) -> int | None:
    for rank, (_, members) in enumerate(STAGES):
        for member in members:
            if module == member or (member.endswith(".") and module.startswith(member)):
                return rank
            if member.endswith(".") and module == member[:-1]:
                return rank
    return None


def _is(module: str, names: tuple[str, ...]) -> bool:
    return any(
        module == n or (n.endswith(".") and (module.startswith(n) or module == n[:-1]))
        for n in names
    )


def test_no_import_cycle() -> None:
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for dep in sorted(graph[module]):
            if state.get(dep) == 1:
                cycle = path[path.index(dep) :] + [dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert len(graph) > 40


def test_every_module_has_a_place_and_no_stage_imports_a_later_one() -> None:
    graph = _graph()
    unplaced = [m for m in graph if _stage(m) is None and not _is(m, WIRING + TOOLS)]
    assert not unplaced, f"modules with no stage: {unplaced}"
    wrong = []
    for module, deps in graph.items():
        if _is(module, TOOLS):
            wrong += [(module, d) for d in deps if not _is(d, TOOLS + ("detector.dialects",))]
            continue
        rank = _stage(module)
        for dep in deps:
            if _is(dep, TOOLS):
                if module != "detector.cli":  # a CLI command may run a generator
                    wrong.append((module, dep))
            elif rank is not None and (_is(dep, WIRING) or (_stage(dep) or 0) > rank):
                wrong.append((module, dep))
    assert not wrong, "a stage imports a later one (or wiring): " + ", ".join(
        f"{m} -> {d}" for m, d in sorted(wrong)
    )


def test_the_checks_can_fail() -> None:
    """The stage check sees a backward import when there is one (guards the test)."""
    assert _stage("detector.flows") < _stage("detector.dissect.inspector")  # type: ignore[operator]
    assert _stage("detector.sinks.eve") > _stage("detector.suspects")  # type: ignore[operator]
    graph = _graph()
    assert "detector.flows" in graph["detector.dissect.feeder"]
    assert "detector.dissect.inspector" not in graph["detector.flows"]
