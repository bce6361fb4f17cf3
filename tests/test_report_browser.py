"""The HTML report opened in a real browser - Debian's headless Chromium, driven by selenium
through chromium-driver (tools/browser.py; `make sysdeps` installs both): the tables and
the three plots render with a size, the screenshot is not blank, the page logs no error
and runs no script, and a hostile agent from a capture shows as text. Skipped, saying why,
only where Chromium cannot be started."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from tests.conftest import PCAPS, REPO, run_cli
from tests.test_report import EVIL_AGENT, hostile_capture

# a few captures: miners with jobs and shares over time, one over TLS (no activity
# readable: its flow's span is drawn instead), and the hostile one
CAPTURES = ["cryptonote-xmrig.pcap", "stratum-v1-cgminer-btc.pcap",
            "ethstratum-nbminer-14444.pcap", "tls-xmrig-socks5-stratum-ssl.pcap",
            "stratum-v1-cpuminer-ltc-8080.pcap"]  # fmt: skip
OWNERS = REPO / "contrib" / "owners-example.csv"


def non_white(png: bytes) -> float:
    """The share of a screenshot's pixels that are not (nearly) white."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
    return float((pixels.min(axis=2) < 235).mean())


def test_the_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    from tools.browser import BrowserUnavailable, chromium

    captures = tmp_path / "in"
    captures.mkdir()
    for name in CAPTURES:
        shutil.copy(PCAPS / name, captures / name)
    hostile_capture(captures / "evil.pcap")
    page = tmp_path / "report.html"
    result = run_cli("report", str(captures), "--owners", str(OWNERS), "-o", str(page))
    assert result.rc == 0, result.err
    miners = int(result.err.split(" mining IPs")[0].rsplit(" ", 1)[1])
    assert miners == len(CAPTURES) + 1
    try:
        with chromium(1400, 1000) as browser:
            look(browser, page, miners, tmp_path / "report.png")
    except BrowserUnavailable as exc:
        pytest.skip(str(exc))


def look(browser, page: Path, miners: int, png: Path) -> None:
    """What a person would check on the page, as assertions."""
    browser.get(page.resolve().as_uri())
    run = browser.execute_script
    assert run("return document.readyState") == "complete"
    # no script on the page (the hostile agent included), nothing loaded from elsewhere
    assert run("return document.scripts.length") == 0
    assert run("return document.querySelectorAll('img, iframe, object, embed').length") == 0
    # tables: one row per miner, the summary and the entities there
    assert run("return document.querySelectorAll('#suspects tbody tr').length") == miners
    for ident in ("cards", "summary", "entities", "suspects"):
        size = run(f"const r = document.getElementById('{ident}').getBoundingClientRect();"
                   "return [r.width, r.height]")  # fmt: skip
        assert size[0] > 300 and size[1] > 30, (ident, size)
    cells = run("return [...document.querySelectorAll('#suspects td')].map(td => td.textContent)")
    assert EVIL_AGENT in cells  # shown as the text it is
    # the plots: inline SVG with drawn marks and a size, and not blank on screen
    for name in ("timeline", "entities", "coins"):
        svg = browser.find_element("css selector", f"#plot-{name} svg")
        assert svg.size["width"] > 500 and svg.size["height"] > 150, (name, svg.size)
        assert run("return arguments[0].querySelectorAll('path').length", svg) > 10
        run("arguments[0].scrollIntoView()", svg)
        assert non_white(svg.screenshot_as_png) > 0.02, name
    # the timeline draws jobs and shares where captures show them, spans where not
    timeline = run("return document.querySelector('#plot-timeline svg').textContent")
    assert "shares sent by the miner" in timeline and "evidence flow open" in timeline
    run("window.scrollTo(0, 0)")
    shot = browser.get_screenshot_as_png()
    png.write_bytes(shot)
    assert non_white(shot) > 0.05
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors
