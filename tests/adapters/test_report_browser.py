"""The replay report in a real browser: headless Chromium renders the charts and a screenshot.

Skips when no Chromium is installed (`scripts/install_chromium.sh` installs Debian's package).
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

from alluse.adapters.report import write_report

SAMPLE = Path(__file__).parents[1] / "fixtures" / "report" / "sample_result.json"
CHART_IDS = ("chart-equity", "chart-tree", "chart-protocol", "chart-premium")
PLOTTED = ("path", "polyline", "rect", "circle", "line")
TIMEOUT = 60  # seconds per browser run: a hung Chromium fails the test instead of the whole session


def chromium() -> str:
    path = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")
    if path is None:
        pytest.skip("no chromium binary (run scripts/install_chromium.sh as root to install one)")
    return path


def run_chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Chromium offline and quiet: no sandbox (containers run as root), no GPU, QUIC or syncing."""
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp / 'profile'}", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"chromium did not finish within {TIMEOUT} s: {' '.join(command)}")
    assert (0, "") == (done.returncode, "" if done.returncode == 0 else done.stderr[-2000:])
    return done


class ChartElements(HTMLParser):
    """Counts the elements inside each `<svg id=…>` of a serialised DOM."""

    def __init__(self, dom: str) -> None:
        super().__init__()
        self.counts: dict[str, Counter[str]] = {}
        self._chart = ""
        self.feed(dom)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "svg":
            self._chart = dict(attrs).get("id") or ""
            self.counts[self._chart] = Counter()
        elif self._chart:
            self.counts[self._chart][tag] += 1

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._chart = ""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    result = json.loads(SAMPLE.read_text(encoding="utf-8"))
    return write_report(result, tmp_path_factory.mktemp("report"))


def test_rendered_dom_has_every_chart_with_plotted_elements(report: Path, tmp_path: Path) -> None:
    """After Chromium parses the page, each chart's SVG holds drawn paths, rects, circles or lines."""
    dom = run_chromium(tmp_path, "--dump-dom", report.as_uri()).stdout
    charts = ChartElements(dom).counts
    assert list(CHART_IDS) == [c for c in charts if c in CHART_IDS]
    plotted = {c: sum(charts[c][t] for t in PLOTTED) > 0 for c in CHART_IDS}
    assert dict.fromkeys(CHART_IDS, True) == plotted
    result = json.loads(SAMPLE.read_text(encoding="utf-8"))
    assert (len(result["equity"]["series"]), len(result["premium_weekly"])) == (
        len(re.findall(r'<path class="series"', dom)), len(re.findall(r'<rect class="bar"', dom)))


def test_page_triggers_no_content_security_policy_violation(report: Path, tmp_path: Path) -> None:
    """Chromium's console reports no blocked load: the page needs nothing outside itself."""
    done = run_chromium(tmp_path, "--enable-logging=stderr", "--dump-dom", report.as_uri())
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    assert [] == console
    assert "<title>alluse replay 2022-01-03 → 2024-12-31</title>" in done.stdout


def test_screenshot_is_a_full_size_non_trivial_png(report: Path, tmp_path: Path) -> None:
    """A 1280×2400 screenshot of the report is a PNG of more than 20 KB (tables and charts drawn)."""
    shot = tmp_path / "shot.png"
    run_chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2400", report.as_uri())
    data = shot.read_bytes()
    width, height = struct.unpack(">II", data[16:24])  # IHDR: the first chunk after the signature
    assert (b"\x89PNG\r\n\x1a\n", 1280, 2400, True) == (data[:8], width, height, len(data) > 20_000)


def test_empty_result_renders_in_the_browser_with_empty_chart_messages(tmp_path: Path) -> None:
    """A result with nothing to plot still loads; every chart says what is missing."""
    result = json.loads(SAMPLE.read_text(encoding="utf-8"))
    result.update(accounts=[], forks=[], merges=[], protocol_levels=[], premium_weekly=[],
                  equity={"dates": [], "series": {}})
    page = write_report(result, tmp_path / "empty")
    dom = run_chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    assert list(CHART_IDS) == [c for c in ChartElements(dom).counts if c in CHART_IDS]
    assert 4 == len(re.findall(r'<text class="empty"', dom))
