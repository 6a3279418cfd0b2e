"""Hostile batch files, each with the rows it must give: how many become jobs, and the
(line, code) of each row error. Built from one good image URL, as chunks of bytes (the
million empty lines are generated, never held as a list of lines).
"""

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from storage.errors import ErrorCode

BAD_REQUEST = ErrorCode.INVALID_REQUEST
TOO_LONG = ErrorCode.ROW_TOO_LONG
FIELD = ErrorCode.FIELD_TOO_LONG
ENCODING = ErrorCode.INVALID_ENCODING


@dataclass(frozen=True)
class BatchFileCase:
    name: str
    filename: str
    chunks: Callable[[str], Iterator[bytes]]
    good: int
    errors: tuple[tuple[int, ErrorCode], ...] = ()
    # The gateway refuses the file at submission (422: no usable CSV header on line 1).
    refused: bool = False

    def content(self, url: str) -> bytes:
        return b"".join(self.chunks(url))


def _lines(*lines: str | bytes, end: bytes = b"\n") -> Callable[[str], Iterator[bytes]]:
    """Lines with `{url}` replaced by the good URL."""

    def chunks(url: str) -> Iterator[bytes]:
        for line in lines:
            raw = line.encode() if isinstance(line, str) else line
            yield raw.replace(b"{url}", url.encode()) + end

    return chunks


def _json(**fields: object) -> str:
    return json.dumps(fields).replace("URL", "{url}")


def _million_empty_lines(header: bytes, row: str) -> Callable[[str], Iterator[bytes]]:
    def chunks(url: str) -> Iterator[bytes]:
        yield header
        for _ in range(100):
            yield b"\n" * 10_000
        yield row.replace("{url}", url).encode() + b"\n"

    return chunks


def _encoded(encoding: str, *lines: str) -> Callable[[str], Iterator[bytes]]:
    def chunks(url: str) -> Iterator[bytes]:
        text = "".join(line.replace("{url}", url) + "\n" for line in lines)
        yield text.encode(encoding)

    return chunks


def _mixed_line_ends(url: str) -> Iterator[bytes]:
    yield f"image_url,external_id\r\n{url},a\r{url},b\n{url},c\r\n\r{url},d".encode()


_DEEP = "[" * 5000 + "]" * 5000
_DEEP_METADATA = '"' + "[" * 3000 + "]" * 3000 + '"'
_NESTED_40 = '{"a":' * 40 + "1" + "}" * 40

