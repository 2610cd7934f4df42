// The planner's page: the county's station layouts and their stations on the map. Starting a
// simulation and reading its report appear here once the service has POST /api/simulations.
import { t, applyStatic, langButton, onLangChange } from "./common/i18n.js";
import { loadMeta, signIn, toast, forgetToken } from "./common/api.js";
import { createMap, drawCounty } from "./common/countymap.js";
import { esc } from "./common/format.js";

const $ = (id) => document.getElementById(id);
const state = { meta: null, api: null, layouts: [], active: null, chosen: null, map: null, layer: null };

async function main() {
  applyStatic();
  state.meta = await loadMeta();
  const { api } = await signIn("planner", (w) => (["planner", "admin", "dispatcher"].includes(w.role) ? null : t("error.forbidden", { msg: w.role })));
  state.api = api;
  $("app").classList.remove("hidden");
  $("county-name").textContent = state.meta.county.name || "";
  langButton($("lang"));
  $("signout").addEventListener("click", () => {
    forgetToken("planner");
    location.reload();
  });
  onLangChange(() => {
    renderLayouts();
    renderStations();
  });
  state.map = createMap($("map"));
  const [geo, data] = await Promise.all([drawCounty(state.map, api, { roads: "all" }), api.get("/api/layouts")]);
  geo.layers.stations.remove(); // the layout's stations are drawn instead
  state.layouts = data.layouts;
  state.active = data.active;
  state.chosen = data.active || data.layouts[0]?.name || null;
  renderLayouts();
  renderStations();
  const sim = state.meta.features.simulations;
  $("sim-off").classList.toggle("hidden", sim);
  $("sim").classList.toggle("hidden", !sim);
  $("sim").addEventListener("submit", runSimulation);
  document.body.dataset.ready = "1";
}

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

async function runSimulation(e) {
  e.preventDefault();
  const report = $("sim-report");
  report.textContent = t("planner.sim.running");
  try {
    const data = await state.api.post("/api/simulations", { layout: state.chosen, days: Number($("sim-days").value), replications: Number($("sim-reps").value) });
    const rows = Object.entries(data.summary || data).filter(([, v]) => typeof v !== "object");
    report.innerHTML = `<table>${rows.map(([k, v]) => `<tr><td>${esc(k)}</td><td class="num">${esc(v)}</td></tr>`).join("")}</table>`;
  } catch (err) {
    report.textContent = "";
    toast(err.message, "error");
  }
}

main().catch((e) => {
  console.error(e);
  toast(e.message, "error");
});
