"""Every request a console sends to change something carries an Idempotency-Key, one per action:
the same key when the action is sent again after a network failure, a new one for the next action."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.consoles.conftest import token
from tests.consoles.test_consoles_dispatcher import open_dispatcher, take_call_by_keyboard
from tests.consoles.test_consoles_pages import call_with_unit

pytestmark = [pytest.mark.integration]

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
CHANGES = {"POST", "PUT", "PATCH", "DELETE"}


class Sent:
    """The requests a page sent that change something, with their Idempotency-Key."""

    def __init__(self, page: Any) -> None:
        self.requests: list[tuple[str, str, str | None]] = []
        page.on("request", lambda r: self.requests.append((r.method, r.url, r.headers.get("idempotency-key")))
                if r.method in CHANGES else None)

    def keys(self, path_end: str) -> list[str | None]:
        return [key for _, url, key in self.requests if url.endswith(path_end)]

    def assert_all_keyed(self) -> None:
        assert self.requests, "no request changed anything"
        unkeyed = [(m, u) for m, u, key in self.requests if key is None or not UUID4.match(key)]
        assert unkeyed == []


def lose_the_first_answer(method: str):
    """A route handler that lets the first ``method`` request reach the service and drops its answer."""
    lost: list[Any] = []

    def handler(route: Any) -> None:
        if route.request.method != method or lost:
            route.continue_()
            return
        lost.append(route.fetch())  # the service did it; the page never hears
        route.abort("connectionreset")
    return handler


def test_the_dispatchers_actions_carry_one_key_each_and_a_retry_the_same(console, server):
    page = open_dispatcher(console, server)
    sent = Sent(page)
    page.route("**/api/calls", lose_the_first_answer("POST"))
    page.keyboard.press("F2")
    page.keyboard.type("longtian")
    page.wait_for_selector("#search-results li")
    page.keyboard.press("Enter")
    page.wait_for_selector("#location.set")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector(".toast.error")  # no answer: the dispatcher takes the same call again
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#recs-list li")
    first, again = sent.keys("/api/calls")
    assert first == again
    assert len(server.service.state.calls) == 1  # the service took it once
    page.keyboard.press("Enter")  # send the first unit
    page.wait_for_selector("#recs", state="hidden")
    call_id = page.locator("#calls li[data-call]").get_attribute("data-call")
    page.once("dialog", lambda d: d.accept("误报"))
    page.locator(f"#calls li[data-call='{call_id}'] button[data-op='cancel']").click()
    page.wait_for_function("() => !document.querySelector('#calls li[data-call]')")
    assert server.service.state.calls[call_id].status.value == "cancelled"
    sent.assert_all_keyed()
    keys = [sent.keys("/api/calls")[0], *sent.keys("/assign"), *sent.keys("/cancel")]
    assert len(keys) == 3 and len(set(keys)) == 3  # three actions, three keys


def test_a_crew_fix_sent_again_after_a_network_failure_keeps_its_key(phone, server):
    call_with_unit(server, "centre-1")
    page = phone.page
    sent = Sent(page)
    failed: list[str] = []

    def fail_first(route: Any) -> None:
        if failed:
            route.continue_()
        else:
            failed.append(route.request.headers["idempotency-key"])
            route.abort("internetdisconnected")

    page.route("**/api/units/*/positions", fail_first)
    page.goto(f"{server.url}/crew?token={token('crew_centre1')}")
    page.wait_for_selector("#status[data-status='dispatched']")
    page.wait_for_selector("#gps.ok", timeout=20000)  # the second send got through
    page.locator("#status-buttons button[data-op='accept']").click()
    page.wait_for_selector("#status[data-status='en_route']")
    fixes = sent.keys("/positions")
    assert fixes[:2] == [failed[0], failed[0]]
    sent.assert_all_keyed()
    assert sent.keys("/accept")[0] not in fixes


def test_without_crypto_random_uuid_the_keys_are_still_random_uuids(console, server):
    # crypto.randomUUID is only given to secure contexts: a console opened over plain http on the LAN
    console.page.context.add_init_script("Object.defineProperty(Crypto.prototype, 'randomUUID', { value: undefined })")
    page = open_dispatcher(console, server)
    sent = Sent(page)
    take_call_by_keyboard(page)
    page.keyboard.press("Enter")
    page.wait_for_selector("#recs", state="hidden")
    sent.assert_all_keyed()
    assert len({key for _, _, key in sent.requests}) == 2
    console.assert_clean()
