"""The planner page starts a simulation, follows it and shows its report, in Chromium."""

from __future__ import annotations

import pytest

from tests.consoles.conftest import api, open_console, token

pytestmark = [pytest.mark.integration]

RUN_LIMIT_MS = 180_000  # a bound so that a broken run cannot hang the suite, not a timing claim


@pytest.mark.slow
def test_planner_runs_a_short_comparison_and_reads_the_report(console, server):
    page = console.page
    page.goto(f"{server.url}/planner?token={token('planner')}")
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("#sim-off").is_hidden() and page.locator("#sim").is_visible()
    assert page.locator("#sim-runs li.empty").count() == 1
    assert page.locator("#sim-layouts input:checked").count() == 2

    # a bad value is answered in the form, nothing is sent
    page.fill("#sim-days", "400")
    page.click("#sim button[type=submit]")
    page.wait_for_selector("#sim-error:not(.hidden)")
    assert "365" in page.locator("#sim-error").inner_text()
    assert api(server, "GET", "/api/simulations", "planner")[1]["simulations"] == []

    page.fill("#sim-days", "1")
    page.fill("#sim-reps", "1")
    page.fill("#sim-seed", "3")
    page.click("#sim button[type=submit]")
    run = page.locator("#sim-runs li.run")
    run.first.wait_for()
    assert page.locator("#sim-error").is_hidden()
    run_id = run.first.get_attribute("data-run")
    console.shot("planner-sim-started")
    page.wait_for_selector(f"li.run[data-run='{run_id}'][data-status='done']", timeout=RUN_LIMIT_MS)
    done = page.locator(f"li.run[data-run='{run_id}']")
    assert done.locator("table.figures tr").count() == 3  # a header and one row per layout
    status, data = api(server, "GET", f"/api/simulations/{run_id}", "planner")
    assert status == 200 and data["status"] == "done" and data["seed"] == 3 and data["days"] == 1

    done.locator("button[data-op='report']").click()
    page.wait_for_selector("#report-pane:not(.hidden)")
    frame = page.frame_locator("#report-frame")
    frame.locator("h1").wait_for()
    assert " vs " in frame.locator("h1").inner_text()
    assert frame.locator("img").count() == 3
    page.wait_for_function("() => [...document.querySelector('#report-frame').contentDocument?.images ?? []]"
                           ".every((i) => i.complete && i.naturalWidth > 0)")
    console.shot("planner-sim-report")

    # the English switch relabels the panel, the report stays
    page.click("#lang")
    assert page.locator(f"li.run[data-run='{run_id}'] .run-status").inner_text() == "done"
    assert page.locator("#report-close").inner_text() == "Close report"
    page.click("#report-close")
    assert page.locator("#report-pane").is_hidden()
    console.shot("planner-sim-done-en")
    console.assert_clean()


def test_a_dispatcher_reads_runs_but_has_no_form(browser, server):
    c = open_console(browser)
    try:
        page = c.page
        page.goto(f"{server.url}/planner?token={token('dispatcher')}")
        page.wait_for_selector("body[data-ready='1']")
        assert page.locator("#sim").is_hidden() and page.locator("#sim-readonly").is_visible()
        assert "规划员" in page.locator("#sim-readonly").inner_text()
        assert page.locator("#sim-list").is_visible()
        c.assert_clean()
    finally:
        page.context.close()
