"""Command-line interface. It only wires stages together (see pipeline.py) and maps
errors to exit codes: 0 ok, 1 verify mismatch, 2 unusable or damaged input.

No ``from __future__ import annotations`` here: typer reads every command's annotations
at start-up, and string annotations would each be evaluated again (~10 ms a run)."""

from detector import startup  # first: the collector is off while the imports below run

# isort: split
import copy
import json
import math
import os
import signal
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager, suppress
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple, TextIO

import typer

from detector import __version__
from detector.errors import InputError
from detector.textsafe import escape

if TYPE_CHECKING:  # imported by the commands that run (_stages); cluster only for --dask
    from detector.cluster import DaskSpec
    from detector.config import Detector, ScanConfig
    from detector.pipeline import ScanResult
    from detector.suspects import Suspect

startup.done()

app = typer.Typer(
    name="minewatch",
    help="Find cryptocurrency miners in network traffic (pcap, pcapng, live).",
    add_completion=False,
    pretty_exceptions_enable=False,
    no_args_is_help=True,
)


class OutputFormat(StrEnum):
    table = "table"
    jsonl = "jsonl"
    csv = "csv"


def _err(message: str) -> None:
    sys.stderr.write(f"minewatch: {message}\n")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"minewatch {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """minewatch: passive detection of cryptocurrency miners."""


JobsOpt = Annotated[
    int,
    typer.Option(
        "--jobs",
        "-j",
        min=1,
        help="Worker processes (default: all cores): several files are shared out, one big "
        "file (--split-from) is split by flow.",
    ),
]
DEFAULT_JOBS = os.cpu_count() or 1
RulesOpt = Annotated[
    list[Path] | None,
    typer.Option("--rules", help="Extra rule file or directory (repeatable).", show_default=False),
]


def _finite(value: float) -> float:
    """Range checks pass NaN (every comparison with it is false): refuse it, and infinity."""
    if not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="Flow model file (.skops with its .json and CARD.md), or 'none' for rules only "
        "(default: $MINEWATCH_MODEL, else models/minewatch.skops when present).",
        show_default=False,
    ),
]

SplitOpt = Annotated[
    int,
    typer.Option(
        "--split-from",
        min=0,
        metavar="BYTES",
        help="With -j > 1 and one capture (or rotated chain) at least this big, split its "
        "flows across the workers; the result is the same as -j 1.",
    ),
]
DEFAULT_SPLIT_FROM = 64 * 1024 * 1024  # config.SPLIT_FROM (tests/test_startup.py)
NoJoinOpt = Annotated[
    bool,
    typer.Option(
        "--no-join-rotated",
        help="Read rotated files of one capture (tcpdump -C/-G, dumpcap -b) each on its own, "
        "not as one stream (a connection that spans files then counts once per file).",
    ),
]

NodesOpt = Annotated[
    bool,
    typer.Option(
        "--nodes-as-suspects",
        help="The site's policy forbids running cryptocurrency nodes: report node hosts as "
        "suspects (role crypto-node) instead of informational crypto-node alerts.",
    ),
]

ThresholdOpt = Annotated[
    float,
    typer.Option(min=0.0, max=1.0, callback=_finite, help="Score at which a flow is a miner flow."),
]


def _config(
    rules: list[Path] | None,
    threshold: float,
    window: float = 3600.0,
    idle_timeout: float = 600.0,
    active_timeout: float = 3600.0,
    max_flows: int = 500_000,
    inspect_bytes: int = 16 * 1024,
    keep_all: bool = False,
    udp_idle_timeout: float = 120.0,
    max_inspected: int = 4096,
    model: str | None = None,
) -> "ScanConfig":
    from detector.config import ScanConfig, model_choice
    from detector.dissect.inspector import InspectConfig
    from detector.flows import FlowConfig

    signatures = os.environ.get("MINEWATCH_SIGNATURES")
    # --model given: ScanConfig's default (which looks for the shipped model, importing the
    # model module) is not made at all; else $MINEWATCH_MODEL or the shipped one
    chosen = {} if model is None else {"model": model_choice(model)}
    config = ScanConfig(
        flow=FlowConfig(
            idle_timeout=idle_timeout,
            udp_idle_timeout=udp_idle_timeout,
            active_timeout=active_timeout,
            max_flows=max_flows,
        ),
        inspect=InspectConfig(bytes_per_side=inspect_bytes, max_flows=max_inspected),
        threshold=threshold,
        window=window,
        extra_rules=list(rules or []),
        keep_all_flows=keep_all,
        **chosen,
    )
    if signatures:
        config.signatures = Path(signatures)
    return config


class ReaderGone(Exception):
    """Whoever read our standard output went away (``| head``): stop quietly."""


def _flush_stdout() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise ReaderGone from None


@contextmanager
def _output(path: Path | None):  # type: ignore[no-untyped-def]
    if path is None or str(path) == "-":
        try:
            yield sys.stdout
        except BrokenPipeError:
            raise ReaderGone from None
        return
    try:
        fh = path.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    with fh:
        yield fh


def _progress_total(paths: list[str]) -> int:
    total = 0
    for p in paths:
        with suppress(OSError):
            total += os.path.getsize(p) if p != "-" else 0
    return total


def _run(
    inputs_paths: list[str],
    config: "ScanConfig",
    show_progress: bool,
    jobs: int = 1,
    detector: "Detector | None" = None,
    on_suspect: "Callable[[Suspect], None] | None" = None,
    dask: "DaskSpec | None" = None,
) -> "ScanResult":
    from detector.config import Detector
    from detector.pipeline import run_scan
    from detector.source import expand_inputs

    inputs = expand_inputs(inputs_paths)
    detector = detector or Detector.load(config)
    total = _progress_total([c.path for c in inputs])
    if not (show_progress and sys.stderr.isatty() and total > 32 * 1024 * 1024):
        return run_scan(inputs, config, detector, jobs=jobs, on_suspect=on_suspect, dask=dask)
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("scanning"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        transient=True,
        console=None,
    ) as bar:
        task = bar.add_task("scan", total=total)
        result = run_scan(
            inputs,
            config,
            detector,
            progress=lambda done: bar.update(task, completed=done),
            jobs=jobs,
            on_suspect=on_suspect,
            dask=dask,
        )
    return result


def _summary(result: "ScanResult") -> str:
    pps = result.decode.packets / result.seconds if result.seconds > 0 else 0.0
    line = (
        f"{result.decode.packets:,} packets, {result.flows.flows:,} flows, "
        f"{len(result.suspects):,} suspects in {result.seconds:.2f} s "
        f"({pps:,.0f} packets/s)"
    )
    d, f = result.decode, result.flows
    skipped = [
        (d.ip_fragments, "IP fragments"),
        (d.non_ip, "non-IP"),
        (d.other_ip_proto, "other IP protocols"),
        (d.truncated_headers, "truncated headers"),
        (d.unsupported_linktype, "unsupported link type"),
        (d.tunneled, "packets taken out of tunnels"),
        (d.tunnel_malformed, "malformed tunnel headers"),
        (d.tunnel_too_deep, "tunnels nested too deep"),
        (f.evicted, "flows evicted"),
        (f.cut_short, "flows' inspection cut short (--max-inspected)"),
    ]
    joined = sum(len(cap.joined) for cap in result.captures)
    skipped.append((joined, "rotated files read on from the file before them"))
    notes = [f"{count:,} {what}" for count, what in skipped if count]
    return line + (f"; {', '.join(notes)}" if notes else "")


def _print_stats(result: "ScanResult") -> None:
    """Per-stage seconds (``--stats``), and what the flow table held."""
    t = result.times
    total = t.read + t.decode + t.flows + t.dissect + t.score + t.output
    parts = ", ".join(
        f"{name} {value:.3f} s ({100 * value / total if total else 0:.0f}%)"
        for name, value in (
            ("read", t.read),
            ("decode", t.decode),
            ("flows", t.flows),
            ("dissect", t.dissect),
            ("score", t.score),
            ("output", t.output),
        )
    )
    _err(f"stats: {parts}")
    f = result.flows
    per_flow = f.peak_state_bytes / f.peak_flows if f.peak_flows else 0.0
    _err(
        f"stats: {f.inspected_packets:,} packets inspected in Python "
        f"({100 * f.inspected_packets / max(1, result.decode.packets):.1f}%), "
        f"peak {f.peak_flows:,} flows in {f.peak_state_bytes / 1e6:.1f} MB of flow state "
        f"({per_flow:.0f} bytes/flow), {f.evicted:,} evicted"
    )


def _report_captures(result: "ScanResult") -> None:
    for cap in result.captures:
        for warning in cap.warnings:
            _err(f"warning: {warning}")
        if cap.error:
            _err(f"error: {cap.error}")


@app.command()
def scan(
    paths: Annotated[list[str], typer.Argument(help="Capture files, directories, or - for stdin.")],
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = (
        OutputFormat.table
    ),
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here.")] = None,
    rules: RulesOpt = None,
    model: ModelOpt = None,
    threshold: ThresholdOpt = 0.7,
    window: Annotated[
        float, typer.Option(min=0.0, callback=_finite, help="Report a suspect once per window (s).")
    ] = 3600.0,
    idle_timeout: Annotated[
        float, typer.Option(min=1.0, callback=_finite, help="TCP flow idle timeout (s).")
    ] = 600.0,
    udp_idle_timeout: Annotated[
        float, typer.Option(min=1.0, callback=_finite, help="UDP flow idle timeout (s).")
    ] = 120.0,
    active_timeout: Annotated[
        float, typer.Option(min=1.0, callback=_finite, help="Flow active timeout (s).")
    ] = 3600.0,
    max_flows: Annotated[int, typer.Option(min=64, help="Flow-table size limit.")] = 500_000,
    inspect_bytes: Annotated[
        int, typer.Option(min=256, help="Payload bytes inspected per direction.")
    ] = 16384,
    max_inspected: Annotated[
        int,
        typer.Option(
            min=16, help="Flows under payload inspection at once; past it the oldest stops."
        ),
    ] = 4096,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary line.")] = False,
    no_info: Annotated[
        bool, typer.Option("--no-info", help="Hide informational crypto-node alerts.")
    ] = False,
    stats: Annotated[
        bool, typer.Option("--stats", help="Print per-stage times and flow-state figures.")
    ] = False,
    jobs: JobsOpt = DEFAULT_JOBS,
    as_found: Annotated[
        bool,
        typer.Option(
            "--as-found",
            help="jsonl: write each alert when its suspect first appears (evidence so far; "
            "open flows are scored at their checkpoints), not sorted at the end; crypto-node "
            "alerts follow at the end.",
        ),
    ] = False,
    eve_extended: Annotated[
        bool,
        typer.Option(
            "--eve-extended",
            help="jsonl: also write the full mining/node record as a top-level object "
            "(not valid against Suricata's EVE schema).",
        ),
    ] = False,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Also merge every suspect into this suspect store (a SQLite path, "
            "sqlite:///abs/path, sqlite:rel/path or postgresql://user@host/db); "
            "see `minewatch suspects`.",
            show_default=False,
        ),
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask",
            metavar="SCHEDULER",
            help="Spread the captures over a Dask cluster: 'local' starts one here with "
            "--workers processes, else a scheduler's address (tcp://host:8786); see "
            "docs/CLUSTER.md. Needs minewatch[cluster]. Replaces -j.",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", min=1, help="--dask local: worker processes (default: all cores)."
        ),
    ] = None,
    dask_path_map: Annotated[
        list[str] | None,
        typer.Option(
            "--dask-path-map",
            metavar="FROM=TO",
            help="--dask: a path that starts with FROM here starts with TO on the workers "
            "(captures, rules, model; repeatable).",
            show_default=False,
        ),
    ] = None,
    no_join_rotated: NoJoinOpt = False,
    nodes_as_suspects: NodesOpt = False,
    split_from: SplitOpt = DEFAULT_SPLIT_FROM,
) -> None:
    """Scan captures and report the IPs that mine, with evidence."""
    config = _config(
        rules,
        threshold,
        window,
        idle_timeout,
        active_timeout,
        max_flows,
        inspect_bytes,
        udp_idle_timeout=udp_idle_timeout,
        max_inspected=max_inspected,
        model=model,
    )
    if as_found and fmt is not OutputFormat.jsonl:
        raise typer.BadParameter("needs --format jsonl", param_hint="--as-found")
    if eve_extended and fmt is not OutputFormat.jsonl:
        raise typer.BadParameter("needs --format jsonl", param_hint="--eve-extended")
    config.join_rotated = not no_join_rotated
    config.nodes_as_suspects = nodes_as_suspects
    config.split_from = split_from
    cluster = _dask_spec(dask, workers, dask_path_map or [])
    store = _open_store(db) if db is not None else None  # a bad store fails before the scan
    from detector.config import Detector
    from detector.replay import STOP

    detector = Detector.load(config)
    with STOP.installed(), _output(output) as out:
        if as_found:
            result = _scan_as_found(
                paths, config, detector, out, quiet, jobs, no_info, eve_extended, cluster
            )
        else:
            result = _run(paths, config, not quiet, jobs=jobs, detector=detector, dask=cluster)
            _write_results(result, detector, fmt, out, no_info, eve_extended)
        _flush_stdout()
    if store is not None:
        with store:
            store.upsert_many(result.suspects.stream())
    _report_captures(result)
    if not quiet:
        _err(_summary(result))
    if stats:
        _print_stats(result)
    _exit_for(result)


def _dask_spec(
    scheduler: str | None, workers: int | None, path_map: list[str]
) -> "DaskSpec | None":
    """``--dask``'s options as a DaskSpec (None without --dask); what is missing or
    malformed is said before anything is loaded."""
    if scheduler is None:
        for given, name in ((workers is not None, "--workers"), (path_map, "--dask-path-map")):
            if given:
                raise typer.BadParameter("needs --dask", param_hint=name)
        return None
    from detector.cluster import LOCAL, DaskSpec, require

    require()
    if workers is not None and scheduler != LOCAL:
        raise typer.BadParameter(f"needs --dask {LOCAL} (a cluster has its own)", "--workers")
    pairs = []
    for item in path_map:
        source, sep, target = item.partition("=")
        if not (sep and source and target):
            raise typer.BadParameter(f"{item!r} is not FROM=TO", param_hint="--dask-path-map")
        pairs.append((source, target))
    return DaskSpec(scheduler.strip(), workers or 0, tuple(pairs))


def _exit_for(result: "ScanResult") -> None:
    """Exit 128 + signal after a stop signal (the results written are partial), 2 after
    unusable input, else 0."""
    if result.interrupted is not None:
        name = signal.Signals(result.interrupted).name
        _err(f"interrupted by {name}: the results written are partial")
        raise typer.Exit(128 + result.interrupted)
    if result.failed:
        raise typer.Exit(2)


def _scan_as_found(
    paths: list[str],
    config: "ScanConfig",
    detector: "Detector",
    out: TextIO,
    quiet: bool,
    jobs: int,
    no_info: bool,
    extended: bool = False,
    dask: "DaskSpec | None" = None,
) -> "ScanResult":
    """Alerts written as suspects appear (a live sink's behaviour, on captures)."""
    from detector.sinks.eve import node_event, suspect_event, write_event

    spent = 0.0

    def alert(suspect: "Suspect") -> None:
        nonlocal spent
        started = time.perf_counter()
        write_event(suspect_event(suspect, detector.rules, extended=extended), out, flush=True)
        spent += time.perf_counter() - started

    result = _run(paths, config, not quiet, jobs, detector, on_suspect=alert, dask=dask)
    started = time.perf_counter()
    for host in [] if no_info else result.nodes.hosts_in_order():
        write_event(node_event(host, detector.rules, extended), out)
    result.times.output += spent + time.perf_counter() - started
    return result


def _write_results(
    result: "ScanResult",
    detector: "Detector",
    fmt: OutputFormat,
    out: TextIO,
    no_info: bool,
    eve_extended: bool = False,
) -> None:
    table = result.suspects
    started = time.perf_counter()
    # Sinks are imported when used: rich alone costs a tenth of start-up. Each takes the
    # suspects one at a time (a big table is mostly packed: see SuspectTable).
    partial = result.interrupted is not None
    if fmt is OutputFormat.jsonl:
        from detector.sinks.eve import eve_order, write_eve

        nodes = [] if no_info else result.nodes.hosts_in_order()  # one at a time
        write_eve(table.stream(eve_order), out, detector.rules, nodes, partial, eve_extended)
    elif fmt is OutputFormat.csv:
        from detector.sinks.csvout import write_csv

        write_csv(table.stream(), out, [] if no_info else result.nodes.hosts_in_order())
    else:
        from detector.sinks.table import write_table

        hosts = [] if no_info else result.nodes.hosts()  # a terminal table: a few
        write_table(table.stream(), len(table), out, hosts, partial)
    result.times.output += time.perf_counter() - started


def _read_config_file(ctx: typer.Context, param: object, value: Path | None) -> Path | None:
    """``--config FILE``: every option of the command from a TOML file (the ``[live]``
    table, or the top level), keyed by its long name (``interface = ["eth1"]``, ``eve =
    "/var/log/minewatch/eve.json"``, ``idle-timeout = 600``). Options given on the command
    line win. Read before the other options (eager), as their defaults (click's
    default_map); an unknown key is an error that names it, not a silent no-op; a file
    that cannot be used is one line and exit 2, as any unusable input."""
    if value is None or ctx.resilient_parsing:
        return value
    import tomllib

    try:
        data = tomllib.loads(value.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{value}: cannot read ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{value}: not valid TOML ({exc})") from None
    table = data.get("live", data)
    if not isinstance(table, dict):
        raise InputError(f"{value}: [live] is not a table")
    by_option: dict[str, str] = {}
    for p in ctx.command.params:
        for opt in p.opts:
            if opt.startswith("--") and p.name:
                by_option[opt[2:]] = p.name
    unknown = sorted(k for k in table if k.replace("_", "-") not in by_option or k == "config")
    if unknown:
        raise InputError(f"{value}: unknown setting(s): {', '.join(unknown)}")
    settings = {by_option[k.replace("_", "-")]: v for k, v in table.items()}
    if isinstance(settings.get("interfaces"), str):
        settings["interfaces"] = [settings["interfaces"]]
    ctx.default_map = {**(ctx.default_map or {}), **settings}
    return value


class CaptureKind(StrEnum):
    auto = "auto"
    afpacket = "afpacket"
    tcpdump = "tcpdump"


@app.command()
def live(
    interfaces: Annotated[
        list[str],
        typer.Option("--interface", "-i", help="Interface to capture on (repeatable)."),
    ],
    bpf: Annotated[
        str | None, typer.Option("--bpf", help="Capture filter (tcpdump syntax).")
    ] = None,
    snaplen: Annotated[int, typer.Option(min=64, max=262144, help="Bytes kept per packet.")] = (
        65535
    ),
    no_promisc: Annotated[
        bool, typer.Option("--no-promisc", help="Do not put the interfaces in promiscuous mode.")
    ] = False,
    capture: Annotated[
        CaptureKind,
        typer.Option(
            "--capture",
            help="Capture path: afpacket (a TPACKET_V3 ring), tcpdump (a pipe), auto.",
        ),
    ] = CaptureKind.auto,
    eve: Annotated[
        str,
        typer.Option("--eve", help="Append EVE alerts to this file (- for stdout)."),
    ] = "-",
    syslog: Annotated[
        str | None,
        typer.Option(
            "--syslog", help="Also send alerts and health lines: local, udp:HOST:PORT, tcp:..."
        ),
    ] = None,
    suppress: Annotated[
        float,
        typer.Option(
            min=1.0, callback=_finite, help="Alert an IP once per this many seconds (window)."
        ),
    ] = 3600.0,
    health: Annotated[
        float,
        typer.Option(min=0.0, callback=_finite, help="Seconds between health lines (0: none)."),
    ] = 60.0,
    user: Annotated[
        str | None,
        typer.Option("--user", help="Drop root for this user once the capture is open."),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Also keep suspects in this store (a path, sqlite:PATH or "
            "postgresql://user@host/db); see suspects.",
        ),
    ] = None,
    pcap_out: Annotated[
        str | None,
        typer.Option("--pcap-out", help="Keep suspect flows' packets in a pcap ring here."),
    ] = None,
    pcap_out_mb: Annotated[
        int, typer.Option("--pcap-out-mb", min=1, help="Size bound of that ring (MB).")
    ] = 1024,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", min=1, max=64, help="Processes sharing the traffic by flow (AF_PACKET)."
        ),
    ] = 1,
    rules: RulesOpt = None,
    model: ModelOpt = None,
    threshold: ThresholdOpt = 0.7,
    idle_timeout: Annotated[
        float, typer.Option(min=1.0, callback=_finite, help="TCP flow idle timeout (s).")
    ] = 600.0,
    max_flows: Annotated[int, typer.Option(min=64, help="Flow-table size limit.")] = 500_000,
    eve_extended: Annotated[
        bool, typer.Option("--eve-extended", help="Also the full mining record (not EVE-valid).")
    ] = False,
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config",
            is_eager=True,
            callback=_read_config_file,
            help="TOML file of these options ([live] table; the command line wins).",
        ),
    ] = None,
    nodes_as_suspects: NodesOpt = False,
) -> None:
    """Watch interfaces (a mirror/SPAN port) and alert on miners while they mine."""
    from detector.config import Detector
    from detector.live import LiveSensor
    from detector.sinks.alertlog import EveFile, Syslog

    config = _config(rules, threshold, suppress, idle_timeout, max_flows=max_flows, model=model)
    config.nodes_as_suspects = nodes_as_suspects
    detector = Detector.load(config)
    sinks: list = [EveFile(eve)]
    if syslog:
        sinks.append(Syslog(syslog))
    store = _open_store(db) if db is not None else None  # a bad store fails before capture
    evidence = _evidence(pcap_out, pcap_out_mb, workers)
    spec = _CaptureSpec(interfaces, bpf, snaplen, not no_promisc, capture)
    if workers > 1:
        outputs = _LiveOutputs(sinks, store, health, eve_extended, evidence, eve)
        _live_workers(spec, workers, config, detector, outputs, user)
        return
    source = _open_live(spec)
    try:
        if user:
            from detector.source.privileges import drop_privileges

            drop_privileges(user)
    except BaseException:
        source.close()
        raise
    names = ",".join(interfaces)
    _err(f"capturing on {escape(names)} ({source.kind}); alerts to {escape(eve)}")
    sensor = LiveSensor(
        names, source, config, detector, sinks, store, health_every=health, extended=eve_extended,
        evidence=evidence() if evidence else None,
    )  # fmt: skip
    report = sensor.run()
    for sink in sinks:
        sink.close()
    if store is not None:
        store.close()
    _err(sensor.health_line(time.monotonic()).replace("health:", "stopped:", 1))
    if report.error:
        _err(f"error: {report.error}")
        raise typer.Exit(2)


