"""What the reviewer routes return: reviews, the labelled set's rows and explanations.

As lenient as `models`: fields a newer server adds are kept, enumerations are strings.
"""

from datetime import datetime

from deepfake_client.models import ApiModel, ErrorInfo

# Explanation statuses; `ready` and `failed` are final.
EXPLANATION_TERMINAL_STATUSES = frozenset({"ready", "failed"})

Box = tuple[int, int, int, int]


class Review(ApiModel):
    """`ReviewOut`: one reviewer's label for the image or one of its faces."""

    id: str
    job_id: str
    label: str  # fake, real or unsure
    face: int | None  # None: the whole image
    note: str
    reviewer: str | None  # the ID of the API key that recorded it
    created_at: datetime
    agreement: str  # agree, disagree or n/a


class ReviewList(ApiModel):
    """`ReviewList`: a job's reviews, newest first."""

    items: list[Review]


class ReviewRow(ApiModel):
    """One line of `GET /v1/reviews/export` (JSONL, or the zip's `manifest.jsonl`): the
    latest label of a reviewed job or face, with what the model said of it."""

    job_id: str
    external_id: str | None = None
    batch_id: str | None = None
    image: str | None = None  # images/<sha256>.<ext> in the zip; None: deleted
    sha256: str | None = None
    content_type: str | None = None
    face: int | None = None
    box: Box | None = None
    label: str
    note: str = ""
    reviewer: str | None = None
    reviewed_at: datetime
    agreement: str
    model_name: str | None = None
    model_version: str | None = None
    model_verdict: str | None = None
    fake_probability: float | None = None


class OcclusionMethod(ApiModel):
    """`OcclusionMethod`: grey squares slid over the crop the model saw."""

    kind: str = "occlusion"
    input_size: tuple[int, int]
    patch: tuple[int, int]
    stride: tuple[int, int]
    grid: tuple[int, int]
    fill: int = 128


class ExplainedFace(ApiModel):
    """`ExplainedFaceOut`: one face's heat map."""

    index: int  # the face's place in the job's `result.faces`
    box: Box | None  # None: the whole image
    region: Box | None  # the square the overlay covers, in the upright image
    fake_probability: float
    max_drop: float
    image: str  # the overlay's path: GET it with `get_explanation_image`


class Explanation(ApiModel):
    """`ExplanationOut`: the occlusion-sensitivity map of each face of a job."""

    job_id: str
    model_name: str
    model_version: str
    status: str  # pending, ready or failed
    created_at: datetime
    updated_at: datetime
    error: ErrorInfo | None
    method: OcclusionMethod | None  # set once ready
    faces: list[ExplainedFace]

    @property
    def done(self) -> bool:
        return self.status in EXPLANATION_TERMINAL_STATUSES
