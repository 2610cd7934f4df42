"""The consoles' clock is the county's (`[county] timezone`, given by /api/consoles/meta), whatever
the browser's zone: clock times shown, and times sent with the county's offset (daylight saving too)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from consoles.http import STATIC_DIR
from tests.consoles.conftest import LiveServer, api, open_console, token
from tests.consoles.test_consoles_dispatcher import open_dispatcher, take_call_by_keyboard
from tests.dispatch.service_fixtures import make_config

BERLIN = ZoneInfo("Europe/Berlin")  # the browser runs in Asia/Shanghai (conftest): 6 or 7 hours apart
# zones with daylight saving north and south, half and quarter hours, and none
ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "America/St_Johns",
         "Pacific/Chatham", "Asia/Kathmandu", "Asia/Shanghai"]

ZONE_NAME = re.compile(r"\b(?:Africa|America|Antarctica|Asia|Atlantic|Australia|Europe|Indian|Pacific|Etc)/[A-Z]")
FIXED_OFFSET = re.compile(r"(?:UTC|GMT)\s*[+-]\s*\d|[+-](?:0\d|1[0-4]):[0-5]\d\b")


def test_no_console_file_names_a_zone_or_an_offset():
    # the zone is the service's: any zone or offset written into a page would ignore [county] timezone
    found = []
    for path in sorted(STATIC_DIR.rglob("*")):
        if "vendor" in path.parts or path.suffix not in {".js", ".html", ".css"}:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if ZONE_NAME.search(line) or FIXED_OFFSET.search(line):
                found.append(f"{path.relative_to(STATIC_DIR)}:{n}: {line.strip()}")
    assert found == []


@pytest.fixture
def berlin(tmp_path: Path) -> Iterator[LiveServer]:
    warnings.simplefilter("ignore")  # the tiny county's spur is dropped with a warning
    config = make_config(tmp_path)
    config["county"]["timezone"] = "Europe/Berlin"
    live = LiveServer(config)
    live.start()
    try:
        yield live
    finally:
        live.stop()


def seconds_of_day(text: str) -> int:
    h, m, s = (int(x) for x in text.split(":"))
    return h * 3600 + m * 60 + s


@pytest.mark.integration
def test_the_dispatcher_console_shows_and_sends_the_countys_time(browser, berlin):
    console = open_console(browser)
    try:
        page = open_dispatcher(console, berlin)
        shown = page.locator("#clock").inner_text()
        now = datetime.now(BERLIN)
        apart = abs(seconds_of_day(shown) - (now.hour * 3600 + now.minute * 60 + now.second))
        assert min(apart, 86400 - apart) <= 5, f"clock shows {shown}, Berlin is {now:%H:%M:%S}"
        # symptom onset 20 minutes ago, typed on the county's clock (after midnight: yesterday's date)
        onset = (now - timedelta(minutes=20)).replace(second=0, microsecond=0)
        page.locator("#onset").fill(f"{onset:%H:%M}")
        with page.expect_request(lambda r: r.url.endswith("/api/calls") and r.method == "POST") as created:
            take_call_by_keyboard(page)
        sent = created.value.post_data_json["symptom_onset"]
        assert datetime.fromisoformat(sent) == onset
        offset = onset.strftime("%z")
        assert sent.endswith(f"{offset[:3]}:{offset[3:]}"), sent
        item = page.locator("#calls li[data-call]")
        item.wait_for()
        call_id = item.get_attribute("data-call")
        status, call = api(berlin, "GET", f"/api/calls/{call_id}", "dispatcher")
        assert status == 200, call
        assert datetime.fromisoformat(call["symptom_onset"]) == onset
        received = datetime.fromisoformat(call["received_at"]).astimezone(BERLIN)
        assert item.locator(".id").inner_text() == f"{call_id} · {received:%H:%M}"
        console.assert_clean()
    finally:
        console.page.context.close()


def offset_changes(tz: ZoneInfo, start: datetime, end: datetime) -> Iterator[datetime]:
    """Yield the instants (to the second) where ``tz``'s offset changes between ``start`` and ``end``."""
    t = start
    while t < end:
        nxt = t + timedelta(hours=1)
        if t.astimezone(tz).utcoffset() != nxt.astimezone(tz).utcoffset():
            lo, hi = t, nxt  # the offset changes in (lo, hi]
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                lo, hi = (mid, hi) if mid.astimezone(tz).utcoffset() == lo.astimezone(tz).utcoffset() else (lo, mid)
            yield hi.replace(microsecond=0)
        t = nxt


