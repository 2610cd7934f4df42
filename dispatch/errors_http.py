"""Errors answered at the HTTP edge as ``{"error": code, "message": "field: what is wrong"}``."""

from __future__ import annotations

from collections.abc import Mapping

from ems.errors import EmsError


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


def conflict(message: str, code: str = "conflict") -> ApiError:
    return ApiError(409, code, message)
