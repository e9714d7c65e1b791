"""Start Debian's chromium through Debian's chromedriver (selenium), with no network.

Nothing here downloads a browser or a driver: both must be installed
(``apt-get install chromium chromium-driver``, or ``make browser``). The browser runs
headless with a fresh profile, and every host name resolves to nothing, so a page that
tries to fetch anything over the network fails loudly in its console log.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["CHROMIUM", "CHROMEDRIVER", "missing_browser", "chromium", "NO_ALERT_JS"]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

#: Run before any page script: records alert/confirm/prompt calls in ``window.__alerts``.
NO_ALERT_JS = """
window.__alerts = [];
window.alert = function (m) { window.__alerts.push(String(m)); };
window.confirm = function (m) { window.__alerts.push(String(m)); return false; };
window.prompt = function (m) { window.__alerts.push(String(m)); return null; };
"""

_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--allow-file-access-from-files",
    # no network: every host name fails to resolve (loopback still works)
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost",
]


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or ``None`` when they can."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        return (
            f"needs Debian's chromium and chromium-driver ({', '.join(missing)} missing): "
            "apt-get install chromium chromium-driver (or `make browser`)"
        )
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "needs selenium: pip install selenium"
    return None


@contextmanager
def chromium(*, width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A headless chromium WebDriver with browser console logging and alert recording.

    Parameters
    ----------
    width, height
        Window size in CSS pixels.

    Yields
    ------
    selenium.webdriver.Chrome
        Quit (and its profile removed) on exit.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="facplan-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in _FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={profile}")
    opts.add_argument(f"--window-size={width},{height}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=opts)
    try:
        driver.set_page_load_timeout(60)
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": NO_ALERT_JS})
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
