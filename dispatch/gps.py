"""GPS fixes: the three wire formats parsed into a `Fix`, and the filter chain that accepts or rejects one.

Pure: values in, values out (no I/O, no clock: ``now`` is passed in).

Wire formats
------------
- ``json``: ``POST /api/units/{id}/positions`` with one fix object, a JSON array of them, or
  ``{"fixes": [...]}``; fields ``lon``, ``lat``, ``timestamp`` (ISO 8601 with a zone, or epoch
  seconds), ``speed_mps``, ``heading_deg``, ``accuracy_m``, ``altitude_m``, ``battery`` (percent).
- ``osmand``: the OsmAnd protocol as the Traccar Client app sends it (query string or form fields),
  following Traccar's ``OsmAndProtocolDecoder``: ``id`` or ``deviceid``; ``lat`` and ``lon`` or
  ``location=lat,lon``; ``timestamp`` as epoch seconds or milliseconds (a number below 2^31 is
  seconds), ISO 8601 or ``yyyy-MM-dd HH:mm:ss`` (UTC); ``speed`` in KNOTS; ``bearing`` or
  ``heading``; ``altitude``; ``accuracy``; ``hdop``; ``batt`` (percent); ``charge``; ``valid``.
- ``osmand-json``: Traccar Client's JSON body (``Content-Type: application/json``): ``device_id``,
  ``location{timestamp, coords{latitude, longitude, accuracy, speed (m/s), heading, altitude},
  is_moving, odometer, battery{level (0-1), is_charging}}``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any
from urllib.parse import unquote_plus

from ems.errors import EmsError

UTC = timezone.utc
#: One knot in metres per second (international nautical mile per hour): OsmAnd's ``speed`` unit.
KNOT_MPS = 1852.0 / 3600.0
#: Mean Earth radius (IUGG), for haversine distances between fixes.
EARTH_RADIUS_M = 6_371_008.8
#: Epoch numbers from this value on are milliseconds (Traccar: a value above Integer.MAX_VALUE).
EPOCH_MS_FROM = 2**31
#: Most fixes accepted in one JSON request.
MAX_BATCH = 1000


class GpsError(EmsError):
    """A fix cannot be parsed; the message names the field, the value and what was expected.

    Attributes
    ----------
    field
        The offending field (``"lat"``, ``"fixes[3].timestamp"``).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class Reject(str, Enum):
    """Why a parsed fix was not accepted (each reason is counted in ``/metrics``)."""

    INVALID = "invalid"                # coordinates out of WGS84 range, not finite, or valid=false
    NULL_ISLAND = "null_island"        # exactly (0, 0): a receiver with no fix yet
    DUPLICATE = "duplicate"            # same time and place as the unit's newest fix taken
    OUT_OF_ORDER = "out_of_order"      # older than the unit's newest fix taken
    FUTURE = "future"                  # stamped further ahead of the server clock than allowed
    JUMP = "jump"                      # implied speed from the newest fix taken above the limit
    INACCURATE = "inaccurate"          # reported accuracy worse than the limit
    OUTDATED = "outdated"              # older than max_age_s: kept in the history, never the position

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Fix:
    """One GPS fix of a device, WGS84 ``(lon, lat)`` and a tz-aware UTC time.

    ``device_id`` is set by the OsmAnd formats (the edge maps it to a unit); the JSON format names
    the unit in its URL and leaves it None.
    """

    lon: float
    lat: float
    at: datetime
    speed_mps: float | None = None
    heading_deg: float | None = None
    accuracy_m: float | None = None
    altitude_m: float | None = None
    battery_pct: float | None = None
    charging: bool | None = None
    valid: bool = True
    device_id: str | None = None


