"""Errors and warnings of the geodata package."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ems.errors import EmsError


class GeodataError(EmsError):
    """A county file, an OSM extract or a place name cannot be used.

    Parameters
    ----------
    message
        What is wrong: the field, the value and what was expected.
    path
        The file at fault, when there is one; the message is prefixed with it.
    """

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.problem = message
        super().__init__(f"{path}: {message}" if path is not None else message)


class CountyNotFoundError(GeodataError):
    """The county name is not embedded and is not a directory."""


class UnknownLayoutError(GeodataError):
    """A station layout name the county does not have."""


class UnknownPlaceError(GeodataError):
    """A place text the gazetteer cannot resolve; the message lists the closest names.

    Parameters
    ----------
    text
        What was asked for.
    suggestions
        The closest known names, best first.
    """

    def __init__(self, text: str, suggestions: Sequence[str]) -> None:
        self.text = text
        self.suggestions = tuple(suggestions)
        hint = f"; closest: {', '.join(self.suggestions)}" if self.suggestions else ""
        super().__init__(
            f"place {text!r}: not a known place, hospital, station or 'lon,lat' pair{hint}"
        )


class AmbiguousPlaceError(GeodataError):
    """A place name shared by several places of the same rank.

    Parameters
    ----------
    text
        What was asked for.
    candidates
        Unambiguous spellings of each candidate (``村名@乡镇``).
    """

    def __init__(self, text: str, candidates: Sequence[str]) -> None:
        self.text = text
        self.candidates = tuple(candidates)
        super().__init__(
            f"place {text!r}: ambiguous, {len(self.candidates)} places share this name; "
            f"say which with name@township: {', '.join(self.candidates)}"
        )


class BadCoordinatesError(GeodataError):
    """A ``lon,lat`` text whose numbers are out of range."""


class OsmImportError(GeodataError):
    """An OSM extract or GraphML file that cannot be imported."""


class NoInternetError(OsmImportError):
    """``--place`` could not reach OpenStreetMap's servers."""


class GeodataWarning(UserWarning):
    """Something was repaired or dropped while loading or importing a county."""


class DisconnectedRoadsWarning(GeodataWarning):
    """Road network parts outside the largest strongly connected component were dropped."""
