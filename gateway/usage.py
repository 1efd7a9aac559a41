"""Usage by country (POST /usage/bycountry): the period rules and the rows, pure.

The store gives messages and cost per receiver; the country is read from the number
here, so no SQL needs a numbering plan. Counts and costs are strings in the answer, as
the provider's are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from gateway.countries import country_of
from gateway.model_api import ReceiverUsage

MAX_PERIOD_DAYS = 31
MAX_PERIOD_ERROR = f"Maximum queryable period is {MAX_PERIOD_DAYS} days"
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})|([0-9]{4})([0-9]{2})([0-9]{2})")


class PeriodError(ValueError):
    """The dates cannot be used; the message is the answer's error text."""


@dataclass(frozen=True)
class Period:
    """Whole UTC days from `first` to `last`, both included."""

    first: date
    last: date

    @property
    def start(self) -> float:
        """Epoch seconds at 00:00 UTC of the first day."""
        return datetime.combine(self.first, datetime.min.time(), UTC).timestamp()

    @property
    def end(self) -> float:
        """Epoch seconds at 00:00 UTC of the day after the last (exclusive)."""
        return self.start + ((self.last - self.first).days + 1) * 86_400


def parse_date(name: str, value: Any) -> date:
    """YYYY-MM-DD or YYYYMMDD, as the provider documents; anything else is refused."""
    if value is None or value == "":
        raise PeriodError(f"{name} is required (YYYY-MM-DD or YYYYMMDD)")
    match = _DATE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise PeriodError(f"{name} must be a date as YYYY-MM-DD or YYYYMMDD, not {value!r}")
    try:
        return date(*(int(part) for part in match.groups() if part is not None))
    except ValueError as exc:
        raise PeriodError(f"{name} is not a calendar date: {value!r} ({exc})") from None


def parse_period(start: Any, end: Any) -> Period:
    """The inclusive period; more than 31 days gets the provider's own error text."""
    period = Period(parse_date("startDate", start), parse_date("endDate", end))
    if period.last < period.first:
        raise PeriodError("endDate must not be before startDate")
    if period.last - period.first >= timedelta(days=MAX_PERIOD_DAYS):
        raise PeriodError(MAX_PERIOD_ERROR)
    return period


def format_cost(cost: float | None) -> str | None:
    """A cost as a plain decimal string ("1.4", "12"), None when nothing carried one."""
    if cost is None:
        return None
    text = f"{cost:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def usage_rows(usage: Iterable[ReceiverUsage]) -> list[dict[str, str | None]]:
    """One row per alpha-3 country, sorted by country: country, messagesCount, cost."""
    counts: dict[str, int] = {}
    costs: dict[str, float] = {}
    for row in usage:
        country = country_of(row.receiver)
        counts[country] = counts.get(country, 0) + row.messages
        if row.cost is not None:
            costs[country] = costs.get(country, 0.0) + row.cost
    return [
        {
            "country": country,
            "messagesCount": str(counts[country]),
            "cost": format_cost(costs.get(country)),
        }
        for country in sorted(counts)
    ]