@dataclass(frozen=True)
class Limits:
    """The filter chain's thresholds (config ``[gps]``)."""

    max_accuracy_m: float = 200.0
    max_speed_kph: float = 250.0
    max_future_s: float = 60.0
    clock_skew_s: float = 5.0
    max_age_s: float = 600.0
    reanchor_fixes: int = 3

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Limits:
        """Read ``[gps]``: ``max_accuracy_m``, ``max_speed_kph``, ``max_future_s``, ``clock_skew_s``,
        ``max_age_s``, ``reanchor_fixes``.

        Raises
        ------
        GpsError
            A threshold is not > 0, ``clock_skew_s`` is not from 0 to ``max_future_s``, or
            ``reanchor_fixes`` is not a whole number >= 2 (1 would take every jump).
        """
        gps = config.get("gps", {}) or {}
        reanchor = gps.get("reanchor_fixes", cls.reanchor_fixes)
        if isinstance(reanchor, bool) or not isinstance(reanchor, int) or reanchor < 2:
            raise GpsError("gps.reanchor_fixes", f"must be a whole number of fixes >= 2, got {reanchor!r}")
        limits = cls(max_accuracy_m=float(gps.get("max_accuracy_m", cls.max_accuracy_m)),
                     max_speed_kph=float(gps.get("max_speed_kph", cls.max_speed_kph)),
                     max_future_s=float(gps.get("max_future_s", cls.max_future_s)),
                     clock_skew_s=float(gps.get("clock_skew_s", cls.clock_skew_s)),
                     max_age_s=float(gps.get("max_age_s", cls.max_age_s)),
                     reanchor_fixes=reanchor)
        for name in ("max_accuracy_m", "max_speed_kph", "max_future_s", "max_age_s"):
            if not getattr(limits, name) > 0:
                raise GpsError(f"gps.{name}", f"must be > 0, got {getattr(limits, name)}")
        if not 0 <= limits.clock_skew_s <= limits.max_future_s:
            raise GpsError("gps.clock_skew_s", f"must be from 0 to gps.max_future_s ({limits.max_future_s}), "
                                               f"got {limits.clock_skew_s}")
        return limits


