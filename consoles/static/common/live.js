// Calls and units kept current: the /ws stream first (docs/protocol.md), REST polling when the
// service has no stream or the socket fails. Both paths fill the same maps.
//
// Stream messages: snapshot {seq, calls, units, server_time}; event {seq, event, call, unit};
// positions {positions: [{unit_id, lon, lat, at, speed_mps, heading_deg, accuracy_m, stale, eta_s,
// eta_target, road}]} (the latest of each unit, at most ~20 frames a second); position {the same
// fields, one unit} from older services; stale {unit_id, since}; ping.
// Close code 4008 = fell behind: reconnect with since=<last seq>.

const FELL_BEHIND = 4008;
const RETRY_SOCKET_MS = 15000;

export class Live extends EventTarget {
  /**
   * @param {Api} api
   * @param {object} options  websocket: the service has /ws; calls: poll /api/calls too;
   *                          pollMs: polling period; unitFilter: keep only these unit ids.
   */
  constructor(api, { websocket = false, calls = true, pollMs = 3000 } = {}) {
    super();
    this.api = api;
    this.useSocket = websocket;
    this.wantCalls = calls;
    this.pollMs = pollMs;
    this.calls = new Map();
    this.units = new Map();
    this.seq = null;
    this.mode = "down";
    this.socket = null;
    this.pollTimer = null;
    this.serverOffsetMs = 0;
  }

  start() {
    if (this.useSocket) this.connect();
    else this.startPolling();
  }

  /** Milliseconds now, on the server's clock when the stream told us its time. */
  now() {
    return Date.now() + this.serverOffsetMs;
  }

  setMode(mode) {
    if (mode !== this.mode) {
      this.mode = mode;
      this.dispatchEvent(new CustomEvent("mode", { detail: mode }));
    }
  }

  changed(kind, detail = {}) {
    this.dispatchEvent(new CustomEvent("change", { detail: { kind, ...detail } }));
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const since = this.seq != null ? `&since=${this.seq}` : "";
    let opened = false;
    const socket = new WebSocket(`${scheme}://${location.host}/ws?token=${encodeURIComponent(this.api.token)}${since}`);
    this.socket = socket;
    socket.addEventListener("open", () => {
      opened = true;
      this.stopPolling();
      this.setMode("live");
    });
    socket.addEventListener("message", (event) => {
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return;
      }
      this.handle(msg);
    });
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (event.code === FELL_BEHIND) {
        this.connect();
        return;
      }
      // No stream (or it dropped): poll meanwhile, try the stream again later.
      this.startPolling();
      setTimeout(() => {
        if (!this.socket) this.connect();
      }, opened ? 1000 : RETRY_SOCKET_MS);
    });
  }

  handle(msg) {
    switch (msg.type) {
      case "snapshot":
        this.seq = msg.seq;
        if (msg.server_time) this.serverOffsetMs = new Date(msg.server_time).getTime() - Date.now();
        this.calls = new Map((msg.calls || []).map((c) => [c.id, c]));
        this.units = new Map((msg.units || []).map((u) => [u.id, u]));
        this.changed("snapshot");
        break;
      case "event":
        if (msg.seq != null) this.seq = msg.seq;
        if (msg.call) this.calls.set(msg.call.id, msg.call);
        if (msg.unit) this.units.set(msg.unit.id, { ...this.units.get(msg.unit.id), ...msg.unit });
        this.changed("event", { event: msg.event, call: msg.call, unit: msg.unit });
        break;
      case "positions": {
        // one change for the whole frame: listeners redraw once, not once per unit
        const unitIds = (msg.positions || []).filter((p) => this.applyPosition(p)).map((p) => p.unit_id);
        if (unitIds.length) this.changed("position", { unitId: unitIds[0], unitIds });
        break;
      }
      case "position":
        if (this.applyPosition(msg)) this.changed("position", { unitId: msg.unit_id, unitIds: [msg.unit_id] });
        break;
      case "stale": {
        const unit = this.units.get(msg.unit_id);
        if (unit) {
          unit.stale = true;
          this.changed("position", { unitId: msg.unit_id, unitIds: [msg.unit_id] });
        }
        break;
      }
      default:
        break; // ping and anything newer
    }
  }

  /** Take one unit's position (an item of a positions frame); false when the unit is not known. */
  applyPosition(p) {
    const unit = this.units.get(p.unit_id);
    if (!unit) return false;
    unit.position = { lon: p.lon, lat: p.lat };
    unit.position_at = p.at;
    unit.heading_deg = p.heading_deg ?? unit.heading_deg ?? null;
    unit.speed_mps = p.speed_mps ?? null;
    unit.accuracy_m = p.accuracy_m ?? null;
    unit.stale = Boolean(p.stale);
    if (p.eta_s != null) unit.live_eta = { eta_s: p.eta_s, target: p.eta_target, at: this.now() };
    return true;
  }

  startPolling() {
    if (this.pollTimer) return;
    const tick = async () => {
      await this.refresh();
      this.pollTimer = setTimeout(tick, this.pollMs);
    };
    this.pollTimer = setTimeout(tick, 0);
  }

  stopPolling() {
    clearTimeout(this.pollTimer);
    this.pollTimer = null;
  }

  /** Read calls and units through REST now (after a write, or on each polling tick). */
  async refresh() {
    try {
      const [units, calls] = await Promise.all([
        this.api.get("/api/units"),
        this.wantCalls ? this.api.get("/api/calls") : Promise.resolve(null),
      ]);
      const merged = new Map();
      for (const u of units.units) {
        const old = this.units.get(u.id);
        // keep what only the stream tells (heading, live ETA) while the fix is the same
        const same = old && old.position_at === u.position_at;
        merged.set(u.id, same ? { ...old, ...u, heading_deg: u.heading_deg ?? old.heading_deg, live_eta: old.live_eta } : u);
      }
      this.units = merged;
      if (calls) this.calls = new Map(calls.calls.map((c) => [c.id, c]));
      if (!this.socket || this.socket.readyState !== WebSocket.OPEN) this.setMode("poll");
      this.changed("poll");
    } catch (e) {
      this.setMode("down");
      this.dispatchEvent(new CustomEvent("failure", { detail: e }));
    }
  }

  openCalls() {
    return [...this.calls.values()].filter((c) => !c.ended_at);
  }
}
