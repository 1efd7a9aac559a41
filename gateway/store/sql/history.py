"""A message's history, kept on its own row: one line per state it entered.

Why not a table of events: a row per state change (four for a delivered message), each
naming its message by a 36-character id and indexed by it, cost 474 of the 1,680 bytes
a delivered message kept on SQLite (issue 15). The same facts as lines appended to a
column of the message cost about 60, and the append rides on the UPDATE that changes
the state anyway.

A line is `<microseconds since created_at>:<state code>[:<detail>]` (CODES: a letter per
state); each append starts with a newline (the first line too, so every writer appends
the same way). A detail never holds a newline (replaced by a space); it may hold colons:
everything after the second colon is the detail.
"""

from __future__ import annotations

from gateway.lifecycle import State

#: The letter a state is kept as in a history line (and back).
CODES: dict[str, str] = {
    State.ACCEPTED: "a",
    State.SUBMITTING: "s",
    State.SENT: "t",
    State.BUFFERED: "b",
    State.DELIVERED: "d",
    State.UNDELIVERED: "u",
    State.EXPIRED: "e",
    State.FAILED: "f",
}
STATES: dict[str, str] = {code: str(state) for state, code in CODES.items()}

#: The SET clause that appends one line (`line()`) to a message's history.
APPEND = "history = history || ?"


def line(at: float, created_at: float, state: str, detail: str | None = None) -> str:
    """The text to append for entering `state` at `at`."""
    offset, code = round((at - created_at) * 1_000_000), CODES[state]
    if detail is None:
        return f"\n{offset}:{code}"
    return f"\n{offset}:{code}:{detail.replace(chr(10), ' ')}"


def parse(text: str, created_at: float) -> tuple[tuple[float, str, str | None], ...]:
    """(at, state, detail) per line, oldest first."""
    entries = []
    for entry in text.split("\n"):
        if not entry:
            continue
        offset, code, *rest = entry.split(":", 2)
        at = created_at + int(offset) / 1_000_000
        entries.append((at, STATES.get(code, code), rest[0] if rest else None))
    return tuple(entries)