@dataclass(frozen=True, slots=True)
class Track:
    """What the filter chain knows of one unit between its fixes (a value: each fix gives a new one).

    ``last`` is the newest fix taken: the unit's position, or a fix kept in the history only
    (`Reject.OUTDATED`) when that is newer. ``candidates`` are the fixes refused since as jumps or
    out of order that agree with each other (each one after the previous, at a plausible speed):
    ``reanchor_fixes`` of them in a row mean ``last`` was the wrong one.
    """

    last: Fix | None = None
    candidates: tuple[Fix, ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one fix (`decide`).

    Attributes
    ----------
    reason
        None: the fix is the unit's position. `Reject.OUTDATED`: it goes to the history only.
        Any other reason: it is not taken.
    fix
        The fix to store (its time clamped to the server clock), None when not taken.
    track
        The unit's track after this fix.
    reanchored
        The fix was taken because the last candidates agreed with it against ``last``.
    clamped
        The fix taken was stamped more than ``clock_skew_s`` ahead of the server clock (within
        ``max_future_s``) and is taken at the server's time plus ``clock_skew_s``.
    """

    reason: Reject | None
    fix: Fix | None
    track: Track
    reanchored: bool = False
    clamped: bool = False


# -- the filter chain --------------------------------------------------------------------------

def distance_m(a_lon: float, a_lat: float, b_lon: float, b_lat: float) -> float:
    """Return the great-circle (haversine) distance between two WGS84 points in metres."""
    p1, p2 = math.radians(a_lat), math.radians(b_lat)
    dp, dl = p2 - p1, math.radians(b_lon - a_lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _screen(fix: Fix, now: datetime, limits: Limits) -> Reject | None:
    """Return why a fix is unusable on its own: invalid, (0, 0), inaccurate, too far in the future."""
    if not fix.valid or not (math.isfinite(fix.lon) and math.isfinite(fix.lat)) \
            or not (-180.0 <= fix.lon <= 180.0 and -90.0 <= fix.lat <= 90.0):
        return Reject.INVALID
    if fix.lon == 0.0 and fix.lat == 0.0:
        return Reject.NULL_ISLAND
    if fix.accuracy_m is not None and fix.accuracy_m > limits.max_accuracy_m:
        return Reject.INACCURATE
    if (fix.at - now).total_seconds() > limits.max_future_s:
        return Reject.FUTURE
    return None


def _follows(before: Fix, fix: Fix, limits: Limits) -> Reject | None:
    """Return why ``fix`` cannot come after ``before`` on one track: duplicate, out of order, jump."""
    dt_s = (fix.at - before.at).total_seconds()
    if dt_s < 0:
        return Reject.OUT_OF_ORDER
    moved_m = distance_m(before.lon, before.lat, fix.lon, fix.lat)
    if dt_s == 0:
        # the same fix sent again; at the same time elsewhere is an infinite speed
        return Reject.DUPLICATE if moved_m == 0 else Reject.JUMP
    if moved_m / dt_s * 3.6 > limits.max_speed_kph:
        return Reject.JUMP
    return None


def decide(fix: Fix, track: Track, now: datetime, limits: Limits) -> Decision:
    """Return whether ``fix`` is a unit's position, history only, or refused, and the unit's new track.

    In this order: invalid, (0, 0), accuracy, future (more than ``max_future_s`` ahead of
    ``now``; a fix less far ahead but more than ``clock_skew_s`` is taken at ``now +
    clock_skew_s``: it cannot have been taken after it arrived, and kept at its own time it
    would make the real fixes after it out of order until the server's clock caught up with it),
    then against ``track.last``: duplicate, out of order, jump. A fix refused as out of order or a jump
    becomes a candidate; when ``reanchor_fixes`` candidates in a row agree with each other and
    the newest is newer than ``track.last``, the newest is taken (re-anchored): one bad fix taken
    cannot lock the real ones out. Last, a fix taken more than ``max_age_s`` old is
    `Reject.OUTDATED`: kept for the history (a phone's queue sent after a time offline), never
    the position.
    """
    reason = _screen(fix, now, limits)
    if reason is not None:
        return Decision(reason, None, track)
    latest_at = now + timedelta(seconds=limits.clock_skew_s)
    clamped = fix.at > latest_at
    if clamped:
        fix = replace(fix, at=latest_at)
    reanchored = False
    reason = _follows(track.last, fix, limits) if track.last is not None else None
    if reason is Reject.DUPLICATE:
        return Decision(reason, None, track)
    if reason is not None:
        chain = track.candidates
        agreement = _follows(chain[-1], fix, limits) if chain else None
        if agreement is Reject.DUPLICATE:
            return Decision(reason, None, track)  # a candidate sent again counts once
        chain = chain + (fix,) if chain and agreement is None else (fix,)
        assert track.last is not None
        if len(chain) < limits.reanchor_fixes or fix.at < track.last.at:
            return Decision(reason, None, Track(track.last, chain[-limits.reanchor_fixes:]))
        reanchored = True
    outdated = (now - fix.at).total_seconds() > limits.max_age_s
    return Decision(Reject.OUTDATED if outdated else None, fix, Track(fix), reanchored=reanchored, clamped=clamped)


def check_fix(fix: Fix, last: Fix | None, now: datetime, limits: Limits) -> Reject | None:
    """Return why ``fix`` is not the position after the unit's newest fix ``last`` (no candidates), or None.

    `decide` with a track of ``last`` alone: see it for the order of the checks.
    """
    return decide(fix, Track(last), now, limits).reason


# -- parsing helpers ---------------------------------------------------------------------------

def _number(field: str, raw: Any, *, optional: bool = True) -> float | None:
    if raw is None or raw == "":
        if optional:
            return None
        raise GpsError(field, "is required")
    if isinstance(raw, bool):
        raise GpsError(field, f"must be a number, got {raw!r}")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise GpsError(field, f"must be a number, got {str(raw)[:40]!r}") from None
    if not math.isfinite(value):
        if optional:
            return None
        return value  # non-finite coordinates are a counted filter reason, not a parse error
    return value


def _required(field: str, raw: Any) -> float:
    value = _number(field, raw, optional=False)
    assert value is not None
    return value


def _bool(field: str, raw: Any) -> bool | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise GpsError(field, f"must be true or false, got {str(raw)[:40]!r}")


def _epoch(field: str, value: float) -> datetime:
    seconds = value / 1000.0 if abs(value) >= EPOCH_MS_FROM else value
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError) as e:
        raise GpsError(field, f"epoch time {value} is out of range") from e


def parse_time(field: str, raw: Any, *, naive_utc: bool = False) -> datetime:
    """Parse a fix time: epoch seconds or milliseconds, ISO 8601, or ``yyyy-MM-dd HH:mm:ss``.

    A time without a zone is refused unless ``naive_utc`` (OsmAnd: Traccar reads it as UTC).
    """
    if raw is None or raw == "":
        raise GpsError(field, "is required")
    if isinstance(raw, bool):
        raise GpsError(field, f"must be a time, got {raw!r}")
    if isinstance(raw, (int, float)):
        if not math.isfinite(raw):
            raise GpsError(field, f"must be a time, got {raw!r}")
        return _epoch(field, float(raw))
    text = str(raw).strip()
    try:
        return _epoch(field, float(text))
    except ValueError:
        pass
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise GpsError(field, "must be epoch seconds or milliseconds, ISO 8601 or 'yyyy-MM-dd HH:mm:ss', "
                              f"got {text[:40]!r}") from None
    if value.tzinfo is None:
        if not naive_utc:
            raise GpsError(field, f"must carry a time zone (e.g. Z or +08:00), got {text[:40]!r}")
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


# -- the JSON intake ---------------------------------------------------------------------------

_JSON_FIELDS = frozenset({"lon", "lat", "timestamp", "speed_mps", "heading_deg", "accuracy_m", "altitude_m",
                          "battery"})


def parse_json_fixes(body: Any) -> list[Fix]:
    """Parse the body of ``POST /api/units/{id}/positions``: one fix, a list, or ``{"fixes": [...]}``.

    Raises
    ------
    GpsError
        The body is not a fix or a batch of them, or a field is missing or not a number.
    """
    if isinstance(body, dict) and "fixes" in body:
        extra = set(body) - {"fixes"}
        if extra:
            raise GpsError(sorted(extra)[0], "unknown field next to fixes")
        items, prefix = body["fixes"], "fixes"
    elif isinstance(body, list):
        items, prefix = body, ""
    elif isinstance(body, dict):
        return [parse_json_fix(body, "")]
    else:
        raise GpsError("body", f"must be a fix object, a list of fixes or {{\"fixes\": [...]}}, "
                               f"got {type(body).__name__}")
    if not isinstance(items, list) or not items:
        raise GpsError(prefix or "body", "must be a non-empty list of fixes")
    if len(items) > MAX_BATCH:
        raise GpsError(prefix or "body", f"must hold at most {MAX_BATCH} fixes, got {len(items)}")
    return [parse_json_fix(item, f"{prefix}[{i}]") for i, item in enumerate(items)]


def parse_json_fix(item: Any, where: str) -> Fix:
    """Parse one fix object of the JSON intake (``where`` prefixes field names in messages)."""
    def f(name: str) -> str:
        return f"{where}.{name}" if where else name

    if not isinstance(item, dict):
        raise GpsError(where or "body", f"must be a fix object, got {type(item).__name__}")
    unknown = set(item) - _JSON_FIELDS
    if unknown:
        name = sorted(unknown)[0]
        raise GpsError(f(name), f"unknown field (expected one of {', '.join(sorted(_JSON_FIELDS))})")
    battery = _number(f("battery"), item.get("battery"))
    if battery is not None and not 0 <= battery <= 100:
        raise GpsError(f("battery"), f"must be a percentage 0-100, got {battery}")
    return Fix(lon=_required(f("lon"), item.get("lon")), lat=_required(f("lat"), item.get("lat")),
               at=parse_time(f("timestamp"), item.get("timestamp")),
               speed_mps=_number(f("speed_mps"), item.get("speed_mps")),
               heading_deg=_number(f("heading_deg"), item.get("heading_deg")),
               accuracy_m=_number(f("accuracy_m"), item.get("accuracy_m")),
               altitude_m=_number(f("altitude_m"), item.get("altitude_m")),
               battery_pct=battery)


# -- OsmAnd (Traccar Client) -------------------------------------------------------------------

def parse_query(raw: str) -> dict[str, str]:
    """Parse a URL query string (or a form body) into ``{name: value}``.

    Decoded as HTML forms are (``%XX`` escapes, ``+`` for a space); a name given twice keeps its
    first value; a name without ``=`` has the value ``""``. Only parts holding an escape are
    decoded: a device's query is usually plain numbers.
    """
    params: dict[str, str] = {}
    if not raw:
        return params
    for part in raw.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if "%" in part or "+" in part:
            name, value = unquote_plus(name), unquote_plus(value)
        if name not in params:
            params[name] = value
    return params


def parse_osmand(params: Mapping[str, str], now: datetime) -> Fix:
    """Parse an OsmAnd request's query or form parameters into a fix.

    Parameters
    ----------
    params
        The query string and form fields merged (form fields win).
    now
        Used when the device sends no ``timestamp`` (Traccar stamps such a fix with the server time).

    Raises
    ------
    GpsError
        No device id, no position, or a value that is not a number or a time.
    """
    get = params.get
    device = get("id") or get("deviceid")
    if not device:
        raise GpsError("id", "the device identifier (id or deviceid) is required")
    location = get("location")
    if location:
        parts = location.split(",")
        if len(parts) != 2:
            raise GpsError("location", f"must be 'lat,lon', got {location[:40]!r}")
        lat, lon = _required("location", parts[0]), _required("location", parts[1])
    else:
        lat, lon = _required("lat", get("lat")), _required("lon", get("lon"))
    raw_time = get("timestamp")
    at = parse_time("timestamp", raw_time, naive_utc=True) if raw_time else now
    speed_kn = _number("speed", get("speed"))
    bearing = get("bearing")
    heading = _number("bearing", bearing) if bearing else _number("heading", get("heading"))
    accuracy = _number("accuracy", get("accuracy"))
    if accuracy is None and get("hdop"):
        # Traccar keeps hdop as its own attribute; as an accuracy we take hdop x 5 m (a common
        # rule of thumb for a consumer receiver's user range error), only when accuracy is absent.
        hdop = _number("hdop", get("hdop"))
        accuracy = hdop * 5.0 if hdop is not None else None
    valid = _bool("valid", get("valid"))
    return Fix(lon=lon, lat=lat, at=at,
               speed_mps=speed_kn * KNOT_MPS if speed_kn is not None else None,
               heading_deg=heading, accuracy_m=accuracy, altitude_m=_number("altitude", get("altitude")),
               battery_pct=_number("batt", get("batt")), charging=_bool("charge", get("charge")),
               valid=True if valid is None else valid, device_id=str(device))


def parse_osmand_json(body: Any) -> Fix:
    """Parse Traccar Client's JSON body (``device_id`` and ``location{...}``).

    Raises
    ------
    GpsError
        A required part is missing or a value is not a number or a time.
    """
    if not isinstance(body, dict):
        raise GpsError("body", f"must be an object with device_id and location, got {type(body).__name__}")
    device = body.get("device_id")
    if not device or not isinstance(device, (str, int)) or isinstance(device, bool):
        raise GpsError("device_id", f"is required (a string), got {device!r}")
    location = body.get("location")
    if not isinstance(location, dict):
        raise GpsError("location", f"must be an object with timestamp and coords, got {location!r:.40}")
    coords = location.get("coords")
    if not isinstance(coords, dict):
        raise GpsError("location.coords", f"must be an object with latitude and longitude, got {coords!r:.40}")
    battery = location.get("battery") if isinstance(location.get("battery"), dict) else {}
    level = _number("location.battery.level", battery.get("level"))
    heading = _number("location.coords.heading", coords.get("heading"))
    speed = _number("location.coords.speed", coords.get("speed"))
    return Fix(lon=_required("location.coords.longitude", coords.get("longitude")),
               lat=_required("location.coords.latitude", coords.get("latitude")),
               at=parse_time("location.timestamp", location.get("timestamp"), naive_utc=True),
               # the app reports -1 for an unknown speed or heading
               speed_mps=speed if speed is not None and speed >= 0 else None,
               heading_deg=heading if heading is not None and heading >= 0 else None,
               accuracy_m=_number("location.coords.accuracy", coords.get("accuracy")),
               altitude_m=_number("location.coords.altitude", coords.get("altitude")),
               battery_pct=level * 100.0 if level is not None and level >= 0 else None,
               charging=_bool("location.battery.is_charging", battery.get("is_charging")),
               device_id=str(device))


def fix_json(unit_id: str, fix: Fix) -> dict[str, Any]:
    """Return a fix as the ``position`` websocket message's core fields."""
    return {"unit_id": unit_id, "lon": fix.lon, "lat": fix.lat, "at": fix.at.isoformat(),
            "speed_mps": fix.speed_mps, "heading_deg": fix.heading_deg, "accuracy_m": fix.accuracy_m}


def fix_from_json(data: Mapping[str, Any]) -> Fix:
    """Rebuild a fix from `fix_json` output plus optional fields (positions received over the bus)."""
    return Fix(lon=float(data["lon"]), lat=float(data["lat"]), at=datetime.fromisoformat(data["at"]),
               speed_mps=data.get("speed_mps"), heading_deg=data.get("heading_deg"),
               accuracy_m=data.get("accuracy_m"), altitude_m=data.get("altitude_m"))


def age_s(fix: Fix, now: datetime) -> float:
    """Return how old a fix is, in seconds."""
    return (now - fix.at) / timedelta(seconds=1)
