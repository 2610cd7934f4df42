"""Request bodies: JSON Schema (a small subset) used both to validate and to write the OpenAPI document.

One source of truth: the schemas below are published verbatim in ``/api/openapi.json`` and enforced by
``validate``. Supported keywords: type (object, string, integer, number, boolean, array, null),
properties, required, additionalProperties (false only), enum, minimum, maximum, minLength, maxLength,
items, minItems, maxItems, oneOf (first matching branch wins; branches are objects told apart by their
required fields), format "date-time".
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from dispatch.errors import ValidationError


class SchemaError(ValidationError):
    """A body does not match its schema; the message names the field."""

    def __init__(self, path: str, what: str) -> None:
        super().__init__(path or "body", f"{path or 'body'}: {what}")
        self.path = path


_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "string": (str,), "boolean": (bool,), "array": (list,), "null": (type(None),),
}


def _type_ok(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(float(value)))
    return isinstance(value, _TYPES[kind])


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def validate(value: Any, schema: dict[str, Any], path: str = "") -> Any:
    """Check ``value`` against ``schema``; return it unchanged, or raise SchemaError naming the field."""
    if "oneOf" in schema:
        return _validate_one_of(value, schema, path)
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_type_ok(value, k) for k in kinds):
            raise SchemaError(path, f"must be {' or '.join(kinds)}, got {_describe(value)}")
    if value is None:
        return value
    if "enum" in schema and value not in schema["enum"]:
        raise SchemaError(path, f"must be one of {', '.join(map(str, schema['enum']))}; got {_describe(value)}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise SchemaError(path, f"must be ≥ {schema['minimum']}, got {value}")
        if "maximum" in schema and value > schema["maximum"]:
            raise SchemaError(path, f"must be ≤ {schema['maximum']}, got {value}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            raise SchemaError(path, f"must have at least {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise SchemaError(path, f"must have at most {schema['maxLength']} characters, got {len(value)}")
        if schema.get("format") == "date-time":
            parse_datetime(value, path)
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            raise SchemaError(path, f"must have at least {schema['minItems']} items, got {len(value)}")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise SchemaError(path, f"must have at most {schema['maxItems']} items, got {len(value)}")
        if "items" in schema:
            for i, item in enumerate(value):
                validate(item, schema["items"], f"{path}[{i}]")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                raise SchemaError(_join(path, name), "is required")
        if schema.get("additionalProperties") is False:
            for name in value:
                if name not in props:
                    raise SchemaError(_join(path, str(name)),
                                      f"unknown field (expected one of {', '.join(sorted(props))})")
        for name, sub in props.items():
            if name in value:
                validate(value[name], sub, _join(path, name))
    return value


def _validate_one_of(value: Any, schema: dict[str, Any], path: str) -> Any:
    branches = schema["oneOf"]
    if isinstance(value, dict):
        for branch in branches:
            if all(name in value for name in branch.get("required", ())):
                return validate(value, branch, path)
    shapes = " or ".join("{" + ", ".join(b.get("required", ())) + "}" for b in branches)
    raise SchemaError(path, f"must be {shapes}, got {_describe(value)}")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def parse_datetime(text: str, path: str = "") -> datetime:
    """Parse an ISO 8601 time with a zone; raise SchemaError naming the field otherwise."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError) as e:
        raise SchemaError(path, f"must be an ISO 8601 time like 2026-01-31T08:15:00+08:00, got {_describe(text)}") from e
    if value.tzinfo is None:
        raise SchemaError(path, "must carry a time zone (e.g. +08:00 or Z)")
    return value
