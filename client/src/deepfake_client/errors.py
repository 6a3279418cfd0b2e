"""Typed errors: one class per family of the service's stable error codes.

Every error the API answers is `{"error": {"code", "message"}}`; branch on the class for
the family and on `.code` for the exact reason (`job_not_found`, `too_many_open_jobs`, ...).
"""

import email.utils
import time

import httpx


class ClientError(Exception):
    """Anything this client raises on purpose."""


class TransportError(ClientError):
    """The service could not be reached (or stopped answering) through every retry."""


class JobTimeout(ClientError, TimeoutError):
    """A job or batch did not end within the time the caller allowed."""


class ApiError(ClientError):
    """The API answered with an error: its HTTP status, stable code and message."""

    def __init__(
        self, status: int, code: str, message: str, *, retry_after_s: float | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        # Seconds the server asked the client to wait (`Retry-After`), when it said.
        self.retry_after_s = retry_after_s


class InvalidRequest(ApiError):
    """400, 405, 413, 415 or 422: the request itself is wrong; sending it again won't help."""


class Unauthorized(ApiError):
    """401: no API key, or an unknown or revoked one."""


class Forbidden(ApiError):
    """403: the key lacks the scope the route needs."""


class NotFound(ApiError):
    """404: no such job, batch, webhook or delivery (for this tenant)."""


class Conflict(ApiError):
    """409: the resource is busy (`delivery_pending`, `idempotency_key_in_use`) or not in
    the state the call needs (`image_not_stored`, `job_not_judged`)."""


class RateLimited(ApiError):
    """429: `rate_limited` or `too_many_open_jobs`; `.retry_after_s` says when to come back."""


class ServerError(ApiError):
    """500: a defect in the service."""


class ServerUnavailable(ApiError):
    """502, 503 or 504: try again later."""


_BY_STATUS: dict[int, type[ApiError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
    500: ServerError,
}


def error_class(status: int) -> type[ApiError]:
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return ServerUnavailable if status != 501 else ServerError
    return InvalidRequest if status >= 400 else ApiError


def retry_after_s(response: httpx.Response) -> float | None:
    """`Retry-After` in seconds from now: delta-seconds or an HTTP date; None if absent."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def error_code(response: httpx.Response) -> tuple[str, str]:
    """The stable code and message of an error answer (or stand-ins for a foreign one)."""
    try:
        error = response.json()["error"]
        return str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        return "http_error", response.text[:200] or response.reason_phrase


def api_error(response: httpx.Response) -> ApiError:
    code, message = error_code(response)
    cls = error_class(response.status_code)
    return cls(response.status_code, code, message, retry_after_s=retry_after_s(response))
