// The dispatcher console: take a call (map click or gazetteer search), read the ranked units, send
// one (or override with a reason), and watch calls, units, routes and ETAs live.
import { t, applyStatic, langButton, onLangChange } from "./common/i18n.js";
import { loadMeta, signIn, toast, startClock, paintConnection, forgetToken, ActionKey } from "./common/api.js";
import { Live } from "./common/live.js";
import { createMap, drawCounty, unitIcon, incidentIcon, pinIcon } from "./common/countymap.js";
import { duration, distance, age, since, timerClass, lonlat, esc, hhmm, isoLocal, todayAt } from "./common/format.js";

const ROUTED = new Set(["dispatched", "en_route"]);
const REACHED = new Set(["on_scene", "transporting", "at_hospital"]);
const ROUTE_REFRESH_MS = 30000;
const ROUTE_MIN_GAP_MS = 5000;
const PRIORITY_COLOUR = { 1: "#e5484d", 2: "#f08a24", 3: "#f2c230", 4: "#7c8796" };

const $ = (id) => document.getElementById(id);
const state = {
  meta: null,
  api: null,
  live: null,
  geo: null,
  map: null,
  intake: { location: null, placeName: null, complaint: "chest_pain", priority: 1 },
  selectedCall: null,
  recs: null, // { callId, list, unreachable, rankingId, notice }: the list shown
  override: null, // { recs, unitId }: the list and unit the override dialog is for
  // a retry of the same call or assignment after a network failure carries the same key
  intakeKey: new ActionKey(),
  assignKey: new ActionKey(),
  routes: new Map(), // unit id -> { callId, feature, eta_s, computedAt, fixAt, layer, busy }
  unitMarkers: new Map(),
  callMarkers: new Map(),
  pin: null,
  recRoute: null,
};

const statusColour = (code) => state.meta.statuses.find((s) => s.code === code)?.colour || "#888";
const staleAfterS = () => state.meta.gps.stale_after_s;

function unitIsStale(unit) {
  if (!unit.position_at) return false;
  if (unit.stale != null) return Boolean(unit.stale) || since(unit.position_at, state.live.now()) > staleAfterS();
  return since(unit.position_at, state.live.now()) > staleAfterS();
}

// -- boot --------------------------------------------------------------------------------------

async function main() {
  applyStatic();
  state.meta = await loadMeta();
  const { api, who } = await signIn("dispatcher", (w) => (w.may_dispatch ? null : t("error.forbidden", { msg: w.role })));
  state.api = api;
  $("app").classList.remove("hidden");
  $("who").textContent = who.name;
  startClock($("clock"));
  langButton($("lang"));
  $("signout").addEventListener("click", () => {
    forgetToken("dispatcher");
    location.reload();
  });
  $("help-btn").addEventListener("click", () => $("help").showModal());
  buildIntake();
  buildLegend();
  onLangChange(() => {
    buildIntake(true);
    buildLegend();
    if (state.live) paintConnection($("conn"), state.live.mode);
    if (state.recs) showRecs(state.recs);
    renderAll();
  });

  state.map = createMap($("map"));
  state.map.on("click", (e) => setLocation({ lon: e.latlng.lng, lat: e.latlng.lat }, null));
  try {
    state.geo = await drawCounty(state.map, api);
    $("map-note").dataset.i18n = "map.click";
    $("map-note").textContent = t("map.click");
    setTimeout(() => $("map-note").classList.add("hidden"), 6000);
  } catch (e) {
    delete $("map-note").dataset.i18n;
    $("map-note").textContent = t("map.failed", { msg: e.message });
    $("map-note").classList.add("banner", "error");
  }

  state.live = new Live(api, { websocket: state.meta.features.websocket, calls: true });
  state.live.addEventListener("mode", (e) => paintConnection($("conn"), e.detail));
  state.live.addEventListener("change", () => renderAll());
  state.live.start();
  setInterval(tick, 1000);
  document.addEventListener("keydown", onKey);
  document.body.dataset.ready = "1";
}

// -- intake ------------------------------------------------------------------------------------

