"""Scan captures on a Dask cluster (dask.distributed), results in input order.

Why Dask: it is an existing, well-kept engine for spreading work over hosts - a scheduler,
workers on any number of machines, its own failure handling and dashboard - so minewatch
runs no server of its own. ``--dask local`` starts a LocalCluster of worker processes on
this host (the embedded default); ``--dask tcp://host:8786`` uses a running cluster
(docs/CLUSTER.md says how to start one).

* **The unit of work is a chain** (source/rotation.py): one file, or the rotated files of
  one capture stream, which one worker scans in order as one session. Each chain's
  CaptureScans are merged in input order exactly as a serial scan merges them, so the
  suspects, crypto nodes and counters are those of a serial run.
* **Workers load their own data.** They are not forked from this process (parallel.py's
  way), so each worker process loads the rules, pool lists, coin table and model itself,
  once, from the data files the scan's options name (ScanConfig travels as JSON: paths and
  options), and checks at start-up that it runs this minewatch version and that its data
  files are byte for byte the client's (a SHA-256 over them). The signatures and the model
  that come with minewatch are each worker's own installation's; other paths must exist
  on the workers (shared storage, or ``path_map``). A worker that cannot load or whose
  data differ is named in a one-line error before any capture is sent.
* **Results never travel as pickles.** A task returns its chain's CaptureScans encoded by
  plain.py (JSON bytes), decoded here into the same dataclasses; a task never raises (a
  failure comes back as JSON too), and this client accepts only Dask's own and msgpack
  serialisations from the cluster (``deserializers``), so a result that is not bytes is
  refused, not unpickled. The project never unpickles data from elsewhere
  (docs/ARCHITECTURE.md §9). Dask itself pickles the *tasks* it sends to workers (this
  module's functions, by reference) and its control messages: run a cluster on a network
  you trust, or with Dask's TLS (docs/CLUSTER.md).
* **Files are opened by the workers**, at the path the client names (after ``path_map``):
  every worker must see every capture at that path - shared storage (NFS, CIFS, a
  cluster file system) mounted at the same place, or ``--dask-path-map FROM=TO`` when
  the workers mount it elsewhere. The client reads only each file's head (to recognise
  captures, order them and find rotations). Stdin and pipes cannot be sent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from detector import __version__, plain
from detector.config import SIGNATURES, Detector, ScanConfig
from detector.errors import InputError
from detector.model import DEFAULT_MODEL, model_files
from detector.replay import STOP, Interrupted, scan_chain
from detector.session import CaptureScan
from detector.source import CaptureInput
from detector.source.rotation import Chain

LOCAL = "local"  # --dask local: a LocalCluster of worker processes on this host
INSTALL = "pip install 'minewatch[cluster]' (dask and distributed)"
# What this client accepts from the cluster: Dask's own serialisation (bytes pass as
# they are) and msgpack; never pickle.
DESERIALIZERS = ["dask", "msgpack"]

PathMap = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class DaskSpec:
    """Where to scan: ``scheduler`` is LOCAL or a scheduler's address."""

    scheduler: str
    workers: int = 0  # LOCAL: worker processes (0: one per core)
    path_map: tuple[tuple[str, str], ...] = ()  # (prefix here, prefix on the workers)


def require() -> None:
    """One line naming what to install when dask.distributed is missing."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise InputError(f"--dask needs dask.distributed: {INSTALL}") from None


@dataclass(slots=True)
class Job:
    """What every worker is told about the scan (plain data, sent as JSON)."""

    config: ScanConfig
    version: str  # the client's minewatch
    digest: str  # SHA-256 over the client's data files (data_digest)
    own_signatures: bool = True  # the installation's signatures/: the worker's own
    own_model: bool = True  # the installation's model: the worker's own
    path_map: PathMap = field(default_factory=list)  # absolute prefixes
    cwd: str = "/"  # the client's working directory: what relative capture paths start at


def make_job(config: ScanConfig, path_map: PathMap) -> Job:
    """The scan's options with every path absolute, and the digest of its data files."""
    sent = replace(
        config,
        signatures=config.signatures.resolve(),
        extra_rules=[p.resolve() for p in config.extra_rules],
        model=config.model.resolve() if config.model is not None else None,
    )
    return Job(
        config=sent,
        version=__version__,
        digest=data_digest(sent),
        own_signatures=sent.signatures == SIGNATURES.resolve(),
        own_model=sent.model == DEFAULT_MODEL.resolve(),
        path_map=[(os.path.abspath(source), target) for source, target in path_map],
        cwd=os.getcwd(),
    )


