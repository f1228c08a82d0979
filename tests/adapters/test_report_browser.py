"""The replay report in a real browser: headless Chromium renders the charts and a screenshot.

Skips when no Chromium is installed (`scripts/install_chromium.sh` installs Debian's package).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import struct
import subprocess
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from alluse.adapters.policy_files import default_policy_dir, load_policy_dir
from alluse.adapters.report import write_report
from alluse.runtime.replay import Replay, ReplayParams

SAMPLE = Path(__file__).parents[1] / "fixtures" / "report" / "sample_result.json"
CHART_IDS = ("chart-twr", "chart-units", "chart-tree", "chart-protocol", "chart-premium")
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
    # one line per account with an index (roots in chart-twr, forked ones in chart-units) and per benchmark
    lines = sum(any(v is not None for v in s) for s in result["twr"]["series"].values())
    assert (lines + len(result["benchmarks"]), len(result["premium_weekly"])) == (
        len(re.findall(r'<path class="series', dom)), len(re.findall(r'<rect class="bar"', dom)))


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
                  equity={"dates": [], "series": {}}, twr={}, benchmarks={})
    page = write_report(result, tmp_path / "empty")
    dom = run_chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    assert list(CHART_IDS) == [c for c in ChartElements(dom).counts if c in CHART_IDS]
    assert len(CHART_IDS) == len(re.findall(r'<text class="empty"', dom))


@pytest.fixture(scope="module")
def replay_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The report of a real replay: six months at 10M, where GEN-ACC-001 forks twice."""
    result = Replay(load_policy_dir(default_policy_dir()),
                    ReplayParams(dt.date(2021, 1, 4), dt.date(2021, 6, 30), 10_000_000.0)).run()
    return write_report(result, tmp_path_factory.mktemp("replay-report")), result


def test_a_real_replay_report_is_screenshotted_in_chromium(
        replay_report: tuple[Path, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> None:
    """Screenshots of the top (accounts, benchmarks, the index chart) and of the whole page are
    kept under the test's temporary directory as artefacts to look at; both are real PNGs."""
    page, _ = replay_report
    shots = tmp_path_factory.mktemp("screenshots")
    sizes = []
    for name, height in (("report-top.png", 1400), ("report-full.png", 4200)):
        shot = shots / name
        run_chromium(shots, f"--screenshot={shot}", "--hide-scrollbars", f"--window-size=1280,{height}",
                     page.as_uri())
        data = shot.read_bytes()
        sizes.append((data[:8], struct.unpack(">II", data[16:24]), len(data) > 50_000))
    assert [(b"\x89PNG\r\n\x1a\n", (1280, 1400), True), (b"\x89PNG\r\n\x1a\n", (1280, 4200), True)] == sizes


def test_a_real_replay_report_marks_each_fork_on_the_parents_index(
        replay_report: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    """In the parsed DOM, chart-twr holds one fork marker per fork of a starting account and the
    units chart one strip title per fork."""
    page, result = replay_report
    dom = run_chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    twr = dom.split('id="chart-twr"', 1)[1].split("</svg>", 1)[0]
    units = dom.split('id="chart-units"', 1)[1].split("</svg>", 1)[0]
    roots = {a["id"] for a in result["accounts"] if a["parent"] is None}
    forks = [f for f in result["forks"] if f["parent"] in roots]
    assert (len(forks), len(result["forks"])) == (
        len(re.findall(r"<title>[^<]*: fork U\d+", twr)), len(re.findall(r'class="strip-title"', units)))