BATCH_FILE_CASES = [
    BatchFileCase(
        "csv-field-over-the-field-cap",
        "rows.csv",
        _lines("image_url,external_id", "{url},ok", "{url}," + "x" * 40_000, "{url},ok2"),
        good=2,
        errors=((3, FIELD),),
    ),
    BatchFileCase(
        "csv-line-of-a-megabyte",
        "rows.csv",
        _lines("image_url,external_id", "{url}," + "x" * 1_000_000, "{url},ok"),
        good=1,
        errors=((2, TOO_LONG),),
    ),
    BatchFileCase(
        "jsonl-line-of-a-megabyte",
        "rows.jsonl",
        _lines(_json(image_url="URL", external_id="x" * 1_000_000), _json(image_url="URL")),
        good=1,
        errors=((1, TOO_LONG),),
    ),
    BatchFileCase(
        "csv-quoted-field-over-many-lines",
        "rows.csv",
        # 1,001-character lines: where the cap falls does not depend on the URL's length.
        _lines("image_url,external_id", "{url},ok", '{url},"' + ("x" * 1000 + "\n") * 100 + '"'),
        good=1,
        errors=((68, TOO_LONG),),
    ),
    BatchFileCase(
        "jsonl-nested-5000-deep",
        "rows.jsonl",
        _lines('{"image_url":"{url}","metadata":' + _DEEP + "}", _json(image_url="URL")),
        good=1,
        errors=((1, BAD_REQUEST),),
    ),
    BatchFileCase(
        "jsonl-metadata-40-deep",
        "rows.jsonl",
        _lines('{"image_url":"{url}","metadata":' + _NESTED_40 + "}", _json(image_url="URL")),
        good=1,
        errors=((1, BAD_REQUEST),),
    ),
    BatchFileCase(
        "csv-metadata-nested-3000-deep",
        "rows.csv",
        _lines("image_url,metadata", "{url}," + _DEEP_METADATA, "{url},"),
        good=1,
        errors=((2, BAD_REQUEST),),
    ),
    BatchFileCase(
        "nul-bytes",
        "rows.jsonl",
        _lines(
            b'{"image_url":"{url}","external_id":"a\x00b"}',
            '{"image_url":"{url}","metadata":{"k\\u0000":1}}',
            '{"image_url":"{url}","external_id":"a\\u0000b"}',
            _json(image_url="URL"),
        ),
        good=1,
        errors=((1, ENCODING), (2, ENCODING), (3, ENCODING)),
    ),
    BatchFileCase(
        "csv-nul-bytes",
        "rows.csv",
        _lines(b"image_url,external_id", b"{url},a\x00b", b"{url},ok"),
        good=1,
        errors=((2, ENCODING),),
    ),
    BatchFileCase(
        "jsonl-million-empty-lines",
        "rows.jsonl",
        _million_empty_lines(b"", _json(image_url="URL")),
        good=1,
    ),
    BatchFileCase(
        "csv-million-empty-lines",
        "rows.csv",
        _million_empty_lines(b"image_url\n", "{url}"),
        good=1,
    ),
    BatchFileCase(
        "csv-utf8-bom",
        "rows.csv",
        _lines(b"\xef\xbb\xbfimage_url,external_id", "{url},caf\u00e9"),
        good=1,
    ),
    BatchFileCase(
        "jsonl-utf16-le-bom",
        "rows.jsonl",
        _encoded("utf-16", _json(image_url="URL", external_id="\u00e9t\u00e9"), _json(a=1)),
        good=1,
        errors=((2, BAD_REQUEST),),
    ),
    BatchFileCase(
        "jsonl-utf16-be-bom",
        "rows.jsonl",
        lambda url: iter([b"\xfe\xff" + (_json(image_url=url) + "\n").encode("utf-16-be")]),
        good=1,
    ),
    BatchFileCase(
        "csv-utf16-without-bom",
        "rows.csv",
        _encoded("utf-16-le", "image_url", "{url}"),
        good=0,
        errors=((1, ENCODING),),
        refused=True,
    ),
    BatchFileCase(
        "mixed-encodings",
        "rows.jsonl",
        _lines(
            b'{"image_url":"{url}","external_id":"caf\xe9"}',  # Latin-1
            b'{"image_url":"{url}","external_id":"\xc0\xaf"}',  # overlong UTF-8
            b'{"image_url":"{url}","external_id":"\xed\xa0\x80"}',  # an encoded surrogate
            '{"image_url":"{url}","external_id":"\\ud800"}',  # an escaped lone surrogate
            _json(image_url="URL", external_id="caf\u00e9 \U0001f600"),
        ),
        good=1,
        errors=((1, ENCODING), (2, ENCODING), (3, ENCODING), (4, ENCODING)),
    ),
    BatchFileCase("crlf-cr-lf-mixed", "rows.csv", _mixed_line_ends, good=4),
    # Old Mac line ends: no "\n" at all, every row still read.
    BatchFileCase(
        "csv-cr-only", "rows.csv", _lines("image_url", "{url}", "{url}", end=b"\r"), good=2
    ),
    BatchFileCase(
        "csv-utf16-bom-blank-lines-first",
        "rows.csv",
        _encoded("utf-16", "", "", "image_url,external_id", "{url},a", "{url},b"),
        good=2,
    ),
    BatchFileCase("csv-header-only", "rows.csv", _lines("image_url,external_id"), good=0),
    BatchFileCase(
        "csv-no-header",
        "rows.csv",
        _lines("{url},a", "{url},b"),
        good=0,
        errors=((1, BAD_REQUEST),),
        refused=True,
    ),
    BatchFileCase(
        "csv-duplicate-columns",
        "rows.csv",
        _lines("image_url,external_id,image_url", "{url},a,{url}"),
        good=0,
        errors=((1, BAD_REQUEST),),
        refused=True,
    ),
    BatchFileCase(
        "csv-duplicate-unknown-columns",
        "rows.csv",
        _lines("note,image_url,note", "x,{url},y"),
        good=1,
    ),
    BatchFileCase(
        "huge-metadata",
        "rows.jsonl",
        _lines(
            _json(image_url="URL", metadata={"k": "v" * 20_000}),
            '{"image_url":"{url}","metadata":{"n":' + "9" * 30 + "}}",
            '{"image_url":"{url}","metadata":{"n":NaN}}',
            '{"image_url":"{url}","metadata":{"$where":"1"}}',
            '{"image_url":"{url}","metadata":{"n":' + "9" * 5000 + "}}",
            _json(image_url="URL", metadata={"k": "v" * 1000}),
        ),
        good=1,
        errors=tuple((line, BAD_REQUEST) for line in range(1, 6)),
    ),
    BatchFileCase(
        "csv-unterminated-quote",
        "rows.csv",
        # Read leniently, as Python's csv does: the open field runs to the end of the file.
        _lines("image_url,external_id", "{url},ok", '{url},"never closed'),
        good=2,
    ),
]
CASES_BY_NAME = {case.name: case for case in BATCH_FILE_CASES}
