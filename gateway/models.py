"""The detectors Triton serves, as the API lists them and checks job requests against."""

import time
from dataclasses import dataclass
from typing import Any

import tritonclient.grpc.aio as triton_aio

# Every detector answers this output; other models in the repository are not detectors.
DETECTOR_OUTPUT = "fake_prob"


@dataclass(frozen=True)
class ServedModel:
    name: str
    versions: tuple[str, ...]
    input_height: int
    input_width: int


def detector_from_metadata(
    metadata: dict[str, Any], versions: tuple[str, ...]
) -> ServedModel | None:
    """The model as a detector, or None if it does not follow the detector contract."""
    inputs, outputs = metadata.get("inputs", []), metadata.get("outputs", [])
    if len(inputs) != 1 or [o.get("name") for o in outputs] != [DETECTOR_OUTPUT]:
        return None
    shape = [int(d) for d in inputs[0].get("shape", [])]
    if inputs[0].get("datatype") != "UINT8" or len(shape) != 4 or shape[3] != 3:
        return None
    return ServedModel(str(metadata["name"]), versions, shape[1], shape[2])


class ModelCatalog:
    """Asks Triton which detectors are ready, at most once per `ttl_s`."""

    def __init__(self, triton: triton_aio.InferenceServerClient, ttl_s: float) -> None:
        self._triton = triton
        self._ttl_s = ttl_s
        self._models: list[ServedModel] = []
        self._fetched_at = float("-inf")

    async def detectors(self) -> list[ServedModel]:
        """Raises what the Triton client raises when Triton cannot answer."""
        if time.monotonic() - self._fetched_at > self._ttl_s:
            self._models = await self._fetch()
            self._fetched_at = time.monotonic()
        return self._models

    async def _fetch(self) -> list[ServedModel]:
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
