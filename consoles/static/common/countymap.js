// The county drawn from the service's own GeoJSON (/api/geo/county) with the vendored Leaflet
// (global L): no tiles exist offline, so roads, boundary, places and facilities are vector layers
// on one canvas. Unit, incident and route layers are added by the pages.
import { t } from "./i18n.js";
import { esc } from "./format.js";

// Road classes (routing.profiles.RoadClass) from the most important: colour and width in pixels.
const ROAD_STYLE = {
  motorway: ["#e9a23b", 3.6],
  trunk: ["#e9a23b", 3.2],
  primary: ["#d8b25a", 2.8],
  secondary: ["#b7a67a", 2.1],
  tertiary: ["#8f96a3", 1.6],
  unclassified: ["#59606e", 1.0],
  residential: ["#4b515d", 0.9],
  service: ["#3e444f", 0.7],
  other: ["#3e444f", 0.7],
};
// Minor roads and small places clutter the whole-county view; they appear as the map zooms in.
const MINOR_ROADS_ZOOM = 11;
const VILLAGE_ZOOM = 12;
const GENERATED_ZOOM = 14;
const QUIET_UNITS_ZOOM = 12;

export function createMap(element, options = {}) {
  const map = L.map(element, {
    preferCanvas: true,
    zoomSnap: 0.25,
    attributionControl: false,
    keyboard: true,
    minZoom: 8,
    maxZoom: 18,
    ...options,
  });
  L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);
  return map;
}

/**
 * Draw the county on `map`; resolve with { county, bounds, layers, nearestPlace(lon, lat) }.
 * options.roads: "all" (default) or "major"; options.places: draw settlements (default true).
 */
