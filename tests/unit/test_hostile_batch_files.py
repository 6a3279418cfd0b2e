"""The batch row parser on the hostile batch files: every row is a row or a row error with
a stable code, nothing raises, and long lines are never held whole."""

import pytest

from storage.batch_repository import RowError
from storage.batch_rows import Row, RowLimits, guess_format, parse_rows, text_lines
from tests.hostile.batch_files import BATCH_FILE_CASES, BatchFileCase

URL = "https://example.com/a.jpg"


def _parse(case: BatchFileCase) -> list[Row | RowError]:
    row_format = guess_format(case.filename, None)
    return list(parse_rows(text_lines(case.chunks(URL)), row_format, RowLimits()))


@pytest.mark.parametrize("case", BATCH_FILE_CASES, ids=lambda case: case.name)
def test_a_hostile_file_gives_its_rows_and_coded_errors(case: BatchFileCase) -> None:
    rows = _parse(case)
    assert sum(isinstance(row, Row) for row in rows) == case.good
    assert [(row.row, row.code) for row in rows if isinstance(row, RowError)] == list(case.errors)


def test_row_numbers_are_lines_whatever_the_line_ends() -> None:
    from tests.hostile.batch_files import CASES_BY_NAME

    rows = _parse(CASES_BY_NAME["crlf-cr-lf-mixed"])
    assert [(row.number, row.external_id) for row in rows if isinstance(row, Row)] == [
        (2, "a"),
        (3, "b"),
        (4, "c"),
        (6, "d"),
    ]
