// The planner's page: the county's station layouts and their stations on the map, and the
// simulator: compare layouts (POST /api/simulations), follow the runs, read a report in the page.
import { t, getLang, applyStatic, langButton, onLangChange } from "./common/i18n.js";
import { loadMeta, signIn, toast, forgetToken } from "./common/api.js";
import { createMap, drawCounty } from "./common/countymap.js";
import { esc, dayTime } from "./common/format.js";

// Texts of the simulation panel, in both languages, kept with the one page that shows them.
const TEXT = {
  zh: {
    readonly: "只读：仅规划员或管理员可以启动模拟。",
    compare: "比较的布局（1–4 个；差值以第一个为基准）",
    seed: "随机种子",
    moveup: "空站补位（move-up）",
    runs: "模拟记录",
    none: "尚无模拟。",
    csv: "下载逐次呼叫 CSV",
    open: "新窗口打开",
    close: "关闭报告",
    report: "查看报告",
    "status.queued": "排队中",
    "status.running": "运行中",
    "status.done": "已完成",
    "status.failed": "失败",
    queue: "排第 {n} 位",
    "phase.starting": "启动中",
    "phase.preparing": "准备行程时间表",
    "phase.simulating": "模拟 {done}/{total}",
    "phase.writing": "生成报告",
    spec: "{days} 天 × {reps} 次 · 种子 {seed}{moveup}",
    "spec.moveup": " · 补位",
    by: "{by} · {at}",
    mean: "平均响应",
    p90: "90% 响应",
    within: "达标率",
    min: "分",
    reason: "原因：{reason}",
    "err.layouts": "请选择 1–4 个布局。",
    "err.range": "{field}：应为 {min}–{max} 的整数，当前为 {value}",
    queued: "已提交模拟 {id}",
    finished: "模拟 {id} 已完成",
    failed: "模拟 {id} 失败：{reason}",
    title: "模拟报告 {id}：{layouts}",
  },
  en: {
    readonly: "Read only: planners and administrators start simulations.",
    compare: "Layouts to compare (1–4; differences against the first)",
    seed: "Seed",
    moveup: "Move-up (re-post idle units to emptied stations)",
    runs: "Runs",
    none: "No simulations yet.",
    csv: "Download calls CSV",
    open: "Open in a new window",
    close: "Close report",
    report: "Show report",
    "status.queued": "queued",
    "status.running": "running",
    "status.done": "done",
    "status.failed": "failed",
    queue: "position {n}",
    "phase.starting": "starting",
    "phase.preparing": "preparing travel tables",
    "phase.simulating": "simulating {done}/{total}",
    "phase.writing": "writing the report",
    spec: "{days} d × {reps} replication(s) · seed {seed}{moveup}",
    "spec.moveup": " · move-up",
    by: "{by} · {at}",
    mean: "mean response",
    p90: "p90 response",
    within: "within target",
    min: "min",
    reason: "Reason: {reason}",
    "err.layouts": "Choose 1–4 layouts.",
    "err.range": "{field}: must be a whole number from {min} to {max}, got {value}",
    queued: "Simulation {id} queued",
    finished: "Simulation {id} finished",
    failed: "Simulation {id} failed: {reason}",
    title: "Report {id}: {layouts}",
  },
};

