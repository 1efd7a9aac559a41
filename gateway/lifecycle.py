"""The life of a message: its states, their public names, the moves between them.

The one place a state is spelled. Like h11's `_state.py`, the rules are tables a reader
can check at a glance, and the code below them only looks things up:

    accepted -> submitting -> sent -> delivered | undelivered | expired | failed
                                  \\-> buffered -> (a final state)

`failed` also comes straight from `accepted` or `submitting` (a permanent SMSC error, or
the validity ran out before a submit), and `submitting` goes back to `accepted` when a
daemon stops or dies with the message claimed. A final state is final.

Values are stored as they are (lower case); callers and callbacks see the provider's
names (`PUBLIC_NAMES`): SENT, DELIVERED, UNDELIVERED, BUFFERED, FAILED, EXPIRED, and
ACCEPTED for a message still queued. Pure: no I/O, no clock, no mutable state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from types import MappingProxyType


class State(StrEnum):
    """Where a message is. The values are what the store keeps."""

    ACCEPTED = "accepted"  # durable, waiting for a session
    SUBMITTING = "submitting"  # claimed by an engine: on the wire or waiting to retry
    SENT = "sent"  # every segment has a submit_sm_resp with status 0
    BUFFERED = "buffered"  # a receipt said "still trying" (ENROUTE, ACCEPTD)
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    EXPIRED = "expired"
    FAILED = "failed"

    @property
    def public(self) -> str:
        """The provider's name for this state, as callers and callbacks see it."""
        return PUBLIC_NAMES[self]

    @property
    def final(self) -> bool:
        return self in FINAL

    @property
    def queued(self) -> bool:
        return self in QUEUED


A, SU, SE, B = State.ACCEPTED, State.SUBMITTING, State.SENT, State.BUFFERED
D, U, E, F = State.DELIVERED, State.UNDELIVERED, State.EXPIRED, State.FAILED

#: Not yet on the SMSC's side: what a feeder claims and a restart submits again.
QUEUED: frozenset[State] = frozenset({A, SU})
#: Nothing moves a message out of these.
FINAL: frozenset[State] = frozenset({D, U, E, F})

#: The provider's names. A queued message has no provider state; ACCEPTED says so.
PUBLIC_NAMES: Mapping[State, str] = MappingProxyType(
    {A: "ACCEPTED", SU: "ACCEPTED", SE: "SENT", B: "BUFFERED"}
    | {D: "DELIVERED", U: "UNDELIVERED", E: "EXPIRED", F: "FAILED"}
)

#: old state -> the states it may move to. A receipt may overtake its submit_sm_resp, so
#: receipt states are reachable from the queue too; nothing goes back to the queue once
#: the SMSC has it, and a final state goes nowhere.
TRANSITIONS: Mapping[State, frozenset[State]] = MappingProxyType(
    {
        A: frozenset({SU, SE, B, D, U, E, F}),
        SU: frozenset({A, SE, B, D, U, E, F}),
        SE: frozenset({B, D, U, E, F}),
        B: frozenset({SE, D, U, E, F}),
        D: frozenset(),
        U: frozenset(),
        E: frozenset(),
        F: frozenset(),
    }
)

#: The states a caller may ask callbacks for (deliveryStatusesToNotify), by public name;
#: also the default of `webhooks.notify_statuses`: every one of them.
NOTIFIABLE: tuple[str, ...] = ("SENT", "DELIVERED", "UNDELIVERED", "BUFFERED", "FAILED", "EXPIRED")

#: Final states, worst first: a multi-part message takes the worst of its segments'.
WORST_FIRST: tuple[State, ...] = (F, U, E, D)

del A, SU, SE, B, D, U, E, F


def allowed(old: State, new: State) -> bool:
    """Whether a message in `old` may move to `new` (TRANSITIONS)."""
    return new in TRANSITIONS[old]


def from_public(name: str) -> State | None:
    """The state for a provider name that callbacks carry (SENT, ...); None if unknown.
    ACCEPTED maps to `accepted`."""
    for state, public in PUBLIC_NAMES.items():
        if public == name.upper():
            return state
    return None


def decide(segment_states: Sequence[State | None], segment_count: int) -> State | None:
    """The state a multi-part message takes from its segments' latest receipt states.

    `segment_states` holds one entry per segment (None: no receipt yet); entries missing
    up to `segment_count` count as None. When every segment is final the message takes
    the worst of them (WORST_FIRST), so it is DELIVERED only when all parts are.
    Otherwise BUFFERED when any part said so, else None: nothing new to report.
    """
    states = list(segment_states) + [None] * (segment_count - len(segment_states))
    if not states:
        return None
    finals = [state for state in states if state is not None and state in FINAL]
    if len(finals) == len(states):
        return min(finals, key=WORST_FIRST.index)
    return State.BUFFERED if State.BUFFERED in states else None
