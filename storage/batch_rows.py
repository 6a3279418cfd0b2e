"""Rows of a bulk batch, parsed from a stream of text lines: pure, one row at a time.

A bad row becomes a `RowError` (its line and a stable code) and parsing goes on; only a
file that cannot be read as a whole (a CSV without an `image_url` column) raises.
"""

import codecs
import csv
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from storage.batches import RowError
from storage.errors import ErrorCode, ServiceError
from storage.netguard import validate_url

MAX_EXTERNAL_ID_LENGTH = 256


class RowFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


class BatchFileError(ValueError):
    """The file as a whole is unreadable."""


@dataclass(frozen=True)
class Row:
    number: int
    image_url: str
    external_id: str | None
    metadata: dict[str, Any]


@dataclass(frozen=True)
class RowLimits:
    max_url_length: int = 2048
    max_metadata_bytes: int = 16 * 1024


_LINE_END = re.compile(r"\r\n|\r|\n")


def text_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """UTF-8 text lines, ends kept, from bytes in arbitrary chunks: what a text file opened
    with `newline=""` yields (a byte-order mark is dropped, bad bytes replaced)."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
    pending = ""
    for chunk in chunks:
        pending += decoder.decode(chunk)
        start = 0
        for match in _LINE_END.finditer(pending):
            # A "\r" at the very end may be the first half of "\r\n": wait for more.
            if match.end() == len(pending) and match.group() == "\r":
                break
            yield pending[start : match.end()]
            start = match.end()
        pending = pending[start:]
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending


def guess_format(filename: str | None, content_type: str | None) -> RowFormat:
    name = (filename or "").lower()
    kind = (content_type or "").lower()
    if name.endswith((".jsonl", ".ndjson")) or "ndjson" in kind or "jsonl" in kind:
        return RowFormat.JSONL
    return RowFormat.CSV


def check_row(number: int, raw: Mapping[str, Any], limits: RowLimits) -> Row | RowError:
    def invalid(message: str, code: ErrorCode = ErrorCode.INVALID_REQUEST) -> RowError:
        return RowError(row=number, code=code, message=message)

    image_url = raw.get("image_url")
    if not isinstance(image_url, str) or not image_url:
        return invalid("image_url is required")
    try:
        validate_url(image_url, max_length=limits.max_url_length)
    except ServiceError as error:
        return invalid(error.message, error.code)
    external_id = raw.get("external_id")
    if external_id == "":
        external_id = None
    if external_id is not None and not isinstance(external_id, str):
        return invalid("external_id must be a string")
    if external_id is not None and len(external_id) > MAX_EXTERNAL_ID_LENGTH:
        return invalid(f"external_id is longer than {MAX_EXTERNAL_ID_LENGTH} characters")
    metadata = raw.get("metadata")
    if metadata is None or metadata == "":
        metadata = {}
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata)
        except ValueError:
            return invalid("metadata is not valid JSON")
    if not isinstance(metadata, dict):
        return invalid("metadata must be a JSON object")
    size = len(json.dumps(metadata, separators=(",", ":")))
    if size > limits.max_metadata_bytes:
        return invalid(f"metadata is {size} bytes as JSON; at most {limits.max_metadata_bytes}")
    return Row(number=number, image_url=image_url, external_id=external_id, metadata=metadata)


def parse_rows(
    lines: Iterable[str], row_format: RowFormat, limits: RowLimits
) -> Iterator[Row | RowError]:
    """Rows in file order; `number` is the row's line (a CSV header is line 1)."""
    if row_format is RowFormat.JSONL:
        yield from _jsonl_rows(lines, limits)
    else:
        yield from _csv_rows(lines, limits)


def _jsonl_rows(lines: Iterable[str], limits: RowLimits) -> Iterator[Row | RowError]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except ValueError:
            yield RowError(row=number, code=ErrorCode.INVALID_REQUEST, message="not valid JSON")
            continue
        if not isinstance(raw, dict):
            message = "each line must be a JSON object"
            yield RowError(row=number, code=ErrorCode.INVALID_REQUEST, message=message)
            continue
        yield check_row(number, raw, limits)


def _csv_rows(lines: Iterable[str], limits: RowLimits) -> Iterator[Row | RowError]:
    reader = csv.DictReader(iter(lines))
    if reader.fieldnames is None or "image_url" not in reader.fieldnames:
        raise BatchFileError("the CSV needs a header row with an image_url column")
    for raw in reader:
        yield check_row(reader.line_num, raw, limits)
