"""`/console`: the reviewers' console, static files served from `gateway/console/`.

Only the files named below are served (no directory listing, no path from the request
reaches the file system), each with a strict Content-Security-Policy: scripts and styles
from this origin only, never inline, so data rendered by the console cannot run as code.
"""

import hashlib
from functools import cache
from importlib.resources import files
from typing import Annotated

from fastapi import APIRouter, Header, Response

from gateway.errors import ApiError
from storage.errors import ErrorCode

router = APIRouter(prefix="/console", include_in_schema=False)

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)

_HTML = "text/html; charset=utf-8"
_SCRIPT = "text/javascript; charset=utf-8"
_STYLE = "text/css; charset=utf-8"

# Every file the console is made of, with its type; anything else answers 404.
ASSETS: dict[str, str] = {
    "console.css": _STYLE,
    "app.js": _SCRIPT,
    "api.js": _SCRIPT,
    "dom.js": _SCRIPT,
    "format.js": _SCRIPT,
    "gallery.js": _SCRIPT,
    "upload.js": _SCRIPT,
    "job.js": _SCRIPT,
    "job_details.js": _SCRIPT,
    "review.js": _SCRIPT,
    "explain.js": _SCRIPT,
    "batches.js": _SCRIPT,
    "about.js": _SCRIPT,
}
INDEX = "index.html"

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@cache
def _read(name: str) -> tuple[bytes, str]:
    """The file's bytes and its ETag; the files ship with the package and never change
    while the process runs."""
    content = files("gateway").joinpath("console", name).read_bytes()
    return content, '"' + hashlib.sha256(content).hexdigest()[:32] + '"'


def _serve(name: str, media_type: str, if_none_match: str | None) -> Response:
    content, etag = _read(name)
    # Revalidated on every load: a new release is picked up at once, unchanged files cost
    # a 304.
    headers = {**SECURITY_HEADERS, "ETag": etag, "Cache-Control": "no-cache"}
    if if_none_match is not None and etag in {tag.strip() for tag in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(content, media_type=media_type, headers=headers)


IfNoneMatch = Annotated[str | None, Header()]


@router.api_route("", methods=["GET", "HEAD"])
@router.api_route("/", methods=["GET", "HEAD"])
async def console_page(if_none_match: IfNoneMatch = None) -> Response:
    return _serve(INDEX, _HTML, if_none_match)


@router.api_route("/assets/{name}", methods=["GET", "HEAD"])
async def console_asset(name: str, if_none_match: IfNoneMatch = None) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise ApiError(
            404, ErrorCode.NOT_FOUND, "no such console file", {"X-Content-Type-Options": "nosniff"}
        )
    return _serve(name, media_type, if_none_match)
