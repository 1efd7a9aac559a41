"""Where the store is: an SQLite file or a PostgreSQL database, from one string.

Accepted: a plain path (SQLite, as `store.path` always was), `sqlite:///relative/path`
or `sqlite:////absolute/path`, and `postgresql://` or `postgres://` URLs (libpq
connection URIs, passed to psycopg as they are).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    kind: str  # "sqlite" | "postgresql"
    target: str  # file path, or the connection URL

    def redacted(self) -> str:
        """For logs: the URL without its password."""
        if self.kind != "postgresql" or "@" not in self.target:
            return self.target
        scheme, rest = self.target.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}" if ":" in creds else self.target


def parse_location(value: str) -> Location:
    if value.startswith(("postgresql://", "postgres://")):
        return Location("postgresql", value)
    if value.startswith("sqlite://"):
        path = value.removeprefix("sqlite://")
        if not path.startswith("/") or path == "/":
            raise ValueError(f"not an sqlite URL (sqlite:///path): {value!r}")
        return Location("sqlite", path[1:])
    if "://" in value:
        raise ValueError(f"unknown store URL scheme: {value.split('://', 1)[0]!r}")
    return Location("sqlite", value)
