"""HTML reports without a browser: number formatting, results, escaping, certification, files.

Pages are rendered from hand-made sections (pure) or from runs written
straight into a real archive under ``tmp_path`` (no instruments); the CLI's
error paths run through ``labctl.cli.main`` and once as a real process.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from labctl.analysis.fitting import FitResult
from labctl.cli import main
from labctl.data.archive import Archive, RunInfo, RunMetadata
from labctl.errors import LabctlError
from labctl.report.certification import (
    CertificationError,
    parse_certification,
)
from labctl.report.formatting import format_quantity, format_uncertain
from labctl.report.html import Generator, render_page, write_report
from labctl.report.run_collect import RunProvenance, RunSection
from labctl.report.snapshot_summary import InstrumentRow

REPO = Path(__file__).resolve().parents[2]
BLOCKS = {"p", "li", "tr", "th", "td", "table", "section", "h1", "h2", "h3", "br", "figure",
          "figcaption", "summary", "nav"}
GENERATOR = Generator(code_version="labctl 0.1.0 (git abc123)", host="testhost",
                      python="CPython 3.11.0", time="2026-01-01T00:00:00+00:00")


# -- helpers -----------------------------------------------------------------------------


class Page(HTMLParser):
    """Collects the tags, attributes and visible text of a page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.open = ""
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self.open = tag
        if tag in BLOCKS:
            self.text.append(" ")

    def handle_data(self, data):
        if self.open not in ("style", "title"):     # the body's text only
            self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]

    @property
    def plain(self) -> str:
        """The text as a reader sees it: one space between cells, paragraphs, items."""
        return " ".join("".join(self.text).split())


def info(run_id: int = 7, **changes) -> RunInfo:
    values = dict(run_id=run_id, experiment="herald_rate", status="completed", blocks=2,
                  started="2026-01-01T00:00:00+00:00", ended="2026-01-01T00:01:00+00:00",
                  reason="2 blocks done", station_path="stations/two_node.yaml",
                  profile="sim", config={"alpha": 0.1, "blocks": 2},
                  code_version="labctl 0.1.0 (git abc123)", planned_blocks=2,
                  segments=(run_id,))
    values.update(changes)
    return RunInfo(**values)


def section(run_id: int = 7, result=None, plot: str | None = "plots/run-7.png",
            **changes) -> RunSection:
    values = dict(
        info=info(run_id), result=result, analysis_error=None, corrupt_blocks=(),
        plot=plot, plot_note="saved by the run" if plot else "no plot (none saved)",
        instruments=(InstrumentRow(name="node_a_laser", driver="drivers.x.Laser",
                                   node="node_a", role="excitation_laser",
                                   identity="Vendor L1", address="TCPIP0::1::SOCKET",
                                   key_values=(("power", "1 mW"),),
                                   parameters=(("power", "1 mW"), ("output", "yes"))),),
        instruments_note=None,
        provenance=RunProvenance("labctl 0.1.0 (git abc123)", "0.1.0", "abc123",
                                 "labpc", None))
    values.update(changes)
    return RunSection(**values)


@dataclass(frozen=True)
class RateResult:
    herald_rate_hz: float
    herald_rate_err_hz: float
    fidelity: float
    fidelity_err: float
    correlators: dict[str, float] = field(default_factory=dict)
    correlator_errors: dict[str, float] = field(default_factory=dict)
    heralds: int = 0


def certification_document(**stage_changes) -> dict:
    stages = {
        "quantum_memory": {"attained": None, "reason": "no memory run", "parameters": {},
                           "thresholds": {"storage_over_kt": 1.0}, "margin": None,
                           "runs": []},
        "prepare_and_measure": {"attained": True, "reason": "p above threshold",
                                "parameters": {"p": {"value": 0.812, "low": 0.798,
                                                     "high": 0.826}},
                                "thresholds": {"p": 0.5}, "margin": 0.298, "runs": [7]},
        "entanglement_distribution": {"attained": False, "reason": "F too low",
                                      "parameters": {"F": {"value": 0.45, "low": 0.41,
                                                           "high": 0.49}},
                                      "thresholds": {"F": 0.5}, "margin": -0.05,
                                      "runs": [7, 12]},
    }
    for name, changes in stage_changes.items():
        stages[name] = {**stages[name], **changes}
    return {"station": "stations/two_node.yaml", "profile": "sim",
            "stage": "prepare_and_measure", "stages": stages}


