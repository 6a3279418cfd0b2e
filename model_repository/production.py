"""The model repository Triton serves in containers, written before Triton starts.

    python -m model_repository.production --output-dir /models --cache-dir /cache \\
        [--device gpu|cpu] [--accelerator cuda|tensorrt --engine-cache-dir /engine-cache]

Exports every served detector (MesoNet weights downloaded once from the public upstream into
`--cache-dir`, or read from `--weights-dir`) and the face detector, unless their model.onnx is
already there, then writes each config.pbtxt from the one committed in this package: an
upgraded image brings its configs along, and the ONNX files survive restarts on a volume.

`--device cpu` places every model on CPU instances of the onnxruntime backend (for hosts
without a GPU); `--accelerator tensorrt` runs the ONNX graphs through TensorRT in FP16 with
engines cached under `--engine-cache-dir`, so a restarted pod does not build them again.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Literal

from tritonclient.grpc import model_config_pb2

from model_repository import faces, local
from model_repository.export import ensure_onnx_model

log = logging.getLogger(__name__)

# The detectors served: model name -> MesoNet weight file. The first is the default.
MESONET_MODELS = {local.MODEL_NAME: "MesoInception_DF.h5", "meso4_df": "Meso4_DF.h5"}
# TensorRT's scratch space while building and running an engine.
TENSORRT_WORKSPACE_BYTES = 1 << 30
# Where Triton's container mounts the engine cache volume.
ENGINE_CACHE_DIR = PurePosixPath("/engine-cache")

Device = Literal["gpu", "cpu"]
Accelerator = Literal["cuda", "tensorrt"]


def _shape(input_name: str, batch: int, dims: Sequence[int]) -> str:
    return f"{input_name}:" + "x".join(str(d) for d in (batch, *dims))


def add_tensorrt(config: model_config_pb2.ModelConfig, engine_cache_dir: PurePosixPath) -> None:
    """Run `config`'s ONNX graph through ONNX Runtime's TensorRT provider, in FP16.

    One optimisation profile covers batch 1 to max_batch_size, tuned for the largest preferred
    batch: without it TensorRT builds a new engine whenever a larger batch shows up.
    """
    (tensor,) = config.input
    dims = list(tensor.dims)
    preferred = list(config.dynamic_batching.preferred_batch_size) or [config.max_batch_size]
    accelerator = config.optimization.execution_accelerators.gpu_execution_accelerator.add()
    accelerator.name = "tensorrt"
    accelerator.parameters.update(
        {
            "precision_mode": "FP16",
            "max_workspace_size_bytes": str(TENSORRT_WORKSPACE_BYTES),
            "trt_engine_cache_enable": "1",
            "trt_engine_cache_path": str(engine_cache_dir / config.name),
            "trt_timing_cache_enable": "1",
            "trt_timing_cache_path": str(engine_cache_dir / config.name),
            "trt_profile_min_shapes": _shape(tensor.name, 1, dims),
            "trt_profile_opt_shapes": _shape(tensor.name, max(preferred), dims),
            "trt_profile_max_shapes": _shape(tensor.name, config.max_batch_size, dims),
        }
    )


def served_config(
    base: model_config_pb2.ModelConfig,
    *,
    device: Device = "gpu",
    accelerator: Accelerator = "cuda",
    engine_cache_dir: PurePosixPath = ENGINE_CACHE_DIR,
) -> model_config_pb2.ModelConfig:
    """The committed config as served: on GPU (CUDA or TensorRT) or on CPU instances."""
    if device == "cpu":
        # One instance: ONNX Runtime already spreads a batch over every core.
        return local.cpu_config(1, base=base)
    config = model_config_pb2.ModelConfig()
    config.CopyFrom(base)
    if accelerator == "tensorrt":
        add_tensorrt(config, engine_cache_dir)
    return config


def prepare_repository(
    output_dir: Path,
    cache_dir: Path,
    *,
    weights_dir: Path | None = None,
    device: Device = "gpu",
    accelerator: Accelerator = "cuda",
    engine_cache_dir: PurePosixPath = ENGINE_CACHE_DIR,
) -> list[Path]:
    """Export what is missing into `output_dir` and (re)write every config; returns the
    model folders."""

    def serve(base: model_config_pb2.ModelConfig) -> model_config_pb2.ModelConfig:
        return served_config(
            base, device=device, accelerator=accelerator, engine_cache_dir=engine_cache_dir
        )

    written = []
    for name, weights_file in MESONET_MODELS.items():
        weights = str(weights_dir / weights_file) if weights_dir else weights_file
        model_dir = output_dir / name
        ensure_onnx_model(model_dir / "1" / "model.onnx", weights, cache_dir)
        local.write_config(model_dir, serve(local.detector_config(name)))
        written.append(model_dir)
    face_dir = faces.ensure_face_detector(output_dir)
    local.write_config(face_dir, serve(faces.load_config()))
    written.append(face_dir)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m model_repository.production",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--output-dir", type=Path, required=True, help="model repository root")
    parser.add_argument(
        "--cache-dir", type=Path, required=True, help="downloaded weights (kept between runs)"
    )
    parser.add_argument("--weights-dir", type=Path, help="folder with the MesoNet .h5 files")
    parser.add_argument("--device", choices=["gpu", "cpu"], default="gpu")
    parser.add_argument("--accelerator", choices=["cuda", "tensorrt"], default="cuda")
    parser.add_argument(
        "--engine-cache-dir",
        type=PurePosixPath,
        default=ENGINE_CACHE_DIR,
        help="where Triton keeps TensorRT engines (a path inside the Triton container)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    for model_dir in prepare_repository(
        args.output_dir,
        args.cache_dir,
        weights_dir=args.weights_dir,
        device=args.device,
        accelerator=args.accelerator,
        engine_cache_dir=args.engine_cache_dir,
    ):
        print(model_dir)


if __name__ == "__main__":
    main()