function buildIntake(repaint = false) {
  const complaints = $("complaints");
  const priorities = $("priorities");
  complaints.innerHTML = state.meta.complaints
    .map((c) => `<label><input type="radio" name="complaint" value="${c}" ${c === state.intake.complaint ? "checked" : ""}><span>${esc(t(`complaint.${c}`))}</span></label>`)
    .join("");
  priorities.innerHTML = state.meta.priorities
    .map((p) => `<label><input type="radio" name="priority" value="${p}" ${p === state.intake.priority ? "checked" : ""}><span>${esc(t(`priority.${p}`))}</span></label>`)
    .join("");
  complaints.onchange = (e) => (state.intake.complaint = e.target.value);
  priorities.onchange = (e) => (state.intake.priority = Number(e.target.value));
  paintLocation();
  if (repaint) return;
  $("intake").addEventListener("submit", (e) => {
    e.preventDefault();
    submitCall();
  });
  $("clear").addEventListener("click", clearIntake);
  wireSearch();
  $("override-go").addEventListener("click", () => {
    if (state.override) assign(state.override.recs, state.override.unitId, $("override-reason").value.trim());
  });
  $("override-cancel").addEventListener("click", closeOverride);
  $("override-reason").addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      $("override-go").click();
    }
  });
}

function buildLegend() {
  $("legend").innerHTML = state.meta.statuses
    .map((s) => `<span><i class="dot" style="background:${s.colour}"></i> ${esc(t(`status.${s.code}`))}</span>`)
    .join("");
}

function paintLocation() {
  const el = $("location");
  const loc = state.intake.location;
  if (!loc) {
    el.textContent = t("intake.nolocation");
    el.classList.remove("set");
    return;
  }
  el.classList.add("set");
  el.innerHTML = `<i class="dot pin"></i> <b>${esc(state.intake.placeName || "")}</b> <span class="mono muted">${lonlat(loc)}</span>`;
}

function setLocation(loc, placeName) {
  state.intake.location = loc;
  if (!placeName && state.geo) {
    const near = state.geo.nearestPlace(loc.lon, loc.lat);
    // stored with the call and read by the crew: in Chinese, like the place names
    if (near && near.distance_m < 3000) placeName = `${near.place.name}附近`;
  }
  state.intake.placeName = placeName;
  if (!state.pin) state.pin = L.marker([loc.lat, loc.lon], { icon: pinIcon(), keyboard: false, zIndexOffset: 900 }).addTo(state.map);
  else state.pin.setLatLng([loc.lat, loc.lon]);
  paintLocation();
}

function wireSearch() {
  const input = $("search");
  const list = $("search-results");
  let results = [];
  let active = -1;
  let timer = null;
  let asked = "";
  const close = () => {
    list.classList.add("hidden");
    input.setAttribute("aria-expanded", "false");
    active = -1;
  };
  const paint = () => {
    list.innerHTML = results
      .map((r, i) => {
        const kind = r.kind === "hospital" || r.kind === "station" ? r.kind : r.township || r.kind;
        return `<li role="option" id="sr-${i}" aria-selected="${i === active}" data-i="${i}"><span>${esc(r.name)}</span><span class="muted">${esc(kind || "")}</span></li>`;
      })
      .join("");
    list.classList.toggle("hidden", results.length === 0);
    input.setAttribute("aria-expanded", String(results.length > 0));
    if (active >= 0) input.setAttribute("aria-activedescendant", `sr-${active}`);
  };
  const choose = (r) => {
    if (!r) return;
    input.value = r.name;
    close();
    setLocation({ lon: r.lon, lat: r.lat }, r.name);
    state.map.setView([r.lat, r.lon], Math.max(state.map.getZoom(), 13));
  };
  const ask = async (q) => {
    asked = q;
    if (!q.trim()) {
      results = [];
      paint();
      return;
    }
    try {
      const data = await state.api.get(`/api/geo/search?q=${encodeURIComponent(q)}&limit=8`);
      if (asked !== q) return;
      results = data.results;
      active = results.length ? 0 : -1;
      paint();
    } catch (e) {
      toast(e.message, "error");
    }
  };
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => ask(input.value), 120);
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" && results.length) {
      e.preventDefault();
      active = (active + 1) % results.length;
      paint();
    } else if (e.key === "ArrowUp" && results.length) {
      e.preventDefault();
      active = (active - 1 + results.length) % results.length;
      paint();
    } else if (e.key === "Enter" && !e.ctrlKey) {
      e.preventDefault();
      if (results.length) choose(results[Math.max(active, 0)]);
    } else if (e.key === "Escape" && !list.classList.contains("hidden")) {
      e.stopPropagation();
      close();
    }
  });
  list.addEventListener("mousedown", (e) => {
    const li = e.target.closest("li");
    if (li) {
      e.preventDefault();
      choose(results[Number(li.dataset.i)]);
    }
  });
  input.addEventListener("blur", () => setTimeout(close, 150));
}

async function submitCall() {
  const { location: loc, complaint, priority, placeName } = state.intake;
  if (!loc) {
    toast(t("intake.need_location"), "error");
    $("search").focus();
    return;
  }
  const body = { location: { lon: loc.lon, lat: loc.lat }, complaint, priority };
  const phone = $("phone").value.trim();
  const notes = $("notes").value.trim();
  const onset = $("onset").value;
  if (phone) body.caller_phone = phone;
  if (notes) body.notes = notes;
  if (placeName) body.place_name = placeName;
  if (onset) body.symptom_onset = isoLocal(todayAt(onset, state.live.now()));
  $("submit").disabled = true;
  try {
    const data = await state.api.post("/api/calls", body, { action: state.intakeKey });
    toast(t("intake.created", { id: data.id }), "ok");
    state.selectedCall = data.id;
    showRecs(ranking(data.id, data));
    await state.live.refresh();
  } catch (e) {
    toast(e.message, "error");
  } finally {
    $("submit").disabled = false;
  }
}

function clearIntake() {
  state.intakeKey.done();
  state.intake.location = null;
  state.intake.placeName = null;
  for (const id of ["search", "phone", "notes", "onset"]) $(id).value = "";
  if (state.pin) {
    state.pin.remove();
    state.pin = null;
  }
  paintLocation();
}

// -- recommendations ---------------------------------------------------------------------------

/** A ranking the service answered ({recommendations, unreachable, ranking_id}); `notice`: an i18n key said above it. */
function ranking(callId, answer, notice = null) {
  return { callId, list: answer.recommendations, unreachable: answer.unreachable || [],
           unroutable: answer.unroutable || [], rankingId: answer.ranking_id ?? null, notice };
}

function showRecs(recs) {
  const { callId, list, unreachable, unroutable, notice } = recs;
  state.recs = recs;
  closeOverride();
  $("recs").classList.remove("hidden");
  $("recs-call").textContent = t("recs.for", { id: callId });
  const ol = $("recs-list");
  ol.innerHTML = list
    .map((r, i) => {
      const best = i === 0;
      const src = r.source === "gps" ? t("recs.from.gps") : t("recs.from.station");
      return `<li class="${best ? "best" : ""}" data-unit="${esc(r.unit_id)}">
        <span class="rank">${i + 1}</span>
        <span><span class="unit">${esc(r.unit_id)}</span> <span class="badge cap">${esc(r.capability.toUpperCase())}</span>${
          r.preferred ? ` <span class="badge pref" title="${esc(t("recs.preferred.title", { cap: r.capability.toUpperCase() }))}">${esc(t("recs.preferred", { cap: r.capability.toUpperCase() }))}</span>` : ""
        } <span class="muted">${esc(src)}</span></span>
        <button type="button" class="${best ? "primary" : ""}" data-assign="${esc(r.unit_id)}">${esc(best ? t("recs.assign") : t("recs.override"))}</button>
        <span class="figures">${esc(t("recs.eta"))} <b>${duration(r.eta_s)}</b> · ${esc(t("recs.distance"))} <b>${distance(r.distance_m)}</b></span>
      </li>`;
    })
    .join("");
  const note = $("recs-note");
  $("recs-notice").textContent = notice ? t(notice) : "";
  $("recs-notice").classList.toggle("hidden", notice == null);
  const notes = [];
  if (!list.length) notes.push(t("recs.none"));
  if (unreachable?.length) notes.push(t("recs.unreachable", { units: unreachable.join(", ") }));
  // units whose GPS could not be routed: timed from their station or left out, and why
  for (const u of unroutable || []) {
    const km = u.distance_m != null ? (u.distance_m / 1000).toFixed(1) : "?";
    const key = `recs.unroutable.${u.reason}`;
    const said = t(key, { unit: u.unit_id, km });
    notes.push(said === key ? `${u.unit_id}: ${u.message}` : said);
  }
  note.textContent = notes.join(" ");
  note.classList.toggle("hidden", notes.length === 0);
  for (const li of ol.querySelectorAll("li")) {
    const rec = list.find((r) => r.unit_id === li.dataset.unit);
    const show = () => previewRoute(rec);
    li.addEventListener("mouseenter", show);
    li.addEventListener("focusin", show);
  }
  ol.onclick = (e) => {
    const button = e.target.closest("button[data-assign]");
    if (!button) return;
    const unitId = button.dataset.assign;
    if (unitId === list[0]?.unit_id) assign(recs, unitId, null);
    else openOverride(recs, unitId);
  };
  if (list.length) {
    previewRoute(list[0]);
    ol.querySelector("button").focus();
  }
}

function previewRoute(rec) {
  if (state.recRoute) state.recRoute.remove();
  state.recRoute = null;
  if (!rec?.route) return;
  state.recRoute = L.geoJSON(rec.route, { interactive: false, style: { color: "#ffd166", weight: 5, opacity: 0.85, dashArray: "2 8", lineCap: "round" } }).addTo(state.map);
}

function hideRecs() {
  state.recs = null;
  $("recs").classList.add("hidden");
  previewRoute(null);
  closeOverride();
}

function openOverride(recs, unitId) {
  state.override = { recs, unitId };
  $("override").classList.remove("hidden");
  $("override-reason").value = "";
  $("override-reason").focus();
}

function closeOverride() {
  state.override = null;
  $("override").classList.add("hidden");
}

/**
 * Send `unitId` from the list `recs` the dispatcher chose from: its ranking_id goes with it, and the
 * override reason when the unit is not that list's first. When the service says the list is stale,
 * show its new ranking and ask the dispatcher to choose again.
 */
async function assign(recs, unitId, reason) {
  if (!recs || !unitId) return;
  const callId = recs.callId;
  const override = unitId !== recs.list[0]?.unit_id;
  if (override && !reason) {
    toast(t("recs.reason"), "error");
    $("override-reason").focus();
    return;
  }
  const body = { unit_id: unitId };
  if (recs.rankingId != null) body.ranking_id = recs.rankingId;
  if (override) body.reason = reason;
  try {
    await state.api.post(`/api/calls/${encodeURIComponent(callId)}/assign`, body, { action: state.assignKey });
    toast(t("recs.assigned", { unit: unitId, id: callId }), "ok");
    hideRecs();
    clearIntake();
    await state.live.refresh();
    $("search").focus();
  } catch (e) {
    if (e.code === "ranking_stale") {
      toast(t("recs.stale"), "error");
      await rankAgain(callId, "recs.stale");
    } else {
      toast(e.message, "error");
    }
  }
}

async function rankAgain(callId, notice = null) {
  try {
    const data = await state.api.get(`/api/calls/${encodeURIComponent(callId)}/recommendations`);
    showRecs(ranking(callId, data, notice));
  } catch (e) {
    toast(e.message, "error");
  }
}

// -- calls and units ---------------------------------------------------------------------------

function callUnit(call) {
  const unitId = call.assignment?.unit_id;
  return unitId ? state.live.units.get(unitId) : null;
}

function targetMin(call) {
  const near = state.geo?.nearestAny(call.location.lon, call.location.lat);
  return near?.urban ? state.meta.targets.urban_arrival_min : state.meta.targets.rural_arrival_min;
}

function sortedCalls() {
  return state.live.openCalls().sort((a, b) => a.priority - b.priority || a.received_at.localeCompare(b.received_at));
}

function renderAll() {
  if (!state.live) return;
  renderCalls();
  renderUnits();
  renderMapUnits();
  renderMapCalls();
  refreshRoutes();
  tick();
}

