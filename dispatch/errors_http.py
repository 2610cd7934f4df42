"""The HTTP edge's one mapping of errors to answers: ``{"error": code, "message": "field: what is wrong"}``.

The service layer and the domain raise their own errors (`dispatch.errors`, `centers.errors`,
`dispatch.store.StoreError`...); `answer_for` turns each into a status, a code and headers, by class,
here and nowhere else. `ApiError` is for the HTTP modules' own refusals (a bad query parameter).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from centers.errors import CentersError, DestinationError, MilestoneOrderError, ReportError
from dispatch.errors import (AccessDeniedError, BacklogFullError, CallStateError, ConflictError, DispatchError,
                             DuplicateIdError, IllegalTransitionError, LocationRefusedError, NoAssignmentError,
                             OverrideReasonRequired, RankingStaleError, UnitBusyError, UnknownDeviceError,
                             UnknownIdError)
from dispatch.store import IdempotencyConflict, StoreError, StoreTimeout
from ems.errors import EmsError

log = logging.getLogger(__name__)


class ApiError(EmsError):
    """An error with an HTTP status, a machine-readable code and, optionally, response headers."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def bad_request(message: str, code: str = "invalid") -> ApiError:
    return ApiError(400, code, message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "not_found", message)


@dataclass(frozen=True, slots=True)
class Answer:
    """How an error is answered."""

    status: int
    code: str
    message: str
    headers: Mapping[str, str]


# Domain error class -> (status, code). The first class an error is an instance of wins, so a
# subclass comes before its base. A class with a ``code`` attribute answers with that code.
STATUS_OF: tuple[tuple[type[BaseException], int, str], ...] = (
    (UnknownIdError, 404, "not_found"),
    (IdempotencyConflict, 422, "idempotency_key"),
    (UnknownDeviceError, 400, "unknown_device"),
    (DuplicateIdError, 409, "duplicate"),
    (IllegalTransitionError, 409, "illegal_transition"),
    (UnitBusyError, 409, "unit_busy"),
    (CallStateError, 409, "call_state"),
    (NoAssignmentError, 409, "no_assignment"),
    (RankingStaleError, 409, "ranking_stale"),
    (ConflictError, 409, "conflict"),
    (OverrideReasonRequired, 400, "reason_required"),
    (LocationRefusedError, 400, "invalid"),
    (AccessDeniedError, 403, "forbidden"),
    (BacklogFullError, 503, "backlog"),
    (MilestoneOrderError, 409, "milestone"),
    (DestinationError, 400, "destination"),
    (ReportError, 400, "report"),
    (CentersError, 400, "milestone"),
    (DispatchError, 400, "invalid"),
)


def answer_for(error: BaseException) -> Answer | None:
    """Return how a refusal is answered, or None for an error that is a bug (answered 500 and logged)."""

    if isinstance(error, ApiError):
        return Answer(error.status, error.code, error.message, error.headers)
    if isinstance(error, StoreError):
        log.error("store failure: %s", error)
        # past a deadline the store is slow or unreachable: a retry sooner than that would likely wait as long
        retry_after_s = error.retry_after_s if isinstance(error, StoreTimeout) else 1
        return Answer(503, "store_unavailable", f"store: {error}", {"Retry-After": str(retry_after_s)})
    for cls, status, code in STATUS_OF:
        if isinstance(error, cls):
            headers: dict[str, str] = {}
            if isinstance(error, BacklogFullError):
                headers["Retry-After"] = str(error.retry_after_s)
            return Answer(status, str(getattr(error, "code", None) or code), str(error), headers)
    return None
