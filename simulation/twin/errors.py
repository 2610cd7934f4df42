"""Errors of the twin."""

from __future__ import annotations

from simulation.errors import SimulationError


class TwinError(SimulationError):
    """The twin cannot start (token file, service unreachable) or was misconfigured."""


class TwinHttpError(TwinError):
    """The service answered a request with an error status.

    Attributes
    ----------
    status
        The HTTP status; ``code`` and ``message`` are the service's JSON error fields.
    """

    def __init__(self, method: str, path: str, status: int, code: str, message: str) -> None:
        super().__init__(f"{method} {path}: {status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
