"""Turn what a dispatcher or planner types into a point: place names, pinyin, facilities, lon,lat.

Accepted texts, all resolved through dictionaries built once:

- a Chinese name, with or without its administrative suffix: ``流沙河镇``, ``流沙河``;
- its pinyin, in any case, with or without spaces, hyphens, tone marks or the suffix:
  ``liushahe``, ``Liushahe Zhen``, ``liushahezhen``, ``Liúshāhé``;
- a hospital or station id, name or alias: ``宁乡市人民医院``, ``renmin-hospital``;
- an explicit kind and id: ``place:430124001000``, ``hospital:renmin``, ``station:liushahe``;
- ``name@township`` for a village whose name other villages share: ``石泉村@龙田镇``
  (the township may also be bare or pinyin: ``shiquan@longtian``);
- a coordinate pair ``lon,lat`` in WGS84 degrees: ``112.55,28.25``.

When a name fits several points, township seats and the county win over hospitals, hospitals over
stations, stations over villages and villages over generated settlements; a tie left after that is
an `AmbiguousPlaceError` that lists the ``name@township`` spellings to use instead.
"""

from __future__ import annotations

import bisect
import difflib
import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from pypinyin import lazy_pinyin

from geodata.county import Hospital, Place, PlaceKind, Station
from geodata.errors import AmbiguousPlaceError, BadCoordinatesError, GeodataError, UnknownPlaceError

# Administrative suffixes, longest first so that 街道办事处 is stripped before 办事处.
CHINESE_SUFFIXES = (
    "街道办事处", "居民委员会", "村民委员会", "办事处", "居委会", "村委会", "管理区",
    "街道", "社区", "镇", "乡", "村", "组", "市", "县", "区",
)  # fmt: skip
PINYIN_SUFFIXES = (
    "jiedaobanshichu", "jumingweiyuanhui", "cunminweiyuanhui", "banshichu", "juweihui",
    "cunweihui", "guanliqu", "jiedao", "shequ", "zhen", "xiang", "cun", "zu", "shi", "xian", "qu",
)  # fmt: skip
# A bare name shorter than this is not indexed: "新村" would leave "新", which means nothing.
MIN_BARE_CHARS = 2
MIN_BARE_PINYIN = 4
_COORDS = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*[,，\s]\s*([-+]?\d+(?:\.\d+)?)\s*$")
_EXPLICIT = re.compile(r"^\s*(place|hospital|station)\s*:\s*(\S.*?)\s*$", re.IGNORECASE)


class PointKind(StrEnum):
    """What a resolved point is."""

    COUNTY = "county"
    TOWN = "town"
    VILLAGE = "village"
    GENERATED = "generated"
    HOSPITAL = "hospital"
    STATION = "station"
    COORDINATES = "coordinates"


# Lower wins when several points share a name.
_RANK = {
    PointKind.COUNTY: 0,
    PointKind.TOWN: 0,
    PointKind.HOSPITAL: 1,
    PointKind.STATION: 2,
    PointKind.VILLAGE: 3,
    PointKind.GENERATED: 4,
}


@dataclass(frozen=True, slots=True)
class ResolvedPoint:
    """A point a text resolved to (WGS84); `id` is None for a typed coordinate pair."""

    name: str
    lon: float
    lat: float
    kind: PointKind
    id: str | None
    township: str | None = None


@dataclass(frozen=True, slots=True)
class _Entry:
    point: ResolvedPoint
    rank: int
    label: str  # unambiguous spelling, shown in suggestions