function renderCalls() {
  const calls = sortedCalls();
  $("calls-count").textContent = calls.length;
  const ul = $("calls");
  if (!calls.length) {
    ul.innerHTML = `<li class="empty" style="cursor:default;border:0;background:none">${esc(t("calls.none"))}</li>`;
    return;
  }
  ul.innerHTML = calls
    .map((c) => {
      const unit = callUnit(c);
      const where = c.place_name || lonlat(c.location);
      const who = unit
        ? `<span class="unitref"><i class="dot" style="background:${statusColour(unit.status)}"></i> ${esc(unit.id)} ${esc(t(`status.${unit.status}`))}</span>`
        : `<span class="timer-near">${esc(c.queue_position ? t("calls.queued", { n: c.queue_position }) : t("calls.waiting"))}</span>`;
      const queued = !c.assignment;
      return `<li class="p${c.priority}${c.id === state.selectedCall ? " selected" : ""}" data-call="${esc(c.id)}" tabindex="0">
        <div class="row1"><span class="badge p${c.priority}">${esc(t(`priority.${c.priority}`))}</span><b>${esc(t(`complaint.${c.complaint}`))}</b>
          <span class="elapsed num" data-elapsed="${esc(c.id)}"></span></div>
        <div class="row2"><span>${esc(where)}</span>${who}<span class="num" data-eta-call="${esc(c.id)}"></span></div>
        <div class="row2"><span class="id">${esc(c.id)} · ${hhmm(c.received_at)}</span><span class="muted">${esc(t("calls.target", { m: targetMin(c) }))}</span></div>
        <div class="ops">${queued ? `<button type="button" data-op="rank">${esc(t("calls.recommend"))}</button>` : ""}
          <button type="button" data-op="cancel">${esc(t("calls.cancel"))}</button>
          ${unit && REACHED.has(unit.status) ? `<button type="button" data-op="close">${esc(t("calls.close"))}</button>` : ""}</div>
      </li>`;
    })
    .join("");
  tick();
}

function renderUnits() {
  const units = [...state.live.units.values()].sort((a, b) => a.id.localeCompare(b.id));
  $("units-count").textContent = units.length;
  $("units").innerHTML = units
    .map(
      (u) => `<li data-unit="${esc(u.id)}" title="${esc(u.capability?.toUpperCase() || "")}">
        <i class="dot" style="background:${statusColour(u.status)}"></i>
        <span><span class="uid">${esc(u.id)}</span> <span class="st">${esc(t(`status.${u.status}`))}</span></span>
        <span class="eta" data-eta-unit="${esc(u.id)}"></span>
        <span class="fix" data-fix="${esc(u.id)}"></span>
      </li>`,
    )
    .join("");
  tick();
}

/** Spread units that stand on the same point (several at one station) so each label shows. */
function unitPlaces(units) {
  const seen = new Map();
  return units.map((u) => {
    const p = u.position || u.station_location;
    const key = `${p.lon.toFixed(4)},${p.lat.toFixed(4)}`;
    const n = seen.get(key) || 0;
    seen.set(key, n + 1);
    return { unit: u, p, slot: n };
  });
}

function renderMapUnits() {
  const units = [...state.live.units.values()].sort((a, b) => a.id.localeCompare(b.id));
  const keep = new Set();
  for (const { unit, p, slot } of unitPlaces(units)) {
    keep.add(unit.id);
    const stale = unitIsStale(unit);
    const idle = !unit.current_call && unit.status !== "out_of_service";
    const icon = unitIcon({ colour: statusColour(unit.status), heading: unit.heading_deg, label: esc(unit.id), stale, idle });
    let marker = state.unitMarkers.get(unit.id);
    const latlng = [p.lat, p.lon];
    if (!marker) {
      marker = L.marker(latlng, { icon, keyboard: false, zIndexOffset: 1000 }).addTo(state.map);
      marker.on("click", () => state.map.setView(marker.getLatLng(), Math.max(state.map.getZoom(), 14)));
      state.unitMarkers.set(unit.id, marker);
    } else {
      marker.setLatLng(latlng);
      marker.setIcon(icon);
    }
    marker.unitSlot = slot;
    const tag = marker.getElement()?.querySelector(".tag");
    if (tag) tag.style.top = `${-10 + slot * 20}px`;
    marker.getElement()?.setAttribute("data-unit", unit.id);
  }
  for (const [id, marker] of state.unitMarkers) {
    if (!keep.has(id)) {
      marker.remove();
      state.unitMarkers.delete(id);
    }
  }
}