export async function drawCounty(map, api, { roads = "all", places = true, fit = true } = {}) {
  const county = await api.get(`/api/geo/county?roads=${roads}`);
  const renderer = L.canvas({ padding: 0.3 });
  const layers = {};

  layers.boundary = L.geoJSON(county.boundary, {
    renderer,
    interactive: false,
    style: { color: "#4fa3d9", weight: 2, dashArray: "6 4", fillColor: "#141b24", fillOpacity: 1 },
  }).addTo(map);

  const majorRoads = L.layerGroup().addTo(map);
  const minorRoads = L.layerGroup();
  for (const feature of county.roads.features) {
    const cls = feature.properties.class;
    const [color, weight] = ROAD_STYLE[cls] || ROAD_STYLE.other;
    const layer = L.geoJSON(feature, { renderer, interactive: false, style: { color, weight, opacity: 0.95, lineCap: "round" } });
    (feature.properties.code <= 4 ? majorRoads : minorRoads).addLayer(layer);
  }
  layers.roads = majorRoads;
  layers.minorRoads = minorRoads;

  const settlements = county.settlements.features.map((f) => ({
    ...f.properties,
    lon: f.geometry.coordinates[0],
    lat: f.geometry.coordinates[1],
  }));
  layers.towns = L.layerGroup();
  layers.villages = L.layerGroup();
  layers.generated = L.layerGroup();
  if (places) {
    for (const p of settlements) {
      const big = p.kind === "county" || p.kind === "town";
      const marker = L.circleMarker([p.lat, p.lon], {
        renderer,
        radius: big ? 4 : p.kind === "village" ? 2.5 : 1.6,
        color: big ? "#dfe6ee" : "#8995a3",
        weight: big ? 1.5 : 1,
        fillColor: big ? "#dfe6ee" : "#8995a3",
        fillOpacity: big ? 0.9 : 0.6,
        interactive: false,
      });
      if (big) {
        marker.bindTooltip(esc(p.name), { permanent: true, direction: "left", className: "place-label", offset: [-5, 0] });
        layers.towns.addLayer(marker);
      } else if (p.kind === "village") {
        layers.villages.addLayer(marker);
      } else {
        layers.generated.addLayer(marker);
      }
    }
    layers.towns.addTo(map);
  }

  layers.stations = L.layerGroup().addTo(map);
  for (const f of county.stations.features) {
    const [lon, lat] = f.geometry.coordinates;
    const kind = t(`kind.${f.properties.kind}`);
    L.marker([lat, lon], {
      icon: L.divIcon({ className: "", html: '<div class="map-station"></div>', iconSize: [14, 14], iconAnchor: [7, 7] }),
      keyboard: false,
      zIndexOffset: -500,
    })
      .bindTooltip(`${esc(f.properties.name)} · ${esc(kind)}`, { direction: "top", offset: [0, -8] })
      .addTo(layers.stations);
  }

  layers.hospitals = L.layerGroup().addTo(map);
  for (const f of county.hospitals.features) {
    const [lon, lat] = f.geometry.coordinates;
    const caps = f.properties.capabilities || [];
    const pci = caps.includes("pci");
    const badges = [pci ? "PCI" : null, caps.includes("chest_pain_center") ? t("cap.chest_pain_center") : null, caps.includes("stroke_center") ? t("cap.stroke_center") : null]
      .filter(Boolean)
      .join(" · ");
    L.marker([lat, lon], {
      icon: L.divIcon({ className: "", html: `<div class="map-hospital${pci ? " pci" : ""}">+</div>`, iconSize: [18, 18], iconAnchor: [9, 9] }),
      keyboard: false,
      zIndexOffset: -400,
    })
      .bindTooltip(`${esc(f.properties.name)}${badges ? `<br><span class="muted">${esc(badges)}</span>` : ""}`, { direction: "top", offset: [0, -10] })
      .addTo(layers.hospitals);
  }

  const [x0, y0, x1, y1] = county.bbox;
  const bounds = L.latLngBounds([y0, x0], [y1, x1]);
  if (fit) map.fitBounds(bounds, { padding: [12, 12] });
  map.setMaxBounds(bounds.pad(0.5));

  const byZoom = () => {
    const z = map.getZoom();
    // at county scale the labels of idle units would hide the towns; busy units keep theirs
    map.getContainer().classList.toggle("zoom-low", z < QUIET_UNITS_ZOOM);
    const toggle = (layer, on) => (on ? map.hasLayer(layer) || layer.addTo(map) : map.hasLayer(layer) && map.removeLayer(layer));
    toggle(minorRoads, z >= MINOR_ROADS_ZOOM);
    if (places) {
      toggle(layers.villages, z >= VILLAGE_ZOOM);
      toggle(layers.generated, z >= GENERATED_ZOOM);
    }
  };
  map.on("zoomend", byZoom);
  byZoom();

  const named = settlements.filter((p) => p.kind !== "generated");
  /** The nearest named place (town or village), with its distance in metres. */
  function nearestPlace(lon, lat) {
    let best = null;
    let bestD = Infinity;
    const k = Math.cos((lat * Math.PI) / 180);
    for (const p of named.length ? named : settlements) {
      const dx = (p.lon - lon) * k;
      const dy = p.lat - lat;
      const d = dx * dx + dy * dy;
      if (d < bestD) {
        bestD = d;
        best = p;
      }
    }
    return best ? { place: best, distance_m: Math.sqrt(bestD) * 111320 } : null;
  }
  /** The arrival target (minutes) for a point: urban if the nearest settlement is urban. */
  function nearestAny(lon, lat) {
    let best = null;
    let bestD = Infinity;
    const k = Math.cos((lat * Math.PI) / 180);
    for (const p of settlements) {
      const d = ((p.lon - lon) * k) ** 2 + (p.lat - lat) ** 2;
      if (d < bestD) {
        bestD = d;
        best = p;
      }
    }
    return best;
  }
  return { county, bounds, layers, nearestPlace, nearestAny };
}

/** A Leaflet divIcon for a unit: status colour, heading arrow, label; dashed when its fix is stale. */
export function unitIcon({ colour, heading, label, stale, idle = false }) {
  const arrow = heading != null && !stale ? `<div class="heading" style="transform:rotate(${Math.round(heading)}deg)"></div>` : "";
  return L.divIcon({
    className: "",
    html: `<div class="map-unit${stale ? " stale" : ""}${idle ? " idle" : ""}" style="--c:${colour}">${arrow}<div class="body"></div><div class="tag">${label}</div></div>`,
    iconSize: [0, 0],
    iconAnchor: [0, 0],
  });
}

export function incidentIcon({ colour, text, pulse }) {
  return L.divIcon({
    className: "",
    html: `<div class="map-incident${pulse ? " pulse" : ""}" style="--c:${colour}"><div class="ring">${text}</div></div>`,
    iconSize: [0, 0],
    iconAnchor: [0, 0],
  });
}

export function pinIcon() {
  return L.divIcon({ className: "", html: '<div class="map-pin"><div class="ring"></div></div>', iconSize: [0, 0], iconAnchor: [0, 0] });
}
