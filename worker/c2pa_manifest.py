"""Reading an image's C2PA manifest store (c2pa-python) into a short, bounded summary.

The reader never touches the network: remote manifests (a URL in the file's XMP) and OCSP
are turned off, so a hostile image cannot make the worker fetch a URL of its choosing.
"""

import io
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import c2pa

from storage.provenance import (
    MAX_ITEMS,
    MAX_TEXT,
    MAX_URI,
    C2paInfo,
    SignatureState,
    bounded,
)

# The media types of the service's formats that C2PA defines an embedding for (not BMP).
READABLE_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})

# IPTC digital source types (https://cv.iptc.org/newscodes/digitalsourcetype/) that declare
# media made by an algorithm rather than captured: generative AI, whole or in part.
_IPTC_PREFIX = "cv.iptc.org/newscodes/digitalsourcetype/"
AI_SOURCE_TYPES = frozenset(
    {
        "trainedalgorithmicmedia",  # made by a model trained on sampled content
        "compositewithtrainedalgorithmicmedia",  # a composite with such a model's output
        "algorithmicmedia",  # made by an algorithm alone, without training data
        "compositesynthetic",  # a composite with at least one synthetic element
    }
)

_STATES = {
    "Trusted": SignatureState.TRUSTED,
    "Valid": SignatureState.UNTRUSTED,
    "Invalid": SignatureState.INVALID,
}


class RemoteManifestError(Exception):
    """The file refers to a manifest stored elsewhere, which is never fetched."""


def read_manifest_store(
    content: bytes, media_type: str, trust_anchors: Path | None
) -> dict[str, Any] | None:
    """The manifest store as c2pa-rs reports it, or None if the file has none.

    Raises c2pa.C2paError (or RemoteManifestError) when there is one it cannot read.
    """
    context = _context(os.getpid(), None if trust_anchors is None else str(trust_anchors))
    try:
        with c2pa.Reader(media_type, io.BytesIO(content), context=context) as reader:
            report = str(reader.json())
    except (c2pa.C2paError.ManifestNotFound, c2pa.C2paError.NotSupported):
        return None
    except c2pa.C2paError as error:
        # The native library's message for this kind has no typed class of its own.
        if str(error).startswith("Remote"):
            raise RemoteManifestError(str(error)) from error
        raise
    store = json.loads(report)
    return store if isinstance(store, dict) else {}


@lru_cache(maxsize=4)
def _context(pid: int, trust_anchors: str | None) -> Any:
    """One reading context per process (a forked child cannot use its parent's)."""
    del pid  # only part of the cache key
    settings: dict[str, Any] = {
        "verify": {"verify_trust": True, "remote_manifest_fetch": False, "ocsp_fetch": False}
    }
    if trust_anchors is not None:
        settings["trust"] = {"trust_anchors": Path(trust_anchors).read_text()}
    return c2pa.Context(c2pa.Settings.from_dict(settings))


def summarise(store: dict[str, Any]) -> C2paInfo:
    """What the active manifest claims, and what checking its signature found."""
    manifests = _dict(store.get("manifests"))
    label = store.get("active_manifest")
    active = _dict(manifests.get(label) if isinstance(label, str) else None)
    signature_info = _dict(active.get("signature_info"))
    failures = _failure_codes(store)
    # The active manifest's own declaration first, then those of its ingredients.
    others = [m for m in manifests.values() if m is not active][:MAX_ITEMS]
    declared = [t for m in [active, *others] if (t := _source_type(_dict(m))) is not None]
    return C2paInfo(
        present=True,
        claim_generator=_claim_generator(active),
        title=bounded(active.get("title")),
        signature=_STATES.get(str(store.get("validation_state")), SignatureState.UNKNOWN),
        validation_failures=failures,
        issuer=bounded(signature_info.get("issuer")),
        signer=bounded(signature_info.get("common_name")),
        signed_at=bounded(signature_info.get("time")),
        digital_source_type=declared[0] if declared else None,
        ai_generated=any(is_ai_source_type(t) for t in declared),
        actions=[name for action in _actions(active) if (name := bounded(action.get("action")))][
            :MAX_ITEMS
        ],
    )


def is_ai_source_type(uri: str) -> bool:
    _, found, term = uri.lower().partition(_IPTC_PREFIX)
    return bool(found) and term.strip("/") in AI_SOURCE_TYPES


def _claim_generator(manifest: dict[str, Any]) -> str | None:
    # Claims v2 name the generator in `claim_generator_info`; v1 in a single string.
    info = _list(manifest.get("claim_generator_info"))
    if info:
        first = _dict(info[0])
        name, version = bounded(first.get("name")), bounded(first.get("version"))
        if name is not None:
            return bounded(f"{name} {version}" if version else name)
    return bounded(manifest.get("claim_generator"))


def _failure_codes(store: dict[str, Any]) -> list[str]:
    results = _dict(_dict(store.get("validation_results")).get("activeManifest"))
    statuses = _list(results.get("failure")) or _list(store.get("validation_status"))
    codes = [bounded(_dict(status).get("code"), MAX_TEXT) for status in statuses]
    return list(dict.fromkeys(code for code in codes if code))[:MAX_ITEMS]


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The actions of every actions assertion (c2pa.actions, c2pa.actions.v2), bounded."""
    found: list[dict[str, Any]] = []
    for assertion in _list(manifest.get("assertions"))[: MAX_ITEMS * 4]:
        assertion = _dict(assertion)
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            actions = _list(_dict(assertion.get("data")).get("actions"))[:MAX_ITEMS]
            found.extend(_dict(action) for action in actions)
    return found[: MAX_ITEMS * 4]


def _source_type(manifest: dict[str, Any]) -> str | None:
    for action in _actions(manifest):
        source_type = bounded(action.get("digitalSourceType"), MAX_URI)
        if source_type is not None:
            return source_type
    return None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []
