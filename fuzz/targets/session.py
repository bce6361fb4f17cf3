"""The whole capture path: a capture file read as ``detector/replay.py`` reads it
(``scan_capture``: reader, CaptureSession.feed, finish), through decode, the flow stage,
the payload feeder, the inspector and every dissector, enrich, scoring and suspects.

Crash: any exception (``scan_capture`` never raises for bad capture content: damage
becomes the report's error). Twin: the same scan with every compiled helper swapped for
its pure twin (as MINEWATCH_PURE=1) gives the same result - report, every flow's verdict
and facts, suspects, nodes, statistics (stage times aside).
Input: first byte picks the chunk size, the rest is the capture file.
"""

from __future__ import annotations

from fuzz import common

with common.instrumented():
    from detector.config import Detector, ScanConfig
    from detector.replay import scan_capture
    from detector.source.inputs import CaptureInput

CHUNKS = (512, 4096, 16 * 1024 * 1024)
DETECTOR = Detector.load(ScanConfig())


def scan(path: str, chunk: int) -> object:
    config = ScanConfig(keep_all_flows=True, chunk_size=chunk)
    result = scan_capture(CaptureInput(path, "?", False, float("inf")), config, DETECTOR)
    result.times = None  # wall-clock times differ from run to run
    return common.canon(result)


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    if not data:
        return
    chunk = CHUNKS[data[0] % len(CHUNKS)]
    with common.temp_file(data[1:]) as path:
        got = scan(path, chunk)
        if common.compiled_available():
            with common.pure():
                want = scan(path, chunk)
            assert got == want, "compiled and pure scans differ"


if __name__ == "__main__":
    common.main(TestOneInput)
