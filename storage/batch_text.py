"""Text lines from the bytes of a batch file, as they stream in: linear in the input, and
a line over the cap is never held (it is skipped as it goes by, standing as one marker).
"""

import codecs
import re
from collections.abc import Iterable, Iterator

from storage.batch_repository import MAX_LINE_CHARS
from storage.batch_values import UNDECODABLE


class OverlongLine(str):
    """Stands for a line over the cap, whose text was skipped unread."""

    __slots__ = ()


# A line and its end ("\r\n", "\r" or "\n"), or the text after the last end.
_LINE_PIECES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
# What `str.splitlines` also takes for a line end, and a text file opened with `newline=""`
# does not.
_OTHER_LINE_ENDS = re.compile("[\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _mark_undecodable(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return UNDECODABLE, error.end


codecs.register_error("batch_rows.undecodable", _mark_undecodable)


def text_lines(chunks: Iterable[bytes], max_line_chars: int = MAX_LINE_CHARS) -> Iterator[str]:
    """Text lines, ends kept, from bytes in arbitrary chunks: what a text file opened with
    `newline=""` yields. UTF-8, or UTF-16 after its byte-order mark (a UTF-8 one is
    dropped); undecodable bytes become `UNDECODABLE`. A line longer than `max_line_chars`
    is one `OverlongLine`, its text dropped as it streams by. Linear in the input."""
    source = iter(chunks)
    head = b""
    for chunk in source:
        head += chunk
        if len(head) >= 3:
            break
    encoding = next((name for bom, name in _BOMS if head.startswith(bom)), "utf-8")
    decoder = codecs.getincrementaldecoder(encoding)(errors="batch_rows.undecodable")
    splitter = _LineSplitter(max_line_chars)
    carry = ""
    for chunk in _chained(head, source):
        text = carry + decoder.decode(chunk)
        # A "\r" at the very end may be the first half of "\r\n": wait for more.
        carry = "\r" if text.endswith("\r") else ""
        yield from splitter.feed(text[: len(text) - len(carry)])
    yield from splitter.feed(carry + decoder.decode(b"", final=True))
    yield from splitter.end()


def _chained(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield head
    yield from rest


class _LineSplitter:
    def __init__(self, max_line_chars: int) -> None:
        self._max = max_line_chars
        self._pieces: list[str] = []
        self._size = 0
        self._overlong = False

    def feed(self, text: str) -> Iterator[str]:
        if _OTHER_LINE_ENDS.search(text) is None:
            # Fast path (a million empty lines): `splitlines` splits on "\r\n", "\r" and
            # "\n" only, as `newline=""` does, when the text holds no other line end.
            lines = text.splitlines(keepends=True)
        else:
            lines = [text[m.start() : m.end()] for m in _LINE_PIECES.finditer(text)]
        rest = lines.pop() if lines and lines[-1][-1:] not in ("\n", "\r") else ""
        for line in lines:
            if self._overlong or self._size + len(line) > self._max:
                yield OverlongLine(line[-2:] if line.endswith("\r\n") else line[-1:])
                self._pieces, self._size, self._overlong = [], 0, False
            elif self._pieces:
                self._pieces.append(line)
                yield "".join(self._pieces)
                self._pieces, self._size = [], 0
            else:
                yield line
        if rest and not self._overlong:
            if self._size + len(rest) > self._max:
                self._pieces, self._size, self._overlong = [], 0, True
            else:
                self._pieces.append(rest)
                self._size += len(rest)

    def end(self) -> Iterator[str]:
        if self._overlong:
            yield OverlongLine("")
        elif self._pieces:
            yield "".join(self._pieces)
