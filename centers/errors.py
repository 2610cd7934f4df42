"""Errors of the chest pain and stroke center package."""

from __future__ import annotations

from ems.errors import EmsError


class CentersError(EmsError):
    """Base of every error the centers package raises on purpose."""


class MilestoneError(CentersError):
    """A milestone event is malformed or cannot be accepted into a patient's record."""


class MilestoneOrderError(MilestoneError):
    """A milestone would put two times in an order that cannot happen (balloon before door …)."""


class DestinationError(CentersError):
    """No destination can be chosen, or the destination request is malformed."""


class PrenotificationError(CentersError):
    """A pre-notification or its ECG attachment is malformed."""


class ReportError(CentersError):
    """A quality report request or its input is malformed."""