function renderMapCalls() {
  const keep = new Set();
  for (const c of state.live.openCalls()) {
    keep.add(c.id);
    const icon = incidentIcon({ colour: PRIORITY_COLOUR[c.priority], text: String(c.priority), pulse: !c.assignment });
    let marker = state.callMarkers.get(c.id);
    const latlng = [c.location.lat, c.location.lon];
    const tip = `${esc(t(`complaint.${c.complaint}`))} · ${esc(c.place_name || lonlat(c.location))}<br><span class="muted">${esc(c.id)}</span>`;
    if (!marker) {
      marker = L.marker(latlng, { icon, keyboard: false, zIndexOffset: 800 }).addTo(state.map);
      marker.on("click", () => selectCall(c.id));
      state.callMarkers.set(c.id, marker);
    } else {
      marker.setLatLng(latlng);
      marker.setIcon(icon);
    }
    marker.bindTooltip(tip, { direction: "top", offset: [0, -14] });
    marker.getElement()?.setAttribute("data-call", c.id);
  }
  for (const [id, marker] of state.callMarkers) {
    if (!keep.has(id)) {
      marker.remove();
      state.callMarkers.delete(id);
    }
  }
}

/** Fetch the route of every unit heading to a call: on assignment, on a new fix, and every 30 s. */
function refreshRoutes() {
  const now = Date.now();
  const heading = new Set();
  for (const unit of state.live.units.values()) {
    if (!ROUTED.has(unit.status) || !unit.current_call) continue;
    heading.add(unit.id);
    let r = state.routes.get(unit.id);
    if (!r || r.callId !== unit.current_call) {
      if (r?.layer) r.layer.remove();
      r = { callId: unit.current_call, computedAt: 0, fixAt: null, layer: null, busy: false, eta_s: null };
      state.routes.set(unit.id, r);
    }
    const moved = unit.position_at !== r.fixAt && now - r.computedAt > ROUTE_MIN_GAP_MS;
    if (!r.busy && (r.computedAt === 0 || moved || now - r.computedAt > ROUTE_REFRESH_MS || r.status !== unit.status)) fetchRoute(unit, r);
  }
  for (const [id, r] of state.routes) {
    if (!heading.has(id)) {
      if (r.layer) r.layer.remove();
      state.routes.delete(id);
    }
  }
}

async function fetchRoute(unit, r) {
  r.busy = true;
  r.fixAt = unit.position_at;
  r.status = unit.status;
  try {
    const data = await state.api.get(`/api/units/${encodeURIComponent(unit.id)}/route`);
    r.computedAt = Date.now();
    r.eta_s = data.eta_s;
    if (r.layer) r.layer.remove();
    r.layer = null;
    if (data.route && state.routes.get(unit.id) === r) {
      r.layer = L.geoJSON(data.route, { interactive: false, style: { color: statusColour(unit.status), weight: 4, opacity: 0.9, lineCap: "round" } }).addTo(state.map);
    }
  } catch (e) {
    r.computedAt = Date.now();
  } finally {
    r.busy = false;
  }
}

/** The ETA (s) of a unit heading to its call: the stream's when fresher, else the route's countdown. */
function unitEta(unit) {
  const r = state.routes.get(unit.id);
  const fromRoute = r && r.eta_s != null ? { left: r.eta_s - (Date.now() - r.computedAt) / 1000, at: r.computedAt } : null;
  const fromLive = unit.live_eta ? { left: unit.live_eta.eta_s - (state.live.now() - unit.live_eta.at) / 1000, at: unit.live_eta.at } : null;
  const best = fromLive && (!fromRoute || fromLive.at >= fromRoute.at) ? fromLive : fromRoute;
  return best ? Math.max(0, best.left) : null;
}

