"""An image's provenance from its own metadata: C2PA manifest, EXIF, generator text chunks.

Read from the bytes the worker judges, next to decoding them. Reading never fails a job:
whatever a hostile file makes a reader raise becomes a hint. It costs well under a
millisecond for a file without a manifest and a few for one with (see docs/reviewing.md).
"""

import io
import time

from celery.exceptions import SoftTimeLimitExceeded
from PIL import ExifTags, Image
from pydantic import BaseModel, FilePath, field_validator

from storage.imageformat import SUPPORTED, sniff_format
from storage.jobs import JobResult
from storage.provenance import (
    C2paInfo,
    ExifInfo,
    Provenance,
    ProvenanceHint,
    SignatureState,
    bounded,
)
from worker.c2pa_manifest import (
    READABLE_MEDIA_TYPES,
    RemoteManifestError,
    read_manifest_store,
    summarise,
)


class ProvenanceSettings(BaseModel):
    enabled: bool = True
    # A PEM bundle of the certificates a C2PA signer must chain to for its signature to
    # count as `trusted` (for example the C2PA trust list); without one, every intact
    # signature is `untrusted`.
    trust_anchors: FilePath | None = None

    @field_validator("trust_anchors")
    @classmethod
    def _holds_certificates(cls, path: FilePath | None) -> FilePath | None:
        # A wrong file would otherwise make every manifest unreadable, job after job.
        if path is not None and "-----BEGIN CERTIFICATE-----" not in path.read_text():
            raise ValueError(f"{path} holds no PEM certificate")
        return path


# Names in EXIF Software (lower case, matched as substrings) of image generators and their
# front ends.
AI_TOOL_NAMES = (
    "stable diffusion",
    "stablediffusion",
    "midjourney",
    "dall-e",
    "dall·e",
    "dalle",
    "firefly",
    "comfyui",
    "automatic1111",
    "invokeai",
    "novelai",
    "ideogram",
    "leonardo.ai",
)
# PNG text chunks written by Stable Diffusion front ends (AUTOMATIC1111, ComfyUI, InvokeAI).
GENERATION_TEXT_KEYS = frozenset({"parameters", "prompt", "workflow", "invokeai_metadata"})

_SIGNATURE_HINTS = {
    SignatureState.TRUSTED: ProvenanceHint.C2PA_SIGNATURE_TRUSTED,
    SignatureState.UNTRUSTED: ProvenanceHint.C2PA_SIGNATURE_UNTRUSTED,
    SignatureState.INVALID: ProvenanceHint.C2PA_SIGNATURE_INVALID,
}


def with_provenance(
    result: JobResult,
    content: bytes,
    settings: ProvenanceSettings,
    durations_ms: dict[str, float],
) -> JobResult:
    """`result` with the image's provenance recorded on it (timed as a stage)."""
    if not settings.enabled:
        return result
    started = time.perf_counter()
    provenance = read_provenance(content, settings.trust_anchors)
    durations_ms["provenance"] = (time.perf_counter() - started) * 1000
    return result.model_copy(update={"provenance": provenance})


def read_provenance(content: bytes, trust_anchors: FilePath | None = None) -> Provenance:
    """What the file says of its origin; never raises (but for the task's time limit)."""
    try:
        hints: list[ProvenanceHint] = []
        c2pa_info = _read_c2pa(content, trust_anchors, hints)
        exif = _read_metadata(content, hints)
        if c2pa_info is None and exif is None and not hints:
            hints.append(ProvenanceHint.NO_PROVENANCE)
        return Provenance(c2pa=c2pa_info, exif=exif, hints=list(dict.fromkeys(hints)))
    except SoftTimeLimitExceeded:
        raise
    except Exception:  # a reader's bug on hostile bytes must not fail the job
        return Provenance(hints=[ProvenanceHint.PROVENANCE_ERROR])


def software_names_ai_tool(software: str) -> bool:
    lowered = software.lower()
    return any(name in lowered for name in AI_TOOL_NAMES)


def _read_c2pa(
    content: bytes, trust_anchors: FilePath | None, hints: list[ProvenanceHint]
) -> C2paInfo | None:
    detected = sniff_format(content[:16])
    if detected is None or detected.media_type not in READABLE_MEDIA_TYPES:
        return None
    try:
        store = read_manifest_store(content, detected.media_type, trust_anchors)
    except RemoteManifestError as error:
        hints.append(ProvenanceHint.C2PA_REMOTE_MANIFEST)
        return C2paInfo(present=False, error=bounded(str(error)))
    except SoftTimeLimitExceeded:
        raise
    except Exception as error:  # c2pa.C2paError, or what the native side let through
        hints.append(ProvenanceHint.C2PA_UNREADABLE)
        return C2paInfo(present=False, error=bounded(str(error)) or type(error).__name__)
    if store is None:
        return None
    info = summarise(store)
    hints.append(ProvenanceHint.C2PA_MANIFEST)
    if info.signature in _SIGNATURE_HINTS:
        hints.append(_SIGNATURE_HINTS[info.signature])
    if info.ai_generated:
        hints.append(ProvenanceHint.C2PA_AI_GENERATED)
    return info


def _read_metadata(content: bytes, hints: list[ProvenanceHint]) -> ExifInfo | None:
    """EXIF fields of note, from the headers alone (no pixels are decoded)."""
    try:
        with Image.open(io.BytesIO(content), formats=[f.name for f in SUPPORTED]) as image:
            exif = image.getexif()
            original = exif.get_ifd(ExifTags.IFD.Exif).get(ExifTags.Base.DateTimeOriginal)
            info = ExifInfo(
                software=bounded(exif.get(ExifTags.Base.Software)),
                make=bounded(exif.get(ExifTags.Base.Make)),
                model=bounded(exif.get(ExifTags.Base.Model)),
                datetime_original=bounded(original),
                artist=bounded(exif.get(ExifTags.Base.Artist)),
            )
            text_keys = {str(key).lower() for key in image.info} if image.format == "PNG" else set()
    except SoftTimeLimitExceeded:
        raise
    except Exception:  # Pillow raises many kinds on hostile headers
        hints.append(ProvenanceHint.METADATA_UNREADABLE)
        return None
    if info.software is not None and software_names_ai_tool(info.software):
        hints.append(ProvenanceHint.EXIF_SOFTWARE_AI_TOOL)
    if text_keys & GENERATION_TEXT_KEYS:
        hints.append(ProvenanceHint.PNG_GENERATION_PARAMETERS)
    return info if info.model_dump(exclude_none=True) else None
