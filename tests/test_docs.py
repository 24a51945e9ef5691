"""The docs as pages: the README stays a short entry page that links every page of ``docs/``,
every page is in ``mkdocs.yml``'s navigation, and ``mkdocs build --strict`` passes (CI runs the
same build with warnings as errors)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

DOCS = REPO / "docs"
README_LIMIT = 12 * 1024  # bytes


def _nav_pages(node: object) -> list[str]:
    """The page files named anywhere in a ``nav`` tree of lists and one-key mappings."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [page for item in node for page in _nav_pages(item)]
    if isinstance(node, dict):
        return [page for value in node.values() for page in _nav_pages(value)]
    return []


def test_the_readme_is_an_entry_page_under_12_kb() -> None:
    size = len((REPO / "README.md").read_bytes())
    assert size < README_LIMIT, f"README.md is {size} bytes, over {README_LIMIT}: move text to docs/"


def test_the_readme_links_every_docs_page() -> None:
    linked = set(re.findall(r"\]\(docs/([^)#]+\.md)", (REPO / "README.md").read_text()))
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")} - {"index.md"}
    assert pages - linked == set(), "README.md does not link these docs pages"
    assert linked - pages == set(), "README.md links docs pages that do not exist"


def test_every_docs_page_is_in_the_navigation_once() -> None:
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    nav = _nav_pages(config["nav"])
    pages = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    assert sorted(nav) == pages
    # the strict build also fails on a page left out, a broken link or a missing anchor
    assert config["validation"] == {"omitted_files": "warn", "absolute_links": "warn",
                                    "unrecognized_links": "warn", "anchors": "warn",
                                    "not_found": "warn"}


def test_benchmarks_opens_with_the_targets_table_the_docs_include() -> None:
    text = (REPO / "BENCHMARKS.md").read_text()
    start, end = "<!-- --8<-- [start:targets] -->", "<!-- --8<-- [end:targets] -->"
    assert start in text and end in text
    before = text[:text.index(start)]
    assert "|" not in before, "BENCHMARKS.md must open with the targets table"
    table = text[text.index(start) + len(start):text.index(end)].strip().splitlines()
    assert table[0].split("|")[1:-1] == [" issue ", " measurement ", " figure ", " target ", " met? ",
                                         " command "]
    assert len(table) > 10
    assert all(line.startswith("|") and len(line.split("|")) == 8 for line in table), \
        "every row: issue, measurement, figure, target, met?, command"
    assert '--8<-- "BENCHMARKS.md:targets"' in (DOCS / "benchmarks.md").read_text()


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None
                    or importlib.util.find_spec("material") is None,
                    reason="mkdocs / mkdocs-material not installed (the dev extra installs them)")
def test_mkdocs_build_strict_passes(tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    benchmarks = (site / "benchmarks" / "index.html").read_text()
    assert "93.60" in benchmarks and "--8&lt;--" not in benchmarks and "--8<--" not in benchmarks
    for page in DOCS.rglob("*.md"):
        name = page.relative_to(DOCS).with_suffix("")
        built = site / "index.html" if name.as_posix() == "index" else site / name / "index.html"
        assert built.is_file(), f"{page} was not built"