def data_digest(config: ScanConfig) -> str:
    """SHA-256 over the contents (and names relative to their root) of every data file the
    scan loads: signatures/, extra rules, the model's files (model.model_files). Where the
    files are does not count, so hosts with different mount points agree."""
    digest = hashlib.sha256()
    roots = [config.signatures, *config.extra_rules]
    if config.model is not None:
        roots += model_files(config.model)
    for root in roots:
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            name = path.relative_to(root).as_posix() if root.is_dir() else path.name
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
            digest.update(f"{name}\0{len(data)}\0".encode())
            digest.update(data)
    return digest.hexdigest()


def map_path(path: str, path_map: PathMap) -> str:
    """``path`` as the workers see it: the longest matching prefix replaced."""
    best = max((pair for pair in path_map if _under(path, pair[0])), key=lambda p: len(p[0]),
               default=None)  # fmt: skip
    if best is None:
        return path
    source, target = best
    return target + path[len(source) :]


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


# ---------------------------------------------------------------- on a worker ----------


_lock = threading.Lock()
_loaded: dict[str, tuple[ScanConfig, Detector, Job]] = {}


def _load(job_text: str) -> tuple[ScanConfig, Detector, Job]:
    """The scan's data, loaded once per worker process (tasks of the same scan reuse it)."""
    with _lock:
        hit = _loaded.get(job_text)
        if hit is None:
            job = plain.loads(Job, job_text)
            if job.version != __version__:
                raise InputError(f"runs minewatch {__version__}, the client {job.version}")
            config = _local_config(job)
            digest = data_digest(config)
            if digest != job.digest:
                raise InputError(
                    f"its data files ({config.signatures}, rules, model) differ from the "
                    f"client's (sha256 {digest[:12]} here, {job.digest[:12]} there)"
                )
            hit = _loaded[job_text] = (config, Detector.load(config), job)
    return hit


def _local_config(job: Job) -> ScanConfig:
    """The job's options with this worker's paths: its own installation's signatures and
    model where the client used its own, the others through the path map."""
    config, mapped = job.config, job.path_map

    def here(path: Path) -> Path:
        return Path(map_path(str(path), mapped))

    model = config.model
    return replace(
        config,
        signatures=SIGNATURES if job.own_signatures else here(config.signatures),
        extra_rules=[here(p) for p in config.extra_rules],
        model=DEFAULT_MODEL if job.own_model else here(model) if model is not None else None,
    )


def capture_path(path: str, job: Job) -> str:
    """Where a worker opens a capture the client named ``path`` (relative to the client's
    working directory, through the path map)."""
    return map_path(os.path.join(job.cwd, path), job.path_map)


def prepare(job_text: str, sample: str | None = None) -> str:
    """Run on every worker at start-up: load and check the data, and that the worker sees
    the ``sample`` capture; "" or why it cannot (one line)."""
    try:
        _, _, job = _load(job_text)
    except InputError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - said in one line, never raised to the client
        return f"internal failure ({type(exc).__name__}: {exc})"
    if sample is not None and not os.path.exists(capture_path(sample, job)):
        return (
            f"{capture_path(sample, job)}: no such file here; every worker must see the "
            "captures at the client's path (shared storage) or --dask-path-map's"
        )
    return ""


def scan_task(chain_text: str, job_text: str) -> bytes:
    """A worker's task: scan one chain; its CaptureScans as plain JSON bytes (never a
    pickle), or ``{"error": ...}``. Reports name the client's paths."""
    try:
        config, detector, job = _load(job_text)
        chain = plain.loads(list[CaptureInput], chain_text)
        local = [replace(cap, path=capture_path(cap.path, job)) for cap in chain]
        named = {here.path: cap.path for here, cap in zip(local, chain, strict=True)}
        scans = scan_chain(local, config, detector)
        for scanned in scans:  # as the client named them, in messages too
            report = scanned.report
            report.path = named.get(report.path, report.path)
            report.joined = [named.get(path, path) for path in report.joined]
            for here, there in named.items():
                if report.error is not None:
                    report.error = report.error.replace(here, there)
                report.warnings = [w.replace(here, there) for w in report.warnings]
        return b'{"scans":' + plain.dumps(scans).encode() + b"}"
    except InputError as exc:
        return json.dumps({"error": str(exc)}).encode()
    except Exception as exc:  # noqa: BLE001 - said in one line, never raised to the client
        return json.dumps({"error": f"internal failure ({type(exc).__name__}: {exc})"}).encode()


# ---------------------------------------------------------------- on the client --------


