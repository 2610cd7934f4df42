// The crew's phone page: the unit's assignment (address, route, ETA), status buttons that follow the
// status machine, milestone buttons, and the phone's GPS sent every few seconds while it is open.
import { t, applyStatic, langButton, onLangChange, label } from "./common/i18n.js";
import { loadMeta, signIn, toast, paintConnection, forgetToken, ActionKey } from "./common/api.js";
import { Live } from "./common/live.js";
import { createMap, drawCounty, unitIcon, incidentIcon } from "./common/countymap.js";
import { duration, distance, lonlat, esc, hhmm, clock, isoLocal } from "./common/format.js";

const GPS_SEND_MS = 5000;
const ROUTE_REFRESH_MS = 15000;
// What a crew records on the way (centers/milestones.py kinds), in the order it happens.
const CREW_MILESTONES = ["first_medical_contact", "first_ecg", "ecg_transmitted", "stemi_suspected", "stroke_suspected", "scene_departed", "door_in"];
const PRIORITY_CLASS = (p) => `badge p${p}`;
// The work cycle's order: the buttons of the next statuses are laid out in it.
const STATUS_ORDER = ["en_route", "on_scene", "transporting", "at_hospital", "returning", "available_mobile", "available_at_station", "out_of_service"];
const HEADING = new Set(["dispatched", "en_route"]);

const $ = (id) => document.getElementById(id);
const state = {
  meta: null,
  api: null,
  live: null,
  unitId: null,
  route: null, // { data, at, callId, status }
  routeBusy: false,
  map: null,
  mapReady: null,
  layers: { route: null, unit: null, call: null },
  fix: null, // latest geolocation fix not yet sent
  fixKey: new ActionKey(), // a fix sent again after a network failure carries the same key
  sentAt: null,
  recorded: {}, // call id -> { kind: iso time } known recorded
  patient: null, // { callId, at, data } from GET /api/calls/{id}/patient
  patientBusy: false,
};

const statusColour = (code) => state.meta.statuses.find((s) => s.code === code)?.colour || "#888";
const unit = () => state.live?.units.get(state.unitId) || null;

async function main() {
  applyStatic();
  state.meta = await loadMeta();
  const { api, who } = await signIn("crew", (w) => (w.role === "crew" && w.unit ? null : t("error.forbidden", { msg: w.role })));
  state.api = api;
  state.unitId = who.unit;
  state.recorded = JSON.parse(localStorage.getItem(`ems.crew.recorded.${who.unit}`) || "{}");
  $("app").classList.remove("hidden");
  $("unit-id").textContent = who.unit;
  langButton($("lang"));
  $("signout").addEventListener("click", () => {
    forgetToken("crew");
    location.reload();
  });
  onLangChange(() => {
    if (state.live) paintConnection($("conn"), state.live.mode, 4);
    $("status-buttons").dataset.html = "";
    $("milestones").dataset.html = "";
    render();
  });
  $("decline").addEventListener("submit", (e) => {
    e.preventDefault();
    const reason = $("decline-reason").value.trim();
    if (reason) act(`/api/units/${encodeURIComponent(state.unitId)}/decline`, { reason });
  });
  $("decline-cancel").addEventListener("click", () => $("decline").classList.add("hidden"));
  $("ecg-file").addEventListener("change", uploadEcg);

  state.live = new Live(api, { websocket: state.meta.features.websocket, calls: false, pollMs: 4000 });
  state.live.addEventListener("mode", (e) => paintConnection($("conn"), e.detail, 4));
  state.live.addEventListener("change", render);
  state.live.start();
  startGps();
  setInterval(tickEta, 1000);
  document.body.dataset.ready = "1";
}

// -- assignment ---------------------------------------------------------------------------------

function render() {
  const u = unit();
  if (!u) return;
  const st = $("status");
  st.textContent = t(`status.${u.status}`);
  st.style.background = statusColour(u.status);
  st.dataset.status = u.status;
  renderStatusButtons(u);
  renderMilestones(u);
  maybeFetchRoute(u);
  maybeFetchPatient(u);
  renderJob(u);
}

