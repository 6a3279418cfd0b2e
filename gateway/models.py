"""The detectors Triton serves, as the API lists them and checks job requests against."""

import time
from dataclasses import replace
from typing import Any

import tritonclient.grpc.aio as triton_aio

from storage.contract import ModelSignature, parse_signature


def detector_from_metadata(
    metadata: dict[str, Any], versions: tuple[str, ...]
) -> ModelSignature | None:
    """The model as a detector, or None if it does not keep the detector contract."""
    try:
        signature = parse_signature(metadata)
    except (ValueError, KeyError, TypeError):
        return None
    return replace(signature, versions=versions)


class ModelCatalog:
    """Asks Triton which detectors are ready, at most once per `ttl_s`."""

    def __init__(self, triton: triton_aio.InferenceServerClient, ttl_s: float) -> None:
        self._triton = triton
        self._ttl_s = ttl_s
        self._models: list[ModelSignature] = []
        self._fetched_at = float("-inf")

    async def detectors(self) -> list[ModelSignature]:
        """Raises what the Triton client raises when Triton cannot answer."""
        if time.monotonic() - self._fetched_at > self._ttl_s:
            self._models = await self._fetch()
            self._fetched_at = time.monotonic()
        return self._models

    async def _fetch(self) -> list[ModelSignature]:
        index = await self._triton.get_model_repository_index(as_json=True)
        versions: dict[str, list[str]] = {}
        for entry in index.get("models", []):
            if entry.get("state") == "READY":
                versions.setdefault(entry["name"], []).append(str(entry.get("version", "")))
        models = []
        for name, served in sorted(versions.items()):
            metadata = await self._triton.get_model_metadata(name, as_json=True)
            model = detector_from_metadata(metadata, tuple(sorted(served, key=_version_key)))
            if model is not None:
                models.append(model)
        return models


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (0, version)
