"""The Triton gRPC client: binary tensors in, fake probabilities out.

One client per worker process, created after the fork (gRPC channels do not survive one).
The tensor names and input size come from the model's own metadata, checked at start-up,
so the worker never hard-codes what the model repository decides.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from storage.contract import ModelSignature, parse_signature
from storage.errors import ErrorCode, PermanentError, TransientError
from storage.jobs import ModelRef
from storage.model_probe import probe_tensors
from storage.settings import TritonSettings

# gRPC codes that mean "the server or model is not there right now": worth retrying.
_TRANSIENT_STATUSES = {
    "StatusCode.UNAVAILABLE",
    "StatusCode.DEADLINE_EXCEEDED",
    "StatusCode.RESOURCE_EXHAUSTED",
    "StatusCode.ABORTED",
    "StatusCode.CANCELLED",
    "StatusCode.INTERNAL",  # also what a dying Python-backend stub answers
}

# What a request answers when the server, not the model, is the problem: a probe failing so
# says nothing about the model, and reloading it would not help.
_SERVER_PROBLEMS = {
    "StatusCode.UNAVAILABLE",
    "StatusCode.DEADLINE_EXCEEDED",
    "StatusCode.RESOURCE_EXHAUSTED",
    "StatusCode.CANCELLED",
}


# gRPC's own defaults, as tritonclient sets them, plus a short reconnect backoff: by default
# a channel that failed while Triton restarted waits up to 120 s before trying again, long
# after Triton is back, and every retry of ours in between fails at once.
_CHANNEL_ARGS = [
    ("grpc.max_send_message_length", grpcclient.MAX_GRPC_MESSAGE_SIZE),
    ("grpc.max_receive_message_length", grpcclient.MAX_GRPC_MESSAGE_SIZE),
    ("grpc.keepalive_time_ms", 2**31 - 1),
    ("grpc.keepalive_timeout_ms", 20000),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


# The face detector's outputs (model_repository/face_detector/config.pbtxt).
FACE_BOXES = "boxes"
FACE_SCORES = "scores"


@dataclass(frozen=True)
class Prediction:
    fake_probabilities: npt.NDArray[np.float32]
    model_name: str
    model_version: str


def to_service_error(error: InferenceServerException) -> PermanentError | TransientError:
    status = str(error.status() or "")
    message = f"inference server error: {error.message()}"
    if status in _TRANSIENT_STATUSES or not status:
        return TransientError(ErrorCode.INFERENCE_UNAVAILABLE, message)
    return PermanentError(ErrorCode.INFERENCE_FAILED, message)


def _contract_broken(model: ModelRef, error: ValueError) -> PermanentError:
    return PermanentError(
        ErrorCode.INFERENCE_FAILED, f"model {model.name!r} breaks its contract: {error}"
    )


class DetectorClient:
    def __init__(self, settings: TritonSettings) -> None:
        self._settings = settings
        self._client = grpcclient.InferenceServerClient(
            url=settings.url, channel_args=_CHANNEL_ARGS
        )
        self._signatures: dict[ModelRef, ModelSignature] = {}
        self._versions: dict[ModelRef, str] = {}
        self._face_sizes: dict[ModelRef, int] = {}
        self._batch_sizes: dict[ModelRef, int] = {}

    def close(self) -> None:
        self._client.close()

    @property
    def default_model(self) -> ModelRef:
        return ModelRef(name=self._settings.model_name, version=self._settings.model_version)

    def _metadata(self, model: ModelRef) -> dict[str, Any]:
        try:
            if not self._client.is_model_ready(model.name, model.version):
                raise TransientError(
                    ErrorCode.INFERENCE_UNAVAILABLE, f"model {model.name!r} is not ready"
                )
            metadata: dict[str, Any] = self._client.get_model_metadata(
                model.name, model.version, as_json=True
            )
        except InferenceServerException as error:
            raise to_service_error(error) from error
        return metadata

    def signature(self, model: ModelRef) -> ModelSignature:
        """The detector's checked metadata; fetched once per model and version, then kept."""
        if model not in self._signatures:
            try:
                self._signatures[model] = parse_signature(self._metadata(model))
            except ValueError as error:
                raise _contract_broken(model, error) from error
        return self._signatures[model]

    def served_version(self, model: ModelRef) -> str:
        """The version a request for `model` reaches: the one named, else the newest served
        (Triton's default version policy serves only the newest); looked up once."""
        if model.version:
            return model.version
        if model not in self._versions:
            versions = [str(v) for v in self._metadata(model).get("versions") or []]
            numeric = [v for v in versions if v.isdigit()]
            self._versions[model] = max(numeric, key=int) if numeric else ""
        return self._versions[model]

    def face_detector_size(self, model: ModelRef) -> int:
        """The face detector's square input side, from its metadata (checked once)."""
        if model not in self._face_sizes:
            metadata = self._metadata(model)
            (image,) = metadata["inputs"]
            shape = [int(d) for d in image["shape"]]
            outputs = {o["name"] for o in metadata["outputs"]}
            if image["datatype"] != "UINT8" or shape[1:] != [shape[1], shape[1], 3]:
                raise _contract_broken(model, ValueError("input must be UINT8 [-1, S, S, 3]"))
            if outputs != {FACE_BOXES, FACE_SCORES}:
                raise _contract_broken(model, ValueError("outputs must be boxes and scores"))
            self._face_sizes[model] = shape[1]
        return self._face_sizes[model]

    def detect_faces(
        self, model: ModelRef, images: npt.NDArray[np.uint8]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], str]:
        """Letterboxed images [N, S, S, 3] -> per-anchor boxes [N, A, 4], scores [N, A] and
        the model version: as few requests as the model's batch size allows."""
        self.face_detector_size(model)
        boxes, scores, version = [], [], ""
        for chunk in self._chunks(model, images):
            result = self._infer(model, "image", chunk, [FACE_BOXES, FACE_SCORES])
            found, score = result.as_numpy(FACE_BOXES), result.as_numpy(FACE_SCORES)
            if found is None or score is None or found.shape[0] != chunk.shape[0]:
                raise PermanentError(
                    ErrorCode.INFERENCE_FAILED, "the face detector returned nothing"
                )
            boxes.append(found.astype(np.float32))
            scores.append(score.astype(np.float32))
            version = str(result.get_response().model_version)
        return np.concatenate(boxes), np.concatenate(scores), version

    def max_batch_size(self, model: ModelRef) -> int:
        """The most inputs one request may carry (the model's `max_batch_size`; 1 if it
        does not batch), from its configuration, looked up once."""
        if model not in self._batch_sizes:
            try:
                config: dict[str, Any] = self._client.get_model_config(
                    model.name, model.version, as_json=True
                )
            except InferenceServerException as error:
                raise to_service_error(error) from error
            size = int((config.get("config") or {}).get("max_batch_size") or 0)
            self._batch_sizes[model] = max(size, 1)
        return self._batch_sizes[model]

    def _chunks(self, model: ModelRef, batch: npt.NDArray[np.uint8]) -> list[npt.NDArray[np.uint8]]:
        size = self.max_batch_size(model)
        return [batch[start : start + size] for start in range(0, batch.shape[0], size)]

    def _infer(
        self, model: ModelRef, input_name: str, batch: npt.NDArray[np.uint8], outputs: list[str]
    ) -> Any:
        tensor = grpcclient.InferInput(input_name, list(batch.shape), "UINT8")
        tensor.set_data_from_numpy(np.ascontiguousarray(batch))
        try:
            return self._client.infer(
                model.name,
                [tensor],
                model_version=model.version,
                outputs=[grpcclient.InferRequestedOutput(name) for name in outputs],
                client_timeout=self._settings.timeout_s,
            )
        except InferenceServerException as error:
            raise to_service_error(error) from error

    def predict(self, model: ModelRef, images: npt.NDArray[np.uint8]) -> Prediction:
        """Fake probabilities of images [N, H, W, 3]: as few requests as the model's batch
        size allows (one, for a micro-batch within it)."""
        signature = self.signature(model)
        scores: list[npt.NDArray[np.float32]] = []
        name, version = model.name, model.version
        for chunk in self._chunks(model, images):
            result = self._infer(model, signature.input_name, chunk, [signature.output_name])
            found = result.as_numpy(signature.output_name)
            if found is None or found.shape[0] != chunk.shape[0]:
                raise PermanentError(ErrorCode.INFERENCE_FAILED, "the model returned no scores")
            scores.append(found.reshape(chunk.shape[0], -1)[:, 0].astype(np.float32))
            response = result.get_response()
            name, version = response.model_name, response.model_version
        return Prediction(
            fake_probabilities=np.concatenate(scores),
            model_name=name,
            model_version=version,
        )

    def ready_models(self) -> list[str]:
        """The names of the models Triton reports ready."""
        try:
            index: dict[str, Any] = self._client.get_model_repository_index(as_json=True)
        except InferenceServerException as error:
            raise to_service_error(error) from error
        models = index.get("models") or []
        return sorted({str(m["name"]) for m in models if m.get("state") == "READY"})

    def probe(self, name: str) -> str | None:
        """One all-zero request to a ready model: None if it answers, else its error.

        TransientError when the server itself is unreachable or too slow.
        """
        try:
            metadata: dict[str, Any] = self._client.get_model_metadata(name, as_json=True)
            tensors = probe_tensors(metadata)
            self._client.infer(name, tensors, client_timeout=self._settings.timeout_s)
        except ValueError:
            return None  # a model with inputs no probe can fill is not probed
        except InferenceServerException as error:
            if str(error.status() or "") in _SERVER_PROBLEMS:
                raise to_service_error(error) from error
            return str(error.message())
        return None

    def reload(self, name: str) -> None:
        """Load the model again (Triton must run with `--model-control-mode=explicit`); the
        old instances serve until the new ones are ready."""
        try:
            self._client.load_model(name)
        except InferenceServerException as error:
            raise to_service_error(error) from error
