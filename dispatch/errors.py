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
