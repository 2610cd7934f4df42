// Times are shown in the county's time zone (`timezone` of /api/consoles/meta, set once by
// loadMeta) whatever the machine's zone; durations as m:ss or h:mm:ss.
import { t, getLang } from "./i18n.js";

let zone = null; // { name, clock, short, date, parts } once setTimeZone ran

/**
 * Use `name` (an IANA time zone, e.g. the county's) for every time shown, parsed or sent.
 * Throws naming the value when the browser does not know the zone.
 */
export function setTimeZone(name) {
  const refuse = () => new RangeError(`timezone: expected an IANA time zone name (Area/City), got ${JSON.stringify(name)}`);
  if (typeof name !== "string" || !name) throw refuse();
  const make = (locale, options) => {
    try {
      return new Intl.DateTimeFormat(locale, { timeZone: name, hourCycle: "h23", ...options });
    } catch {
      throw refuse();
    }
  };
  zone = {
    name,
    clock: make("zh-CN", { hour: "2-digit", minute: "2-digit", second: "2-digit" }),
    short: make("zh-CN", { hour: "2-digit", minute: "2-digit" }),
    date: make("zh-CN", { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" }),
    parts: make("en-US", { year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", second: "numeric" }),
  };
}

function current() {
  if (!zone) throw new Error("timezone: not set yet (loadMeta sets it from /api/consoles/meta)");
  return zone;
}

/** The county's time zone (IANA name). */
export function timeZone() {
  return current().name;
}

/** The wall clock of an instant in the county: { year, month, day, hour, minute, second }. */
function wall(date) {
  const p = {};
  for (const { type, value } of current().parts.formatToParts(date)) p[type] = Number(value);
  return { year: p.year, month: p.month, day: p.day, hour: p.hour % 24, minute: p.minute, second: p.second };
}

/** Minutes the county's clock is ahead of UTC at an instant (daylight saving included). */
function offsetMin(date) {
  const w = wall(date);
  const whole = Math.floor(date.getTime() / 1000) * 1000;
  return Math.round((Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - whole) / 60000);
}

/**
 * The instant the county's clock shows a wall time; in a daylight-saving gap, the time after it.
 * `month` is 1–12; a day or hour out of range rolls over (day 0 is the last day of the month before).
 */
export function zonedTime({ year, month, day, hour = 0, minute = 0, second = 0 }) {
  const asUtc = Date.UTC(year, month - 1, day, hour, minute, second);
  // the offset at the guess, then at the instant it gives: the second settles times near a change
  const first = asUtc - offsetMin(new Date(asUtc)) * 60000;
  return new Date(asUtc - offsetMin(new Date(first)) * 60000);
}

const pad = (n, width = 2) => String(n).padStart(width, "0");

/** An instant as ISO 8601 on the county's clock with its offset: "2026-03-29T14:03:27.120±hh:mm". */
export function isoLocal(value = new Date()) {
  const d = toDate(value);
  if (!d) return null;
  const w = wall(d);
  const off = offsetMin(d);
  const sign = off < 0 ? "-" : "+";
  const abs = Math.abs(off);
  return `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)}T${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)}.${pad(d.getUTCMilliseconds(), 3)}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/**
 * "HH:MM" said today as an instant: today on the county's clock at `now`, or yesterday when that
 * is more than a minute ahead of `now` (a caller says "23:40" after midnight).
 */
export function todayAt(hhmmText, now = Date.now()) {
  const m = /^(\d{1,2}):(\d{2})$/.exec(String(hhmmText).trim());
  if (!m || Number(m[1]) > 23 || Number(m[2]) > 59) throw new RangeError(`time: expected HH:MM, got ${JSON.stringify(hhmmText)}`);
  const today = wall(new Date(now));
  const at = (dayShift) => zonedTime({ year: today.year, month: today.month, day: today.day + dayShift, hour: Number(m[1]), minute: Number(m[2]) });
  const when = at(0);
  return when.getTime() > now + 60000 ? at(-1) : when;
}

function toDate(value) {
  if (value == null || value === "") return null;
  const d = value instanceof Date ? value : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** "14:03:27" on the county's clock. */
export function clock(value = new Date()) {
  const d = toDate(value);
  return d ? current().clock.format(d) : "—";
}

/** "14:03" on the county's clock. */
export function hhmm(value) {
  const d = toDate(value);
  return d ? current().short.format(d) : "—";
}

/** "11/26 14:03" on the county's clock. */
export function dayTime(value) {
  const d = toDate(value);
  return d ? current().date.format(d) : "—";
}

/** Seconds as "m:ss" (or "h:mm:ss"); negative values get a minus sign. */
export function duration(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return "—";
  const sign = seconds < 0 ? "-" : "";
  let s = Math.round(Math.abs(seconds));
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return h > 0 ? `${sign}${h}:${pad(m)}:${pad(s)}` : `${sign}${m}:${pad(s)}`;
}

/** A rough age: "45秒", "3分", "2时" (or s / min / h). */
export function age(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  const sep = getLang() === "en" ? " " : "";
  if (s < 60) return `${s}${sep}${t("unit.s")}`;
  if (s < 3600) return `${Math.floor(s / 60)}${sep}${t("unit.min")}`;
  return `${Math.floor(s / 3600)}${sep}${t("unit.h")}`;
}

/** Metres as "850 m" or "12.4 km". */
export function distance(metres) {
  if (metres == null || !Number.isFinite(metres)) return "—";
  return metres < 1000 ? `${Math.round(metres)} ${t("unit.m")}` : `${(metres / 1000).toFixed(1)} ${t("unit.km")}`;
}

/** Seconds elapsed since an ISO time (by the given clock offset to the server). */
export function since(value, now = Date.now()) {
  const d = toDate(value);
  return d ? (now - d.getTime()) / 1000 : null;
}

/** "timer-ok" / "timer-near" (from 75 % of the target) / "timer-over". */
export function timerClass(elapsedS, targetS, nearShare = 0.75) {
  if (elapsedS == null || !targetS) return "";
  if (elapsedS > targetS) return "timer-over";
  if (elapsedS >= nearShare * targetS) return "timer-near";
  return "timer-ok";
}

export function lonlat(p) {
  return p ? `${p.lon.toFixed(5)}, ${p.lat.toFixed(5)}` : "—";
}

/** Escape text for HTML. */
export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