/** The milestones recorded so far (by anyone, or stamped from the statuses): GET /api/calls/{id}/patient. */
function maybeFetchPatient(u, force = false) {
  if (!state.meta.features.patient || !u.current_call || state.patientBusy) return;
  const p = state.patient;
  if (!force && p && p.callId === u.current_call && Date.now() - p.at < ROUTE_REFRESH_MS) return;
  state.patientBusy = true;
  state.api
    .get(`/api/calls/${encodeURIComponent(u.current_call)}/patient`)
    .then((data) => {
      state.patient = { callId: u.current_call, at: Date.now(), data };
      const done = {};
      for (const m of data.milestones || []) if (m.at && !done[m.kind]) done[m.kind] = m.at;
      state.recorded[u.current_call] = { ...(state.recorded[u.current_call] || {}), ...done };
      renderMilestones(unit());
    })
    .catch((e) => toast(e.message, "error"))
    .finally(() => {
      state.patientBusy = false;
    });
}

function maybeFetchRoute(u) {
  const r = state.route;
  const stale = !r || r.callId !== u.current_call || r.status !== u.status || Date.now() - r.at > ROUTE_REFRESH_MS;
  if (!u.current_call) {
    state.route = null;
    return;
  }
  if (stale && !state.routeBusy) fetchRoute(u);
}

async function fetchRoute(u) {
  state.routeBusy = true;
  try {
    const data = await state.api.get(`/api/units/${encodeURIComponent(u.id)}/route`);
    state.route = { data, at: Date.now(), callId: u.current_call, status: u.status };
    renderJob(unit());
  } catch (e) {
    toast(e.message, "error");
    state.route = { data: null, at: Date.now(), callId: u.current_call, status: u.status };
  } finally {
    state.routeBusy = false;
  }
}

function renderJob(u) {
  const call = state.route?.callId === u.current_call ? state.route.data?.call : null;
  $("no-assignment").classList.toggle("hidden", Boolean(u.current_call));
  $("job").classList.toggle("hidden", !u.current_call);
  if (!u.current_call || !call) return;
  $("job-priority").className = PRIORITY_CLASS(call.priority);
  $("job-priority").textContent = t(`priority.${call.priority}`);
  $("job-complaint").textContent = t(`complaint.${call.complaint}`);
  $("job-id").textContent = `${call.id} · ${hhmm(call.received_at)}`;
  $("job-address").textContent = call.place_name || lonlat(call.location);
  $("job-coords").textContent = lonlat(call.location);
  $("job-caller").classList.toggle("hidden", !call.caller_phone);
  if (call.caller_phone) {
    $("job-phone").textContent = call.caller_phone;
    $("job-phone").href = `tel:${call.caller_phone.replace(/[^+\d]/g, "")}`;
  }
  $("job-notes").classList.toggle("hidden", !call.notes);
  $("job-notes-text").textContent = call.notes || "";
  $("eta-row").classList.toggle("hidden", !HEADING.has(u.status));
  $("job-distance").textContent = distance(state.route.data.distance_m);
  tickEta();
  drawJobMap(u, state.route.data);
}

function tickEta() {
  const u = unit();
  if (!u || !state.route?.data) return;
  const live = u.live_eta || (u.eta_s != null ? { eta_s: u.eta_s, at: state.route.at } : null);
  let left = null;
  if (live && live.at >= state.route.at) left = live.eta_s - (state.live.now() - live.at) / 1000;
  else if (state.route.data.eta_s != null) left = state.route.data.eta_s - (Date.now() - state.route.at) / 1000;
  $("job-eta").textContent = left != null ? duration(Math.max(0, left)) : "—";
}

