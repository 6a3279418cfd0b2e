"""CSV cells a spreadsheet will not run: every CSV the service writes goes through here.

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to
Excel, LibreOffice and Google Sheets (`=HYPERLINK(...)` in an `external_id` would run on a
moderator's machine). Such cells get a leading single quote (OWASP's advice), which the
spreadsheet shows as text; JSON and JSONL stay raw.
"""

from collections.abc import Mapping
from typing import Any

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """`value`, with a quote before it when it is text a spreadsheet would evaluate."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {name: safe_cell(value) for name, value in row.items()}
