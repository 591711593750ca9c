"""The train / valid / test split as a rule per row, so a table read in batches splits like one in memory.

A row's split depends only on the seed, its class (stratification; one class for regression), its rank
among the rows of its class (in table order) and the class sizes: a seeded bijection (a Feistel network
with cycle walking) maps the rank onto 0..n_c-1, and the first `test_c` positions are test, the next
`valid_c` valid, the rest train. Counts are exact: `test` rows in all, spread over the classes in
proportion (largest remainders), and `valid` rows from what is left, the same way.

Reading the table in batches, a running count of each class's rows gives each row's rank, so the rule
needs no more than the class sizes (a first pass) and a counter per class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TRAIN, VALID, TEST = 0, 1, 2
_ROUNDS = 4
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@dataclass(frozen=True)
class SplitPlan:
    """Per class: its rows, how many go to test and to valid; the seed keys the permutation."""

    seed: int
    sizes: tuple[int, ...]
    test: tuple[int, ...]
    valid: tuple[int, ...]

    @property
    def n_test(self) -> int:
        return sum(self.test)

    @property
    def n_valid(self) -> int:
        return sum(self.valid)

    @property
    def n_train(self) -> int:
        return sum(self.sizes) - self.n_test - self.n_valid


def plan_split(sizes: list[int], *, n_test: int, n_valid: int, seed: int) -> SplitPlan:
    """Spread `n_test` then `n_valid` rows over classes of `sizes` rows in proportion to their size."""
    test = _spread(n_test, sizes)
    rest = [s - t for s, t in zip(sizes, test, strict=True)]
    valid = _spread(n_valid, rest)
    return SplitPlan(seed=int(seed), sizes=tuple(sizes), test=tuple(test), valid=tuple(valid))


def _spread(total: int, sizes: list[int]) -> list[int]:
    """Integer shares of `total` proportional to `sizes` (largest remainders, ties to the first class)."""
    n = sum(sizes)
    if n == 0 or total <= 0:
        return [0] * len(sizes)
    exact = np.asarray(sizes, dtype=np.float64) * total / n
    out = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - out), kind="stable")
    for i in order[: total - int(out.sum())]:
        out[i] += 1
    return [int(min(o, s)) for o, s in zip(out, sizes, strict=True)]


def ranks(codes: np.ndarray, seen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(each row's rank within its class, counting from `seen` rows of each class before these),
    and the counts after these rows."""
    codes = np.asarray(codes, dtype=np.int64)
    out = np.empty(len(codes), dtype=np.int64)
    after = seen.astype(np.int64).copy()
    for c in np.unique(codes):
        where = np.flatnonzero(codes == c)
        out[where] = after[c] + np.arange(len(where))
        after[c] += len(where)
    return out, after


def assign(plan: SplitPlan, codes: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """TRAIN, VALID or TEST for each row of class `codes[i]` with rank `rank[i]` in its class."""
    codes = np.asarray(codes, dtype=np.int64)
    sizes = np.asarray(plan.sizes, dtype=np.int64)[codes]
    position = _permute(np.asarray(rank, dtype=np.uint64), sizes.astype(np.uint64), plan.seed, codes)
    test = np.asarray(plan.test, dtype=np.int64)[codes]
    valid = np.asarray(plan.valid, dtype=np.int64)[codes]
    pos = position.astype(np.int64)
    return np.where(pos < test, TEST, np.where(pos < test + valid, VALID, TRAIN)).astype(np.int8)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a well-spread 64-bit hash (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
        return x ^ (x >> np.uint64(31))


def _permute(x: np.ndarray, n: np.ndarray, seed: int, codes: np.ndarray) -> np.ndarray:
    """A seeded bijection of 0..n-1 (per row its own n), applied to x < n."""
    bits = np.maximum(np.ceil(np.log2(np.maximum(n, 2).astype(np.float64))).astype(np.uint64), np.uint64(2))
    half = (bits + (bits & np.uint64(1))) // np.uint64(2)  # an even number of bits, split in two halves
    mask = (np.uint64(1) << half) - np.uint64(1)
    key = _mix(np.uint64(seed & 0xFFFFFFFFFFFFFFFF) ^ (codes.astype(np.uint64) * _M2))
    out = x.copy()
    todo = np.ones(len(x), dtype=bool)
    while todo.any():  # cycle walking: repeat until the value falls inside 0..n-1 (a few times at most)
        y = _feistel(out[todo], key[todo], half[todo], mask[todo])
        out[todo] = y
        todo[todo] = y >= n[todo]
    return out


def _feistel(x: np.ndarray, key: np.ndarray, half: np.ndarray, mask: np.ndarray) -> np.ndarray:
    left, right = x >> half, x & mask
    for r in range(_ROUNDS):
        with np.errstate(over="ignore"):
            f = _mix(right ^ key ^ np.uint64(r + 1) * _M1) & mask
        left, right = right, left ^ f
    return (left << half) | right
