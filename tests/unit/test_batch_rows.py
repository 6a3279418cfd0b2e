"""The batch row parser: CSV and JSONL, good rows and bad ones, row numbers."""

import io
import json
from collections.abc import Iterator

import pytest

from storage.batch_repository import RowError
from storage.batch_rows import (
    OverlongLine,
    Row,
    RowFormat,
    RowLimits,
    guess_format,
    parse_rows,
    text_lines,
)
from storage.errors import ErrorCode

LIMITS = RowLimits(max_url_length=100, max_metadata_bytes=50)


def _parse(text: str, row_format: RowFormat) -> list[Row | RowError]:
    return list(parse_rows(io.StringIO(text, newline=""), row_format, LIMITS))


def test_csv_rows_carry_their_line_numbers_and_errors_do_not_stop_parsing() -> None:
    text = (
        "image_url,external_id,metadata\n"
        'https://example.com/a.jpg,a1,"{""k"": 1}"\n'
        "ftp://example.com/b.jpg,b1,\n"
        ",c1,\n"
        "https://example.com/d.jpg,,not json\n"
        "https://example.com/e.jpg,e1,[1]\n"
        "https://example.com/f.jpg,,\n"
    )
    rows = _parse(text, RowFormat.CSV)
    assert rows[0] == Row(2, "https://example.com/a.jpg", "a1", {"k": 1})
    errors = [row for row in rows if isinstance(row, RowError)]
    assert [(e.row, e.code) for e in errors] == [
        (3, ErrorCode.INVALID_URL),
        (4, ErrorCode.INVALID_REQUEST),
        (5, ErrorCode.INVALID_REQUEST),
        (6, ErrorCode.INVALID_REQUEST),
    ]
    assert rows[-1] == Row(7, "https://example.com/f.jpg", None, {})


def test_a_csv_without_an_image_url_column_is_one_error_on_line_1() -> None:
    rows = _parse("url,external_id\nhttps://example.com/a.jpg,a\n", RowFormat.CSV)
    assert [(r.row, r.code) for r in rows if isinstance(r, RowError)] == [
        (1, ErrorCode.INVALID_REQUEST)
    ]
    assert len(rows) == 1


def test_jsonl_rows_skip_blank_lines_and_report_bad_ones() -> None:
    lines = [
        json.dumps({"image_url": "https://example.com/a.jpg", "external_id": "a"}),
        "",
        "{not json",
        json.dumps(["https://example.com/b.jpg"]),
        json.dumps({"image_url": "https://example.com/c.jpg", "metadata": {"x": "y" * 60}}),
        json.dumps({"image_url": "https://example.com/d.jpg", "external_id": 7}),
        json.dumps({"image_url": "https://example.com/" + "e" * 100}),
    ]
    rows = _parse("\n".join(lines) + "\n", RowFormat.JSONL)
    assert rows[0] == Row(1, "https://example.com/a.jpg", "a", {})
    assert [(r.row, r.code) for r in rows[1:] if isinstance(r, RowError)] == [
        (3, ErrorCode.INVALID_REQUEST),
        (4, ErrorCode.INVALID_REQUEST),
        (5, ErrorCode.INVALID_REQUEST),
        (6, ErrorCode.INVALID_REQUEST),
        (7, ErrorCode.INVALID_URL),
    ]


@pytest.mark.parametrize(
    ("filename", "content_type", "expected"),
    [
        ("rows.jsonl", None, RowFormat.JSONL),
        ("rows.csv", "text/csv", RowFormat.CSV),
        (None, "application/x-ndjson", RowFormat.JSONL),
        (None, None, RowFormat.CSV),
    ],
)
def test_the_format_follows_the_name_or_type(
    filename: str | None, content_type: str | None, expected: RowFormat
) -> None:
    assert guess_format(filename, content_type) is expected


@pytest.mark.parametrize("size", [1, 2, 3, 5, 64])
def test_text_lines_match_a_text_file_whatever_the_chunks(size: int) -> None:
    content = '\ufeffimage_url,x\r\nhttps://a/é.jpg,"two\nlines"\rlast\n\nend'.encode()
    chunks = [content[i : i + size] for i in range(0, len(content), size)]
    expected = list(io.TextIOWrapper(io.BytesIO(content), encoding="utf-8-sig", newline=""))
    assert list(text_lines(chunks)) == expected


def test_a_csv_field_over_the_csv_module_limit_is_a_row_error_and_parsing_goes_on() -> None:
    limits = RowLimits(max_line_chars=10**6, max_field_chars=10**6)
    text = f"image_url,external_id\nhttps://e.com/a.jpg,{'x' * 200_000}\nhttps://e.com/b.jpg,b\n"
    rows = list(parse_rows(io.StringIO(text, newline=""), RowFormat.CSV, limits))
    assert isinstance(rows[0], RowError)
    assert (rows[0].row, rows[0].code) == (2, ErrorCode.FIELD_TOO_LONG)
    assert rows[1] == Row(3, "https://e.com/b.jpg", "b", {})


@pytest.mark.parametrize("size", [1, 7, 64 * 1024])
def test_a_line_over_the_cap_is_skipped_as_it_streams(size: int) -> None:
    content = b"a" * 10 + b"\r\n" + b"b" * 11 + b"\r\n" + b"c" * 25 + b"\rlast"
    chunks = [content[i : i + size] for i in range(0, len(content), size)]
    lines = list(text_lines(chunks, max_line_chars=12))
    assert lines == ["a" * 10 + "\r\n", "\r\n", "\r", "last"]
    assert [type(line) is OverlongLine for line in lines] == [False, True, True, False]


def test_a_long_line_is_read_in_linear_time_and_never_held() -> None:
    chunk = b"x" * 64 * 1024
    consumed = 0

    def chunks() -> Iterator[bytes]:
        nonlocal consumed
        for _ in range(1600):  # 100 MiB, one line
            consumed += 1
            yield chunk
        yield b"\n{}\n"

    lines = text_lines(chunks(), max_line_chars=1024)
    assert type(next(lines)) is OverlongLine
    assert consumed == 1600
    assert list(lines) == ["{}\n"]
