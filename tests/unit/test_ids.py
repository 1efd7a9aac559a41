"""The gateway's ids are UUIDv7: valid UUIDs the provider's callers accept, ordered by time."""

from __future__ import annotations

import time
import uuid

from gateway import ids


def test_an_id_is_a_version_7_rfc_uuid_in_canonical_text() -> None:
    text = ids.new_id()
    parsed = uuid.UUID(text)
    assert str(parsed) == text
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122


def test_the_first_48_bits_are_the_creation_time_in_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    value = ids.new_uuid().int >> 80
    after = time.time_ns() // 1_000_000
    assert before <= value <= after


def test_ids_from_later_milliseconds_sort_after_earlier_ones() -> None:
    first = ids.new_id()
    deadline = time.monotonic() + 1
    while time.time_ns() // 1_000_000 == uuid.UUID(first).int >> 80:
        assert time.monotonic() < deadline
    assert ids.new_id() > first


def test_ids_made_in_the_same_millisecond_still_differ() -> None:
    made = {ids.new_id() for _ in range(10_000)}
    assert len(made) == 10_000
