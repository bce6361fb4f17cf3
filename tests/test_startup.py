"""detector/startup.py: the cycle collector is off only while the CLI's imports run."""

from __future__ import annotations

import ast

from tests.conftest import REPO, python_prints


def _after_cli_import(before: str) -> str:
    code = f"import gc\n{before}\nimport detector.cli\nprint(gc.isenabled(), gc.get_freeze_count() > 0)"
    printed = python_prints(code)
    return printed


def test_collector_is_on_again_after_the_imports_and_what_they_made_is_frozen() -> None:
    assert _after_cli_import("") == "True True"


def test_a_collector_turned_off_before_stays_off() -> None:
    assert _after_cli_import("gc.disable()") == "False True"


# --- the CLI builds only the command it runs (cli._app_for) ---------------------------

_GROUPS = {"rules": ["list", "check", "test"], "pools": ["update", "match"], "corpus": ["make"]}


def _names() -> list[str]:
    import typer

    from detector.cli import app

    return [
        info.name or typer.main.get_command_name(info.callback.__name__)
        for info in app.registered_commands
    ] + [info.name for info in app.registered_groups]


def test_every_command_and_group_is_built_alone() -> None:
    from detector.cli import _app_for, app

    names = _names()
    assert {"scan", "flows", "live", "verify", "eval", "train", "report", "rules"} <= set(names)
    for name in names:
        slim = _app_for([name, "--help"])
        assert slim is not app
        assert len(slim.registered_commands) + len(slim.registered_groups) == 1
    # the app itself keeps them all
    assert len(app.registered_commands) + len(app.registered_groups) == len(names)


def test_no_command_word_gets_the_whole_app() -> None:
    from detector.cli import _app_for, app

    for args in ([], ["--help"], ["--version"], ["nosuch"], ["sca"], ["--version", "scan"]):
        assert _app_for(args) is app


def test_a_command_alone_parses_helps_and_refuses_as_in_the_whole_app() -> None:
    from typer.testing import CliRunner

    from detector.cli import _app_for, app

    runner = CliRunner()
    cases = [[name, "--help"] for name in _names()]
    cases += [[group, sub, "--help"] for group, subs in _GROUPS.items() for sub in subs]
    cases += [["scan", "--bogus", "x.pcap"], ["scan"], ["rules"], ["rules", "nosuch"]]
    for args in cases:
        whole = runner.invoke(app, args, prog_name="minewatch")
        alone = runner.invoke(_app_for(args), args, prog_name="minewatch")
        assert (alone.exit_code, alone.output) == (whole.exit_code, whole.output), args
        assert whole.output
        assert whole.exit_code == (0 if args[-1] == "--help" else 2), args


# --- what start-up no longer imports, and the values that stand in for it ------------


def test_the_written_out_normal_quantiles_are_normaldists() -> None:
    from statistics import NormalDist

    from detector import hashrate

    tail = (1.0 - hashrate.CONFIDENCE) / 2.0
    for p in (tail, 1.0 - tail):
        assert hashrate._NORMAL_QUANTILE[p] == NormalDist().inv_cdf(p)


def test_a_scan_with_an_alert_imports_neither_yaml_statistics_nor_hashlib() -> None:
    code = (
        "import sys\n"
        "from detector import cli\n"
        "sys.argv = ['minewatch', 'scan', 'pcaps/cryptonote-xmrig.pcap', '-f', 'jsonl', '-q',\n"
        "            '-j', '1', '--model', 'none', '-o', '/dev/null']\n"
        "code = cli._run_app()\n"
        "print(code, [m for m in ('yaml', 'statistics', 'hashlib') if m in sys.modules])\n"
    )
    printed = python_prints(code)
    assert printed == "0 []"


def test_community_ids_hash_with_hashlibs_sha1() -> None:
    import hashlib

    from detector.sinks.common import _sha1

    for data in (b"", b"abc", bytes(range(256)) * 9):
        want = hashlib.sha1(data, usedforsecurity=False).digest()
        assert _sha1()(data, usedforsecurity=False).digest() == want


# --- help and the version without the pipeline (cli._stages) --------------------------


