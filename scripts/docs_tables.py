"""The tables of the docs site that the code already knows: every setting and every route's scope.

The tables sit in `docs/*.md` between `<!-- generated: NAME -->` and `<!-- end generated -->`
markers. `python scripts/docs_tables.py` rewrites them (`make docs-tables`); with `--check` it
only reports the tables that differ, which is what `tests/unit/test_docs_tables.py` asks, so a
setting added, renamed or given a new default shows in the docs or fails the tests.

A setting's description is the comment just above its field in the settings class; fields
without one are described in `DESCRIPTIONS` below, and a field in neither fails the run.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import re
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel, FilePath, SecretStr
from pydantic.fields import FieldInfo

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

# Descriptions by `Class.field`: of fields with no comment above them, and of the few whose
# comment speaks of the code (field names) rather than of the variable. These win.
DESCRIPTIONS = {
    "CelerySettings.visibility_timeout_s": "seconds before Redis hands an unacknowledged task "
    "out again; keep it above the longest task",
    "AuthSettings.disabled": "no API keys: every request acts for the bootstrap tenant with "
    "every scope (local development only)",
    "AuthSettings.bootstrap_admin_key": "a `dfk_...` key recorded at start-up as an admin key "
    "of the bootstrap tenant (first deployment, tests)",
    "Settings.max_batch_items": "rows a bulk batch may hold",
    "Settings.max_wait_s": "`GET /v1/jobs/{id}?wait=` holds the request at most this long for "
    "the job to end",
    "WebhookSettings.sweep_interval_s": "how often beat sends the sweep of due held retries "
    "(queue `maintenance`)",
    "WebhookSettings.max_in_flight_per_tenant": "deliveries of one tenant being sent at once, "
    "over every webhook worker (a Redis semaphore); one over it waits in MongoDB, not "
    "counted as an attempt",
    "WebhookSettings.allow_loopback": "allow receivers on loopback, on any port (tests and "
    "local development only)",
    "ProvenanceSettings.trust_anchors": "a PEM bundle of the certificates a C2PA signer must "
    "chain to for its signature to count as `trusted`; without one, every intact signature "
    "is `untrusted`",
    "MongoSettings.url": "MongoDB connection string",
    "MongoSettings.database": "database name",
    "MongoSettings.timeout_ms": "server selection and connect timeout, in milliseconds",
    "ObjectStoreSettings.endpoint": "S3/MinIO `host:port`",
    "ObjectStoreSettings.access_key": "access key",
    "ObjectStoreSettings.secret_key": "secret key",
    "ObjectStoreSettings.bucket": "bucket (created at start-up when missing)",
    "ObjectStoreSettings.secure": "HTTPS to the object store",
    "ObjectStoreSettings.region": "region",
    "TritonSettings.url": "Triton gRPC `host:port`",
    "TritonSettings.model_name": "the default detector (jobs that name none)",
    "TritonSettings.timeout_s": "deadline of each request to Triton",
    "TritonSettings.face_model_version": "pin the face detector's version; empty: Triton's",
    "CelerySettings.broker_url": "Redis broker URL (`redis://` or `rediss://`)",
    "VerdictSettings.fake_threshold": "default threshold: `fake` at or above",
    "VerdictSettings.real_threshold": "default threshold: `real` below",
    "AuthSettings.bootstrap_tenant": "the bootstrap key's tenant (and every request's while "
    "authentication is off)",
    "RateLimitSettings.burst": "the bucket's size: requests a key may make at once",
    "Settings.max_upload_bytes": "largest upload (`POST /v1/jobs` multipart)",
    "Settings.max_url_length": "longest image, webhook or callback URL",
    "Settings.max_metadata_bytes": "largest `metadata`, as compact JSON",
    "Settings.max_batch_upload_bytes": "largest batch request body (a CSV or JSONL file)",
    "Settings.wait_recheck_s": "a request waiting on a job (`?wait=`) rereads it this often",
    "FetchSettings.connect_timeout_s": "connect timeout per hop",
    "FetchSettings.read_timeout_s": "timeout of each read",
    "FetchSettings.max_bytes": "largest image body, enforced while streaming",
    "FetchSettings.max_redirects": "redirects followed, each checked like the first URL",
    "FetchSettings.user_agent": "User-Agent sent",
    "ImageSettings.formats": "formats Pillow may open (a JSON list)",
    "FaceSettings.score_threshold": "least face-detection score kept",
    "FaceSettings.iou_threshold": "overlap above which the weaker of two faces is dropped",
    "FaceSettings.whole_image_fallback_max_aspect": "...and this close to square (longer "
    "side over shorter) is judged whole",
    "RetrySettings.max_retries": "retries of a transient failure",
    "RetrySettings.backoff_base_s": "first retry delay, doubled each time",
    "RetrySettings.backoff_max_s": "longest retry delay",
    "WebhookSettings.timeout_s": "time a receiver has to answer an attempt",
    "WebhookSettings.retry_schedule_s": "delays between attempts (a JSON list)",
    "WebhookSettings.sweep_limit": "due deliveries one sweep enqueues",
    "WebhookSettings.over_cap_delay_s": "least wait of a delivery over its tenant's cap",
    "WebhookSettings.user_agent": "User-Agent sent",
    "ReconcilerSettings.interval_s": "seconds between reconciler passes (beat reads it at start)",
    "RetentionSettings.images_days": "images are deleted this long after their job was "
    "created; `0` keeps them",
    "RetentionSettings.results_days": "jobs, batches, reviews and deliveries likewise",
    "RetentionSettings.interval_s": "seconds between retention passes",
    "MicroBatchSettings.size": "jobs one task run judges together at most",
    "ProvenanceSettings.enabled": "read C2PA manifests and EXIF of each image",
}


@dataclass(frozen=True)
class Setting:
    name: str  # after the service prefix, e.g. `MONGO__URL`
    type: str
    default: str
    description: str


def _comments_above(model: type[BaseModel]) -> dict[str, str]:
    """Each field's comment: the `#` lines right above its line in the class source."""
    source = textwrap.dedent(inspect.getsource(model))
    lines = source.splitlines()
    comments: dict[str, str] = {}
    for node in ast.parse(source).body[0].body:  # type: ignore[attr-defined]
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        block: list[str] = []
        index = node.lineno - 2
        while index >= 0 and lines[index].strip().startswith("#"):
            block.insert(0, lines[index].strip().lstrip("#").strip())
            index -= 1
        if block:
            comments[node.target.id] = " ".join(block)
    return comments


