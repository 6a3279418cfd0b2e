"""Rows of a bulk batch, parsed from a stream of text lines: pure, one row at a time.

Nothing in a file raises out of the parser: a bad row, a line or field over its cap, bytes
that are not text, a CSV or JSON error of any kind, nesting too deep, all become a
`RowError` (its line and a stable code) and parsing goes on with the next row. A file that
cannot be read as a whole (a CSV without an `image_url` column) is one error on line 1.
"""

import csv
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from storage.batch_repository import MAX_FIELD_CHARS, MAX_LINE_CHARS, RowError
from storage.batch_text import OverlongLine, text_lines
from storage.batch_values import UNDECODABLE, check_value

__all__ = [
    "MAX_EXTERNAL_ID_LENGTH",
    "OverlongLine",
    "Row",
    "RowFormat",
    "RowLimits",
    "check_row",
    "guess_format",
    "parse_rows",
    "text_lines",
]
from storage.errors import ErrorCode, ServiceError
from storage.netguard import validate_url

MAX_EXTERNAL_ID_LENGTH = 256
_COLUMNS = ("image_url", "external_id", "metadata")


class RowFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


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
    max_line_chars: int = MAX_LINE_CHARS
    max_field_chars: int = MAX_FIELD_CHARS


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
        if len(metadata) > 2 * limits.max_metadata_bytes:
            return invalid(f"metadata is over {limits.max_metadata_bytes} bytes as JSON")
        try:
            metadata = json.loads(metadata)
        except RecursionError:
            return invalid("metadata is nested too deeply")
        except ValueError:
            return invalid("metadata is not valid JSON")
    if not isinstance(metadata, dict):
        return invalid("metadata must be a JSON object")
    for name, value in (("image_url", image_url), ("external_id", external_id)):
        if value is not None and (problem := check_value(value)) is not None:
            return invalid(f"{name} {problem.message}", problem.code)
    if (problem := check_value(metadata)) is not None:
        return invalid(f"metadata {problem.message}", problem.code)
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


def _line_error(number: int, text: str, limits: RowLimits) -> RowError | None:
    if isinstance(text, OverlongLine):
        message = f"the line is longer than {limits.max_line_chars} characters"
        return RowError(row=number, code=ErrorCode.ROW_TOO_LONG, message=message)
    if UNDECODABLE in text:
        message = "the line has bytes that are not UTF-8 (or UTF-16 after its byte-order mark)"
        return RowError(row=number, code=ErrorCode.INVALID_ENCODING, message=message)
    if "\x00" in text:
        message = "the line has NUL characters"
        return RowError(row=number, code=ErrorCode.INVALID_ENCODING, message=message)
    return None


def _jsonl_rows(lines: Iterable[str], limits: RowLimits) -> Iterator[Row | RowError]:
    for number, line in enumerate(lines, start=1):
        if type(line) is str and not line.strip():
            continue  # a blank line (an `OverlongLine` is not one)
        if (error := _line_error(number, line, limits)) is not None:
            yield error
            continue
        try:
            raw = json.loads(line)
        except RecursionError:
            message = "the JSON is nested too deeply"
            yield RowError(row=number, code=ErrorCode.INVALID_REQUEST, message=message)
            continue
        except ValueError:
            yield RowError(row=number, code=ErrorCode.INVALID_REQUEST, message="not valid JSON")
            continue
        if not isinstance(raw, dict):
            message = "each line must be a JSON object"
            yield RowError(row=number, code=ErrorCode.INVALID_REQUEST, message=message)
            continue
        yield check_row(number, raw, limits)


class _RecordTooLong(Exception):
    pass


class _Feeder:
    """Counts the lines given to `csv.reader`; a record over the line cap (one long line,
    or a quoted field running over many) stops with `_RecordTooLong`, so that the reader
    never holds more than the cap. An iterator object, not a generator: the reader goes on
    with the next line after the error, where a generator would have ended."""

    def __init__(self, lines: Iterable[str], max_chars: int) -> None:
        self._next = iter(lines).__next__
        self._max = max_chars
        self.line = 0
        self.record_chars = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        text = self._next()
        self.line += 1
        self.record_chars += len(text)
        if self.record_chars > self._max or type(text) is not str:
            raise _RecordTooLong
        return text


def _csv_rows(lines: Iterable[str], limits: RowLimits) -> Iterator[Row | RowError]:
    feeder = _Feeder(lines, limits.max_line_chars)
    reader = csv.reader(feeder)
    columns: dict[str, int] | None = None
    while True:
        feeder.record_chars = 0
        line_before = feeder.line
        try:
            fields = next(reader)
        except StopIteration:
            break
        except (_RecordTooLong, csv.Error) as failure:
            # Past a quoted field over many lines, where the next row starts is unknown.
            lost = isinstance(failure, _RecordTooLong) and feeder.line - line_before > 1
            yield _record_error(max(feeder.line, 1), failure, limits, lost)
            if columns is None or lost or feeder.line == line_before:
                return  # no header, lost, or nothing consumed: the reader cannot go on
            continue
        if not fields:
            continue  # a blank line
        text = "".join(fields)
        if (error := _line_error(feeder.line, text, limits)) is not None:
            yield error
            if columns is None:
                return
            continue
        if columns is None:
            columns, refusal = _header(fields)
            if refusal is not None:
                yield RowError(row=feeder.line, code=ErrorCode.INVALID_REQUEST, message=refusal)
                return
            continue
        if any(len(field) > limits.max_field_chars for field in fields):
            message = f"a field is longer than {limits.max_field_chars} characters"
            yield RowError(row=feeder.line, code=ErrorCode.FIELD_TOO_LONG, message=message)
            continue
        raw = {name: fields[index] for name, index in columns.items() if index < len(fields)}
        yield check_row(feeder.line, raw, limits)
    if columns is None:
        message = "the CSV needs a header row with an image_url column"
        yield RowError(row=1, code=ErrorCode.INVALID_REQUEST, message=message)


def _record_error(line: int, failure: Exception, limits: RowLimits, lost: bool) -> RowError:
    if isinstance(failure, _RecordTooLong):
        message = f"the row is longer than {limits.max_line_chars} characters"
        if lost:
            message += " (a quoted field runs over many lines); the rest was not read"
        return RowError(row=line, code=ErrorCode.ROW_TOO_LONG, message=message)
    if "field limit" in str(failure):
        message = f"a field is longer than {csv.field_size_limit()} characters"
        return RowError(row=line, code=ErrorCode.FIELD_TOO_LONG, message=message)
    return RowError(row=line, code=ErrorCode.INVALID_REQUEST, message="not a valid CSV row")


def csv_header_refusal(head: bytes) -> str | None:
    """Why a CSV file whose first bytes are `head` has no usable header, read as a worker
    will read it (byte-order marks, blank lines first, any line ends); None if it has one."""
    for line in text_lines([head]):
        fields = next(csv.reader([line]), [])
        if "".join(fields).strip():
            return _header(fields)[1]
    return "the CSV needs a header row with an image_url column"


def _header(fields: list[str]) -> tuple[dict[str, int], str | None]:
    """The columns read, by name; or why the header cannot be used."""
    columns: dict[str, int] = {}
    for index, field in enumerate(fields):
        name = field.strip()
        if name not in _COLUMNS:
            continue
        if name in columns:
            return {}, f"the CSV header names the column {name!r} more than once"
        columns[name] = index
    if "image_url" not in columns:
        return {}, "the CSV needs a header row with an image_url column"
    return columns, None
