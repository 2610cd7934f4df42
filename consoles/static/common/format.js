// Times are shown in Asia/Shanghai whatever the machine's zone; durations as m:ss or h:mm:ss.
import { t, getLang } from "./i18n.js";

export const TZ = "Asia/Shanghai";
const clockFmt = new Intl.DateTimeFormat("zh-CN", { timeZone: TZ, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
const shortFmt = new Intl.DateTimeFormat("zh-CN", { timeZone: TZ, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
const dateFmt = new Intl.DateTimeFormat("zh-CN", { timeZone: TZ, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });

function toDate(value) {
  if (value == null || value === "") return null;
  const d = value instanceof Date ? value : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** "14:03:27" in Asia/Shanghai. */
export function clock(value = new Date()) {
  const d = toDate(value);
  return d ? clockFmt.format(d) : "—";
}

/** "14:03" in Asia/Shanghai. */
export function hhmm(value) {
  const d = toDate(value);
  return d ? shortFmt.format(d) : "—";
}

/** "11/26 14:03" in Asia/Shanghai. */
export function dayTime(value) {
  const d = toDate(value);
  return d ? dateFmt.format(d) : "—";
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
  const pad = (n) => String(n).padStart(2, "0");
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
