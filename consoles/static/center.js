// A chest pain / stroke center's wall board: incoming patients with a live ETA, their complaint,
// pre-hospital ECG and milestones, timers against the audited targets, and the center's buttons.
//
// Patients: the calls units are working on (GET /api/units, any role, and each busy unit's
// GET /api/units/{id}/route, which carries its call and ETA; a center token cannot read /api/calls),
// with GET /api/centers/{hospital}/incoming laid over them when the service has it: destination,
// milestones, ECGs and the ETA to this hospital's door. A chest pain or stroke call whose
// destination is not chosen yet is shown as such.
import { t, applyStatic, langButton, onLangChange, label } from "./common/i18n.js";
import { loadMeta, signIn, toast, startClock, paintConnection, forgetToken } from "./common/api.js";
import { duration, since, timerClass, lonlat, esc, hhmm, clock, isoLocal } from "./common/format.js";

const POLL_MS = 5000;
const DETAIL_REFRESH_MS = 10000;
const BUSY = new Set(["dispatched", "en_route", "on_scene", "transporting", "at_hospital"]);
const CENTER_PATHWAY = { chest_pain: "stemi", stroke: "stroke" };
// The center's own milestones, per pathway (centers/milestones.py kinds).
const CENTER_BUTTONS = {
  stemi: ["center_acknowledged", "door_in", "stemi_diagnosed", "cathlab_activated", "cathlab_ready", "patient_in_lab", "wire_crossing", "balloon"],
  stroke: ["center_acknowledged", "door_in", "head_ct_start", "stroke_diagnosed", "needle", "puncture"],
  other: ["center_acknowledged", "door_in"],
};
// The interval shown (as "not started") before its first milestone, per pathway.
const HEADLINE = { stemi: "door_to_balloon", stroke: "stroke_door_to_needle" };
const PRIORITY_COLOUR = { 1: "#e5484d", 2: "#f08a24", 3: "#f2c230", 4: "#7c8796" };

const $ = (id) => document.getElementById(id);
const state = {
  meta: null,
  api: null,
  hospital: null,
  patients: new Map(), // call id -> { call, unit, eta_s, etaAt, etaKind, milestones, incoming }
  details: new Map(), // unit id -> { at, data }
  role: null,
  showAll: false,
  connection: "down",
};

const statusColour = (code) => state.meta.statuses.find((s) => s.code === code)?.colour || "#888";
const milestoneItem = (kind) => state.meta.milestones.find((m) => m.kind === kind) || { kind, label_zh: kind, label_en: kind };

async function main() {
  applyStatic();
  state.meta = await loadMeta();
  const { api, who } = await signIn("center", (w) => (["center", "dispatcher", "admin", "planner"].includes(w.role) ? null : t("error.forbidden", { msg: w.role })));
  state.api = api;
  state.role = who.role;
  $("app").classList.remove("hidden");
  startClock($("clock"));
  langButton($("lang"));
  $("signout").addEventListener("click", () => {
    forgetToken("center");
    location.reload();
  });
  $("show-all").addEventListener("change", (e) => {
    state.showAll = e.target.checked;
    render();
  });
  onLangChange(() => {
    paintConnection($("conn"), state.connection);
    render();
  });
  await chooseHospital(who);
  $("off").classList.toggle("hidden", state.meta.features.milestones);
  $("cards").addEventListener("click", onButton);
  await poll();
  setInterval(tick, 1000);
  document.body.dataset.ready = "1";
}

