"""What an image's own metadata says of where it came from: C2PA Content Credentials and EXIF.

Recorded on a job's result next to the detector's scores. It is a claim made by whoever
wrote the file, never proof of what the image shows: a valid C2PA signature proves only
which certificate signed the manifest and that the signed bytes are unchanged since; EXIF
can be written by anyone.
"""

from enum import StrEnum

from pydantic import BaseModel, Field

# Bounds on everything taken from the file: strings are cut, lists are cut.
MAX_TEXT = 200
MAX_URI = 300
MAX_ITEMS = 16


class SignatureState(StrEnum):
    # The signature and every hash check out, and the signing certificate chains to a trust
    # anchor the worker was configured with (`WORKER_PROVENANCE__TRUST_ANCHORS`).
    TRUSTED = "trusted"
    # The signature and every hash check out, but the signing certificate is on no trust
    # list the worker holds: anyone can make such a certificate.
    UNTRUSTED = "untrusted"
    # A hash or the signature does not match: the image or its manifest changed after signing.
    INVALID = "invalid"
    # The manifest could not be read or checked (`error` says why).
    UNKNOWN = "unknown"


class ProvenanceHint(StrEnum):
    """Stable short codes for what is worth a look; clients match on these."""

    C2PA_MANIFEST = "c2pa_manifest"
    C2PA_AI_GENERATED = "c2pa_ai_generated"
    C2PA_SIGNATURE_TRUSTED = "c2pa_signature_trusted"
    C2PA_SIGNATURE_UNTRUSTED = "c2pa_signature_untrusted"
    C2PA_SIGNATURE_INVALID = "c2pa_signature_invalid"
    # The file points at a manifest stored elsewhere; the worker never fetches it.
    C2PA_REMOTE_MANIFEST = "c2pa_remote_manifest"
    C2PA_UNREADABLE = "c2pa_unreadable"
    EXIF_SOFTWARE_AI_TOOL = "exif_software_ai_tool"
    # PNG text chunks that image-generation front ends write (prompt, sampler settings).
    PNG_GENERATION_PARAMETERS = "png_generation_parameters"
    METADATA_UNREADABLE = "metadata_unreadable"
    NO_PROVENANCE = "no_provenance"
    PROVENANCE_ERROR = "provenance_error"


class C2paInfo(BaseModel):
    present: bool = Field(description="A C2PA manifest store was found and read.")
    claim_generator: str | None = Field(
        default=None, description="The software that wrote the active manifest."
    )
    title: str | None = None
    signature: SignatureState = SignatureState.UNKNOWN
    validation_failures: list[str] = Field(
        default_factory=list,
        description="C2PA validation status codes of the checks that failed, "
        "such as assertion.dataHash.mismatch or signingCredential.untrusted.",
    )
    issuer: str | None = Field(default=None, description="Organisation of the signer.")
    signer: str | None = Field(default=None, description="Common name of the signer.")
    signed_at: str | None = Field(
        default=None, description="Time of signing, from a time-stamp, if the manifest has one."
    )
    digital_source_type: str | None = Field(
        default=None,
        description="The IPTC digital source type an actions assertion declares, if any.",
    )
    ai_generated: bool = Field(
        default=False,
        description="A manifest declares a digital source type of generative or algorithmic media.",
    )
    actions: list[str] = Field(
        default_factory=list, description="The active manifest's actions, e.g. c2pa.created."
    )
    error: str | None = Field(
        default=None, description="Why the manifest could not be read or checked."
    )


class ExifInfo(BaseModel):
    software: str | None = None
    make: str | None = None
    model: str | None = None
    datetime_original: str | None = None
    artist: str | None = None


class Provenance(BaseModel):
    c2pa: C2paInfo | None = Field(default=None, description="None: the file has no C2PA manifest.")
    exif: ExifInfo | None = Field(default=None, description="None: no EXIF fields of note.")
    hints: list[ProvenanceHint] = Field(default_factory=list)


def bounded(value: object, limit: int = MAX_TEXT) -> str | None:
    """`value` as a short printable string, or None if it is not text or is empty."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    text = "".join(c if c.isprintable() else " " for c in value[: limit * 2]).strip()
    return text[:limit] or None
