"""Links in README.md and docs/*.md: every target is a file of this repository.

Why: a user reads these files in a clone (or on the forge), where a link to a file that
was moved, or to something beside the repository (`../shared/...`), is simply broken.
A link must be relative, must not climb above the repository root, must name a file or
directory that exists and, when it carries a `#fragment` into a Markdown file, a heading
that file has. Links inside code (fenced blocks, `spans`) and HTML comments are not links.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^(`{3,}|~{3,}).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.DOTALL)
_INLINE = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^\s)>]*)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)"
)
_REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)[ \t#]*$", re.MULTILINE)


def _prose(text: str) -> str:
    """The text without fenced code, HTML comments and code spans."""
    return _CODE_SPAN.sub("", _COMMENT.sub("", _FENCE.sub("", text)))


def link_targets(text: str) -> list[str]:
    """Every link target of a Markdown text: inline links, images, reference definitions."""
    prose = _prose(text)
    return _INLINE.findall(prose) + _REFERENCE.findall(prose)


def slug(heading: str) -> str:
    """The anchor a forge gives a heading: lower case, punctuation dropped, spaces to -."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a Markdown file's headings (repeats get -1, -2, ... as on a forge)."""
    seen: dict[str, int] = {}
    result = set()
    text = _COMMENT.sub("", _FENCE.sub("", path.read_text(encoding="utf-8")))
    for heading in _HEADING.findall(text):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def link_problems(document: Path, root: Path) -> list[str]:
    """What is wrong with the links of `document`, one line each; [] when nothing is."""
    problems = []
    for target in link_targets(document.read_text(encoding="utf-8")):
        where, _, fragment = target.partition("#")
        if not target:
            problems.append("empty link target")
        elif _SCHEME.match(target) or target.startswith("//"):
            problems.append(f"{target}: leaves the repository (not a relative path)")
        elif where.startswith("/"):
            problems.append(f"{target}: absolute path; write it relative to {document.name}")
        else:
            problems += _relative_problems(document, root, target, where, fragment)
    return problems


def _relative_problems(
    document: Path, root: Path, target: str, where: str, fragment: str
) -> list[str]:
    resolved = (document.parent / where).resolve() if where else document.resolve()
    if not resolved.is_relative_to(root.resolve()):
        return [f"{target}: leaves the repository"]
    if not resolved.exists():
        return [f"{target}: no such file"]
    if fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
        return [f"{target}: {resolved.name} has no heading with anchor #{fragment}"]
    return []


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_link_points_into_the_repository(document: Path) -> None:
    assert link_problems(document, ROOT) == []


def test_the_documents_are_there() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in DOCUMENTS}
    expected = ["api.md", "architecture.md", "benchmarks.md", "configuration.md"]
    expected += ["operations.md", "receipts.md"]
    assert {"README.md", *(f"docs/{name}" for name in expected)} <= names
    assert sum(len(link_targets(p.read_text(encoding="utf-8"))) for p in DOCUMENTS) > 20


def test_no_document_refers_to_the_shared_directory() -> None:
    for document in DOCUMENTS:
        assert "../shared" not in document.read_text(encoding="utf-8"), document.name


def test_readme_stays_short() -> None:
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 300


# ---- the checker itself finds what is wrong ---------------------------------------------


def _repository(tmp_path: Path, text: str) -> Path:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "api.md").write_text("# API\n\n## `POST /sms` and more\n\n## Limits\n")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "a.toml").write_text("")
    readme = tmp_path / "README.md"
    readme.write_text(text, encoding="utf-8")
    return readme


def test_good_links_pass(tmp_path: Path) -> None:
    readme = _repository(
        tmp_path,
        "See [api](docs/api.md), [limits](docs/api.md#limits),"
        " [send](docs/api.md#post-sms-and-more), [the dir](config/),"
        " ![img](config/a.toml 'title') and [here](#intro).\n\n# Intro\n\n"
        "[ref]: docs/api.md\n",
    )
    assert link_problems(readme, tmp_path) == []


@pytest.mark.parametrize(
    ("link", "problem"),
    [
        ("[x](docs/gone.md)", "docs/gone.md: no such file"),
        ("[x](../shared/DESIGN.md)", "../shared/DESIGN.md: leaves the repository"),
        ("[x](docs/../../outside.md)", "docs/../../outside.md: leaves the repository"),
        (
            "[x](https://example.com/a)",
            "https://example.com/a: leaves the repository (not a relative path)",
        ),
        ("[x](/etc/passwd)", "/etc/passwd: absolute path; write it relative to README.md"),
        (
            "[x](docs/api.md#nowhere)",
            "docs/api.md#nowhere: api.md has no heading with anchor #nowhere",
        ),
        ("[x](#missing)", "#missing: README.md has no heading with anchor #missing"),
        ("[x]: docs/gone.md", "docs/gone.md: no such file"),
        ("[x]()", "empty link target"),
    ],
)
def test_bad_links_are_reported(tmp_path: Path, link: str, problem: str) -> None:
    readme = _repository(tmp_path, f"# Title\n\n{link}\n")
    assert link_problems(readme, tmp_path) == [problem]


def test_links_in_code_are_not_links(tmp_path: Path) -> None:
    readme = _repository(
        tmp_path,
        "```md\n[x](docs/gone.md)\n```\n\nA span `[x](docs/gone.md)` and <!-- [x](gone.md) -->\n",
    )
    assert link_problems(readme, tmp_path) == []