def instants_ms() -> list[int]:
    """Instants over three years, and around every offset change of the zones tested, in ms."""
    start, end = datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2027, 1, 1, tzinfo=timezone.utc)
    out = {int((start + timedelta(hours=37 * i, milliseconds=123 * i)).timestamp() * 1000) for i in range(720)}
    for name in ZONES:
        for edge in offset_changes(ZoneInfo(name), start, end):
            ms = int(edge.timestamp() * 1000)
            out.update(ms + d for d in (-1_800_000, -1000, -1, 0, 1, 1000, 1_800_000))
    return sorted(out)


def in_browser(page: Any, zone: str, script: str, arg: Any) -> Any:
    """Run `script` (a function of format.js's module and `arg`) with format.js set to `zone`."""
    return page.evaluate(f"""async ([zone, arg]) => {{
        const f = await import("/static/common/format.js");
        f.setTimeZone(zone);
        return ({script})(f, arg); }}""", [zone, arg])


@pytest.mark.integration
@pytest.mark.parametrize("zone", ZONES)
def test_iso_times_carry_the_zones_offset_as_python_reckons_it(console, server, zone):
    console.page.goto(f"{server.url}/static/common/format.js")
    instants = instants_ms()
    got = in_browser(console.page, zone, "(f, ms) => ms.map((t) => f.isoLocal(new Date(t)))", instants)
    tz = ZoneInfo(zone)
    expected = [datetime.fromtimestamp(t / 1000, tz).isoformat(timespec="milliseconds") for t in instants]
    wrong = [(t, g, e) for t, g, e in zip(instants, got, expected) if g != e]
    assert wrong == []
    # a wall time on the zone's clock is the instant it names (one that happens twice: either one)
    walls = [datetime.fromtimestamp(t / 1000, tz) for t in instants]
    back = in_browser(console.page, zone, "(f, ws) => ws.map((w) => f.zonedTime(w).getTime())",
                      [{"year": w.year, "month": w.month, "day": w.day, "hour": w.hour, "minute": w.minute,
                        "second": w.second} for w in walls])
    for t, w, b in zip(instants, walls, back):
        twice = w.replace(fold=1 - w.fold).utcoffset() != w.utcoffset()
        ours = {int(w.replace(microsecond=0, fold=f).timestamp() * 1000) for f in ((0, 1) if twice else (w.fold,))}
        assert b in ours, (zone, t, w.isoformat())


@pytest.mark.integration
def test_a_time_said_today_crosses_the_daylight_saving_change(console, server):
    console.page.goto(f"{server.url}/static/common/format.js")

    def said(now: str, hhmm: str) -> str:
        ms = int(datetime.fromisoformat(now).timestamp() * 1000)
        return in_browser(console.page, "Europe/Berlin", "(f, [now, hhmm]) => f.isoLocal(f.todayAt(hhmm, now))",
                          [ms, hhmm])

    # 30 March 2025: clocks go from 02:00 (+01:00) to 03:00 (+02:00)
    assert said("2025-03-30T12:00:00+02:00", "01:30") == "2025-03-30T01:30:00.000+01:00"
    assert said("2025-03-30T12:00:00+02:00", "03:30") == "2025-03-30T03:30:00.000+02:00"
    assert said("2025-03-30T12:00:00+02:00", "02:30") == "2025-03-30T03:30:00.000+02:00"  # never shown: after
    # said after midnight, a time later than now is yesterday's
    assert said("2025-03-30T00:10:00+01:00", "23:40") == "2025-03-29T23:40:00.000+01:00"
    assert said("2025-10-27T00:10:00+01:00", "02:30") == "2025-10-26T02:30:00.000+01:00"
    assert said("2025-10-26T12:00:00+01:00", "01:30") == "2025-10-26T01:30:00.000+02:00"
