"""The README and docs/: a short front page, links that resolve, no document from outside."""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README_LIMIT = 15 * 1024
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)


def _prose(text: str) -> str:
    """Markdown without code blocks and code spans, where a link is only text."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def anchors(text: str) -> set[str]:
    """The fragment ids GitHub gives a page's headings (duplicates get -1, -2, ...)."""
    seen: Counter[str] = Counter()
    found = set()
    for heading in _HEADING.findall(_FENCE.sub("", text)):
        words = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
        slug = re.sub(r"[^\w\- ]", "", words.lower()).replace(" ", "-")
        found.add(f"{slug}-{seen[slug]}" if seen[slug] else slug)
        seen[slug] += 1
    return found


def broken_links(page: Path) -> list[str]:
    """Relative links of ``page`` whose file, or heading, does not exist."""
    broken = []
    for target in _LINK.findall(_prose(page.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path_part, _, fragment = target.partition("#")
        linked = (page.parent / path_part).resolve() if path_part else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif fragment and linked.suffix == ".md" and fragment not in anchors(linked.read_text()):
            broken.append(f"{target}: no heading #{fragment}")
    return broken


def test_anchors_follow_github_when_headings_have_code_links_and_duplicates() -> None:
    # GIVEN headings with code, punctuation, a link and a repeat
    text = "# A `b.c` (d)\n## See [e](f.md), too\n## A `b.c` (d)\n```\n# not a heading\n```\n"

    # WHEN their anchors are computed
    found = anchors(text)

    # THEN they are GitHub's ids, and a heading in a code block is none
    assert found == {"a-bc-d", "see-e-too", "a-bc-d-1"}


def test_broken_links_names_a_missing_file_and_heading_when_a_page_has_them(
    tmp_path: Path,
) -> None:
    # GIVEN a page linking a missing file, a missing heading, a good one, and code that looks like a link
    (tmp_path / "other.md").write_text("# Here\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[a](missing.md) [b](other.md#gone) [c](other.md#here) [d](#top) [e](https://x.test)\n"
        "`[f](nowhere.md)`\n\n```\n[g](nowhere.md)\n```\n# Top\n"
    )

    # WHEN its links are checked
    broken = broken_links(page)

    # THEN exactly the two broken ones are named
    assert broken == ["missing.md: no such file", "other.md#gone: no heading #gone"]


def test_readme_is_a_front_page_when_measured() -> None:
    # GIVEN the README, WHEN its size is measured, THEN it is at most 15 KB
    size = len((REPO / "README.md").read_bytes())
    assert size <= README_LIMIT, f"README.md is {size} bytes; move reference material to docs/"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_relative_link_resolves_when_the_page_is_read(page: Path) -> None:
    # GIVEN a page of the README or docs/, WHEN its relative links are followed
    broken = broken_links(page)

    # THEN each names a file of the repository and, with a #fragment, one of its headings
    assert not broken


def _project_files() -> list[Path]:
    """The repository's files as git sees them (tracked, or new and not ignored), so that
    generated output such as *.egg-info is never searched."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],  # noqa: S607
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [REPO / name for name in listed.split("\0") if name and (REPO / name).is_file()]


def test_no_file_refers_to_a_document_outside_the_repository_when_searched() -> None:
    # GIVEN every file of the project (outside environments and build output)
    outside = ["DESIGN" + ".md"]  # written so that this file does not name it

    # WHEN each is searched for documents the repository does not have
    naming = [
        f"{path.relative_to(REPO)} names {name}"
        for path in _project_files()
        for name in outside
        if name.encode() in path.read_bytes()
    ]

    # THEN none names one
    assert not naming
