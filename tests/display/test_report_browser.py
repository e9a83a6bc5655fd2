"""report.html in a real browser: the script runs without errors, filters work, the charts are drawn.

Needs Chromium (Debian: ``apt-get install -y chromium``); skipped only when no Chromium is installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from runner.display._report import write_report
from runner.display._svg import BAR_COLOR, PALETTE
from tests.benchmarks.report_scale import write_run_folder
from tests.display.costed_run import make_costed_run_folder
from tests.display.png import colour_counts
from tests.run_folder.crafted_run import make_run_folder

CHROMIUM = next(
    (found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))),
    None,
)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")


def _chromium(tmp_path: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
    ]
    return subprocess.run([CHROMIUM, *flags, *extra, url], capture_output=True, text=True, timeout=60)


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


@pytest.fixture
def report(tmp_path: Path) -> Path:
    make_run_folder(tmp_path / "run")
    return write_report(tmp_path / "run")


def test_report_script_runs_without_errors_and_filters_by_model_and_score(
    report: Path, tmp_path: Path
) -> None:
    shown = _chromium(tmp_path, report.as_uri(), "--dump-dom")
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "Uncaught" not in shown.stderr
    assert 'data-report-ready="80"' in shown.stdout
    assert "80 of 80 shown" in shown.stdout

    filtered = _chromium(tmp_path, report.as_uri() + "#model=openai/gpt-4o&score=match&min=1", "--dump-dom")
    assert "Uncaught" not in filtered.stderr
    visible = re.findall(r'<tr data-model="([^"]+)"(?![^>]*hidden)[^>]*>', filtered.stdout)
    assert visible == ["openai/gpt-4o"] * len(visible)
    matched = [
        line
        for line in (report.parent / "completed.jsonl").read_text().splitlines()
        if '"match": true' in line
    ]
    assert len(visible) == sum('"model_name": "gpt-4o"' in line for line in matched)
    assert f"{len(visible)} of 80 shown" in filtered.stdout


def test_report_screenshot_shows_the_charts(report: Path, tmp_path: Path) -> None:
    screenshot = tmp_path / "report.png"
    # Half-scale keeps the PNG small for the stdlib decoder; bar interiors keep their exact colour.
    options = (f"--screenshot={screenshot}", "--window-size=1400,1800", "--force-device-scale-factor=0.5")
    shot = _chromium(tmp_path, report.as_uri(), *options)
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert "Uncaught" not in shot.stderr
    counts = colour_counts(screenshot)
    assert counts[_rgb(BAR_COLOR)] > 3000  # score bars (and the first latency histogram)
    assert counts[_rgb(PALETTE[1])] > 100  # the second model's latency histogram
    failure_colours = [_rgb(PALETTE[(i + 3) % len(PALETTE)]) for i in range(4)]
    assert all(counts[colour] > 100 for colour in failure_colours)  # one per error type


def test_a_report_with_costs_runs_its_script_and_still_draws_every_chart(tmp_path: Path) -> None:
    make_costed_run_folder(tmp_path / "run", unpriced=True, budget=0.003, stopped=True, estimate=True)
    report = write_report(tmp_path / "run")
    shown = _chromium(tmp_path, report.as_uri(), "--dump-dom")
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "Uncaught" not in shown.stderr
    assert 'data-report-ready="80"' in shown.stdout
    assert 'id="cost-models"' in shown.stdout
    assert "the budget stopped the run" in shown.stdout

    screenshot = tmp_path / "costed.png"
    options = (f"--screenshot={screenshot}", "--window-size=1400,2800", "--force-device-scale-factor=0.5")
    shot = _chromium(tmp_path, report.as_uri(), *options)
    assert shot.returncode == 0, shot.stderr[-2000:]
    counts = colour_counts(screenshot)
    assert counts[_rgb(BAR_COLOR)] > 3000  # the score bars sit above the cost section
    assert counts[_rgb("#b00020")] > 20  # the budget's stop, in red
    failure_colours = [_rgb(PALETTE[(i + 3) % len(PALETTE)]) for i in range(4)]
    assert all(counts[colour] > 100 for colour in failure_colours)  # the charts below it too


def test_a_report_of_a_big_run_opens_without_errors(tmp_path: Path) -> None:
    write_run_folder(tmp_path / "run", 20_000)
    report = write_report(tmp_path / "run")
    shown = _chromium(tmp_path, report.as_uri(), "--dump-dom")
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "Uncaught" not in shown.stderr
    assert 'data-report-ready="800"' in shown.stdout
    assert "800 of 800 shown" in shown.stdout
