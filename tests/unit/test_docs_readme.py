"""The README is a front page: short, and every link in it leads somewhere."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MAX_LINES = 200
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(page: Path) -> set[str]:
    """The ids mkdocs (and GitHub) give the page's headings: lower case, punctuation
    dropped, spaces as hyphens."""
    headings = re.findall(r"^#{1,6} (.+)$", page.read_text(), re.M)
    slugs = set()
    for heading in headings:
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        slugs.add(re.sub(r"-{2,}", "-", slug))
    return slugs


def test_the_readme_is_a_front_page() -> None:
    lines = README.read_text().count("\n")
    assert lines <= MAX_LINES, f"README.md has {lines} lines; the rest belongs in docs/"


def test_every_relative_link_in_the_readme_resolves() -> None:
    text = re.sub(r"^```.*?^```", "", README.read_text(), flags=re.M | re.S)
    for target in _LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # an absolute URL
        path, _, anchor = target.partition("#")
        page = (README.parent / path) if path else README
        assert page.exists(), f"README.md links to {path}, which does not exist"
        if anchor and page.suffix == ".md":
            assert anchor in _anchors(page), f"{page.name} has no heading #{anchor}"


def test_the_readme_keeps_the_quick_start() -> None:
    text = README.read_text()
    assert "make up" in text
    assert "make test" in text
