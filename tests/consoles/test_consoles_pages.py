"""The crew phone page, the center board and the planner page in Chromium."""

from __future__ import annotations

import pytest

from tests.consoles.conftest import api, token

pytestmark = [pytest.mark.integration]

INSIDE = {"lon": 112.121, "lat": 28.001}


def call_with_unit(server, unit_id, complaint="chest_pain"):
    """Take a call and send ``unit_id`` to it (with a reason when it is not the recommended one)."""
    status, data = api(server, "POST", "/api/calls", "dispatcher",
                       {"location": INSIDE, "complaint": complaint, "priority": 1, "place_name": "流沙河镇卫生院旁",
                        "caller_phone": "13800000120", "notes": "男，58岁，胸痛30分钟"})
    assert status == 201, data
    status, data2 = api(server, "POST", f"/api/calls/{data['id']}/assign", "dispatcher",
                        {"unit_id": unit_id, "reason": "测试：指定车辆"})
    assert status == 200, data2
    return data["id"]


def test_crew_page_follows_the_status_machine_and_sends_gps(phone, server):
    call_id = call_with_unit(server, "centre-1")
    page = phone.page
    page.goto(f"{server.url}/crew?token={token('crew_centre1')}")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("#job:not(.hidden) #job-address:text('流沙河镇卫生院旁')")
    assert page.locator("#status").get_attribute("data-status") == "dispatched"
    assert call_id in page.locator("#job-id").inner_text()
    page.wait_for_function("() => document.querySelector('#job-eta').textContent.includes(':')")
    # dispatched: accept or decline only
    assert page.locator("#status-buttons button").all_inner_texts() == ["接受任务", "拒绝"]
    phone.shot("crew-dispatched")
    page.locator("#status-buttons button[data-op='accept']").click()
    page.wait_for_selector("#status[data-status='en_route']")
    assert page.locator("#status-buttons button").all_inner_texts() == ["到达现场"]
    page.locator("#status-buttons button[data-status='on_scene']").click()
    page.wait_for_selector("#status[data-status='on_scene']")
    assert server.service.state.units["centre-1"].status.value == "on_scene"
    labels = page.locator("#status-buttons button").all_inner_texts()
    assert "转运途中" in labels and "到达现场" not in labels
    # the phone's position reaches the service
    page.wait_for_selector("#gps.ok", timeout=15000)
    position = server.service.positions.get("centre-1")
    assert position is not None and position[0] == pytest.approx((112.1205, 28.0005), abs=1e-6)
    assert page.locator("#milestones button").count() == 7
    phone.shot("crew-on-scene")
    phone.assert_clean()


def test_crew_decline_needs_a_reason(phone, server):
    call_with_unit(server, "liushahe-1")
    page = phone.page
    page.goto(f"{server.url}/crew?token={token('crew_liushahe')}")
    page.wait_for_selector("#status[data-status='dispatched']")
    page.locator("#status-buttons button[data-op='decline']").click()
    page.locator("#decline-reason").fill("车辆故障")
    page.locator("#decline button[type=submit]").click()
    page.wait_for_selector("#status[data-status='available_at_station']")
    page.wait_for_selector("#no-assignment:not(.hidden)")
    phone.assert_clean()


def test_center_board_shows_the_incoming_patient(console, server):
    call_id = call_with_unit(server, "centre-2")
    page = console.page
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{server.url}/center?token={token('center_renmin')}")
    page.wait_for_selector("body[data-ready='1']")
    card = page.locator(f"article.card[data-call='{call_id}']")
    card.wait_for()
    assert page.locator("#hospital-name").inner_text() == "宁乡市人民医院"
    assert "胸痛" in card.inner_text() and "centre-2" in card.inner_text()
    page.wait_for_function(f"() => document.querySelector('[data-eta=\"{call_id}\"]').textContent.includes(':')")
    assert "呼救至今" in card.locator(".timers").inner_text()
    console.shot("center-incoming")
    console.assert_clean()


def test_planner_lists_layouts_and_their_stations(console, server):
    page = console.page
    page.goto(f"{server.url}/planner?token={token('planner')}")
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("#layouts label").count() == 2
    assert page.locator("#stations tr[data-station]").count() == 3  # 1+5+N: centre, liushahe, longtian-point
    assert page.locator(".leaflet-marker-icon[data-station]").count() == 3
    page.locator("#layouts input[value='centralized']").check()
    assert page.locator("#stations tr[data-station]").count() == 1
    console.shot("planner-layouts")
    console.assert_clean()


def test_signin_form_refuses_a_bad_token(console, server):
    page = console.page
    page.goto(f"{server.url}/crew")
    page.wait_for_selector("#signin:not(.hidden)")
    page.fill("#signin input[name=token]", "not-a-token-at-all")
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#signin .signin-error:not(.hidden)")
    assert "令牌" in page.locator("#signin .signin-error").inner_text()
    console.shot("crew-signin-refused")


def test_crew_milestones_and_ecg_reach_the_center_board(phone, console, server, tmp_path):
    """The crew marks first ECG and STEMI, sends an ECG photo; the PCI center's board shows them and acknowledges."""
    call_id = call_with_unit(server, "centre-1")
    assert api(server, "POST", "/api/units/centre-1/accept", "crew_centre1", {})[0] == 200
    assert api(server, "POST", "/api/units/centre-1/status", "crew_centre1", {"status": "on_scene"})[0] == 200
    crew = phone.page
    crew.goto(f"{server.url}/crew?token={token('crew_centre1')}")
    crew.wait_for_selector("#status[data-status='on_scene']")
    crew.locator("#milestones button[data-kind='first_ecg']").click()
    crew.wait_for_selector("#milestones button[data-kind='first_ecg'].done")
    crew.locator("#milestones button[data-kind='stemi_suspected']").click()
    crew.wait_for_selector("#milestones button[data-kind='stemi_suspected'].done")
    ecg = tmp_path / "ecg.png"
    ecg.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(256))
    crew.locator("#ecg-file").set_input_files(str(ecg))
    crew.wait_for_selector("#milestones button[data-kind='ecg_transmitted'].done")
    phone.shot("crew-milestones")
    phone.assert_clean()

    board = console.page
    board.set_viewport_size({"width": 1920, "height": 1080})
    board.goto(f"{server.url}/center?token={token('center_renmin')}")
    card = board.locator(f"article.card[data-call='{call_id}']")
    card.wait_for()
    card.locator("button.ecg-open").first.wait_for()
    chips = card.locator(".chips").inner_text()
    assert "首份心电图" in chips and "疑似STEMI" in chips
    card.locator("button[data-kind='center_acknowledged']").click()
    card.locator("button[data-kind='center_acknowledged'].done").wait_for()
    status, patient = api(server, "GET", f"/api/calls/{call_id}/patient", "dispatcher")
    assert status == 200 and patient["destination"]["hospital_id"] == "renmin"
    assert {"first_ecg", "stemi_suspected", "ecg_transmitted", "center_acknowledged"} <= \
        {m["kind"] for m in patient["milestones"]}
    console.shot("center-prenotified")
    console.assert_clean()