def make_run(archive: Archive, experiment: str = "herald_rate", heralds=(50.0, 51.0),
             status: str = "completed") -> int:
    """A run written straight into the archive: herald_rate's values, no instruments."""
    writer = archive.create_run(RunMetadata(
        experiment=experiment, config={"alpha": 0.1, "blocks": len(heralds),
                                       "block_seconds": 2.0},
        station_path=str(REPO / "stations" / "two_node.yaml"), profile="sim",
        station_snapshot={"instruments": {"node_a_laser": {
            "__class__": "drivers.newfocus_tlb6700.NewFocusTLB6700",
            "parameters": {"power": {"value": 0.001, "unit": "W"},
                           "output": {"value": True, "unit": ""}}}}},
        code_version="labctl 0.1.0 (git 0123456789ab)", planned_blocks=len(heralds)),
        ["seconds", "attempts", "heralds", "clicks"])
    for count in heralds:
        writer.append({"seconds": 2.0, "attempts": 363636.0, "heralds": count,
                       "clicks": count + 3}, {"channels": np.zeros(3, np.uint8)})
    writer.finish(status, f"{len(heralds)} blocks done")
    return writer.run_id


@pytest.fixture
def archive(tmp_path):
    with Archive(tmp_path / "data") as opened:
        yield opened


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# -- numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize("value, error, expected", [
    (0.8123, 0.0141, "0.812 ± 0.014"),
    (25.25, 2.512, "25.2 ± 2.5"),
    (0.5, 0.0996, "0.50 ± 0.10"),              # the error rounds up into the next decade
    (-0.0123, 0.0045, "-0.0123 ± 0.0045"),
    (358320.46, 3107.55, "(3.583 ± 0.031)×10⁵"),
    (8.99998e-06, 3.79e-11, "(8.999980 ± 0.000038)×10⁻⁶"),
    (0.75, None, "0.75"),
    (0.75, math.nan, "0.75"),
    (0.75, 0.0, "0.75"),
    (math.nan, 0.1, "—"),
    (None, None, "—"),
])
def test_uncertainties_keep_two_significant_digits(value, error, expected):
    assert format_uncertain(value, error) == expected


@pytest.mark.parametrize("value, error, unit, expected", [
    (1.0014398e-08, 8.49e-12, "s", "10.0144 ± 0.0085 ns"),
    (25.25, 2.512, "Hz", "25.2 ± 2.5 Hz"),
    (1.2e9, None, "Hz", "1.2 GHz"),
    (1.135541e-05, 7.99e-11, "A", "11.355410 ± 0.000080 µA"),
    (1588.0, None, "nm", "1588 nm"),            # not an SI base unit: no prefix
])
def test_quantities_take_an_si_prefix(value, error, unit, expected):
    assert format_quantity(value, error, unit) == expected


# -- results ------------------------------------------------------------------------------


def test_uncertainties_are_shown_next_to_their_values_not_as_rows():
    result = RateResult(herald_rate_hz=25.25, herald_rate_err_hz=2.512, fidelity=0.8123,
                        fidelity_err=0.0141, correlators={"XX": 0.81, "ZZ": -0.9},
                        correlator_errors={"XX": 0.052, "ZZ": 0.031}, heralds=101)
    page = Page(render_page([section(result=result)], None, GENERATOR))
    assert "herald_rate_hz 25.2 ± 2.5 Hz" in page.plain
    assert "fidelity 0.812 ± 0.014" in page.plain
    assert "XX 0.810 ± 0.052" in page.plain and "ZZ -0.900 ± 0.031" in page.plain
    assert "heralds 101" in page.plain
    for folded in ("herald_rate_err_hz", "fidelity_err", "correlator_errors"):
        assert folded not in page.plain


