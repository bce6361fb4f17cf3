"""detector.synth is a tool, not a pipeline stage: the import rule holds both ways.

Why: the capture generator lives in the installed distribution so that a CLI command can
make captures, but the scanner must never depend on it (nor load it: it is not light), and
it must not depend on the pipeline it is there to test - a generator that imported the
dissectors could only ever write what they already understand. Its one link into
``detector`` is :mod:`detector.dialects`, the shared vocabulary of dialect names.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DETECTOR = ROOT / "detector"
SYNTH = DETECTOR / "synth"
#: Modules outside detector/synth that may import it: CLI commands that make captures.
MAY_IMPORT_SYNTH: set[str] = set()


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = _module(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{alias.name}" for alias in node.names)
    return found


def test_synth_imports_no_pipeline_stage() -> None:
    allowed = ("detector.synth", "detector.dialects")
    bad = {}
    for path in sorted(SYNTH.rglob("*.py")):
        wrong = sorted(m for m in _imports(path)
                       if (m == "detector" or m.startswith("detector."))
                       and not any(m == a or m.startswith(a + ".") for a in allowed))
        if wrong:
            bad[str(path.relative_to(ROOT))] = wrong
    assert not bad, f"detector.synth may import only detector.synth.* and detector.dialects: {bad}"


def test_no_pipeline_module_imports_synth() -> None:
    bad = []
    for path in sorted(DETECTOR.rglob("*.py")):
        if SYNTH in path.parents or _module(path) in MAY_IMPORT_SYNTH:
            continue
        if any(m == "detector.synth" or m.startswith("detector.synth.") for m in _imports(path)):
            bad.append(str(path.relative_to(ROOT)))
    assert not bad, f"pipeline modules import detector.synth: {bad}"


def test_the_rule_sees_imports() -> None:
    """The walk finds the package's own link to the dialect vocabulary (a guard against a
    walk that silently finds nothing)."""
    assert "detector.dialects" in _imports(SYNTH / "dialects" / "stratum.py")
    assert "detector.synth.ip" in _imports(SYNTH / "tcp.py")