def normalize_chinese(text: str) -> str:
    """Return the text in NFKC form without spaces, for Chinese lookups."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def normalize_pinyin(text: str) -> str:
    """Return lowercase ASCII letters and digits only: tones, spaces, hyphens and case dropped."""
    text = unicodedata.normalize("NFKC", text).lower().replace("ü", "v")
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]", "", text)


@functools.lru_cache(maxsize=65536)
def pinyin_of(name: str) -> str:
    """Return the toneless pinyin of a Chinese name, normalised (``流沙河镇`` -> ``liushahezhen``)."""
    return normalize_pinyin("".join(lazy_pinyin(name)))


def strip_suffix(name: str) -> str | None:
    """Return the name without its administrative suffix, or None when that leaves too little."""
    for suffix in CHINESE_SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= MIN_BARE_CHARS:
            return name[: -len(suffix)]
    return None


def strip_pinyin_suffix(key: str) -> str | None:
    """Return a normalised pinyin key without its suffix, or None when that leaves too little."""
    for suffix in PINYIN_SUFFIXES:
        if key.endswith(suffix) and len(key) - len(suffix) >= MIN_BARE_PINYIN:
            return key[: -len(suffix)]
    return None


class Gazetteer:
    """Resolve place texts to points; search names by prefix for typeahead.

    Parameters
    ----------
    places, hospitals, stations
        The county's places.csv rows and facilities.
    """

    def __init__(
        self,
        places: Iterable[Place],
        hospitals: Iterable[Hospital] = (),
        stations: Iterable[Station] = (),
    ) -> None:
        self._index: dict[str, list[_Entry]] = {}
        self._explicit: dict[tuple[str, str], _Entry] = {}
        self._qualified: dict[str, list[_Entry]] = {}
        self._entries: list[_Entry] = []
        places = tuple(places)
        townships = {p.name: p for p in places if p.kind is PlaceKind.TOWN}
        for place in places:
            self._add_place(place, townships)
        for hospital in hospitals:
            point = ResolvedPoint(hospital.name, hospital.lon, hospital.lat, PointKind.HOSPITAL, hospital.id)
            self._add(point, hospital.name, "", hospital.aliases, "hospital", hospital.id)
        for station in stations:
            point = ResolvedPoint(station.name, station.lon, station.lat, PointKind.STATION, station.id)
            self._add(point, station.name, "", station.aliases, "station", station.id)
        for entries in (*self._index.values(), *self._qualified.values()):
            entries.sort(key=lambda e: e.rank)
        # Sorted (key, entry) pairs for prefix search by bisection.
        pairs = {(key, id(e)): (key, e) for key, es in self._index.items() for e in es}
        self._prefix_keys = sorted(pairs.values(), key=lambda ke: (ke[0], ke[1].rank))
        self._sorted_keys = [k for k, _ in self._prefix_keys]
        self._labels = sorted({e.label for e in self._entries})
        # Every ASCII key (pinyin, ids, aliases) -> the label of its best entry, for suggestions.
        self._ascii_labels = {k: es[0].label for k, es in self._index.items() if k.isascii()}

    def __len__(self) -> int:
        return len(self._entries)

    # --- building ------------------------------------------------------------------------

    def _add_place(self, place: Place, townships: dict[str, Place]) -> None:
        kind = PointKind(place.kind.value)
        township = place.township or None
        point = ResolvedPoint(place.name, place.lon, place.lat, kind, place.id, township)
        entry = self._add(point, place.name, place.name_pinyin, (), "place", place.id)
        if township is not None and kind is not PointKind.TOWN:
            town = townships.get(township)
            town_keys = _name_keys(township, town.name_pinyin if town else "", ())
            for own in _name_keys(place.name, place.name_pinyin, ()):
                for tk in town_keys:
                    self._qualified.setdefault(f"{own}@{tk}", []).append(entry)

    def _add(
        self,
        point: ResolvedPoint,
        name: str,
        pinyin: str,
        aliases: Sequence[str],
        kind: str,
        item_id: str,
    ) -> _Entry:
        label = f"{point.name}@{point.township}" if point.kind in (
            PointKind.VILLAGE, PointKind.GENERATED) and point.township else point.name
        entry = _Entry(point, _RANK[point.kind], label)
        self._entries.append(entry)
        self._explicit[(kind, item_id.lower())] = entry
        keys = set(_name_keys(name, pinyin, tuple(aliases)))
        keys.add(normalize_chinese(item_id).lower())
        keys.add(normalize_pinyin(item_id))
        keys.discard("")
        for key in keys:
            self._index.setdefault(key, []).append(entry)
        return entry


    # --- lookups ------------------------------------------------------------------------------

    def resolve(self, text: str) -> ResolvedPoint:
        """Return the point a text names.

        Raises
        ------
        UnknownPlaceError
            Nothing matches; the message lists the closest names.
        AmbiguousPlaceError
            Several villages share the name; the message lists ``name@township`` spellings.
        BadCoordinatesError
            A ``lon,lat`` pair out of range (or given as ``lat,lon``).
        """
        if not isinstance(text, str) or not text.strip():
            raise GeodataError(f"place must be a name or 'lon,lat', got {text!r}")
        match = _COORDS.match(text)
        if match:
            return _coordinates(text, float(match.group(1)), float(match.group(2)))
        explicit = _EXPLICIT.match(text)
        if explicit:
            entry = self._explicit.get((explicit.group(1).lower(), explicit.group(2).lower()))
            if entry is None:
                raise UnknownPlaceError(text, self.suggest(explicit.group(2)))
            return entry.point
        if "@" in text:
            name, _, township = text.partition("@")
            for key in self._lookup_keys(name):
                for town_key in self._lookup_keys(township):
                    found = self._qualified.get(f"{key}@{town_key}")
                    if found:
                        return self._best(text, found)
            raise UnknownPlaceError(text, self.suggest(name))
        for key in self._lookup_keys(text):
            found = self._index.get(key)
            if found:
                return self._best(text, found)
        raise UnknownPlaceError(text, self.suggest(text))

    def search(self, prefix: str, limit: int = 10) -> list[ResolvedPoint]:
        """Return up to `limit` points whose name, pinyin or id starts with `prefix`.

        Township seats, hospitals and stations come before villages; then shorter names.
        """
        return [e.point for e in self._search_entries(prefix, limit)]

    def _search_entries(self, prefix: str, limit: int) -> list[_Entry]:
        if limit <= 0 or not prefix.strip():
            return []
        found: dict[int, _Entry] = {}
        for key in self._lookup_keys(prefix, bare=False):
            start = bisect.bisect_left(self._sorted_keys, key)
            for k, entry in self._prefix_keys[start:]:
                if not k.startswith(key):
                    break
                found.setdefault(id(entry), entry)
        ranked = sorted(found.values(), key=lambda e: (e.rank, len(e.point.name), e.point.name))
        return ranked[:limit]

    def suggest(self, text: str, n: int = 5) -> list[str]:
        """Return up to `n` known names closest to `text`: prefix matches, then difflib.

        Villages are spelled ``name@township``; Chinese and pinyin (ids, aliases) are compared.
        """
        chinese = normalize_chinese(text)
        names = [e.label for e in self._search_entries(text, n)]
        names += difflib.get_close_matches(chinese, self._labels, n=n, cutoff=0.4)
        key = normalize_pinyin(text)
        if key:
            for close in difflib.get_close_matches(key, list(self._ascii_labels), n=n, cutoff=0.6):
                names.append(self._ascii_labels[close])
        return list(dict.fromkeys(names))[:n]

    # --- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _lookup_keys(text: str, *, bare: bool = True) -> list[str]:
        chinese = normalize_chinese(text).lower()
        keys = [chinese]
        if bare:
            stripped = strip_suffix(chinese)
            if stripped:
                keys.append(stripped)
        pinyin = normalize_pinyin(text)
        if pinyin and pinyin != chinese:
            keys.append(pinyin)
            if bare:
                stripped = strip_pinyin_suffix(pinyin)
                if stripped:
                    keys.append(stripped)
        return [k for k in dict.fromkeys(keys) if k]

    @staticmethod
    def _best(text: str, entries: list[_Entry]) -> ResolvedPoint:
        best = entries[0]
        ties = [e for e in entries if e.rank == best.rank]
        if len(ties) > 1 and len({(e.point.lon, e.point.lat) for e in ties}) > 1:
            raise AmbiguousPlaceError(text, [e.label for e in ties])
        return best.point


@functools.lru_cache(maxsize=65536)
def _name_keys(name: str, pinyin: str, aliases: tuple[str, ...]) -> frozenset[str]:
    """Return every lookup key of a name: Chinese with and without suffix, pinyin variants, aliases.

    pypinyin computes the pinyin only when `pinyin` is empty (it takes ~0.2 ms a name).
    """
    keys = set()
    chinese = normalize_chinese(name)
    keys.add(chinese.lower())
    bare = strip_suffix(chinese)
    if bare:
        keys.add(bare.lower())
    spellings = [normalize_pinyin(x) for x in (pinyin or pinyin_of(name), *aliases)]
    for spelling in spellings:
        # ü is written v by pypinyin and u by most people typing: index both.
        for variant in {spelling, spelling.replace("v", "u")} - {""}:
            keys.add(variant)
            bare_pinyin = strip_pinyin_suffix(variant)
            if bare_pinyin:
                keys.add(bare_pinyin)
    for alias in aliases:
        keys.add(normalize_chinese(alias).lower())
    keys.discard("")
    return frozenset(keys)


def _coordinates(text: str, lon: float, lat: float) -> ResolvedPoint:
    if not -180.0 <= lon <= 180.0 or not -90.0 <= lat <= 90.0:
        swapped = -90.0 <= lon <= 90.0 and -180.0 <= lat <= 180.0
        hint = f"; did you mean {lat},{lon}? expected lon,lat" if swapped else ""
        raise BadCoordinatesError(
            f"coordinates {text.strip()!r}: lon must be in [-180, 180] and lat in [-90, 90], "
            f"got lon={lon}, lat={lat}{hint}"
        )
    return ResolvedPoint(f"{lon:.6f},{lat:.6f}", lon, lat, PointKind.COORDINATES, None)