def test_a_fit_that_did_not_converge_is_marked_with_its_message():
    failed = FitResult(values={"frequency": math.nan, "pi_time": math.nan},
                       errors={"frequency": math.nan, "pi_time": math.nan},
                       converged=False, message="no significant signal: amplitude = 0.01 ± 0.02",
                       reduced_chi2=3.2, best_fit=np.zeros(3))
    fitted = FitResult(values={"frequency": 2.5e6}, errors={"frequency": 1.2e4},
                       converged=True, message="fitted", reduced_chi2=1.1,
                       best_fit=np.zeros(3))
    html = render_page([section(result={"experiment": "rabi", "fit": failed.to_dict()}),
                        section(run_id=8, result={"fit": fitted.to_dict()})], None, GENERATOR)
    page = Page(html)
    assert ("not converged: no significant signal: amplitude = 0.01 ± 0.02") in page.plain
    assert '<tr class="not-converged">' in html
    assert "frequency —" in page.plain and not re.search(r"\bnan\b", page.plain.lower())
    assert "fit status converged" in page.plain and "(2.500 ± 0.012)×10⁶" in page.plain


def test_records_become_a_table():
    result = {"points": [{"alpha": 0.1, "fidelity": 0.77, "fidelity_err": 0.01},
                         {"alpha": 0.2, "fidelity": 0.70, "fidelity_err": 0.008}],
              "chosen_alpha": 0.1}
    html = render_page([section(result=result)], None, GENERATOR)
    assert '<table class="records"><tr><th>alpha</th><th>fidelity</th></tr>' in html
    assert "<td>0.7000 ± 0.0080</td>" in html


def test_every_piece_of_text_is_escaped():
    evil = '<script>alert("x")</script> & <b>'
    document = certification_document(prepare_and_measure={"reason": evil})
    document["station"] = evil
    html = render_page(
        [section(info=info(experiment=evil, reason=evil, config={"label": evil}),
                 result={"message": evil, evil: 1.0}, analysis_error=None,
                 instruments_note=evil, plot=None, plot_note=evil)],
        parse_certification(document), GENERATOR)
    assert "<script" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;" in html
    page = Page(html)
    assert not page.all("script") and not page.all("b")
    assert page.plain.count(evil) >= 6


def test_the_page_has_no_scripts_and_no_external_resources():
    html = render_page([section(result={"x": 1.0})], parse_certification(
        certification_document()), GENERATOR)
    page = Page(html)
    assert not page.all("script") and not page.all("link")
    for attrs in page.all("img"):
        assert attrs["src"] == "plots/run-7.png"
    for attrs in page.all("a"):
        assert attrs["href"].startswith("#"), attrs
    assert "http://" not in html and "https://" not in html


def test_an_analysis_error_and_a_missing_plot_are_said_in_words():
    html = render_page([section(result=None, analysis_error="no measured time in this run",
                                plot=None, plot_note="no plot (rabi draws none)")],
                       None, GENERATOR)
    page = Page(html)
    assert "No analysis: no measured time in this run" in page.plain
    assert "no plot (rabi draws none)" in page.plain
    assert not page.all("img")


def test_provenance_says_what_the_run_did_not_record():
    page = Page(render_page([section(result={"x": 1.0})], None, GENERATOR))
    assert "git commit abc123" in page.plain and "host labpc" in page.plain
    assert "python not recorded with the run" in page.plain
    assert "CPython 3.11.0" in page.plain   # who wrote the report


# -- certification ------------------------------------------------------------------------


def test_certification_table_in_stage_order_with_links_to_reported_runs():
    certification = parse_certification(certification_document())
    assert [s.name for s in certification.stages] == [
        "prepare_and_measure", "entanglement_distribution", "quantum_memory"]
    html = render_page([section(run_id=7, result={"x": 1.0})], certification, GENERATOR)
    page = Page(html)
    assert "Highest stage attained: Prepare and measure" in page.plain
    rows = html.split('<table class="stages">')[1].split("</table>")[0].split("<tr")[2:]
    assert [r.split('id="stage-')[1].split('"')[0] for r in rows] == [
        "prepare_and_measure", "entanglement_distribution", "quantum_memory"]
    assert "attained" in rows[0] and "+0.298" in rows[0]
    assert "p = 0.812 [0.798, 0.826]" in rows[0] and "p: 0.5" in rows[0]
    assert "not attained" in rows[1] and "-0.05" in rows[1]
    assert "not testable" in rows[2] and "<td>—</td>" in rows[2]
    assert '<a href="#run-7">run 7</a>' in rows[1]
    assert "run 12" in rows[1] and 'href="#run-12"' not in html   # not in this report
    assert "Used by the certification of Prepare and measure, Entanglement distribution" \
        in page.plain


