"""Errors of the simulation package."""

from __future__ import annotations

from ems.errors import EmsError


class SimulationError(EmsError):
    """Base of every error the simulator raises on purpose."""


class SimulationConfigError(SimulationError):
    """A ``[simulation]`` setting, a distribution or a complaint mix is malformed."""


class DemandError(SimulationError):
    """The demand model or a CSV of past calls cannot be used."""


class ScenarioError(SimulationError):
    """A layout, a county or a travel model cannot be turned into a simulation scenario."""