def test_the_cli_split_default_is_configs() -> None:
    from detector.cli import DEFAULT_SPLIT_FROM
    from detector.config import SPLIT_FROM

    assert DEFAULT_SPLIT_FROM == SPLIT_FROM


def _imports_after(args: list[str]) -> str:
    code = (
        "import sys\n"
        "from detector import cli\n"
        f"sys.argv = ['minewatch', *{args!r}]\n"
        "code = cli._run_app()\n"
        "print(code, [m for m in ('numpy', 'detector.pipeline') if m in sys.modules])\n"
    )
    printed = python_prints(code)
    return printed.splitlines()[-1]


def test_help_and_the_version_do_not_import_the_pipeline() -> None:
    for args in (["--help"], ["--version"], ["verify", "--help"], ["rules", "list", "--help"]):
        assert _imports_after(args) == "0 []", args


def test_a_command_that_runs_imports_it_with_the_collector_held() -> None:
    assert _imports_after(["rules", "check"]) == "0 ['numpy', 'detector.pipeline']"
    code = (
        "import gc, sys\n"
        "from detector import cli\n"
        "before = gc.get_freeze_count()\n"
        "cli._stages(['scan', 'x.pcap'])\n"
        "print(gc.isenabled(), gc.get_freeze_count() > before, 'detector.pipeline' in sys.modules)\n"
    )
    printed = python_prints(code)
    assert printed == "True True True"


def _type_checking_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.If) and getattr(stmt.test, "id", "") == "TYPE_CHECKING":
            for node in ast.walk(stmt):
                if isinstance(node, ast.ImportFrom):
                    names.update(a.asname or a.name for a in node.names)
    return names


def _runtime_uses(tree: ast.Module, lazy: set[str]) -> list[str]:
    """Where cli.py evaluates a name it imports for type checking only: an annotation a
    def evaluates (not quoted), or a use in a function that does not import it."""
    found: list[str] = []

    def imported(fn: ast.AST) -> set[str]:
        return {
            a.asname or a.name
            for node in ast.walk(fn)
            if isinstance(node, ast.ImportFrom)
            for a in node.names
        }

    def visit(node: ast.AST, bound: set[str] | None) -> None:
        if isinstance(node, ast.FunctionDef):
            args = node.args
            annotations = [a.annotation for a in [*args.args, *args.kwonlyargs] if a.annotation]
            for annotation in [*annotations, *([node.returns] if node.returns else [])]:
                names = {n.id for n in ast.walk(annotation) if isinstance(n, ast.Name)}
                found.extend(f"{node.lineno}: {name} in an annotation" for name in names & lazy)
            inner = (bound or set()) | imported(node)
            for stmt in node.body:
                visit(stmt, inner)
            return
        if isinstance(node, ast.AnnAssign) and bound is not None:  # a local's: not evaluated
            if node.value is not None:
                visit(node.value, bound)
            return
        if isinstance(node, ast.Name) and bound is not None and node.id in lazy - bound:
            found.append(f"{node.lineno}: {node.id} not imported where used")
        for child in ast.iter_child_nodes(node):
            visit(child, bound)

    for stmt in tree.body:
        if not (isinstance(stmt, ast.If) and getattr(stmt.test, "id", "") == "TYPE_CHECKING"):
            visit(stmt, None)
    return found


def test_the_cli_evaluates_no_name_it_imports_for_type_checking_only() -> None:
    """What ruff cannot see (a TYPE_CHECKING import binds the name for it): cli.py imports
    the pipeline's types for annotations only, so every command must import what it runs."""
    tree = ast.parse((REPO / "detector" / "cli.py").read_text(encoding="utf-8"))
    lazy = _type_checking_names(tree)
    assert {"Detector", "ScanConfig", "ScanResult", "Suspect"} <= lazy
    assert _runtime_uses(tree, lazy) == []
    broken = ast.parse(
        "def f(x: Detector) -> None:\n    def g(s: 'Suspect') -> None:\n        STOP\n"
    )
    assert _runtime_uses(broken, {"Detector", "Suspect", "STOP"}) == [
        "1: Detector in an annotation",
        "3: STOP not imported where used",
    ]
