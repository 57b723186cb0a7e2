"""API errors with Toxiproxy's exact messages and status codes.

Each failure raises a new instance: a shared, module-level exception object would gather a
traceback entry per raise and keep every failing request's frames and body alive.
"""

from __future__ import annotations


class ApiError(Exception):
    """An error the API reports as ``{"error": message, "status": status}``."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def bad_request_body(detail: str, status: int = 400) -> ApiError:
    return ApiError(f"bad request body: {detail}", status)


def missing_field(field: str) -> ApiError:
    return ApiError(f"missing required field: {field}", 400)


def internal(message: str) -> ApiError:
    """Any other failure (listen, resolve): 500 with the raw error text, as Toxiproxy does."""
    return ApiError(message, 500)


def proxy_not_found() -> ApiError:
    return ApiError("proxy not found", 404)


def proxy_exists() -> ApiError:
    return ApiError("proxy already exists", 409)


def invalid_stream() -> ApiError:
    return ApiError("stream was invalid, can be either upstream or downstream", 400)


def invalid_toxic_type() -> ApiError:
    return ApiError("invalid toxic type", 400)


def toxic_exists() -> ApiError:
    return ApiError("toxic already exists", 409)


def toxic_not_found() -> ApiError:
    return ApiError("toxic not found", 404)
