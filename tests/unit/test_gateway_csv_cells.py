"""Cells a spreadsheet would evaluate get a leading quote; everything else is untouched."""

import pytest

from gateway.csv_cells import safe_cell, safe_row


@pytest.mark.parametrize(
    "value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://e")']
)
def test_formula_starts_are_quoted(value: str) -> None:
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["ext-1", "", " =1", "'=1", "a=b", 0.25, -0.5, None, 3])
def test_other_values_are_kept(value: object) -> None:
    assert safe_cell(value) == value


def test_a_row_is_quoted_cell_by_cell() -> None:
    assert safe_row({"a": "=1", "b": "ok", "c": None}) == {"a": "'=1", "b": "ok", "c": None}