@cache
def _class_comments(model: type[BaseModel]) -> dict[str, str]:
    return _comments_above(model)


def _description(model: type[BaseModel], field: str, info: FieldInfo) -> str:
    text = DESCRIPTIONS.get(f"{model.__name__}.{field}") or info.description
    text = text or _class_comments(model).get(field)
    if not text:
        raise SystemExit(
            f"{model.__module__}.{model.__name__}.{field} has no description: "
            "add a comment above it or an entry in DESCRIPTIONS (scripts/docs_tables.py)"
        )
    text = text[0].upper() + text[1:]
    return text.replace("|", "\\|") + ("" if text.endswith(".") else ".")


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    args = [arg for arg in get_args(annotation) if arg is not type(None)]
    if origin in (tuple, list, frozenset, set):
        return f"list of {_type_name(args[0])}"
    if args and len(args) < len(get_args(annotation)):  # X | None
        return f"{_type_name(args[0])}, optional"
    if annotation is FilePath:
        return "file path"
    if annotation is SecretStr:
        return "secret"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return " \\| ".join(f"`{member.value}`" for member in annotation)
    names = {bool: "bool", int: "int", float: "number", str: "string"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)).lower())


def _bounds(info: FieldInfo) -> str:
    signs = {Ge: "≥", Gt: ">", Le: "≤", Lt: "<"}
    parts = []
    for constraint in info.metadata:
        for kind, sign in signs.items():
            if isinstance(constraint, kind):
                limit = getattr(constraint, kind.__name__.lower())
                parts.append(f"{sign} {_number(limit)}")
    return ", ".join(parts)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _default(name: str, value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f"`{value}`" if value else "empty"
    if isinstance(value, tuple | list | frozenset | set):
        items = sorted(value) if isinstance(value, frozenset | set) else list(value)
        items = [
            int(item) if isinstance(item, float) and item.is_integer() else item for item in items
        ]
        return f"`{json.dumps(items, separators=(',', ':'))}`"
    if isinstance(value, int | float):
        text = f"`{_number(value)}`"
        if name.endswith("_BYTES") and value >= 1024 and value % 1024 == 0:
            kib = int(value) // 1024
            text += f" ({kib // 1024} MiB)" if kib % 1024 == 0 else f" ({kib} KiB)"
        elif name.endswith("_S") and value >= 3600 and value % 3600 == 0:
            hours = int(value) // 3600
            text += f" ({hours // 24} days)" if hours % 24 == 0 and hours > 24 else f" ({hours} h)"
        return text
    return f"`{value}`"


def settings(model: type[BaseModel], prefix: str = "") -> Iterator[Setting]:
    """Every leaf setting of `model`, groups flattened with `__`, in declaration order."""
    for field, info in model.model_fields.items():
        name = f"{prefix}{field.upper()}"
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from settings(annotation, f"{name}__")
            continue
        bounds = _bounds(info)
        kind = _type_name(annotation) + (f", {bounds}" if bounds else "")
        default = info.get_default(call_default_factory=True)
        yield Setting(name, kind, _default(name, default), _description(model, field, info))


def settings_table(rows: list[Setting]) -> str:
    lines = ["| variable | type | default | meaning |", "| --- | --- | --- | --- |"]
    lines += [f"| `{s.name}` | {s.type} | {s.default} | {s.description} |" for s in rows]
    return "\n".join(lines)


def _service_settings() -> tuple[list[Setting], list[Setting], list[Setting]]:
    """(both services' shared groups, gateway only, worker only), names after the prefix."""
    from gateway.settings import Settings as GatewaySettings
    from worker.settings import Settings as WorkerSettings

    gateway = list(settings(GatewaySettings))
    worker = list(settings(WorkerSettings))
    shared = [row for row in gateway if row in worker]
    return (
        shared,
        [row for row in gateway if row not in shared],
        [row for row in worker if row not in shared],
    )


def scope_table() -> str:
    """Every route of the API with the scope its key needs, as the app declares it."""
    from fastapi.routing import APIRoute

    from gateway.auth import AdminAccess, ReadAccess, SubmitAccess
    from gateway.main import create_app

    scopes = {id(SubmitAccess): "`submit`", id(ReadAccess): "`read`", id(AdminAccess): "`admin`"}

    def walk(routes: list[Any]) -> Iterator[APIRoute]:
        for route in routes:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                yield from walk(inner.routes)
            elif isinstance(route, APIRoute) and route.include_in_schema:
                yield route

    rows = []
    for route in walk(create_app().router.routes):
        parameters = inspect.signature(route.endpoint).parameters.values()
        needed = [scopes[id(p.annotation)] for p in parameters if id(p.annotation) in scopes]
        for method in sorted((route.methods or set()) - {"HEAD"}):
            rows.append((route.path, method, needed[0] if needed else "none (open)"))
    lines = ["| route | scope |", "| --- | --- |"]
    lines += [f"| `{method} {path}` | {scope} |" for path, method, scope in sorted(rows)]
    return "\n".join(lines)


def tables() -> dict[str, Callable[[], str]]:
    """Each generated table by the name its markers carry."""
    return {
        "settings-shared": lambda: settings_table(_service_settings()[0]),
        "settings-gateway": lambda: settings_table(_service_settings()[1]),
        "settings-worker": lambda: settings_table(_service_settings()[2]),
        "route-scopes": scope_table,
    }


# A region's body is the lines between its markers (none before the first rewrite).
_REGION = re.compile(
    r"(<!-- generated: (?P<name>[a-z-]+) -->\n)(?:(?!<!-- ).*\n)*?(<!-- end generated -->)"
)


def render(text: str, made: dict[str, str]) -> str:
    """`text` with every generated region replaced by its table."""

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in made:
            raise SystemExit(f"unknown generated table {name!r}")
        return f"{match[1]}{made[name]}\n{match[3]}"

    return _REGION.sub(replace, text)


def stale_pages(docs: Path = DOCS) -> dict[Path, str]:
    """The pages whose generated tables differ from the code, each with its new text."""
    made = {name: make() for name, make in tables().items()}
    stale = {}
    for page in sorted(docs.rglob("*.md")):
        text = page.read_text()
        new = render(text, made)
        if new != text:
            stale[page] = new
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only report stale pages (exit 1)")
    args = parser.parse_args(argv)
    stale = stale_pages()
    for page, text in stale.items():
        print(f"{'stale' if args.check else 'rewrote'}: {page.relative_to(ROOT)}")
        if not args.check:
            page.write_text(text)
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