function tx(key, vars = {}) {
  const text = TEXT[getLang()][key] ?? TEXT.zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

function applySimText(root = document) {
  for (const el of root.querySelectorAll("[data-sim-text]")) el.textContent = tx(el.dataset.simText);
}

const MAX_LAYOUTS = 4;
const POLL_MS = 1500;
const $ = (id) => document.getElementById(id);
const state = {
  meta: null, api: null, who: null, layouts: [], active: null, chosen: null, map: null, layer: null,
  runs: [], known: new Map(), poll: null, shown: null, reports: new Map(),
};

async function main() {
  applyStatic();
  applySimText();
  state.meta = await loadMeta();
  const { api, who } = await signIn("planner", (w) => (["planner", "admin", "dispatcher"].includes(w.role) ? null : t("error.forbidden", { msg: w.role })));
  state.api = api;
  state.who = who;
  $("app").classList.remove("hidden");
  $("county-name").textContent = state.meta.county.name || "";
  langButton($("lang"));
  $("signout").addEventListener("click", () => {
    forgetToken("planner");
    location.reload();
  });
  onLangChange(() => {
    applySimText();
    renderLayouts();
    renderStations();
    renderRuns();
  });
  state.map = createMap($("map"));
  const [geo, data] = await Promise.all([drawCounty(state.map, api, { roads: "all" }), api.get("/api/layouts")]);
  geo.layers.stations.remove(); // the layout's stations are drawn instead
  state.layouts = data.layouts;
  state.active = data.active;
  state.chosen = data.active || data.layouts[0]?.name || null;
  renderLayouts();
  renderStations();
  const sim = Boolean(state.meta.features.simulations);
  const mayStart = ["planner", "admin"].includes(who.role);
  $("sim-off").classList.toggle("hidden", sim);
  $("sim-list").classList.toggle("hidden", !sim);
  $("sim").classList.toggle("hidden", !(sim && mayStart));
  $("sim-readonly").classList.toggle("hidden", !(sim && !mayStart));
  if (sim) {
    renderSimLayouts();
    $("sim").addEventListener("submit", startSimulation);
    $("sim-runs").addEventListener("click", onRunClick);
    $("report-close").addEventListener("click", closeReport);
    $("report-open").addEventListener("click", openReportWindow);
    $("report-csv").addEventListener("click", downloadCsv);
    await refreshRuns();
  }
  document.body.dataset.ready = "1";
}

// -- layouts on the map -------------------------------------------------------------------------

function renderLayouts() {
  $("layouts").innerHTML = state.layouts
    .map(
      (l) => `<label><input type="radio" name="layout" value="${esc(l.name)}" ${l.name === state.chosen ? "checked" : ""}><b>${esc(l.name)}</b>${
        l.name === state.active ? `<span class="active">● ${esc(t("planner.active"))}</span>` : ""
      }<div class="desc">${esc(l.description)}</div><div class="desc">${esc(t("planner.stations", { n: l.stations.length, a: l.ambulances, s: l.staff }))}</div></label>`,
    )
    .join("");
  $("layouts").onchange = (e) => {
    state.chosen = e.target.value;
    renderStations();
  };
}

function renderStations() {
  const layout = state.layouts.find((l) => l.name === state.chosen);
  if (!layout) return;
  $("stations").innerHTML = `<tr><th>${esc(t("planner.station"))}</th><th>${esc(t("planner.kind"))}</th><th>${esc(t("planner.ambulances"))}</th><th>${esc(t("planner.staff"))}</th></tr>${layout.stations
    .map(
      (s) => `<tr data-station="${esc(s.id)}"><td>${esc(s.name)}<div class="units">${esc(s.unit_ids.join(", "))}</div></td><td>${esc(t(`kind.${s.kind}`))}</td><td class="num">${s.ambulances}</td><td class="num">${s.staff}</td></tr>`,
    )
    .join("")}`;
  if (state.layer) state.layer.remove();
  state.layer = L.layerGroup().addTo(state.map);
  for (const s of layout.stations) {
    const size = 16 + 4 * Math.min(s.ambulances, 6);
    L.marker([s.lat, s.lon], {
      icon: L.divIcon({ className: "", html: `<div class="map-layout-station" style="width:${size}px;height:${size}px">${s.ambulances}</div>`, iconSize: [size, size], iconAnchor: [size / 2, size / 2] }),
      keyboard: false,
    })
      .bindTooltip(`${esc(s.name)} · ${esc(t(`kind.${s.kind}`))}<br>${esc(t("planner.ambulances"))} ${s.ambulances} · ${esc(t("planner.staff"))} ${s.staff}`, { direction: "top" })
      .addTo(state.layer)
      .getElement()
      ?.setAttribute("data-station", s.id);
  }
}

// -- the simulation form ------------------------------------------------------------------------

function renderSimLayouts() {
  $("sim-layouts").innerHTML = state.layouts
    .map((l, i) => `<label><input type="checkbox" value="${esc(l.name)}" ${i < MAX_LAYOUTS ? "checked" : ""}><b>${esc(l.name)}</b></label>`)
    .join("");
}

function whole(input, field, min, max) {
  const value = Number(input.value);
  if (input.value === "" || !Number.isInteger(value) || value < min || value > max) {
    throw new Error(tx("err.range", { field, min, max, value: input.value || "—" }));
  }
  return value;
}

function readForm() {
  const layouts = [...$("sim-layouts").querySelectorAll("input:checked")].map((i) => i.value);
  if (layouts.length < 1 || layouts.length > MAX_LAYOUTS) throw new Error(tx("err.layouts"));
  return {
    layouts,
    days: whole($("sim-days"), t("planner.sim.days"), 1, 365),
    replications: whole($("sim-reps"), t("planner.sim.reps"), 1, 20),
    seed: whole($("sim-seed"), tx("seed"), 0, 2 ** 31 - 1),
    move_up: $("sim-moveup").checked,
  };
}

function showFormError(message) {
  $("sim-error").textContent = message || "";
  $("sim-error").classList.toggle("hidden", !message);
}

async function startSimulation(e) {
  e.preventDefault();
  let body;
  try {
    body = readForm();
  } catch (err) {
    showFormError(err.message);
    return;
  }
  showFormError("");
  const button = $("sim").querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const run = await state.api.post("/api/simulations", body);
    toast(tx("queued", { id: run.id }), "ok");
    await refreshRuns();
    document.querySelector(`li.run[data-run="${CSS.escape(run.id)}"]`)?.scrollIntoView({ block: "nearest" });
  } catch (err) {
    showFormError(err.message);
  } finally {
    button.disabled = false;
  }
}

