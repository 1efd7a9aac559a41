"""docs/architecture.md against the code it describes: the state table is
gateway/lifecycle.py's, and every file its module map names exists.

Why: the architecture page is what a maintainer reads before changing the design; a
state added to the machine or a module moved must not leave it quietly wrong.
"""

from __future__ import annotations

import re
from pathlib import Path

from gateway import lifecycle
from gateway.lifecycle import State

ROOT = Path(__file__).resolve().parents[2]
ARCHITECTURE = ROOT / "docs" / "architecture.md"

STATE_ROW = re.compile(r"^\| `(\w+)` \| ([A-Z]+) \| (.*) \|$", re.MULTILINE)


def section(title: str) -> str:
    """The text of one `## title` section."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def test_state_table_is_lifecycles_transitions_and_public_names():
    rows = STATE_ROW.findall(section("Message life"))
    documented = {
        State(value): (public, frozenset(State(s) for s in re.findall(r"`(\w+)`", moves)))
        for value, public, moves in rows
    }
    assert len(rows) == len(documented) == len(State)
    for state in State:
        assert documented[state] == (lifecycle.PUBLIC_NAMES[state], lifecycle.TRANSITIONS[state])


def test_module_map_names_only_files_that_exist():
    names = re.findall(r"`([\w/]+(?:\.py|/|\.sql))`", section("Module map"))
    assert len(names) > 40, "the module map lost its file names"
    for name in names:
        if name.endswith("*.sql"):
            continue
        path = ROOT / "gateway" / name.lstrip("/")
        candidates = [path, *(ROOT / "gateway").glob(f"*/{name}")]
        assert any(p.exists() for p in candidates), f"module map names {name}: no such file"
