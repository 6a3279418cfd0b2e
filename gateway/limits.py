"""A request-body cap enforced while the body streams in, not after it is buffered."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import ApiError, error_response
from storage.errors import ErrorCode


def too_large(limit: int) -> ApiError:
    return ApiError(413, ErrorCode.PAYLOAD_TOO_LARGE, f"the request body exceeds {limit} bytes")


class BodySizeLimit:
    """Refuses bodies over `max_bytes`: at once from Content-Length, else mid-stream.

    Chunked uploads carry no length, so the count is kept on every `http.request`
    message; the error raised inside `receive` surfaces in the route reading the body, whose
    exception handlers answer it.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        path_limits: dict[str, int] | None = None,
        json_max_bytes: int | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Exact paths with their own cap.
        self.path_limits = path_limits or {}
        # Bodies other than multipart (JSON is parsed whole, at several times its size).
        self.json_max_bytes = json_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.path_limits.get(scope["path"], self.max_bytes)
        if self.json_max_bytes is not None and not _is_multipart(scope):
            max_bytes = min(max_bytes, self.json_max_bytes)
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > max_bytes:
                # Outside the routes' exception handling: answer here, unread.
                error = too_large(max_bytes)
                response = error_response(error.status_code, error.code, error.message)
                await response(scope, receive, send)
                return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise too_large(max_bytes)
            return message

        await self.app(scope, counting_receive, send)


def _is_multipart(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return bool(value.split(b";", 1)[0].strip().lower() == b"multipart/form-data")
    return False
