"""Errors raised by the dispatch core.

Every error derives from `DispatchError`, itself an `ems.errors.EmsError`. Messages name the
field or the id, the value, and what was expected, so the service can show them unchanged
(the HTTP edge maps them to 4xx answers, by class).
"""

from __future__ import annotations

from ems.errors import EmsError


class DispatchError(EmsError):
    """Base of every dispatch-core error."""


class ValidationError(DispatchError, ValueError):
    """A value given to a model or event constructor is out of range or of the wrong kind.

    Attributes
    ----------
    field
        The name of the offending field (``"priority"``, ``"location"``...).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class UnknownIdError(DispatchError, LookupError):
    """An event names a call or unit the state does not hold."""


class DuplicateIdError(DispatchError):
    """An event would create a call or unit whose id is already taken."""


class IllegalTransitionError(DispatchError):
    """A unit status change is not in the transition table.

    The message names both statuses: ``unit renmin-1 cannot go from available_at_station to
    on_scene``.
    """


class UnitBusyError(DispatchError):
    """A unit that is not available was assigned, or an assignment names the wrong unit."""


class CallStateError(DispatchError):
    """An event does not fit the call's status (closing a closed call, assigning a cancelled one)."""


class CodecError(DispatchError, ValueError):
    """An event dict cannot be decoded; the message names the event type and the field.

    Attributes
    ----------
    field
        The offending field (``"type"`` when the event type itself is missing or unknown).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class PolicyError(DispatchError, ValueError):
    """A recommendation was asked with a bad argument or configuration value."""


class OverrideReasonRequired(DispatchError):
    """A dispatcher sent another unit than the recommended one without saying why."""


class NoAssignmentError(DispatchError):
    """A crew accepted or declined while its unit holds no assignment."""


class RankingStaleError(DispatchError):
    """An assignment names a ranked list this service did not give for the call (or no longer holds)."""


class LocationRefusedError(DispatchError, ValueError):
    """A call's location cannot be taken: outside the county, off the roads, or a place not in the gazetteer.

    Attributes
    ----------
    field
        The request field (``"location"``, ``"location.place"``).
    code
        Why: ``outside_county``, ``off_road`` or ``unknown_place``.
    """

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field, self.code = field, code


class UnknownDeviceError(DispatchError, LookupError):
    """A GPS fix names a device that is mapped to no unit."""


class BacklogFullError(DispatchError):
    """Fixes are refused while the position history waits for the store; the device resends them.

    Attributes
    ----------
    retry_after_s
        When to send again (the next store write).
    """

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class AccessDeniedError(DispatchError, PermissionError):
    """The holder of a token may not do or see this (the message names the id and the role)."""


class ConflictError(DispatchError):
    """The request cannot be carried out in the state the thing is in (the message says which state).

    Attributes
    ----------
    code
        A machine-readable reason (``not_ready``, ``queue_full``...).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