def test_a_link_level_certification_says_so_and_names_the_limiting_pair():
    document = certification_document(entanglement_distribution={"limiting": "node_a/node_c"})
    document.update(scope="link", note="link-level stage; a network stage needs ≥ 3 end nodes")
    certification = parse_certification(document)
    page = Page(render_page([], certification, GENERATOR))
    assert "Highest link-level stage attained: Prepare and measure" in page.plain
    assert "a network stage needs ≥ 3 end nodes" in page.plain
    assert "limited by node_a/node_c" in page.plain
    document["stages"]["entanglement_distribution"]["limiting"] = 3
    with pytest.raises(LabctlError, match=r"stages\.entanglement_distribution\.limiting"):
        parse_certification(document)


def test_no_stage_attained_is_said_plainly():
    document = certification_document()
    document["stage"] = "none"
    page = Page(render_page([], parse_certification(document), GENERATOR))
    assert "No stage attained" in page.plain


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("stages"), "key 'stages' must be an object"),
    (lambda d: d.update(station=3), "key 'station' must be a string"),
    (lambda d: d["stages"]["quantum_memory"].update(attained="yes"),
     "key 'stages.quantum_memory.attained' must be true, false or null"),
    (lambda d: d["stages"]["prepare_and_measure"]["parameters"]["p"].pop("low"),
     "key 'stages.prepare_and_measure.parameters.p.low' must be a number"),
    (lambda d: d["stages"]["prepare_and_measure"].update(margin="big"),
     "key 'stages.prepare_and_measure.margin' must be a number"),
    (lambda d: d["stages"]["prepare_and_measure"].update(runs=[7, "eight"]),
     "key 'stages.prepare_and_measure.runs' must be a list of run ids"),
    (lambda d: d["stages"]["prepare_and_measure"].update(thresholds={"p": None}),
     "key 'stages.prepare_and_measure.thresholds.p' must be a number"),
])
def test_a_malformed_certification_is_one_line_naming_the_key(change, message):
    document = certification_document()
    change(document)
    with pytest.raises(CertificationError) as error:
        parse_certification(document, "cert.json")
    assert str(error.value).startswith("cert.json: ") and message in str(error.value)
    assert "\n" not in str(error.value)


# -- writing a report from an archive --------------------------------------------------------


def test_a_missing_plot_is_drawn_again_without_touching_the_archive(archive, tmp_path):
    run_id = make_run(archive)
    index = write_report(archive, [run_id], tmp_path / "report")
    html = index.read_text(encoding="utf-8")
    page = Page(html)
    assert [a["src"] for a in page.all("img")] == [f"plots/run-{run_id}.png"]
    assert (tmp_path / "report" / "plots" / f"run-{run_id}.png").read_bytes()[:4] == b"\x89PNG"
    assert "drawn for this report" in page.plain
    assert not list((archive.root / "raw").rglob("*.png"))
    assert "herald_rate_hz 25.2 ± 2.5 Hz" in page.plain        # 101 heralds in 4 s
    assert "node_a_laser node_a excitation_laser" in page.plain  # from the station file
    assert "git commit 0123456789ab" in page.plain


def test_a_saved_plot_is_copied_and_an_unreadable_one_replaced(archive, tmp_path):
    run_id = make_run(archive)
    saved = archive.root / "raw" / f"run-{run_id}" / "herald_rate.png"
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_bytes(b"not a png at all")
    page = Page(write_report(archive, [run_id], tmp_path / "a").read_text(encoding="utf-8"))
    assert "drawn for this report" in page.plain
    copied = tmp_path / "a" / "plots" / f"run-{run_id}.png"
    assert copied.read_bytes()[:4] == b"\x89PNG"
    saved.write_bytes(copied.read_bytes())
    page = Page(write_report(archive, [run_id], tmp_path / "b").read_text(encoding="utf-8"))
    assert "saved by the run" in page.plain


def test_a_run_nothing_can_analyse_gets_no_plot(archive, tmp_path):
    run_id = make_run(archive, experiment="bespoke_scan")
    page = Page(write_report(archive, [run_id], tmp_path / "r").read_text(encoding="utf-8"))
    assert "No analysis: cannot analyse: no experiment named 'bespoke_scan'" in page.plain
    assert "no plot" in page.plain and not page.all("img")
    assert not (tmp_path / "r" / "plots" / f"run-{run_id}.png").exists()


