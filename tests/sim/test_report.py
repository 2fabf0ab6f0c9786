"""HTML reports of real runs on the virtual lab, checked as files and in headless Chromium.

Two short runs go through the real engine on the simulated station (started
in-process): ``herald_rate`` (values per block) and ``snspd_bias_scan`` (a fit
and its PNG). The browser test loads the written page from ``file://`` in
headless Chromium driven by Selenium and checks what a reader sees: the
title, the run ids and numbers, and that every image loaded. It is skipped,
naming what is missing, where Chromium, chromedriver or Selenium is not
installed (``make browser`` installs the first two, ``make test`` runs it).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from experiments.calibrations import BiasScanConfig, SnspdBiasScan
from experiments.herald_rate import HeraldRate, HeraldRateConfig
from labctl.data.archive import Archive
from labctl.engine.runner import Engine
from labctl.report.formatting import format_quantity, format_uncertain
from labctl.report.html import write_report

REPO = Path(__file__).parents[2]
STATION = REPO / "stations" / "two_node.yaml"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: Flags that keep Chromium off the (closed) network and out of the user's profile.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync")


class Links(HTMLParser):
    """Every src and href of a page, and whether it has scripts."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.hrefs: list[str] = []
        self.scripts = 0
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        self.scripts += tag == "script"
        if "src" in found:
            self.sources.append(found["src"])
        if "href" in found:
            self.hrefs.append(found["href"])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An archive with a herald_rate run and an SNSPD bias scan; its root and outcomes."""
    root = tmp_path_factory.mktemp("archive")
    with Archive(root) as archive:
        engine = Engine(archive, progress=False)
        herald = engine.start(HeraldRate(HeraldRateConfig(blocks=2, block_seconds=2.0)),
                              STATION, "sim")
        scan = engine.start(SnspdBiasScan(BiasScanConfig()), STATION, "sim")
    assert herald.status == scan.status == "completed", (herald.reason, scan.reason)
    assert herald.plot and scan.plot and scan.result.converged, scan.result.message
    return {"root": root, "herald": herald, "scan": scan}


def certification(herald_id: int, scan_id: int) -> dict:
    return {"station": str(STATION), "profile": "sim", "stage": "prepare_and_measure",
            "stages": {
                "prepare_and_measure": {
                    "attained": True, "reason": "herald rate and detector efficiency suffice",
                    "parameters": {"p": {"value": 0.812, "low": 0.798, "high": 0.826}},
                    "thresholds": {"p": 0.5}, "margin": 0.298, "runs": [herald_id, scan_id]},
                "entanglement_distribution": {
                    "attained": None, "reason": "no entanglement run", "parameters": {},
                    "thresholds": {"F": 0.5}, "margin": None, "runs": [4242]}}}


@pytest.fixture(scope="module")
def report(runs, tmp_path_factory):
    """The report of both runs and a certification, written once for the module."""
    herald, scan = runs["herald"], runs["scan"]
    out = tmp_path_factory.mktemp("reports") / "link"
    with Archive(runs["root"]) as archive:
        index = write_report(archive, [herald.run_id, scan.run_id], out,
                             certification(herald.run_id, scan.run_id))
    return index


def test_the_report_folder_is_self_contained(runs, report):
    folder = report.parent
    html = report.read_text(encoding="utf-8")
    links = Links(html)
    assert links.scripts == 0
    assert len(links.sources) == 2
    for source in links.sources:
        assert not Path(source).is_absolute() and ".." not in Path(source).parts
        image = folder / source
        assert image.is_file() and image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", source
    assert all(href.startswith("#") for href in links.hrefs), links.hrefs
    assert "http://" not in html and "https://" not in html
    # the folder still works once moved elsewhere (zipped and mailed)
    moved = Path(tempfile.mkdtemp()) / "mailed"
    shutil.copytree(folder, moved)
    try:
        assert all((moved / source).is_file() for source in links.sources)
    finally:
        shutil.rmtree(moved.parent)


def test_the_report_shows_each_run_with_its_numbers_station_and_provenance(runs, report):
    herald, scan = runs["herald"], runs["scan"]
    html = report.read_text(encoding="utf-8")
    rate = format_quantity(herald.result.herald_rate_hz, herald.result.herald_rate_err_hz, "Hz")
    assert f"<td>{rate}</td>" in html
    efficiency = format_uncertain(scan.result.plateau_efficiency,
                                  scan.result.plateau_efficiency_err)
    assert f"<td>{efficiency}</td>" in html
    assert f'id="run-{herald.run_id}"' in html and f'id="run-{scan.run_id}"' in html
    assert "<td>excitation_laser</td>" in html and "<td>snspd</td>" in html   # roles
    assert "drivers.newfocus_tlb6700.NewFocusTLB6700" in html
    with Archive(runs["root"]) as archive:
        commit = archive.info(herald.run_id).code_version.partition("(git ")[2].rstrip(")")
    if commit:
        assert f"<td>{commit}</td>" in html
    assert "Highest stage attained: <strong>Prepare and measure</strong>" in html
    assert f'<a href="#run-{herald.run_id}">run {herald.run_id}</a>' in html
    assert "run 4242" in html and 'href="#run-4242"' not in html


def test_the_command_line_writes_the_same_report(runs, tmp_path):
    herald = runs["herald"]
    out = tmp_path / "cli-report"
    result = subprocess.run([sys.executable, "-m", "labctl.cli", "report", str(herald.run_id),
                             "--data-dir", str(runs["root"]), "--out", str(out), "--json"],
                            cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert f'"index": "{out / "index.html"}"' in result.stdout
    assert (out / "plots" / f"run-{herald.run_id}.png").is_file()


# -- in a browser ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium through Selenium; skipped, saying what is missing, where it cannot run."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        pytest.skip(f"browser test skipped: {' and '.join(missing)} not installed "
                    "(`make browser` installs the Debian packages chromium and chromium-driver)")
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="browser test skipped: selenium is not installed "
                                     "(pip install -e '.[dev]')")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="labctl-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1280,1024"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                              options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_the_report_renders_in_headless_chromium(runs, report, browser):
    from selenium.webdriver.common.by import By

    herald, scan = runs["herald"], runs["scan"]
    browser.get(report.as_uri())
    assert browser.title.startswith("labctl report: certification of ")
    assert f"run {herald.run_id} (herald_rate)" in browser.title
    assert f"run {scan.run_id} (snspd_bias_scan)" in browser.title
    text = browser.find_element(By.TAG_NAME, "body").text
    assert f"Run {herald.run_id}: herald_rate" in text
    assert f"Run {scan.run_id}: snspd_bias_scan" in text
    rate = format_quantity(herald.result.herald_rate_hz, herald.result.herald_rate_err_hz, "Hz")
    assert rate in text
    assert "Highest stage attained: Prepare and measure" in text
    assert "not testable" in text
    images = browser.execute_script(
        "return Array.from(document.images).map("
        "  i => [i.getAttribute('src'), i.complete, i.naturalWidth]);")
    assert len(images) == 2, images
    for source, complete, width in images:
        assert complete and width > 0, f"{source} did not load"
    anchor = browser.find_element(By.CSS_SELECTOR, f'a[href="#run-{herald.run_id}"]')
    anchor.click()
    assert browser.current_url.endswith(f"#run-{herald.run_id}")