async function chooseHospital(who) {
  if (who.hospital) {
    state.hospital = { id: who.hospital, name: who.hospital_name || who.hospital };
  } else {
    // a dispatcher or admin watching a center's board: ?hospital=<id>, or pick one
    const county = await state.api.get("/api/geo/county?roads=major");
    const hospitals = county.hospitals.features.map((f) => f.properties);
    const wanted = new URL(location.href).searchParams.get("hospital");
    const first = hospitals.find((h) => h.id === wanted) || hospitals.find((h) => h.capabilities.includes("chest_pain_center")) || hospitals[0];
    state.hospital = first ? { id: first.id, name: first.name } : { id: "", name: "" };
    const pick = $("hospital-pick");
    pick.innerHTML = hospitals.map((h) => `<option value="${esc(h.id)}" ${h.id === state.hospital.id ? "selected" : ""}>${esc(h.name)}</option>`).join("");
    pick.classList.remove("hidden");
    pick.addEventListener("change", () => {
      const h = hospitals.find((x) => x.id === pick.value);
      state.hospital = { id: h.id, name: h.name };
      $("hospital-name").textContent = h.name;
      state.patients.clear();
      poll();
    });
  }
  $("hospital-name").textContent = state.hospital.name;
  document.title = `${state.hospital.name} · ${t("app.center")}`;
}

// -- data ---------------------------------------------------------------------------------------

function destinationOf(call) {
  const d = call.destination ?? call.destination_hospital_id ?? null;
  if (d == null) return null;
  return typeof d === "string" ? d : d.hospital_id ?? d.id ?? null;
}

async function poll() {
  try {
    const fromUnits = await pollUnits();
    const incoming = state.meta.features.incoming ? await pollIncoming() : new Map();
    state.patients = merge(fromUnits, incoming);
    state.connection = "poll";
  } catch (e) {
    state.connection = "down";
    toast(e.message, "error");
  }
  paintConnection($("conn"), state.connection, POLL_MS / 1000);
  render();
  setTimeout(poll, POLL_MS);
}

/** Patients coming to this hospital (their destination is set): milestones, ECGs, ETA to the door. */
async function pollIncoming() {
  const data = await state.api.get(`/api/centers/${encodeURIComponent(state.hospital.id)}/incoming`);
  return new Map((data.patients || []).map((p) => [p.call_id, p]));
}

/** Calls that units are working on, from GET /api/units and each unit's route (its call and ETA). */
async function pollUnits() {
  const { units } = await state.api.get("/api/units");
  const now = Date.now();
  const busy = units.filter((u) => u.current_call && BUSY.has(u.status));
  await Promise.all(
    busy.map(async (u) => {
      const known = state.details.get(u.id);
      if (known && known.data.call?.id === u.current_call && known.status === u.status && now - known.at < DETAIL_REFRESH_MS) return;
      const data = await state.api.get(`/api/units/${encodeURIComponent(u.id)}/route`);
      state.details.set(u.id, { at: Date.now(), status: u.status, data });
    }),
  );
  const out = new Map();
  for (const u of busy) {
    const detail = state.details.get(u.id);
    const call = detail?.data.call;
    if (!call || call.id !== u.current_call) continue;
    out.set(call.id, { call, unit: u, eta_s: detail.data.eta_s, etaAt: detail.at, etaKind: "call" });
  }
  return out;
}

/** One entry per call: the unit's view, with what the centers know of the patient laid over it. */
function merge(fromUnits, incoming) {
  const now = Date.now();
  const out = new Map();
  for (const [id, p] of fromUnits) out.set(id, { ...p, incoming: incoming.get(id) || null, milestones: [] });
  for (const [id, view] of incoming) {
    const entry = out.get(id) || {
      call: { id, complaint: view.complaint, priority: view.priority, received_at: null, location: null, place_name: null },
      unit: null,
      eta_s: null,
      etaAt: now,
      etaKind: "call",
    };
    entry.incoming = view;
    entry.milestones = view.milestones || [];
    if (view.eta_s != null) {
      entry.eta_s = view.eta_s;
      entry.etaAt = now;
      entry.etaKind = "hospital";
    }
    out.set(id, entry);
  }
  return out;
}

// -- rendering ----------------------------------------------------------------------------------

function visiblePatients() {
  return [...state.patients.values()]
    .filter((p) => {
      if (p.incoming) return true;
      const dest = destinationOf(p.call);
      if (dest) return dest === state.hospital.id;
      return state.showAll || p.call.complaint in CENTER_PATHWAY;
    })
    .sort((a, b) => a.call.priority - b.call.priority || (a.eta_s ?? 1e9) - (b.eta_s ?? 1e9));
}

