"""The docs' generated tables match the code, and the pages that list what the code defines
list all of it."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import docs_tables  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from gateway.settings import Settings as GatewaySettings  # noqa: E402
from storage.errors import ErrorCode  # noqa: E402
from worker.settings import Settings as WorkerSettings  # noqa: E402


def test_the_generated_tables_match_the_code() -> None:
    stale = docs_tables.stale_pages()
    assert not stale, f"run `make docs-tables`: stale tables in {sorted(map(str, stale))}"


def test_every_table_has_its_markers_in_the_docs() -> None:
    text = "".join(page.read_text() for page in (ROOT / "docs").glob("*.md"))
    for name in docs_tables.tables():
        assert f"<!-- generated: {name} -->" in text


def test_every_written_description_names_a_setting() -> None:
    def fields(model: type[BaseModel]) -> set[str]:
        names = set()
        for field, info in model.model_fields.items():
            names.add(f"{model.__name__}.{field}")
            annotation = info.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                names |= fields(annotation)
        return names

    known = fields(GatewaySettings) | fields(WorkerSettings)
    assert set(docs_tables.DESCRIPTIONS) <= known


def test_the_settings_table_reads_defaults_and_bounds() -> None:
    rows = {row.name: row for row in docs_tables.settings(GatewaySettings)}
    assert rows["MAX_UPLOAD_BYTES"].default == "`10485760` (10 MiB)"
    assert rows["MAX_WAIT_S"].type == "number, ≥ 0, ≤ 300"
    assert rows["AUTH__BOOTSTRAP_ADMIN_KEY"].default == "none"


def test_every_error_code_is_documented() -> None:
    page = (ROOT / "docs" / "errors.md").read_text()
    missing = [code.value for code in ErrorCode if f"`{code.value}`" not in page]
    assert not missing, f"docs/errors.md lacks {missing}"