// -- the runs -----------------------------------------------------------------------------------

async function refreshRuns() {
  clearTimeout(state.poll);
  try {
    const data = await state.api.get("/api/simulations");
    for (const run of data.simulations) {
      const before = state.known.get(run.id);
      if (before && before !== run.status) {
        if (run.status === "done") toast(tx("finished", { id: run.id }), "ok");
        if (run.status === "failed") toast(tx("failed", { id: run.id, reason: run.reason }), "error");
      }
      state.known.set(run.id, run.status);
    }
    state.runs = data.simulations;
    renderRuns();
  } catch (err) {
    toast(err.message, "error");
  }
  if (state.runs.some((r) => r.status === "queued" || r.status === "running")) {
    state.poll = setTimeout(refreshRuns, POLL_MS);
  }
}

function progressOf(run) {
  if (run.status === "queued") return `<span class="muted">${esc(tx("queue", { n: run.queue_position ?? "?" }))}</span>`;
  if (run.status !== "running") return "";
  const p = run.progress || { phase: "starting", done: 0, total: null };
  const label = tx(`phase.${p.phase}`, { done: p.done, total: p.total ?? "?" });
  const bar = p.total ? `<progress max="${p.total}" value="${p.phase === "preparing" ? 0 : p.done}"></progress>` : "<progress></progress>";
  return `<div class="progress" data-phase="${esc(p.phase)}">${bar}<span class="muted">${esc(label)}</span></div>`;
}

function figuresOf(run) {
  if (!run.key_figures) return "";
  const fmt = (v, digits = 1) => (v == null ? "—" : Number(v).toFixed(digits));
  const pct = (v) => (v == null ? "—" : `${(100 * v).toFixed(0)}%`);
  const rows = run.layouts
    .map((name) => {
      const f = run.key_figures[name] || {};
      return `<tr><td>${esc(name)}</td><td class="num">${fmt(f.response_mean_min)}</td><td class="num">${fmt(f.response_p90_min)}</td><td class="num">${pct(f.within_target_share)}</td></tr>`;
    })
    .join("");
  return `<table class="figures"><tr><th></th><th>${esc(tx("mean"))} (${esc(tx("min"))})</th><th>${esc(tx("p90"))} (${esc(tx("min"))})</th><th>${esc(tx("within"))}</th></tr>${rows}</table>`;
}