async function drawJobMap(u, data) {
  if (!state.map) {
    state.map = createMap($("map"), { zoomControl: false, minZoom: 6 });
    state.mapReady = drawCounty(state.map, state.api, { roads: "major", places: true, fit: false }).catch((e) => toast(e.message, "error"));
  }
  await state.mapReady;
  for (const key of ["route", "call", "unit"]) {
    if (state.layers[key]) state.layers[key].remove();
    state.layers[key] = null;
  }
  const call = data.call;
  state.layers.call = L.marker([call.location.lat, call.location.lon], {
    icon: incidentIcon({ colour: "#e5484d", text: String(call.priority), pulse: false }),
    keyboard: false,
  }).addTo(state.map);
  const here = u.position || data.origin;
  if (here) {
    state.layers.unit = L.marker([here.lat, here.lon], {
      icon: unitIcon({ colour: statusColour(u.status), heading: u.heading_deg, label: esc(u.id), stale: false }),
      keyboard: false,
    }).addTo(state.map);
  }
  if (data.route) {
    state.layers.route = L.geoJSON(data.route, { interactive: false, style: { color: "#ffd166", weight: 5, opacity: 0.9 } }).addTo(state.map);
    state.map.fitBounds(state.layers.route.getBounds(), { padding: [24, 24], maxZoom: 16 });
  } else {
    state.map.setView([call.location.lat, call.location.lon], 15);
  }
}

// -- status -------------------------------------------------------------------------------------

function renderStatusButtons(u) {
  const box = $("status-buttons");
  const buttons = [];
  if (u.status === "dispatched") {
    buttons.push(`<button type="button" class="primary wide" data-op="accept">${esc(t("crew.accept"))}</button>`);
    buttons.push(`<button type="button" class="danger wide" data-op="decline">${esc(t("crew.decline"))}</button>`);
  }
  const next = (state.meta.transitions[u.status] || []).filter((s) => s !== "out_of_service").sort((a, b) => STATUS_ORDER.indexOf(a) - STATUS_ORDER.indexOf(b));
  for (const s of next) {
    // the usual next step (first in the work cycle) spans the row; an odd last one too
    const wide = next.length % 2 === 1 && (s === next[0]);
    buttons.push(`<button type="button" class="status-next${wide ? " wide" : ""}" style="--c:${statusColour(s)}" data-status="${s}">${esc(t(`status.${s}`))}</button>`);
  }
  const html = buttons.join("");
  if (box.dataset.html !== html) {
    box.innerHTML = html;
    box.dataset.html = html;
  }
  const oos = (state.meta.transitions[u.status] || []).includes("out_of_service");
  $("oos").innerHTML = oos ? `<button type="button" class="ghost" data-status="out_of_service">${esc(t("status.out_of_service"))}</button>` : "";
}

async function act(path, body) {
  try {
    await state.api.post(path, body);
    $("decline").classList.add("hidden");
    await state.live.refresh();
  } catch (e) {
    toast(e.message, "error");
  }
}

function onStatusClick(e) {
  const button = e.target.closest("button");
  if (!button) return;
  const base = `/api/units/${encodeURIComponent(state.unitId)}`;
  if (button.dataset.op === "accept") act(`${base}/accept`, {});
  else if (button.dataset.op === "decline") {
    $("decline").classList.remove("hidden");
    $("decline-reason").focus();
  } else if (button.dataset.status) {
    if (button.dataset.status === "out_of_service" && !confirm(t("crew.oos.confirm"))) return;
    act(`${base}/status`, { status: button.dataset.status });
  }
}
$("status-buttons").addEventListener("click", onStatusClick);
$("oos").addEventListener("click", onStatusClick);

// -- milestones ---------------------------------------------------------------------------------

function renderMilestones(u) {
  const on = state.meta.features.milestones;
  $("milestones-card").classList.toggle("hidden", !u.current_call);
  $("milestones-off").classList.toggle("hidden", on);
  if (!u.current_call) return;
  const done = state.recorded[u.current_call] || {};
  const byKind = Object.fromEntries(state.meta.milestones.map((m) => [m.kind, m]));
  const html = CREW_MILESTONES.filter((k) => byKind[k])
    .map((k) => {
      const at = done[k];
      const needsFile = k === "ecg_transmitted" && !state.meta.features.ecg_upload;
      return `<button type="button" data-kind="${k}" class="${at ? "done" : ""}" ${on && !needsFile ? "" : "disabled"}>${esc(label(byKind[k]))}${at ? `<small>✓ ${hhmm(at)}</small>` : ""}</button>`;
    })
    .join("");
  const box = $("milestones");
  if (box.dataset.html !== html) {
    box.innerHTML = html;
    box.dataset.html = html;
  }
}