def test_a_failure_while_writing_leaves_nothing_behind(archive, tmp_path, monkeypatch):
    run_id = make_run(archive)

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("labctl.report.html.render_page", broken)
    with pytest.raises(RuntimeError):
        write_report(archive, [run_id], tmp_path / "out" / "report")
    assert not (tmp_path / "out").exists()                    # parents it made are gone too
    assert leftovers(tmp_path) == []


def test_force_replaces_an_earlier_report_but_never_another_folder(archive, tmp_path):
    run_id = make_run(archive)
    target = tmp_path / "report"
    write_report(archive, [run_id], target)
    (target / "stale.txt").write_text("from before")
    with pytest.raises(LabctlError, match="exists and is not empty"):
        write_report(archive, [run_id], target)
    assert (target / "stale.txt").exists()
    write_report(archive, [run_id], target, force=True)
    assert not (target / "stale.txt").exists() and (target / "index.html").exists()
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("years of work")
    with pytest.raises(LabctlError, match="does not hold a report"):
        write_report(archive, [run_id], precious, force=True)
    assert (precious / "chapter1.tex").read_text() == "years of work"
    assert leftovers(tmp_path) == []


def test_an_empty_folder_is_used(archive, tmp_path):
    run_id = make_run(archive)
    (tmp_path / "empty").mkdir()
    assert write_report(archive, [run_id], tmp_path / "empty").is_file()


# -- the command line -----------------------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path) -> tuple[Path, int]:
    with Archive(tmp_path / "data") as opened:
        return tmp_path / "data", make_run(opened)


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    status = main(["report", *args])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("case, message", [
    ("unknown run", "no run 999"),
    ("out is a file", "is a file, not a folder"),
    ("parent is a file", "cannot create the folder"),
    ("not empty", "exists and is not empty (--force replaces it)"),
    ("certification not json", "is not valid JSON"),
    ("certification wrong", "key 'stages' must be an object"),
    ("certification missing", "cannot read the certification"),
    ("nothing", "nothing to report"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(data_dir, tmp_path, capsys, case,
                                                         message):
    root, run_id = data_dir
    out = tmp_path / "out" / "report"
    (tmp_path / "out").mkdir()
    args = [str(run_id), "--data-dir", str(root), "--out", str(out)]
    if case == "unknown run":
        args[0] = "999"
    elif case == "out is a file":
        out.write_text("a file")
    elif case == "parent is a file":
        (tmp_path / "out" / "file").write_text("a file")
        args[-1] = str(tmp_path / "out" / "file" / "report")
    elif case == "not empty":
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    elif case.startswith("certification"):
        certification = tmp_path / "cert.json"
        if case == "certification not json":
            certification.write_text('{"station": "x", ')
        elif case == "certification wrong":
            certification.write_text('{"station": "x", "profile": "sim", "stage": "none"}')
        args += ["--certification", str(certification)]
    elif case == "nothing":
        args = args[1:]
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "out").rglob("*"))
    status, stdout, stderr = run_cli(capsys, *args)
    assert status == 2 and stdout == ""
    assert stderr.count("\n") == 1 and message in stderr, stderr
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "out").rglob("*")) == before
    assert leftovers(tmp_path / "out") == []


def test_the_command_writes_a_report_and_replaces_it_with_force(data_dir, tmp_path):
    root, run_id = data_dir
    certification = tmp_path / "cert.json"
    certification.write_text(
        '{"station": "s", "profile": "sim", "stage": "prepare_and_measure", "stages": '
        '{"prepare_and_measure": {"attained": true, "reason": "ok", "parameters": {}, '
        f'"thresholds": {{}}, "margin": 0.1, "runs": [{run_id}]}}}}}}')
    command = [sys.executable, "-m", "labctl.cli", "report", str(run_id), "--data-dir",
               str(root), "--out", str(tmp_path / "report"), "--certification",
               str(certification)]
    first = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120,
                           check=False)
    assert first.returncode == 0, first.stderr
    index = Path(first.stdout.strip())
    assert index == tmp_path / "report" / "index.html"
    assert f'<a href="#run-{run_id}">run {run_id}</a>' in index.read_text(encoding="utf-8")
    again = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120,
                           check=False)
    assert again.returncode == 2 and "--force" in again.stderr
    forced = subprocess.run([*command, "--force"], cwd=REPO, capture_output=True, text=True,
                            timeout=120, check=False)
    assert forced.returncode == 0, forced.stderr
    assert leftovers(tmp_path) == []