function firstAt(milestones, kinds) {
  const times = milestones.filter((m) => kinds.includes(m.kind) && m.at && !m.retracted).map((m) => new Date(m.at).getTime());
  return times.length ? Math.min(...times) : null;
}

function render() {
  const patients = visiblePatients();
  $("count").textContent = patients.length;
  $("none").classList.toggle("hidden", patients.length > 0);
  $("cards").innerHTML = patients.map(card).join("");
  tick();
}

function card(p) {
  const { call, unit } = p;
  const pathway = CENTER_PATHWAY[call.complaint] || "other";
  const milestones = p.milestones || [];
  const chips = milestones.length
    ? milestones
        .filter((m) => m.at)
        .sort((a, b) => a.at.localeCompare(b.at))
        .map((m) => `<span class="chip">${esc(label(milestoneItem(m.kind)))}<b>${hhmm(m.at)}</b></span>`)
        .join("")
    : `<span class="muted">—</span>`;
  const ecgs = p.incoming?.ecg || [];
  const sent = milestones.filter((m) => m.kind === "ecg_transmitted").map((m) => m.at);
  const ecgHtml = ecgs.length
    ? ecgs.map((a, i) => `<button type="button" class="ecg-open" data-attachment="${esc(a.id)}" data-type="${esc(a.content_type)}">ECG ${i + 1}${sent[i] ? ` · ${hhmm(sent[i])}` : ""}</button>`).join(" ")
    : `<span class="muted">${esc(t("center.ecg.none"))}</span>`;
  const done = new Set(milestones.map((m) => m.kind));
  // A center records milestones of the patients coming to it (destination set); dispatchers of any.
  const on = state.meta.features.milestones && (Boolean(p.incoming) || state.role !== "center");
  const buttons = CENTER_BUTTONS[pathway]
    .map((k) => `<button type="button" data-call="${esc(call.id)}" data-kind="${k}" class="${done.has(k) ? "done" : ""}" ${on ? "" : "disabled"}>${esc(label(milestoneItem(k)))}</button>`)
    .join("");
  const destination = p.incoming
    ? ""
    : `<span class="muted">${esc(t("center.nodest"))}</span>`;
  const unitLine = unit
    ? `<span><i class="dot" style="background:${statusColour(unit.status)}"></i> ${esc(unit.id)} · ${esc(t(`status.${unit.status}`))}</span>`
    : "";
  return `<article class="card" data-call="${esc(call.id)}" style="--c:${PRIORITY_COLOUR[call.priority]}">
    <div class="top">
      <div class="eta"><div class="value" data-eta="${esc(call.id)}">—</div><div class="what" data-eta-what="${esc(call.id)}"></div></div>
      <div class="who">
        <div class="headline"><span class="badge p${call.priority}">${esc(t(`priority.${call.priority}`))}</span>${esc(t(`complaint.${call.complaint}`))}</div>
        <div class="place">${esc(call.place_name || (call.location ? lonlat(call.location) : "—"))}</div>
        <div class="meta">${unitLine}${call.received_at ? `<span>${esc(t("center.received"))} ${hhmm(call.received_at)}</span>` : ""}${call.symptom_onset ? `<span>${esc(t("center.onset"))} ${hhmm(call.symptom_onset)}</span>` : ""}<span class="mono">${esc(call.id)}</span>${destination}</div>
      </div>
    </div>
    <h3>${esc(t("center.timers"))}</h3>
    <div class="timers" data-timers="${esc(call.id)}"></div>
    <h3>${esc(t("center.milestones"))}</h3>
    <div class="chips">${chips}</div>
    <h3>${esc(t("center.ecg"))}</h3>
    <div class="ecg">${ecgHtml}</div>
    <div class="buttons">${buttons}</div>
  </article>`;
}

