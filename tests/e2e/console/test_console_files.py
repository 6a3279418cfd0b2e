"""What the gateway serves at /console: a fixed set of files, each with a strict policy, and
no markup or code that could run data as script."""

import re
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from gateway.api.routes.console import ASSETS, CONTENT_SECURITY_POLICY

pytestmark = pytest.mark.e2e

CONSOLE_DIR = Path(__file__).resolve().parents[3] / "gateway" / "console"
POLICY = {
    "default-src": "'none'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' blob: data:",
    "connect-src": "'self'",
    "form-action": "'none'",
    "frame-ancestors": "'none'",
    "base-uri": "'none'",
}


def _policy(header: str) -> dict[str, str]:
    directives = (part.strip().split(" ", 1) for part in header.split(";") if part.strip())
    return {name: value for name, value in directives}


class _Markup(HTMLParser):
    """Every script, stylesheet link, inline handler and style the page holds."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.inline_code: list[str] = []
        self.references: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        for name in attributes:
            if name.startswith("on") or name == "style":
                self.inline_code.append(f"<{tag} {name}>")
        if tag == "style":
            self.inline_code.append("<style>")
        if tag == "script":
            self.scripts.append(attributes)
            self._in_script = True
        for name in ("src", "href"):
            value = attributes.get(name)
            if value and value.startswith("/console/"):
                self.references.append(value)

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_code.append(f"<script>{data.strip()[:40]}")


@pytest.mark.parametrize("path", ["/console", "/console/", "/console/assets/app.js"])
def test_every_console_response_carries_the_strict_policy(gateway: str, path: str) -> None:
    response = httpx.get(gateway + path)
    assert response.status_code == 200
    assert _policy(response.headers["content-security-policy"]) == POLICY
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_the_page_has_no_inline_script_style_or_handler(gateway: str) -> None:
    response = httpx.get(gateway + "/console/")
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    markup = _Markup()
    markup.feed(response.text)
    assert markup.inline_code == []
    assert markup.scripts == [{"type": "module", "src": "/console/assets/app.js"}]
    # Every file the page names is one the gateway serves.
    for reference in markup.references:
        assert httpx.get(gateway + reference).status_code == 200, reference


def test_each_file_is_served_with_its_type_and_revalidated(gateway: str) -> None:
    for name, media_type in ASSETS.items():
        response = httpx.get(f"{gateway}/console/assets/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"] == media_type
        assert response.content == (CONSOLE_DIR / name).read_bytes()
        again = httpx.get(
            f"{gateway}/console/assets/{name}", headers={"If-None-Match": response.headers["etag"]}
        )
        assert again.status_code == 304


def test_every_console_file_is_on_the_list() -> None:
    on_disk = {path.name for path in CONSOLE_DIR.iterdir() if path.is_file()}
    assert on_disk == {*ASSETS, "index.html"}


@pytest.mark.parametrize(
    "path",
    [
        "/console/assets/",
        "/console/assets/index.html",
        "/console/assets/..%2f..%2fmain.py",
        "/console/assets/%2e%2e/%2e%2e/main.py",
        "/console/assets/app.js%00.css",
        "/console/../gateway/main.py",
        "/console/main.py",
    ],
)
def test_nothing_but_the_listed_files_is_served(gateway: str, path: str) -> None:
    response = httpx.get(gateway + path)
    assert response.status_code == 404
    assert b"import" not in response.content


def test_the_scripts_never_parse_data_as_markup_or_code() -> None:
    """User data reaches the page as text: no HTML sinks, no string evaluation."""
    sinks = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function"
        r"|setTimeout\(\s*[\"'`]|\.setAttribute\(\s*[\"']on"
    )
    for name in ASSETS:
        if name.endswith(".js"):
            found = sinks.findall((CONSOLE_DIR / name).read_text())
            # dom.js names the properties it refuses.
            assert found == ([] if name != "dom.js" else ["innerHTML", "outerHTML"]), name
