"""Fixtures of the simulator's tests (the builders live in simhelpers.py)."""

from __future__ import annotations

import pytest
from tests.simulation.simhelpers import tiny_scenario

from simulation.model import Scenario


@pytest.fixture
def tiny() -> Scenario:
    """The hand-computable scenario of simhelpers.py."""
    return tiny_scenario()
