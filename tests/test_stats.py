"""Fisher's exact test and 2x2 tables against values computed once with scipy 1.17.1."""

from __future__ import annotations

import math

import pytest

from logparse import stats
from logparse.stats import Table2x2, feature_table, fisher_exact, format_p, hypergeom_pmf

# (a, b, c, d) → (two-sided, greater, less), from scipy.stats.fisher_exact (scipy 1.17.1).
SCIPY = [
    pytest.param((3, 1, 1, 3), (0.48571428571428565, 0.24285714285714283, 0.9857142857142858), id="lady-tea"),
    pytest.param((7, 0, 0, 38), (2.2036323794690215e-08, 2.2036323794690215e-08, 1.0), id="incident-7-38"),
    pytest.param((0, 38, 7, 0), (2.2036323794690215e-08, 1.0, 2.2036323794690215e-08), id="mirrored"),
    pytest.param((5, 0, 0, 5), (0.007936507936507938, 0.003968253968253969, 1.0), id="5-5"),
    pytest.param((2, 3, 4, 5), (1.0, 0.7622377622377623, 0.6573426573426574), id="null-effect"),
    pytest.param(
        (10, 2, 3, 15), (0.0005367241191434357, 0.000465180943362905, 0.9999845190186861), id="10-2-3-15"
    ),
    pytest.param(
        (1, 9, 11, 3), (0.0027594561852200836, 0.9999663480953022, 0.0013797280926100418), id="1-9-11-3"
    ),
    pytest.param(
        (8, 2, 1, 5), (0.034965034965034975, 0.024475524475524483, 0.9991258741258742), id="8-2-1-5"
    ),
    pytest.param((1, 1, 1, 1), (1.0, 0.8333333333333334, 0.8333333333333334), id="ones"),
    pytest.param((12, 5, 0, 40), (8.74894197951024e-09, 8.74894197951024e-09, 1.0), id="12-5-0-40"),
    pytest.param((100, 50, 30, 200), (3.259014839874272e-27, 1.784608314437768e-27, 1.0), id="tiny-p"),
    pytest.param((3, 7, 0, 35), (0.008456659619450316, 0.00845665961945032, 1.0), id="3-7-0-35"),
    pytest.param(
        (4, 3, 3, 35), (0.006837650910254427, 0.006837650910254427, 0.9996687940533658), id="4-3-3-35"
    ),
    pytest.param((7, 0, 1, 37), (1.7629059035752172e-07, 1.7629059035752178e-07, 1.0), id="7-0-1-37"),
    pytest.param(
        (500, 400, 450, 600), (2.2506554096021092e-08, 1.3989634921374983e-08, 0.9999999917340492), id="n1950"
    ),
    # Above EXACT_LIMIT: the log-space path.
    pytest.param(
        (1500, 1400, 1450, 1600),
        (0.0012989216131850851, 0.0006864763113204773, 0.9994273699140745),
        id="log-n5950",
    ),
    pytest.param(
        (30, 2970, 5, 2995), (2.124985535681728e-05, 1.062492767840864e-05, 0.9999983672172076), id="log-rare"
    ),
    pytest.param((3, 1000, 0, 2000), (0.037185250930125216, 0.037185250930125216, 1.0), id="log-zero-cell"),
    pytest.param(
        (2, 1200, 1, 1300), (0.6106102416954313, 0.4703392222729036, 0.8893970082838557), id="log-null"
    ),
]


@pytest.mark.parametrize(("table", "expected"), SCIPY)
def test_fisher_exact_matches_scipy(
    table: tuple[int, int, int, int], expected: tuple[float, float, float]
) -> None:
    for alt, want in zip(("two-sided", "greater", "less"), expected, strict=True):
        got = fisher_exact(*table, alternative=alt)  # type: ignore[arg-type]
        assert got == pytest.approx(want, rel=1e-9, abs=1e-300), (alt, got, want)


@pytest.mark.parametrize("table", [(0, 0, 0, 0), (1, 0, 0, 0), (4, 0, 0, 0), (0, 10, 0, 10), (0, 0, 3, 4)])
def test_fisher_exact_degenerate_margins_give_one(table: tuple[int, int, int, int]) -> None:
    assert fisher_exact(*table) == 1.0


def test_fisher_exact_log_path_agrees_with_exact_path(monkeypatch: pytest.MonkeyPatch) -> None:
    tables = [(3, 1, 1, 3), (7, 0, 0, 38), (10, 2, 3, 15), (2, 3, 4, 5), (100, 50, 30, 200)]
    exact = [fisher_exact(*t) for t in tables]
    monkeypatch.setattr(stats, "EXACT_LIMIT", 0)
    logs = [fisher_exact(*t) for t in tables]
    for e, lg in zip(exact, logs, strict=True):
        assert lg == pytest.approx(e, rel=1e-9)


def test_fisher_exact_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="negative"):
        fisher_exact(-1, 0, 0, 0)
    with pytest.raises(ValueError, match="alternative"):
        fisher_exact(1, 1, 1, 1, alternative="both")  # type: ignore[arg-type]


def test_hypergeom_pmf_sums_to_one() -> None:
    total = math.fsum(hypergeom_pmf(x, 45, 7, 7) for x in range(8))
    assert total == pytest.approx(1.0)
    assert hypergeom_pmf(7, 45, 7, 7) == pytest.approx(1 / math.comb(45, 7))
    assert hypergeom_pmf(9, 45, 7, 7) == 0.0


def test_table_odds_ratio_plain_and_haldane() -> None:
    assert Table2x2(3, 1, 1, 3).odds_ratio == 9.0
    assert not Table2x2(3, 1, 1, 3).haldane
    t = Table2x2(7, 0, 0, 38)
    assert t.haldane
    assert t.odds_ratio == pytest.approx((7.5 * 38.5) / (0.5 * 0.5))
    lo, hi = t.odds_ratio_ci()
    assert lo < t.odds_ratio < hi
    assert math.isfinite(hi)


def test_table_as_dict_is_json_ready() -> None:
    d = Table2x2(7, 0, 0, 38).as_dict()
    assert d["a"] == 7
    assert d["b"] == 0
    assert d["c"] == 0
    assert d["d"] == 38
    assert d["n"] == 45
    assert d["p_value"] == pytest.approx(2.20363e-08)
    assert d["haldane"] is True
    assert all(math.isfinite(v) for v in d["odds_ratio_ci95"])


def test_table_rates_and_margins() -> None:
    t = Table2x2(7, 0, 0, 38)
    assert (t.present, t.absent, t.failed) == (7, 38, 7)
    assert t.failure_rate_present == 1.0
    assert t.failure_rate_absent == 0.0
    assert Table2x2(0, 0, 1, 1).failure_rate_present is None


def test_table_rejects_negative_cells() -> None:
    with pytest.raises(ValueError, match="negative"):
        Table2x2(1, -1, 0, 0)


def test_feature_table_counts_and_skips_unknowns() -> None:
    items = [
        (True, True),
        (True, True),
        (True, False),
        (False, True),
        (False, False),
        (False, False),
        (None, True),
        (True, None),
    ]
    t = feature_table(items, lambda i: i[0], lambda i: i[1])
    assert (t.a, t.b, t.c, t.d) == (2, 1, 1, 2)


@pytest.mark.parametrize(
    ("p", "text"),
    [
        (2.2036323794690215e-08, "2.2e-08"),
        (0.48571428571428565, "0.486"),
        (1.0, "1"),
        (0.0, "0"),
        (0.0005367, "0.00054"),
    ],
)
def test_format_p(p: float, text: str) -> None:
    assert format_p(p) == text
