"""A reviewer's label and the summary of it that a job carries (storage.review_repository)."""

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

NOTE_MAX_CHARS = 2000


class ReviewLabel(StrEnum):
    FAKE = "fake"
    REAL = "real"
    UNSURE = "unsure"


class Agreement(StrEnum):
    AGREE = "agree"
    DISAGREE = "disagree"
    # The reviewer is unsure, or the model gave no verdict either way.
    NOT_APPLICABLE = "n/a"


class ReviewSummary(BaseModel):
    """The latest review of a job, kept on the job."""

    label: ReviewLabel
    face: int | None = Field(description="The face reviewed (its index); null: the image.")
    agreement: Agreement
    reviewer: str | None = Field(description="The API key that recorded it (its ID).")
    created_at: datetime
