"""Which A/B variant a number gets: a stable hash of the number, placed on the variants'
cumulative weights. Pure: the importer assigns variants with it, and the same number
lands in the same variant in every run, process and shard count."""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Sequence


class HoldoutPicker:
    """Whether a number is in a campaign's holdout: a stable hash of the number, of its
    own (a number's variant and holdout are independent), against the percent in basis
    points."""

    def __init__(self, percent: int) -> None:
        if not 0 <= percent <= 100:
            raise ValueError("holdout percent must be within 0..100")
        self.percent = percent

    def __call__(self, number: str) -> bool:
        if not self.percent:
            return False
        digest = hashlib.blake2b(number.encode(), digest_size=8, person=b"herald-hold").digest()
        return int.from_bytes(digest, "big") % 10_000 < self.percent * 100


class VariantPicker:
    """A/B variant of a number: a stable hash of the number placed on the cumulative
    weights, so a number keeps its variant across runs, processes and shard counts."""

    def __init__(self, variants: Sequence[tuple[str, int]]) -> None:
        names = [name for name, _ in variants]
        if any(not name for name in names) or len(set(names)) != len(names):
            raise ValueError("variant names must be non-empty and unique")
        if any(weight < 0 for _, weight in variants):
            raise ValueError("variant weights must not be negative")
        self._names = names
        self._bounds: list[int] = []
        for _, weight in variants:
            self._bounds.append((self._bounds[-1] if self._bounds else 0) + weight)
        if variants and not self._bounds[-1]:
            raise ValueError("variant weights must not all be zero")

    def __call__(self, number: str) -> str:
        if not self._names:
            return ""
        digest = hashlib.blake2b(number.encode(), digest_size=8, person=b"herald-ab").digest()
        point = int.from_bytes(digest, "big") % self._bounds[-1]
        return self._names[bisect.bisect_right(self._bounds, point)]


class TestGroupPicker:
    """Whether a number that is not held out is in a winner campaign's test group
    (spec.winner.testPercent, a percent of the whole audience): a stable hash of the
    number of its own, independent of its variant and of the holdout, against the test's
    share of what the holdout leaves."""

    __test__ = False  # not a pytest class, whatever its name

    def __init__(self, percent: int, holdout_percent: int = 0) -> None:
        if not 0 <= percent < 100 - holdout_percent:
            raise ValueError("test percent must be below what the holdout leaves")
        self.percent = percent
        self._left = 100 - holdout_percent

    def __call__(self, number: str) -> bool:
        digest = hashlib.blake2b(number.encode(), digest_size=8, person=b"herald-test").digest()
        # point / 10_000 < percent / (100 - holdout), in integers
        return (int.from_bytes(digest, "big") % 10_000) * self._left < self.percent * 10_000