/** The timers of one patient: since the call and onset, then each audited interval of its pathway. */
function timers(p, now) {
  const rows = [];
  const { call } = p;
  if (call.received_at) rows.push({ name: t("center.since_call"), elapsed: since(call.received_at, now), target: null });
  if (call.symptom_onset) rows.push({ name: t("center.since_onset"), elapsed: since(call.symptom_onset, now), target: null });
  const pathway = CENTER_PATHWAY[call.complaint];
  const milestones = p.milestones || [];
  for (const d of state.meta.intervals) {
    if (!pathway || d.pathway !== pathway) continue;
    const start = firstAt(milestones, d.start);
    const end = firstAt(milestones, d.end);
    if (start == null) {
      if (HEADLINE[pathway] === d.code) rows.push({ name: label(d), elapsed: null, target: d.target_min * 60, pending: true });
      continue;
    }
    rows.push({ name: label(d), elapsed: ((end ?? now) - start) / 1000, target: d.target_min * 60, done: end != null });
  }
  return rows
    .map((r) => {
      const cls = r.target ? timerClass(r.elapsed, r.target) : "";
      const value = r.pending ? `<span class="pending">—</span>` : `<span class="${cls}">${duration(r.elapsed)}</span>${r.done ? " ✓" : ""}`;
      const target = r.target ? ` <small>/ ${esc(t("center.target", { m: r.target / 60 }))}</small>` : "";
      const bar = r.target ? `<div class="bar"><i class="${cls}" style="width:${Math.min(100, ((r.elapsed || 0) / r.target) * 100).toFixed(1)}%"></i></div>` : "";
      return `<div class="name${r.pending ? " pending" : ""}">${esc(r.name)}</div><div class="value">${value}${target}</div>${bar}`;
    })
    .join("");
}

function tick() {
  const now = Date.now();
  for (const p of state.patients.values()) {
    const id = CSS.escape(p.call.id);
    const etaEl = document.querySelector(`[data-eta="${id}"]`);
    if (!etaEl) continue;
    const what = document.querySelector(`[data-eta-what="${id}"]`);
    const doorIn = firstAt(p.milestones || [], ["door_in"]);
    if (p.unit?.status === "at_hospital" || doorIn) {
      etaEl.textContent = doorIn ? hhmm(new Date(doorIn)) : t("center.arrived");
      etaEl.className = "value arrived";
      what.textContent = t("center.arrived");
    } else if (p.eta_s != null) {
      etaEl.textContent = duration(Math.max(0, p.eta_s - (now - p.etaAt) / 1000));
      etaEl.className = "value";
      what.textContent = p.etaKind === "hospital" ? t("center.eta.hospital") : t("center.eta.scene");
    } else {
      etaEl.textContent = "—";
      etaEl.className = "value";
      what.textContent = t("center.eta.unknown");
    }
    const box = document.querySelector(`[data-timers="${id}"]`);
    if (box) box.innerHTML = timers(p, now);
  }
}

async function openEcg(button) {
  try {
    const response = await state.api.request("GET", `/api/attachments/${encodeURIComponent(button.dataset.attachment)}`, undefined, { raw: true });
    if (!response.ok) throw new Error(`ECG: HTTP ${response.status}`);
    const url = URL.createObjectURL(await response.blob());
    window.open(url, "_blank", "noopener");
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (err) {
    toast(err.message, "error");
  }
}

async function onButton(e) {
  const ecg = e.target.closest("button[data-attachment]");
  if (ecg) {
    openEcg(ecg);
    return;
  }
  const button = e.target.closest("button[data-kind]");
  if (!button) return;
  const at = isoLocal();
  const call = button.dataset.call;
  try {
    if (button.dataset.kind === "center_acknowledged" && state.meta.features.acknowledge && state.role !== "dispatcher") {
      await state.api.post(`/api/centers/${encodeURIComponent(state.hospital.id)}/acknowledge/${encodeURIComponent(call)}`, {});
    } else {
      await state.api.post(`/api/calls/${encodeURIComponent(call)}/milestones`, { kind: button.dataset.kind, at });
    }
    state.details.clear();
    toast(t("crew.recorded", { what: label(milestoneItem(button.dataset.kind)), time: clock(at) }), "ok");
  } catch (err) {
    toast(err.message, "error");
  }
}

main().catch((e) => {
  console.error(e);
  toast(e.message, "error");
});
