"""The batch row parser: CSV and JSONL, good rows and bad ones, row numbers."""

import io
import json

import pytest

from storage.batch_rows import (
    BatchFileError,
    Row,
    RowFormat,
    RowLimits,
    guess_format,
    parse_rows,
    text_lines,
)
from storage.batches import RowError
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


def test_a_csv_without_an_image_url_column_is_refused() -> None:
    with pytest.raises(BatchFileError):
        _parse("url,external_id\nhttps://example.com/a.jpg,a\n", RowFormat.CSV)


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
