"""Every command in the docs (docs/*.md and README.md) is one this repository can run.

Each line of a `sh` block is checked by what it is: a make target must exist; a
`python -m` module (or the `deepfake` command) must answer `--help`, with every long option
the docs use in that help; a `curl` must name an operation of the app's OpenAPI description;
tools this test cannot run (Docker, kubectl, generators from the network) must be known and
the repository files they name must exist. A command of any other kind fails the test, so a
new one is either checked or deliberately listed here. The `python` examples are compiled,
and the hand-written webhook check is run against signatures made by `standardwebhooks`.
"""

import base64
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
VENV_BIN = Path(sys.executable).parent

# Tools that are not run here (no Docker engine or cluster; generators fetched from the
# network); CI validates what they use (make deploy-check) or another test runs them.
EXTERNAL = {
    "docker",
    "kubectl",
    "kind",
    "npx",
    "go",
    "pip",
    "openapi-python-client",
    "nvidia-ctk",
    "cp",
    "grep",
}
# Options whose value is a repository file or folder that must exist.
PATH_OPTIONS = {"-f", "-i", "--path", "--config"}
# Options whose value is written, never read.
OUTPUT_OPTIONS = {"-o", "--out", "--output", "--output-dir", ">"}
# Paths under these are the repository's own and must exist when a command names them.
REPOSITORY_ENTRIES = {
    "tests",
    "k8s",
    "docker",
    "openapi",
    "model_repository",
    "scripts",
    "monitoring",
    "client",
    "docs",
    "compose.yaml",
    "compose.cpu.yaml",
    ".env.example",
}
# Served on the gateway's internal port, outside the API description.
INTERNAL_PATHS = {"/metrics", "/healthz", "/readyz"}
_BLOCK = re.compile(r"^```(?P<lang>[a-z]*)\n(?P<body>.*?)^```", re.M | re.S)


def _blocks(languages: set[str]) -> Iterator[tuple[Path, str]]:
    for page in PAGES:
        for match in _BLOCK.finditer(page.read_text()):
            if match["lang"] in languages:
                yield page, match["body"]


def _commands() -> list[tuple[str, list[str]]]:
    """(where, words) for every command line of every shell block."""
    commands = []
    for page, body in _blocks({"sh", "bash", "shell", "console"}):
        pending = ""
        for line in body.replace("\\\n", " ").splitlines():
            pending += line.strip().removeprefix("$ ") if not pending else "\n" + line
            try:
                words = shlex.split(pending, comments=True)
            except ValueError:  # a quoted argument goes on over the next line
                continue
            if words:
                commands.append((f"{page.relative_to(ROOT)}: {pending[:70]}", words))
            pending = ""
    return commands


COMMANDS = _commands()


@cache
def _make_targets() -> frozenset[str]:
    text = (ROOT / "Makefile").read_text()
    return frozenset(re.findall(r"^([A-Za-z0-9_.-]+):(?!=)", text, re.M))


@cache
def _help(*command: str) -> str:
    done = subprocess.run(
        [*command, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, f"{' '.join(command)} --help failed:\n{done.stderr[-2000:]}"
    return done.stdout


@cache
def _operations() -> frozenset[tuple[str, str]]:
    from gateway.main import create_app

    description: dict[str, Any] = create_app().openapi()
    return frozenset(
        (method.upper(), path)
        for path, operations in description["paths"].items()
        for method in operations
    )


def _check_cli(command: list[str], words: list[str]) -> None:
    """`command [subcommand...] --help` works and lists every long option of `words`."""
    help_text = _help(*command)
    for word in words:
        if word.startswith("-"):
            break
        if not re.search(rf"(^|[\s{{,]){re.escape(word)}([\s,}}]|$)", help_text, re.M):
            break  # an argument, not a subcommand
        command = [*command, word]
        help_text = _help(*command)
    for word in words:
        option = word.strip("[]").split("=", 1)[0]
        if option.startswith("--"):
            assert re.search(rf"{re.escape(option)}(?![\w-])", help_text), (
                f"{' '.join(command)} has no option {option}"
            )


def _check_paths(words: list[str], path_options: frozenset[str] = frozenset()) -> None:
    path_options |= PATH_OPTIONS
    previous = ""
    for word in words:
        path = word.strip("'\"").split("[", 1)[0].removeprefix("./")
        named = previous in path_options or path.split("/", 1)[0] in REPOSITORY_ENTRIES
        if named and previous not in OUTPUT_OPTIONS and "$" not in path and path:
            assert (ROOT / path).exists(), f"{path} does not exist"
        previous = word


def _check_curl(words: list[str]) -> None:
    url = next(word for word in words if word.startswith("http"))
    method = "GET"
    if any(word in {"-d", "--data", "-F", "--form"} for word in words):
        method = "POST"
    if "-X" in words:
        method = words[words.index("-X") + 1]
    path = urlsplit(url).path
    if path in INTERNAL_PATHS:
        return
    for known_method, template in _operations():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if known_method == method and re.fullmatch(pattern, path):
            return
    pytest.fail(f"{method} {path} is not an operation of the API")


@pytest.mark.parametrize(("where", "words"), COMMANDS, ids=[where for where, _ in COMMANDS])
def test_every_documented_command_is_checked(where: str, words: list[str]) -> None:
    program = Path(words[0]).name if words[0].startswith(".venv/") else words[0]
    arguments = words[1:]
    if program == "make":
        targets = [word for word in arguments if "=" not in word and not word.startswith("-")]
        assert set(targets) <= _make_targets(), f"no make target {targets}"
    elif program in {"python", "python3", "python3.11"} and arguments[:1] == ["-m"]:
        _check_paths(arguments)
        _check_cli([sys.executable, "-m", arguments[1]], arguments[2:])
    elif program == "deepfake":
        _check_cli([str(VENV_BIN / "deepfake")], arguments)
    elif program == "curl":
        _check_curl(arguments)
    elif program in EXTERNAL:
        # `cp` writes its last argument; `grep` reads what `make kind-up` generates.
        checked = {"cp": arguments[:1], "grep": []}.get(program, arguments)
        _check_paths(checked, frozenset({"-k"}) if program == "kubectl" else frozenset())
    else:
        pytest.fail(f"{where}: no check for {program!r}: add one, or list it in EXTERNAL")


def test_the_docs_hold_commands() -> None:
    # The extraction itself can fail quietly (a fence renamed): it must find the known ones.
    programs = {words[0] for _, words in COMMANDS}
    assert {"make", "curl", ".venv/bin/python"} <= programs
    assert any(words[:2] == ["make", "up"] for _, words in COMMANDS)


@pytest.mark.parametrize(
    "body", [body for _, body in _blocks({"python"})], ids=lambda body: body.split("\n")[0][:40]
)
def test_python_examples_compile(body: str) -> None:
    compile(body, "<docs>", "exec")


def test_the_hand_written_webhook_check_accepts_real_signatures_only() -> None:
    from standardwebhooks import Webhook

    body = next(body for _, body in _blocks({"python"}) if "def verify(" in body)
    namespace: dict[str, Any] = {}
    exec(body, namespace)  # the example as the docs print it
    verify = namespace["verify"]
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    now = datetime.now(UTC)
    raw = b'{"type": "job.succeeded"}'
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign("msg_1", now, raw),
    }
    assert verify(secret, headers, raw)
    assert not verify(secret, headers, raw + b" ")
    old = {**headers, "webhook-timestamp": str(int(now.timestamp()) - 3600)}
    assert not verify(secret, old, raw)