def scan_dask(
    chains: list[Chain],
    config: ScanConfig,
    spec: DaskSpec,
    sizes: list[int],
    progress: Callable[[int], None] | None = None,
) -> Iterator[list[CaptureScan]]:
    """Yield each chain's CaptureScans (one per session), in input order, scanned on the
    cluster. Told to stop (SIGINT/SIGTERM), it yields nothing more and cancels the rest."""
    require()
    for chain in chains:
        for cap in chain:
            if cap.fmt == "?":
                raise InputError(f"{cap.display}: --dask sends files to workers, not a stream")
    job_text = plain.dumps(make_job(config, list(spec.path_map)))
    files = [cap for chain in chains for cap in chain if cap.problem is None]
    sample = files[0].path if files else None
    with _client(spec) as client:
        if STOP.signum is not None:  # told to stop while the cluster started
            return
        try:
            prepared = client.run(prepare, job_text, sample)
        except Exception as exc:  # noqa: BLE001 - a worker running other code, one gone
            why = f"{type(exc).__name__}: {exc}"
            raise InputError(f"dask workers: cannot prepare ({why})") from None
        failed = {worker: why for worker, why in prepared.items() if why}
        if failed:
            worker, why = sorted(failed.items())[0]
            more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
            raise InputError(f"dask worker {worker}{more}: {why}")
        texts = [plain.dumps(chain) for chain in chains]
        futures = client.map(scan_task, texts, job_text=job_text, pure=False)
        done, finished = 0, False
        try:
            for index, size in enumerate(sizes):
                future = futures[index]
                with STOP.waiting_for_input():
                    data = _result(future, chains[index])
                futures[index] = None  # the cluster may forget it
                del future
                done += size
                if progress is not None:
                    progress(done)
                yield _decode(data, chains[index])
            finished = True
        except Interrupted:
            pass
        finally:
            if not finished:
                client.cancel([f for f in futures if f is not None])


def _result(future: Any, chain: Chain) -> bytes:
    try:
        data = future.result()
    except Interrupted:
        raise
    except Exception as exc:  # a worker died, the task was lost: Dask's own errors
        raise InputError(f"dask: {chain[0].display}: {type(exc).__name__}: {exc}") from None
    if not isinstance(data, bytes):
        raise InputError(f"dask: {chain[0].display}: a worker sent {type(data).__name__}")
    return data


def _decode(data: bytes, chain: Chain) -> list[CaptureScan]:
    try:
        message = json.loads(data)
        if "error" in message:
            raise InputError(f"dask worker, {chain[0].display}: {message['error']}")
        return plain.from_plain(list[CaptureScan], message["scans"])
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InputError(f"dask: {chain[0].display}: unreadable result ({exc})") from None


@contextmanager
def _workers_ignore_interrupts() -> Iterator[None]:
    """Worker processes started meanwhile never see SIGINT. Ctrl-C reaches the terminal's
    whole process group, and the client decides what happens - it keeps what was scanned,
    says the results are partial and stops the cluster - as parallel.py's workers do.

    A new process inherits an ignored signal across exec (and Python leaves it so), and
    the mask of blocked signals of the thread that starts it: so while the cluster starts
    (its event loop thread is created now, with this mask, and starts the workers), SIGINT
    is blocked and ignored here. A Ctrl-C meanwhile stays pending (Linux never discards a
    blocked signal) and reaches the client's own handler once it is put back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # multiprocessing's resource tracker, when the first worker starts it, unblocks SIGINT
    # in the thread that starts it: start it now, from here, before blocking
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@contextmanager
def _client(spec: DaskSpec) -> Iterator[Any]:
    """A connected Client (and the LocalCluster it runs on, for LOCAL); one-line errors."""
    import dask
    from dask.utils import parse_timedelta
    from distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.ERROR)  # its INFO lines are not ours
    timeout = parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"))
    if spec.scheduler == LOCAL:
        workers = spec.workers or os.cpu_count() or 1
        try:
            with _workers_ignore_interrupts():
                cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,  # one session per process: the GIL would serialise more
                    processes=True,
                    host="127.0.0.1",  # nothing of it is reachable from elsewhere
                    # its HTTP server (health, dashboard) on a free port: another cluster on this
                    # host may hold the default one (None still binds 8787, with a warning)
                    dashboard_address="127.0.0.1:0",
                    silence_logs=logging.ERROR,
                )
        except Exception as exc:  # noqa: BLE001 - one line (ports, resources)
            raise InputError(f"dask: cannot start a local cluster ({exc})") from None
        with cluster, Client(cluster, deserializers=DESERIALIZERS) as client:
            yield client
        return
    try:
        client = Client(spec.scheduler, deserializers=DESERIALIZERS, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - bad address, refused, timed out: one line
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"dask scheduler {spec.scheduler}: cannot connect ({why})") from None
    with client:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except Exception:  # noqa: BLE001 - dask's TimeoutError
            raise InputError(
                f"dask scheduler {spec.scheduler}: no worker joined within {timeout:g} s"
            ) from None
        yield client
