"""Small exact statistics for findings: 2x2 tables, Fisher's exact test, odds ratios.

Pure Python (``math.comb`` / ``math.lgamma``), no scipy: a diagnosis over a few dozen start
attempts needs exact small-sample p-values, and the project does not ship scipy.

A table counts start attempts by a boolean *feature* (rows) and the *outcome* (columns)::

                    failed   succeeded
    feature present    a         b
    feature absent     c         d

Usage::

    t = Table2x2(7, 0, 0, 38)
    t.p_value            # 2.2036323794690215e-08 (two-sided Fisher)
    t.odds_ratio         # Haldane-corrected, finite even with zero cells
    feature_table(attempts, lambda a: a.out_of_order, lambda a: a.outcome == "failed")
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal, TypeVar

__all__ = [
    "Alternative",
    "Table2x2",
    "feature_table",
    "fisher_exact",
    "format_p",
    "hypergeom_pmf",
]

T = TypeVar("T")
Alternative = Literal["two-sided", "greater", "less"]

#: Up to this many observations the test is done in exact integer arithmetic; above it in
#: log space. ``comb(2000, 1000)`` has 600 digits and a full support sum still takes ~10 ms.
EXACT_LIMIT = 2000
# Relative tolerance when comparing table probabilities for the two-sided test, the same as
# R's ``fisher.test`` and scipy (``1 + 1e-7``): it keeps tables whose probability equals the
# observed one up to rounding. Only used in log space; the integer path compares exactly.
_REL_TOL = 1e-7


def _support(n: int, k: int, draws: int) -> range:
    return range(max(0, draws - (n - k)), min(draws, k) + 1)


def _lcomb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def hypergeom_pmf(x: int, n: int, k: int, draws: int) -> float:
    """P(X = x) for X ~ Hypergeometric(population ``n``, ``k`` successes, ``draws`` drawn)."""
    if x not in _support(n, k, draws):
        return 0.0
    if n <= EXACT_LIMIT:
        return float(Fraction(math.comb(k, x) * math.comb(n - k, draws - x), math.comb(n, draws)))
    return math.exp(_lcomb(k, x) + _lcomb(n - k, draws - x) - _lcomb(n, draws))


def _logsumexp(values: list[float]) -> float:
    if not values:
        return -math.inf
    top = max(values)
    return top + math.log(math.fsum(math.exp(v - top) for v in values))


def fisher_exact(a: int, b: int, c: int, d: int, alternative: Alternative = "two-sided") -> float:
    """Fisher's exact test p-value for the table ``[[a, b], [c, d]]``.

    :param alternative: ``two-sided`` (sum of the probabilities of all tables with the same
        margins that are no more likely than the observed one), ``greater`` (odds ratio > 1:
        P(X ≥ a)) or ``less`` (P(X ≤ a)).
    :returns: the p-value in [0, 1]; 1.0 when a margin is zero (nothing to test).
    :raises ValueError: a negative cell or an unknown alternative.

    Matches ``scipy.stats.fisher_exact`` (checked: 3,1,1,3 → 0.4857; 7,0,0,38 → 2.2036e-08).
    """
    if min(a, b, c, d) < 0:
        raise ValueError(f"negative count in table {a, b, c, d}")
    if alternative not in ("two-sided", "greater", "less"):
        raise ValueError(f"unknown alternative {alternative!r}")
    n = a + b + c + d
    draws = a + b  # feature present (row 1)
    k = a + c  # failed (column 1)
    if draws in (0, n) or k in (0, n):
        return 1.0
    xs = _support(n, k, draws)
    if n <= EXACT_LIMIT:
        terms = {x: math.comb(k, x) * math.comb(n - k, draws - x) for x in xs}
        obs = terms[a]
        if alternative == "greater":
            num = sum(t for x, t in terms.items() if x >= a)
        elif alternative == "less":
            num = sum(t for x, t in terms.items() if x <= a)
        else:
            num = sum(t for t in terms.values() if t <= obs)
        return min(1.0, float(Fraction(num, math.comb(n, draws))))
    base = _lcomb(n, draws)
    logs = {x: _lcomb(k, x) + _lcomb(n - k, draws - x) - base for x in xs}
    if alternative == "greater":
        chosen = [v for x, v in logs.items() if x >= a]
    elif alternative == "less":
        chosen = [v for x, v in logs.items() if x <= a]
    else:
        limit = logs[a] + math.log1p(_REL_TOL)
        chosen = [v for v in logs.values() if v <= limit]
    return min(1.0, max(0.0, math.exp(_logsumexp(chosen))))


def format_p(p: float) -> str:
    """``2.2e-08`` for small p-values, ``0.486`` otherwise (what goes into a sentence)."""
    if p == 0.0:
        return "0"
    if p < 0.001:
        return f"{p:.2g}"
    return f"{p:.3g}"


@dataclass(frozen=True, slots=True)
class Table2x2:
    """Attempts by feature (rows) x outcome (columns): ``a`` present+failed, ``b``
    present+succeeded, ``c`` absent+failed, ``d`` absent+succeeded."""

    a: int
    b: int
    c: int
    d: int

    def __post_init__(self) -> None:
        if min(self.a, self.b, self.c, self.d) < 0:
            raise ValueError(f"negative count in table {self.a, self.b, self.c, self.d}")

    @property
    def n(self) -> int:
        """Total number of observations."""
        return self.a + self.b + self.c + self.d

    @property
    def present(self) -> int:
        """Observations with the feature (``a + b``)."""
        return self.a + self.b

    @property
    def absent(self) -> int:
        """Observations without the feature (``c + d``)."""
        return self.c + self.d

    @property
    def failed(self) -> int:
        """Failed observations (``a + c``)."""
        return self.a + self.c

    @property
    def failure_rate_present(self) -> float | None:
        """Share of failures among observations with the feature (None when there are none)."""
        return self.a / self.present if self.present else None

    @property
    def failure_rate_absent(self) -> float | None:
        """Share of failures among observations without the feature."""
        return self.c / self.absent if self.absent else None

    @property
    def haldane(self) -> bool:
        """Whether the odds ratio needs the Haldane-Anscombe correction (a zero cell)."""
        return 0 in (self.a, self.b, self.c, self.d)

    def _cells(self) -> tuple[float, float, float, float]:
        add = 0.5 if self.haldane else 0.0
        return self.a + add, self.b + add, self.c + add, self.d + add

    @property
    def odds_ratio(self) -> float:
        """``(a·d)/(b·c)``, with 0.5 added to every cell when one is zero (always finite)."""
        a, b, c, d = self._cells()
        return (a * d) / (b * c)

    def odds_ratio_ci(self, z: float = 1.959963984540054) -> tuple[float, float]:
        """Woolf (log) confidence interval of the (corrected) odds ratio; 95 % by default."""
        a, b, c, d = self._cells()
        se = math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
        log_or = math.log((a * d) / (b * c))
        return math.exp(log_or - z * se), math.exp(log_or + z * se)

    def fisher(self, alternative: Alternative = "two-sided") -> float:
        """Fisher's exact test p-value (see :func:`fisher_exact`)."""
        return fisher_exact(self.a, self.b, self.c, self.d, alternative)

    @property
    def p_value(self) -> float:
        """Two-sided Fisher p-value."""
        return self.fisher("two-sided")

    def as_dict(self) -> dict[str, Any]:
        """Cells, margins, two-sided p-value, corrected odds ratio and its 95 % CI (rounded)."""
        lo, hi = self.odds_ratio_ci()
        return {
            "a": self.a,
            "b": self.b,
            "c": self.c,
            "d": self.d,
            "n": self.n,
            "p_value": _round_sig(self.p_value),
            "odds_ratio": _round_sig(self.odds_ratio),
            "odds_ratio_ci95": [_round_sig(lo), _round_sig(hi)],
            "haldane": self.haldane,
        }


def _round_sig(x: float, digits: int = 6) -> float:
    """Round to significant digits so JSON output does not depend on the last float bit."""
    if x == 0 or not math.isfinite(x):
        return x
    return float(f"{x:.{digits}g}")


def feature_table(
    items: Iterable[T],
    feature: Callable[[T], bool | None],
    failed: Callable[[T], bool | None],
) -> Table2x2:
    """Count ``items`` into a :class:`Table2x2` (feature present/absent x failed/succeeded).

    Items for which ``feature`` or ``failed`` returns None (unknown) are left out.

    Example::

        t = feature_table(attempts, lambda a: a.disk_order_mismatch,
                          lambda a: None if a.outcome == "unknown" else a.outcome == "failed")
    """
    a = b = c = d = 0
    for item in items:
        f = feature(item)
        if f is None:
            continue
        o = failed(item)
        if o is None:
            continue
        if f:
            if o:
                a += 1
            else:
                b += 1
        elif o:
            c += 1
        else:
            d += 1
    return Table2x2(a, b, c, d)
