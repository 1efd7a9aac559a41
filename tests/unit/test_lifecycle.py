"""The message state machine: its tables and the decision from segment states."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from gateway import lifecycle
from gateway.lifecycle import FINAL, QUEUED, State


def test_every_state_has_a_row_and_a_public_name():
    assert set(lifecycle.TRANSITIONS) == set(State)
    assert set(lifecycle.PUBLIC_NAMES) == set(State)
    assert State.SUBMITTING.public == "ACCEPTED"
    assert State.DELIVERED.public == "DELIVERED"


def test_final_states_go_nowhere_and_nothing_returns_to_the_queue_from_the_smsc():
    for old in State:
        for new in State:
            if old in FINAL or old == new:
                assert not lifecycle.allowed(old, new), (old, new)
            if new in QUEUED and old not in QUEUED:
                assert not lifecycle.allowed(old, new), (old, new)


def test_the_usual_life_is_allowed():
    path = [State.ACCEPTED, State.SUBMITTING, State.SENT, State.BUFFERED, State.DELIVERED]
    for old, new in itertools.pairwise(path):
        assert lifecycle.allowed(old, new)
    assert lifecycle.allowed(State.SUBMITTING, State.ACCEPTED)  # released at a stop
    assert lifecycle.allowed(State.ACCEPTED, State.FAILED)  # validity ran out


def test_notifiable_names_are_public_names_of_non_queued_states():
    public = {s.public for s in State if s not in QUEUED}
    assert set(lifecycle.NOTIFIABLE) == public


def test_from_public():
    assert lifecycle.from_public("delivered") is State.DELIVERED
    assert lifecycle.from_public("ACCEPTED") is State.ACCEPTED
    assert lifecycle.from_public("nonsense") is None


def test_decide_examples():
    D, U, E, B, F = State.DELIVERED, State.UNDELIVERED, State.EXPIRED, State.BUFFERED, State.FAILED
    decide = lifecycle.decide
    assert decide([D] * 3, 3) is D
    assert decide([D, U, D], 3) is U
    assert decide([E, U, F], 3) is F
    assert decide([D, E], 2) is E
    assert decide([D, None], 2) is None
    assert decide([D], 2) is None  # the second receipt has not come
    assert decide([B, None], 2) is B
    assert decide([B, D], 2) is B
    assert decide([F, None], 2) is None
    assert decide([], 0) is None
    assert decide([State.SENT], 1) is None


@given(
    st.lists(st.sampled_from([None, *State]), max_size=6),
    st.integers(0, 8),
)
def test_decide_is_delivered_only_when_every_part_is(states, count):
    count = max(count, len(states))
    decided = lifecycle.decide(states, count)
    if decided is State.DELIVERED:
        assert len(states) == count and all(s is State.DELIVERED for s in states)
    if decided is not None and decided in FINAL:
        assert all(s is not None and s in FINAL for s in states) and len(states) == count