/** Once a second: elapsed timers, fix ages and ETAs. */
function tick() {
  if (!state.live) return;
  const now = state.live.now();
  for (const el of document.querySelectorAll("[data-elapsed]")) {
    const call = state.live.calls.get(el.dataset.elapsed);
    if (!call) continue;
    const elapsed = since(call.received_at, now);
    const unit = callUnit(call);
    el.textContent = duration(elapsed);
    el.className = `elapsed num ${unit && REACHED.has(unit.status) ? "muted" : timerClass(elapsed, targetMin(call) * 60)}`;
  }
  for (const el of document.querySelectorAll("[data-eta-call]")) {
    const call = state.live.calls.get(el.dataset.etaCall);
    const unit = call && callUnit(call);
    const eta = unit && ROUTED.has(unit.status) ? unitEta(unit) : null;
    el.textContent = eta != null ? t("units.eta", { eta: duration(eta) }) : "";
  }
  for (const unit of state.live.units.values()) {
    const stale = unitIsStale(unit);
    const fixAge = unit.position_at ? since(unit.position_at, now) : null;
    const fixText = fixAge == null ? t("units.nofix") : stale ? `⚠ ${t("units.stale")} · ${age(fixAge)}` : t("units.fix", { age: age(fixAge) });
    const fixEl = document.querySelector(`[data-fix="${CSS.escape(unit.id)}"]`);
    if (fixEl) {
      fixEl.textContent = fixText;
      fixEl.classList.toggle("stale", stale);
    }
    const eta = ROUTED.has(unit.status) ? unitEta(unit) : null;
    const etaEl = document.querySelector(`[data-eta-unit="${CSS.escape(unit.id)}"]`);
    if (etaEl) etaEl.textContent = eta != null ? duration(eta) : "";
    const marker = state.unitMarkers.get(unit.id);
    const tag = marker?.getElement()?.querySelector(".tag");
    if (tag) {
      const parts = [unit.id];
      if (eta != null) parts.push(`${t("recs.eta")} ${duration(eta)}`);
      if (fixAge != null) parts.push(stale ? `⚠ ${age(fixAge)}` : age(fixAge));
      tag.textContent = parts.join(" · ");
      tag.style.top = `${-10 + (marker.unitSlot || 0) * 20}px`;
    }
  }
}

function selectCall(callId) {
  state.selectedCall = callId;
  const call = state.live.calls.get(callId);
  if (call) state.map.setView([call.location.lat, call.location.lon], Math.max(state.map.getZoom(), 13));
  renderCalls();
  if (call && !call.assignment) rankAgain(callId);
}

$("calls").addEventListener("click", async (e) => {
  const li = e.target.closest("li[data-call]");
  if (!li) return;
  const callId = li.dataset.call;
  const op = e.target.closest("button")?.dataset.op;
  if (!op) {
    selectCall(callId);
    return;
  }
  try {
    if (op === "rank") await rankAgain(callId);
    if (op === "cancel") {
      const reason = prompt(t("calls.cancel.reason"));
      if (!reason || !reason.trim()) return;
      await state.api.post(`/api/calls/${encodeURIComponent(callId)}/cancel`, { reason: reason.trim() });
    }
    if (op === "close") await state.api.post(`/api/calls/${encodeURIComponent(callId)}/close`, {});
    await state.live.refresh();
  } catch (err) {
    toast(err.message, "error");
  }
});
$("calls").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && e.target.matches("li[data-call]")) selectCall(e.target.dataset.call);
});
$("units").addEventListener("click", (e) => {
  const li = e.target.closest("li[data-unit]");
  const marker = li && state.unitMarkers.get(li.dataset.unit);
  if (marker) state.map.setView(marker.getLatLng(), Math.max(state.map.getZoom(), 14));
});

// -- keyboard ----------------------------------------------------------------------------------

function typing(target) {
  return target.matches?.("input, textarea, select");
}

function onKey(e) {
  if ($("help").open) return;
  if (e.key === "F2" || (e.key === "/" && !typing(e.target))) {
    e.preventDefault();
    $("search").focus();
    $("search").select();
  } else if (e.altKey && ["1", "2", "3", "4"].includes(e.key)) {
    e.preventDefault();
    const input = document.querySelector(`#priorities input[value="${e.key}"]`);
    input.checked = true;
    state.intake.priority = Number(e.key);
  } else if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    submitCall();
  } else if (e.key === "Escape") {
    if (state.override) closeOverride();
    else if (state.recs) hideRecs();
    else clearIntake();
  } else if (e.key === "?" && !typing(e.target)) {
    e.preventDefault();
    $("help").showModal();
  } else if (e.altKey && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
    e.preventDefault();
    const items = [...document.querySelectorAll("#calls li[data-call]")];
    if (!items.length) return;
    const at = items.findIndex((li) => li.dataset.call === state.selectedCall);
    const next = items[(at + (e.key === "ArrowDown" ? 1 : -1) + items.length) % items.length];
    selectCall(next.dataset.call);
    document.querySelector(`#calls li[data-call="${CSS.escape(next.dataset.call)}"]`)?.focus();
  }
}

main().catch((e) => {
  console.error(e);
  toast(e.message, "error");
});