function renderRuns() {
  if (!state.api || !$("sim-runs")) return;
  $("sim-count").textContent = state.runs.length ? String(state.runs.length) : "";
  if (!state.runs.length) {
    $("sim-runs").innerHTML = `<li class="empty">${esc(tx("none"))}</li>`;
    return;
  }
  $("sim-runs").innerHTML = state.runs
    .map((run) => {
      const spec = tx("spec", { days: run.days, reps: run.replications, seed: run.seed, moveup: run.move_up ? tx("spec.moveup") : "" });
      const shown = state.shown === run.id ? " shown" : "";
      return `<li class="run${shown}" data-run="${esc(run.id)}" data-status="${esc(run.status)}">
        <div class="run-head"><b>${esc(run.layouts.join(" · "))}</b><span class="badge run-status ${esc(run.status)}">${esc(tx(`status.${run.status}`))}</span></div>
        <div class="muted small">${esc(spec)}</div>
        <div class="muted small mono">${esc(run.id)} · ${esc(tx("by", { by: run.by, at: dayTime(run.created_at) }))}</div>
        ${progressOf(run)}
        ${run.status === "failed" ? `<div class="reason">${esc(tx("reason", { reason: run.reason || "—" }))}</div>` : ""}
        ${figuresOf(run)}
        ${run.status === "done" ? `<div class="run-actions"><button type="button" data-op="report">${esc(tx("report"))}</button></div>` : ""}
      </li>`;
    })
    .join("");
}

function onRunClick(e) {
  const button = e.target.closest("button[data-op='report']");
  if (!button) return;
  showReport(button.closest("li[data-run]").dataset.run);
}

// -- the report, shown over the map --------------------------------------------------------------

async function reportHtml(run) {
  if (!state.reports.has(run.id)) {
    const response = await state.api.request("GET", run.report_url, undefined, { raw: true });
    if (!response.ok) throw new Error(`GET ${run.report_url}: HTTP ${response.status}`);
    state.reports.set(run.id, await response.text());
  }
  return state.reports.get(run.id);
}

async function showReport(runId) {
  const run = state.runs.find((r) => r.id === runId);
  if (!run || run.status !== "done") return;
  try {
    const html = await reportHtml(run);
    state.shown = run.id;
    $("report-title").textContent = tx("title", { id: run.id, layouts: run.layouts.join(" vs ") });
    // srcdoc in a sandbox that runs no script (the report has none: plots are data: images, style inline).
    $("report-frame").srcdoc = html;
    $("report-pane").classList.remove("hidden");
    $("report-pane").dataset.run = run.id;
    renderRuns();
  } catch (err) {
    toast(err.message, "error");
  }
}

function closeReport() {
  state.shown = null;
  $("report-pane").classList.add("hidden");
  $("report-frame").srcdoc = "";
  renderRuns();
}

function openReportWindow() {
  const html = state.reports.get(state.shown);
  if (!html) return;
  const url = URL.createObjectURL(new Blob([html], { type: "text/html" }));
  window.open(url, "_blank", "noopener");
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

async function downloadCsv() {
  const run = state.runs.find((r) => r.id === state.shown);
  if (!run) return;
  try {
    const response = await state.api.request("GET", run.calls_url, undefined, { raw: true });
    if (!response.ok) throw new Error(`GET ${run.calls_url}: HTTP ${response.status}`);
    const url = URL.createObjectURL(await response.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = `${run.id}-calls.csv`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (err) {
    toast(err.message, "error");
  }
}

main().catch((e) => {
  console.error(e);
  toast(e.message, "error");
});