def _evidence(directory: str | None, total_mb: int, workers: int) -> Callable[[], Any] | None:
    """``--pcap-out``: a maker of the evidence keeper (each worker makes its own ring, its
    share of the size bound, in the same directory); the directory is checked now."""
    if directory is None:
        return None
    from detector.live import EvidenceKeeper
    from detector.sinks.evidence_pcap import PcapRing

    share = total_mb * 1024 * 1024 // workers
    file_bytes = max(share // 8, 1024 * 1024)
    PcapRing(directory, file_bytes, 8)  # a directory that cannot be used fails here

    def make() -> EvidenceKeeper:
        return EvidenceKeeper(PcapRing(directory, file_bytes, max(2, share // file_bytes)))

    return make


class _CaptureSpec(NamedTuple):
    """What ``live`` captures: the interfaces, filter, snap length, promiscuity, path.
    (This record and the next are NamedTuples, not frozen dataclasses: the CLI defines
    them at every start, whatever the command, and as dataclasses their generated methods
    cost ~4 M instructions, startup.py; a NamedTuple's ~1 M.)"""

    interfaces: list[str]
    bpf: str | None
    snaplen: int
    promisc: bool
    kind: CaptureKind


class _LiveOutputs(NamedTuple):
    """Where a sensor's findings go (the parent's, with workers)."""

    sinks: list[Any]
    store: Any
    health_every: float
    extended: bool
    evidence: Callable[[], Any] | None
    eve: str


def _live_workers(
    spec: _CaptureSpec,
    workers: int,
    config: "ScanConfig",
    detector: "Detector",
    out: _LiveOutputs,
    user: str | None,
) -> None:
    """``--workers N``: N processes in one PACKET_FANOUT group (live.run_workers)."""
    from detector.live import run_workers

    if spec.kind is CaptureKind.tcpdump:
        raise InputError("--workers needs the AF_PACKET capture (not --capture tcpdump)")
    from detector.source.afpacket import LiveCapture, open_live

    group = os.getpid() & 0xFFFF  # one group per sensor; interface k uses group + k

    def open_source() -> LiveCapture:
        return open_live(spec.interfaces, spec.bpf, spec.snaplen, spec.promisc, group)

    names = ",".join(spec.interfaces)
    _err(f"capturing on {escape(names)} (afpacket, {workers} workers); alerts to {escape(out.eve)}")
    report = run_workers(
        workers, open_source, names, config, detector, out.sinks, out.store, out.health_every,
        out.extended, user, sys.stderr, out.evidence,
    )  # fmt: skip
    for sink in out.sinks:
        sink.close()
    if out.store is not None:
        out.store.close()
    c = report.counters
    _err(
        f"stopped: up {report.seconds:.0f} s, {c.packets:,} packets, "
        f"{report.suspects_told:,} suspects told, kernel: {c.kernel_received:,} received, "
        f"{c.kernel_dropped:,} dropped ({workers} workers)"
    )
    if report.error:
        _err(f"error: {report.error}")
        raise typer.Exit(2)


def _open_live(spec: _CaptureSpec) -> Any:
    """The capture path: the AF_PACKET ring (auto, afpacket), or tcpdump's pipe."""
    if spec.kind is not CaptureKind.tcpdump:
        from detector.source.afpacket import open_live

        return open_live(spec.interfaces, spec.bpf, spec.snaplen, spec.promisc)
    from detector.source.tcpdump import TcpdumpCapture

    if len(spec.interfaces) != 1:
        raise InputError("--capture tcpdump: one interface at a time (or 'any')")
    return TcpdumpCapture(spec.interfaces[0], spec.bpf, spec.snaplen, spec.promisc)


@app.command()
def flows(
    paths: Annotated[list[str], typer.Argument(help="Capture files, directories, or - for stdin.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here.")] = None,
    rules: RulesOpt = None,
    model: ModelOpt = None,
    threshold: ThresholdOpt = 0.7,
    all_flows: Annotated[
        bool, typer.Option("--all", help="Also flows with no payload facts.")
    ] = False,
    jobs: JobsOpt = DEFAULT_JOBS,
    no_join_rotated: NoJoinOpt = False,
    split_from: SplitOpt = DEFAULT_SPLIT_FROM,
) -> None:
    """Write every inspected flow with its facts and verdict as JSON lines (like a conn log)."""
    config = _config(rules, threshold, keep_all=True, model=model)
    config.join_rotated = not no_join_rotated
    config.split_from = split_from
    from detector.flows import FlowConfig
    from detector.replay import STOP

    if all_flows:
        config.flow = FlowConfig()
    from detector.sinks.flowlog import write_flow_log

    with STOP.installed(), _output(output) as out:
        result = _run(paths, config, show_progress=True, jobs=jobs)
        write_flow_log(result.verdicts, out, with_empty=all_flows)
        _flush_stdout()
    _report_captures(result)
    _exit_for(result)


@app.command()
def verify(
    directory: Annotated[Path, typer.Argument(help="Directory of labelled captures.")],
    manifest: Annotated[
        Path | None, typer.Option(help="Manifest (default: DIR/manifest.*).")
    ] = None,
    junit: Annotated[Path | None, typer.Option(help="Also write a JUnit XML report here.")] = None,
    rules: RulesOpt = None,
    model: ModelOpt = None,
    threshold: ThresholdOpt = 0.7,
) -> None:
    """Replay labelled captures; exit 1 if any capture's suspects differ from its manifest."""
    from detector.config import Detector
    from detector.verify import find_manifest, load_manifest, run_verify, write_junit

    if not directory.is_dir():
        raise InputError(f"{directory}: not a directory")
    expectations = load_manifest(manifest or find_manifest(directory))
    config = _config(rules, threshold, model=model)
    outcomes = run_verify(expectations, config, Detector.load(config), directory, sys.stdout)
    if junit is not None:
        write_junit(outcomes, junit)
    if not all(o.passed for o in outcomes):
        raise typer.Exit(2 if any(o.broken for o in outcomes) else 1)


class EvalFormat(StrEnum):
    table = "table"
    json = "json"
    junit = "junit"


@app.command("eval")
def eval_(
    sources: Annotated[
        list[Path],
        typer.Argument(
            help="Labelled sets: manifests (toml/csv), directories holding one, or corpora "
            "written by `corpus make`."
        ),
    ],
    labels: Annotated[
        list[Path] | None, typer.Option("--labels", help="More manifests (repeatable).")
    ] = None,
    fmt: Annotated[EvalFormat, typer.Option("--format", "-f", help="Output format.")] = (
        EvalFormat.table
    ),
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here.")] = None,
    plot: Annotated[
        Path | None,
        typer.Option(help="Also draw precision/recall against the threshold and time to detect."),
    ] = None,
    rules: RulesOpt = None,
    model: ModelOpt = None,
    threshold: ThresholdOpt = 0.7,
    checkpoint: Annotated[
        float,
        typer.Option(min=0.1, callback=_finite, help="Seconds of capture time between scorings."),
    ] = 10.0,
) -> None:
    """Score minewatch against labels (precision, recall and F1 per flow and per IP).

    Also false positives per 10,000 benign flows and time to detect."""
    from detector import evaluate
    from detector.config import Detector
    from detector.replay import STOP

    found = evaluate.load_labels([*sources, *(labels or [])])
    config = _config(rules, threshold, keep_all=True, model=model)
    started = time.perf_counter()
    with STOP.installed():
        evals, groups = evaluate.run_eval(found, config, Detector.load(config), checkpoint)
    with _output(output) as out:
        if fmt is EvalFormat.json:
            evaluate.write_json(evals, groups, out)
        elif fmt is EvalFormat.junit:
            evaluate.write_junit(evals, out)
        else:
            evaluate.write_table(groups, out)
        _flush_stdout()
    if plot is not None:
        evaluate.write_plot(evals, groups, plot)
    for e in evals:
        if e.error:
            _err(f"error: {e.error}")
    _err(evaluate.describe(groups, time.perf_counter() - started))
    if STOP.signum is not None:
        raise typer.Exit(128 + STOP.signum)
    if any(e.error for e in evals):
        raise typer.Exit(2)


@app.command()
def train(
    sources: Annotated[
        list[Path],
        typer.Argument(
            help="Labelled sets: a `corpus make` directory (flows.csv), a directory "
            "with labels.csv or manifest.toml, or such a manifest file."
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Model file to write (.skops); its .json and CARD.md go beside it.",
        ),
    ],
    seed: Annotated[int, typer.Option(help="Seed of the split and the trees.")] = 1,
    rules: RulesOpt = None,
) -> None:
    """Train the flow model on labelled captures (yours with ours).

    Prints its held-out metrics, writes it with its card. Never train on what you evaluate on."""
    from detector import evaluate
    from detector import train as training
    from detector.config import Detector
    from detector.replay import STOP

    found = evaluate.load_labels(sources)
    config = _config(rules, 0.7, keep_all=True, model="none")

    def progress(done: int, total: int, name: str) -> None:
        if sys.stderr.isatty() or done == total or done % 25 == 0:
            _err(f"train: {done}/{total} captures read {escape(name)}")

    started = time.perf_counter()
    with STOP.installed():
        meta = training.train(
            found, out, config, Detector.load(config), seed,
            command=" ".join(["minewatch train", *map(str, sources), "-o", str(out)])
            + f" --seed {seed}",
            progress=progress,
        )  # fmt: skip
    test = meta.trained["metrics"]["test"]
    typer.echo(json.dumps({"model": str(out), "sha256": meta.sha256, "threshold": meta.threshold,
                           "test": test}, indent=1))  # fmt: skip
    _err(f"trained on {meta.trained['rows']} rows of {meta.trained['flows']} flows "
         f"in {time.perf_counter() - started:.0f} s; card: {out.parent / 'CARD.md'}")  # fmt: skip


rules_app = typer.Typer(help="List, check and test signature rules.", no_args_is_help=True)
pools_app = typer.Typer(
    help="Mining pool lists: merge your own, look names up.", no_args_is_help=True
)
corpus_app = typer.Typer(
    help="Labelled corpora of generated traffic (for training and evaluating models).",
    no_args_is_help=True,
)
app.add_typer(rules_app, name="rules")
app.add_typer(pools_app, name="pools")
app.add_typer(corpus_app, name="corpus")


def _signatures() -> Path:
    return _config(None, 0.7).signatures


@rules_app.command("list")
def rules_list(
    rules: RulesOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Descriptions too.")] = False,
) -> None:
    """List every loaded rule: id, kind, weight, severity, name."""
    from detector.config import Detector

    detector = Detector.load(_config(rules, 0.7, model="none"))
    out = sys.stdout
    for rule in detector.rules.rules:
        # names and descriptions come from rule files anyone may hand us: escaped
        out.write(
            f"{rule.id:>8}  {rule.kind:<5}  w={rule.weight:.2f}  sev={rule.severity}  "
            f"{escape(rule.name)}\n"
        )
        if verbose:
            if rule.description:
                out.write(f"          {escape(rule.description, 2000)}\n")
            out.write(f"          source: {escape(rule.source)}\n")
    out.write(f"{len(detector.rules.rules)} rules from {len(detector.rules.files)} files\n")


@rules_app.command("check")
def rules_check(rules: RulesOpt = None) -> None:
    """Validate rule files, pool lists and coin tables; exit 2 naming file and line on error."""
    from detector.config import Detector

    detector = Detector.load(_config(rules, 0.7, model="none"))
    typer.echo(
        f"ok: {len(detector.rules.rules)} rules in {len(detector.rules.files)} files, "
        f"{len(detector.pools)} pool entries ({detector.pools.unroutable} unroutable addresses "
        "dropped)"
    )


@rules_app.command("test")
def rules_test(
    rule_id: Annotated[int, typer.Argument(help="Rule id to test.")],
    paths: Annotated[list[str], typer.Argument(help="Captures to test it on.")],
    rules: RulesOpt = None,
) -> None:
    """Show which flows of the captures a rule matches (and their scores)."""
    from detector.config import Detector
    from detector.pipeline import run_scan
    from detector.source import expand_inputs

    config = _config(rules, 0.7, keep_all=True)
    detector = Detector.load(config)
    rule = detector.rules.by_id(rule_id)
    if rule is None:
        raise InputError(f"no rule with id {rule_id}")
    result = run_scan(expand_inputs(paths), config, detector)
    hits = 0
    for v in sorted(result.verdicts, key=lambda v: (v.record.first_ts, v.record.flow_id)):
        if rule.matches(v.record):
            hits += 1
            r = v.record
            typer.echo(
                f"{r.proto} {r.client_ip}:{r.client_port} -> {r.server_ip}:{r.server_port}  "
                f"score={v.score:.2f} miner={'yes' if v.is_miner else 'no'}  "
                f"dialects={','.join(sorted(v.dialects)) or '-'}"
            )
    typer.echo(
        f"rule {rule.id} ({escape(rule.name)}) matched {hits} of {len(result.verdicts)} flows"
    )
    _report_captures(result)
    if result.failed:
        raise typer.Exit(2)


@pools_app.command("update")
def pools_update(
    source: Annotated[Path, typer.Argument(help="Your list: pool CSV or one host per line.")],
    name: Annotated[str, typer.Option(help="Name of the list file in signatures/pools/.")] = (
        "user"
    ),
) -> None:
    """Merge a pool list into signatures/pools/NAME.csv (offline; idempotent)."""
    from detector.pools import load_pools, merge_user_list

    if not name.replace("-", "").replace("_", "").isalnum():
        raise InputError(f"list name {name!r}: use letters, digits, - and _")
    target = _signatures() / "pools" / f"{name}.csv"
    added, present = merge_user_list(source, target)
    pools = load_pools(target.parent)
    typer.echo(
        f"{target}: {added} added, {present} already present; {len(pools)} pool entries in "
        f"all ({pools.unroutable} unroutable addresses dropped)"
    )


@pools_app.command("match")
def pools_match(
    hosts: Annotated[list[str], typer.Argument(help="Host names or IPs, optionally :port.")],
) -> None:
    """Look host names up in the pool lists (exit 1 if none matches)."""
    from detector.pools import load_pools

    pools = load_pools(_signatures() / "pools")
    if pools.unroutable:
        _err(f"note: {pools.unroutable} unroutable addresses in the pool lists were dropped")
    found = 0
    for host in hosts:
        port = None
        name = host
        if host.count(":") == 1:
            name, _, port_text = host.partition(":")
            port = int(port_text) if port_text.isdigit() else None
        match = pools.match(name, port)
        if match is None:
            typer.echo(f"{host}: no match")
            continue
        found += 1
        typer.echo(
            f"{host}: {match.pool} (coin {match.coin or '?'}, {match.kind} match on "
            f"{match.matched}, {match.source})"
        )
    if not found:
        raise typer.Exit(1)


@corpus_app.command("make")
def corpus_make(
    outdir: Annotated[Path, typer.Argument(help="Directory to write the corpus into.")],
    flows: Annotated[
        int,
        typer.Option(min=2, help="Labelled flows: half miners, half hard negatives."),
    ] = 20_000,
    seed: Annotated[int, typer.Option(help="Same seed, same bytes.")] = 1,
    jobs: JobsOpt = DEFAULT_JOBS,
) -> None:
    """Write a labelled corpus: pcap files of miners and hard negatives, with their labels.

    Miners of every dialect, cleartext and TLS, Stratum V2 and browser mining.
    Labels in flows.csv, with flowinfo.csv and hosts.csv beside it.
    Captures are written by worker processes; the bytes never depend on -j."""
    from detector.synth.corpus.make import CaptureResult, make_corpus

    if outdir.exists() and not outdir.is_dir():
        raise InputError(f"{outdir}: not a directory")

    def progress(res: CaptureResult) -> None:
        _err(f"{res.name}: {res.packets:,} packets, {res.size / 1e6:,.1f} MB, "
             f"{len(res.flows):,} flows")  # fmt: skip

    try:
        summary = make_corpus(outdir, flows=flows, seed=seed, jobs=jobs, progress=progress)
    except OSError as exc:
        raise InputError(f"{outdir}: cannot write ({exc.strerror or exc})") from None
    _err(
        f"{summary.captures} captures, {summary.packets:,} packets, {summary.size / 1e6:,.1f} MB; "
        f"{summary.miners:,} miner flows, {summary.negatives:,} hard negatives and "
        f"{summary.lookups:,} DNS lookups in {summary.seconds:.1f} s -> {outdir}"
    )


def _open_store(url: str, create: bool = True):  # type: ignore[no-untyped-def]
    """The suspect store (imported when used: sqlite3, and psycopg for a PostgreSQL URL,
    are start-up time other commands would pay for nothing)."""
    from detector.sinks.store import SuspectStore

    return SuspectStore.open(url, create=create)


@app.command("suspects")
def suspects_cmd(
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Suspect store: a SQLite path, sqlite:///abs/path, sqlite:rel/path or "
            "postgresql://user@host/db "
            "(default: $MINEWATCH_DB, else minewatch.db in the current directory).",
            show_default=False,
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only suspects last seen at or after T (traffic time): ISO-8601 "
            "(UTC unless it names an offset) or a duration back from now: 30m, 2h, 7d.",
            show_default=False,
        ),
    ] = None,
    ip: Annotated[
        str | None, typer.Option("--ip", help="Only this IP.", show_default=False)
    ] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = (
        OutputFormat.table
    ),
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here.")] = None,
) -> None:
    """List the suspects of a suspect store (written by `scan --db`, or a sensor)."""
    import ipaddress

    from detector.sinks import stored
    from detector.sinks.store import default_url, parse_since

    start = parse_since(since, time.time()) if since is not None else None
    if ip is not None:
        try:
            ip = str(ipaddress.ip_address(ip.strip()))
        except ValueError:
            raise InputError(f"--ip {escape(ip)}: not an IP address") from None
    with _open_store(db if db is not None else default_url(dict(os.environ)), False) as store:
        rows = store.query(since=start, ip=ip)
    with _output(output) as out:
        if fmt is OutputFormat.jsonl:
            stored.write_jsonl(rows, out)
        elif fmt is OutputFormat.csv:
            stored.write_csv(rows, out)
        else:
            stored.write_table(rows, out)
        _flush_stdout()


class ReportFormat(StrEnum):
    html = "html"
    md = "md"
    csv = "csv"


REPORT_EXTRA = "pip install 'minewatch[report]'"


@app.command("report")
def report_cmd(
    inputs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Captures (files, directories) or a scan's EVE JSON lines "
            "(`scan -f jsonl`); none with --db.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="html: the file to write; csv: a directory (summary.csv, entities.csv, "
            "suspects.csv); md: a file (default: standard output).",
            show_default=False,
        ),
    ] = None,
    owners: Annotated[
        Path | None,
        typer.Option(
            "--owners",
            help="Owners CSV (cidr,entity,department,contact): who each address belongs to.",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f", help="Report format.")] = (
        ReportFormat.html
    ),
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Report on a suspect store instead (SQLite path or postgresql:// URL).",
            show_default=False,
        ),
    ] = None,
    rules: RulesOpt = None,
    model: ModelOpt = None,
    threshold: ThresholdOpt = 0.7,
    jobs: JobsOpt = DEFAULT_JOBS,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary line.")] = False,
    nodes_as_suspects: NodesOpt = False,
) -> None:
    """Write the investigation report (HTML with plots, Markdown or CSV).

    Who mines, of which entity, which coin at which pool, since when, how hard, on what power."""
    from detector.owners import OwnerMap
    from detector.report import collect
    from detector.report.data import Collected
    from detector.report.summary import build_report
    from detector.report.tables import headline

    paths = list(inputs or [])
    if db is not None and paths:
        raise typer.BadParameter("give captures/EVE files or --db, not both", param_hint="--db")
    if db is None and not paths:
        raise typer.BadParameter("give captures, EVE files or --db", param_hint="INPUTS")
    if fmt is not ReportFormat.md and output is None:
        raise typer.BadParameter(f"--format {fmt.value} needs -o", param_hint="--output")
    if fmt is ReportFormat.html:
        _need_matplotlib()
    owner_map = OwnerMap.load(owners) if owners is not None else OwnerMap.empty()
    owners_name = (
        str(owners) if owners is not None else "none given (every address is unknown space)"
    )
    kind = "db" if db is not None else collect.input_kind(paths)
    if nodes_as_suspects and kind != "captures":
        raise typer.BadParameter(
            "applies to a scan of captures (EVE lines and the store hold what their scan "
            "made of nodes)",
            param_hint="--nodes-as-suspects",
        )
    # EVE lines and the store were scored already: their rules are only named here
    config = _config(rules, threshold, model=model if kind == "captures" else "none")
    from detector.config import Detector
    from detector.energy import EfficiencyTable
    from detector.replay import STOP

    efficiency = EfficiencyTable.load(config.signatures / "efficiency.csv")
    detector = Detector.load(config)
    result: ScanResult | None = None
    if db is not None:
        with _open_store(db, False) as store:
            rows = store.query()
            collected = Collected(f"the suspect store {store.shown}",
                                  collect.from_store(rows, detector.rules, efficiency))  # fmt: skip
    elif kind == "eve":
        files = [Path(p) for p in paths]
        collected = Collected(f"EVE lines of {', '.join(paths)}",
                              collect.from_eve(files, detector.rules, efficiency))  # fmt: skip
    else:
        config.screen = owner_map
        config.nodes_as_suspects = nodes_as_suspects
        with STOP.installed():
            result = _run(paths, config, show_progress=not quiet, jobs=jobs, detector=detector)
        suspects = collect.from_suspects(result.suspects.stream(), detector.rules, efficiency)
        partial = " (stopped by a signal: partial)" if result.interrupted is not None else ""
        collected = Collected(
            f"a scan of {len(result.captures):,} capture(s): {', '.join(paths)}{partial}",
            suspects,
            screened=result.hosts.count,
            screened_overflow=result.hosts.overflow,
        )
        _report_captures(result)
    report = build_report(collected, owner_map, owners_name)
    written = _write_report(report, fmt, output)
    if not quiet:
        _err(f"report: {headline(report)} -> {escape(written)}")
    if result is not None:
        _exit_for(result)


def _need_matplotlib() -> None:
    """The HTML report draws its plots with matplotlib (the ``report`` extra)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InputError(f"the HTML report needs matplotlib: {REPORT_EXTRA}") from None


def _write_report(report: Any, fmt: ReportFormat, output: Path | None) -> str:
    """Render ``report``; what was written (a path, or standard output)."""
    if fmt is ReportFormat.csv:
        from detector.report.csvfiles import write_csv_dir

        assert output is not None
        write_csv_dir(report, output)
        return f"{output}/"
    if fmt is ReportFormat.md:
        from detector.report.markdown import write_markdown

        with _output(output) as out:
            write_markdown(report, out)
            _flush_stdout()
        return str(output) if output is not None else "standard output"
    from detector.report.html import write_html
    from detector.report.plots import PlotsUnavailable, all_plots

    try:
        plots = all_plots(report)
    except PlotsUnavailable:
        raise InputError(f"the HTML report needs matplotlib: {REPORT_EXTRA}") from None
    with _output(output) as out:
        write_html(report, plots, out)
    return str(output)


def main() -> None:
    """Console entry point: no traceback ever reaches the user."""
    try:
        code = _run_app()
    except SystemExit as exc:  # raised by our own handlers below
        code = exc.code
    if code is not None and not isinstance(code, int):
        _err(str(code))  # what the interpreter does with SystemExit("message")
        code = 1
    _leave(code or 0)


def _app_for(args: list[str]) -> typer.Typer:
    """The app to run ``args`` with: when the first word names a command (or a group such
    as ``rules``), a copy of the app that holds that one alone. Typer turns every
    registered command into a click command before it parses a word - reading the
    signature of all 46 parameters (~8 % of a tiny scan's start-up, callgrind) - while
    a command's parsing, its help and its usage errors need only its own. Anything else
    (no word, ``--help``, ``--version``, an unknown name) gets the whole app, which lists
    or suggests the commands as before."""
    first = args[0] if args else ""
    commands = [
        info
        for info in app.registered_commands
        if (info.name or typer.main.get_command_name(info.callback.__name__)) == first
    ]
    groups = [info for info in app.registered_groups if info.name == first]
    if not commands and not groups:
        return app
    slim = copy.copy(app)
    slim.registered_commands = commands
    slim.registered_groups = groups
    return slim


def _stages(args: list[str]) -> None:
    """Import what the commands run on - the pipeline and its stages (numpy, the
    dissectors, the rules engine: ~390 M instructions, callgrind) - unless ``args`` only
    ask for help or the version, which need none of it. Under the collector hold the
    CLI's own imports have (startup.py). Each command imports what it uses itself as
    well: this only saves the collector's walks over what they make."""
    if not args or "--help" in args or args[0] == "--version":
        return
    with startup.importing():
        import detector.pipeline  # noqa: F401 - config, replay, session, dissectors, flows


def _run_app() -> int | str | None:
    try:
        _stages(sys.argv[1:])
        _app_for(sys.argv[1:])()  # standalone: click prints usage errors itself and exits 2
    except InputError as exc:
        _err(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except (BrokenPipeError, ReaderGone):
        # as a shell reports a program that SIGPIPE ended, without a word on stderr
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - nothing more reaches the pipe
        return 128 + signal.SIGPIPE
    except SystemExit as exc:
        return exc.code
    except Exception as exc:  # noqa: BLE001 - last resort: one line, never a traceback
        if os.environ.get("MINEWATCH_DEBUG"):
            raise
        _err(
            f"error: internal failure ({type(exc).__name__}: {exc}); "
            "set MINEWATCH_DEBUG=1 for details"
        )
        return 2
    return 0


def _leave(code: int) -> None:
    """Exit without tearing the interpreter down. Every command has closed its outputs by
    now, so all that is left is freeing what the run built up - rules, pool lists, the
    numpy runtime - object by object (~30 ms after a scan, for nothing). Standard
    streams are flushed first; one whose reader went away, or that is closed, is left
    (the exit code stays the command's: click already made a broken pipe exit 1)."""
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
