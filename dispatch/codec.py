"""Events to JSON-able dicts and back, for the event store and the websocket stream.

Format: ``{"type": "CallReceived", "at": "2024-05-01T08:00:00Z", "by": "dispatcher:alice",
"call_id": ..., "location": [112.55, 28.25], ...}``. Datetimes are ISO 8601 in UTC with a ``Z``;
points are ``[lon, lat]`` lists; enums their string values; absent optional fields are ``null``.
Decoding checks every field and names it in the error (`CodecError.field`).

`to_dict` also renders the model values (`Call`, `Unit`, `Assignment`) the same way, for the
service's REST answers.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import datetime
from enum import Enum
from typing import Any, Callable, Mapping

from dispatch.errors import CodecError, ValidationError
from dispatch.events import EVENT_TYPES, BaseEvent

__all__ = ["event_from_dict", "event_to_dict", "to_dict"]


def _encode_value(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, tuple):
        return [_encode_value(v) for v in value]
    return value


def event_to_dict(event: BaseEvent) -> dict[str, Any]:
    """Return `event` as a JSON-able dict with its ``type``.

    Raises
    ------
    CodecError
        `event` is not a dispatch event.
    """
    name = type(event).__name__
    if EVENT_TYPES.get(name) is not type(event):
        raise CodecError("type", f"type: not a dispatch event: {name}")
    out: dict[str, Any] = {"type": name}
    for f in dataclasses.fields(event):
        out[f.name] = _encode_value(getattr(event, f.name))
    return out


def to_dict(value: Any) -> dict[str, Any]:
    """Return a model dataclass (`Call`, `Unit`, `Assignment`, an event) as a JSON-able dict."""
    if isinstance(value, BaseEvent):
        return event_to_dict(value)
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        raise CodecError("value", f"value must be a dispatch dataclass instance, got {type(value).__name__}")
    return {f.name: _encode_value(getattr(value, f.name)) for f in dataclasses.fields(value)}


# -- decoding ----------------------------------------------------------------------------------

Decoder = Callable[[str, str, Any], Any]


def _fail(etype: str, name: str, why: str) -> CodecError:
    return CodecError(name, f"{etype}.{name}: {why}")


# The decoders turn JSON shapes into the fields' Python types and nothing more: the event's own
# constructor checks the values (zones, ranges, finite numbers) once, for decoded and built events alike.

def _dec_datetime(etype: str, name: str, raw: Any) -> datetime:
    if not isinstance(raw, str):
        raise _fail(etype, name, f"expected an ISO 8601 datetime string, got {raw!r}")
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        raise _fail(etype, name, f"expected an ISO 8601 datetime, got {raw!r}") from None


def _dec_point(etype: str, name: str, raw: Any) -> tuple[Any, ...]:
    if not isinstance(raw, (list, tuple)) or len(raw) != 2:
        raise _fail(etype, name, f"expected [lon, lat], got {raw!r}")
    return tuple(raw)


def _dec_str(etype: str, name: str, raw: Any) -> str:
    if not isinstance(raw, str):
        raise _fail(etype, name, f"expected a string, got {raw!r}")
    return raw


def _dec_int(etype: str, name: str, raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise _fail(etype, name, f"expected an integer, got {raw!r}")
    return raw


def _dec_enum(enum: type[Enum]) -> Decoder:
    def decode(etype: str, name: str, raw: Any) -> Enum:
        try:
            return enum(raw)
        except ValueError:
            allowed = ", ".join(m.value for m in enum)
            raise _fail(etype, name, f"expected one of {allowed}; got {raw!r}") from None

    return decode


def _optional(inner: Decoder) -> Decoder:
    def decode(etype: str, name: str, raw: Any) -> Any:
        return None if raw is None else inner(etype, name, raw)

    return decode


def _decoder_for(hint: Any) -> Decoder:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        return _optional(_decoder_for(inner))
    if hint is datetime:
        return _dec_datetime
    if hint is str:
        return _dec_str
    if hint is int:
        return _dec_int
    if isinstance(hint, type) and issubclass(hint, Enum):
        return _dec_enum(hint)
    if typing.get_origin(hint) is tuple and args == (float, float):
        return _dec_point
    raise TypeError(f"no decoder for field type {hint!r}")  # a new event field type: add one above


def _field_table(cls: type[BaseEvent]) -> tuple[dict[str, Decoder], frozenset[str]]:
    hints = typing.get_type_hints(cls)
    decoders: dict[str, Decoder] = {}
    required: set[str] = set()
    for f in dataclasses.fields(cls):
        decoders[f.name] = _decoder_for(hints[f.name])
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.add(f.name)
    return decoders, frozenset(required)


_TABLES = {name: _field_table(cls) for name, cls in EVENT_TYPES.items()}


def event_from_dict(data: Mapping[str, Any]) -> BaseEvent:
    """Build an event from a dict made by `event_to_dict` (or sent by a client).

    Optional fields may be absent or null; unknown fields are refused.

    Raises
    ------
    CodecError
        The message is ``"<Type>.<field>: <why>"`` (``type`` when the type itself is bad) and
        ``field`` names the field.
    """
    if not isinstance(data, Mapping):
        raise CodecError("type", f"event must be an object, got {type(data).__name__}")
    etype = data.get("type")
    if not isinstance(etype, str) or etype not in EVENT_TYPES:
        known = ", ".join(EVENT_TYPES)
        raise CodecError("type", f"type: expected one of {known}; got {etype!r}")
    decoders, required = _TABLES[etype]
    kwargs: dict[str, Any] = {}
    for name, raw in data.items():
        if name == "type":
            continue
        decoder = decoders.get(name)
        if decoder is None:
            raise _fail(etype, str(name), "unknown field")
        kwargs[name] = decoder(etype, name, raw)
    missing = sorted(required - kwargs.keys())
    if missing:
        raise _fail(etype, missing[0], "missing")
    try:
        return EVENT_TYPES[etype](**kwargs)
    except ValidationError as e:
        raise _fail(etype, e.field, str(e)) from e
