"""An audience's members as an emulator holds them, and the simulated user base that decides matches.

A member is a row of identifier key -> hash (``{"EMAIL_SHA256": "ab12...", "PHONE_SHA256": "..."}``); an
identical row is stored once. A removal row removes every member whose values include all of its values,
so removing by one identifier works. An index from value to members keeps removals fast on large
audiences. The platform "knows" a hash when ``int(hash[:8], 16) < share * 2**32`` for that key's share,
so a match rate is arithmetic over the hashes, not a constant, and differs by platform and identifier.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_HASH = re.compile(r"^[0-9a-f]{64}$")
_SHARE_SCALE = 2**32


def is_sha256_hex(value: str) -> bool:
    return bool(_HASH.match(value))


def knows(value: str, share: float) -> bool:
    """Whether a platform that knows ``share`` of all values of this kind has a user with this hash."""
    return bool(_HASH.match(value)) and int(value[:8], 16) < share * _SHARE_SCALE


def _key(row: Mapping[str, str]) -> str:
    return "\t".join(f"{column}={value}" for column, value in sorted(row.items()) if value)


class MemberStore:
    """Members of one audience, with a matched count under ``shares`` (identifier key -> known share)."""

    def __init__(self, shares: Mapping[str, float]) -> None:
        self.shares = dict(shares)
        self.rows: dict[str, dict[str, str]] = {}
        self.index: dict[str, set[str]] = {}
        self.matched = 0

    def __len__(self) -> int:
        return len(self.rows)

    def is_matched(self, row: Mapping[str, str]) -> bool:
        return any(knows(value, self.shares.get(column, 0.0)) for column, value in row.items())

    def add(self, row: Mapping[str, str]) -> bool:
        """Store ``row``; False when an identical member is already there."""
        key = _key(row)
        if not key or key in self.rows:
            return False
        stored = {column: value for column, value in row.items() if value}
        self.rows[key] = stored
        self.matched += self.is_matched(stored)
        for value in stored.values():
            self.index.setdefault(value, set()).add(key)
        return True

    def remove(self, row: Mapping[str, str]) -> int:
        """Remove every member holding all of ``row``'s values; how many were removed."""
        present = [value for value in row.values() if value]
        if not present:
            return 0
        candidates: set[str] | None = None
        for value in present:
            holders = self.index.get(value, set())
            candidates = set(holders) if candidates is None else candidates & holders
            if not candidates:
                return 0
        for key in candidates or ():
            stored = self.rows.pop(key)
            self.matched -= self.is_matched(stored)
            for value in stored.values():
                holders = self.index.get(value)
                if holders is not None:
                    holders.discard(key)
                    if not holders:
                        del self.index[value]
        return len(candidates or ())

    def listing(self) -> list[dict[str, str]]:
        """Every member, in a stable order."""
        return [dict(self.rows[key]) for key in sorted(self.rows)]
