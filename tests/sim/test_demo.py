"""`labctl demo` (what `make demo` runs): the whole simulated bring-up ends in a certified
stage and a report whose page renders, every plot loading, in headless Chromium."""

from __future__ import annotations

import pytest

from tests.sim.test_report import browser  # noqa: F401 - the headless Chromium fixture


@pytest.mark.xdist_group("demo")   # one worker runs each profile's demo once
def test_the_demo_certifies_the_link_and_writes_a_report_that_renders(demo_of, browser):  # noqa: F811
    demo = demo_of("sim")
    out, completed = demo.report, demo.completed
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = completed.stdout.strip().splitlines()
    assert lines[-2].startswith("link-level stage: "), completed.stdout   # two end nodes
    stage = lines[-2].removeprefix("link-level stage: ")
    assert stage in ("none", "prepare_and_measure", "entanglement_distribution",
                     "quantum_memory")
    assert lines[-1] == f"report: {out / 'index.html'}"
    for step in ("snspd_bias_scan", "alpha_sweep", "entanglement", "bell_test",
                 "memory_robustness", "prepare_measure"):
        assert step in completed.stderr, step

    browser.get((out / "index.html").as_uri())
    from selenium.webdriver.common.by import By

    text = browser.find_element(By.TAG_NAME, "body").text
    for step in ("snspd_bias_scan", "hom", "alpha_sweep", "bell_test", "ramsey",
                 "memory_robustness", "readout_fidelity", "prepare_measure"):
        assert step in text, step
    images = browser.execute_script(
        "return Array.from(document.images).map("
        "  i => [i.getAttribute('src'), i.complete, i.naturalWidth]);")
    assert len(images) >= 14, images          # one plot per run
    for source, complete, width in images:
        assert complete and width > 0, f"{source} did not load"
