"""Headless Chromium for looking at the HTML report as a person would: Debian's
``chromium`` driven through its ``chromedriver`` (package chromium-driver, installed by
``make sysdeps``) with selenium (the dev extra). Nothing is downloaded: the driver path is
given, so selenium's own driver manager never runs.

    python -m tools.browser out/demo-report.html docs/report.png --width 1280 --height 2800 \
        --colors 64

writes a screenshot of the page (the README's picture of the report is made so, after
`make demo`; ``--colors`` keeps the PNG small with a palette of that many colours);
tests/test_report.py uses ``chromium()`` the same way.
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = ("chromium", "chromium-browser")
DRIVER = "chromedriver"


class BrowserUnavailable(Exception):
    """Chromium, its driver or selenium is missing (the message says which)."""


def _find(names: tuple[str, ...]) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found is None and Path("/usr/bin", name).exists():  # PATH without /usr/bin
            found = f"/usr/bin/{name}"
        if found:
            return found
    return None


@contextmanager
def chromium(width: int = 1400, height: int = 1800) -> Iterator[Any]:
    """A headless Chromium WebDriver (console messages kept for ``get_log("browser")``)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise BrowserUnavailable("selenium is not installed (pip install -e '.[dev]')") from None
    binary, driver = _find(CHROMIUM), _find((DRIVER,))
    if binary is None or driver is None:
        raise BrowserUnavailable(
            "chromium or chromedriver missing: `make sysdeps` installs Debian's chromium and "
            "chromium-driver (as root)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--hide-scrollbars", "--force-device-scale-factor=1",
                f"--window-size={width},{height}"):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        browser = webdriver.Chrome(service=Service(driver), options=options)
    except Exception as exc:  # noqa: BLE001 - whatever the driver says, one line
        raise BrowserUnavailable(f"chromium did not start: {str(exc).splitlines()[0]}") from None
    try:
        yield browser
    finally:
        browser.quit()


def screenshot(
    page: Path, png: Path, width: int = 1400, height: int = 1800, colors: int = 0
) -> None:
    with chromium(width, height) as browser:
        browser.get(page.resolve().as_uri())
        browser.save_screenshot(str(png))
    if colors:
        from PIL import Image

        image = Image.open(png).convert("RGB")
        image.quantize(colors=colors, method=Image.Quantize.MEDIANCUT).save(png, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="Screenshot a local HTML page.")
    parser.add_argument("page", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1800)
    parser.add_argument("--colors", type=int, default=0, help="palette size (0: full colour)")
    args = parser.parse_args()
    screenshot(args.page, args.png, args.width, args.height, args.colors)


if __name__ == "__main__":
    main()