async function recordMilestone(kind, extra = {}) {
  const u = unit();
  if (!u?.current_call) return;
  const at = isoLocal(state.live.now());
  try {
    await state.api.post(`/api/calls/${encodeURIComponent(u.current_call)}/milestones`, { kind, at, ...extra });
    state.recorded[u.current_call] = { ...(state.recorded[u.current_call] || {}), [kind]: at };
    localStorage.setItem(`ems.crew.recorded.${state.unitId}`, JSON.stringify(state.recorded));
    const item = state.meta.milestones.find((m) => m.kind === kind);
    toast(t("crew.recorded", { what: label(item), time: clock(at) }), "ok");
    renderMilestones(u);
    maybeFetchPatient(u, true);
  } catch (e) {
    toast(e.message, "error");
  }
}

$("milestones").addEventListener("click", (e) => {
  const button = e.target.closest("button[data-kind]");
  if (!button) return;
  if (button.dataset.kind === "ecg_transmitted") $("ecg-file").click();
  else recordMilestone(button.dataset.kind);
});

async function uploadEcg() {
  const file = $("ecg-file").files[0];
  const u = unit();
  if (!file || !u?.current_call) return;
  try {
    // the service stores the file and records "ECG transmitted" itself (PDF, PNG or JPEG, <= 5 MiB)
    await state.api.request("POST", `/api/calls/${encodeURIComponent(u.current_call)}/ecg`, file);
    const at = isoLocal(state.live.now());
    toast(t("crew.recorded", { what: label(state.meta.milestones.find((m) => m.kind === "ecg_transmitted")), time: clock(at) }), "ok");
    maybeFetchPatient(u, true);
  } catch (e) {
    toast(e.message, "error");
  } finally {
    $("ecg-file").value = "";
  }
}

// -- GPS ----------------------------------------------------------------------------------------

function paintGps(text, kind = "") {
  const el = $("gps");
  el.textContent = `${t("gps.title")}: ${text}`;
  el.className = `gps ${kind}`;
}

function startGps() {
  if (!state.meta.features.positions) {
    paintGps(t("gps.off"), "bad");
    return;
  }
  if (!("geolocation" in navigator)) {
    paintGps(t("gps.unsupported"), "bad");
    return;
  }
  paintGps(t("gps.waiting"));
  navigator.geolocation.watchPosition(
    (pos) => {
      state.fix = pos;
    },
    (err) => paintGps(err.code === err.PERMISSION_DENIED ? t("gps.denied") : err.message, "bad"),
    { enableHighAccuracy: true, maximumAge: 5000, timeout: 30000 },
  );
  setInterval(sendFix, GPS_SEND_MS);
  setTimeout(sendFix, 1000);
}

async function sendFix() {
  const pos = state.fix;
  if (!pos) return;
  state.fix = null;
  const c = pos.coords;
  const body = { lon: c.longitude, lat: c.latitude, timestamp: isoLocal(pos.timestamp) };
  if (Number.isFinite(c.accuracy)) body.accuracy_m = c.accuracy;
  if (Number.isFinite(c.speed)) body.speed_mps = c.speed;
  if (Number.isFinite(c.heading)) body.heading_deg = c.heading;
  try {
    const answer = await state.api.post(`/api/units/${encodeURIComponent(state.unitId)}/positions`, body, { action: state.fixKey });
    if (answer?.rejected?.length) paintGps(t("gps.failed", { msg: answer.rejected.map((r) => r.reason).join(", ") }), "bad");
    else paintGps(t("gps.sent", { time: clock(), acc: Math.round(c.accuracy ?? 0) }), "ok");
  } catch (e) {
    paintGps(t("gps.failed", { msg: e.message }), "bad");
    if (!state.fix) state.fix = pos; // try it again with the next tick
  }
}

main().catch((e) => {
  console.error(e);
  toast(e.message, "error");
});
