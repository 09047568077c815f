"""An order's lines added as the decimals they are (SPEC §1 order lines and returns;
docs/decisions.md): worked out by hand, and against exact fractions."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retention_cli.model.customers import line_sums
from tests.conftest import write


def test_a_refunded_order_sums_to_zero_not_to_a_return():
    # as floats, 10.10 + 5.05 - 15.15 = -1.7763568394002505e-15: a "return"
    assert 10.10 + 5.05 - 15.15 < 0
    sums = line_sums(np.array([0, 0, 0, 1, 1, 2]), np.array([10.10, 5.05, -15.15, 0.1, 0.2, 3.0]), 3)
    assert sums.tolist() == [0.0, 0.3, 3.0]  # 0.1 + 0.2 is 0.30000000000000004 as floats
    assert not np.signbit(sums[0])


def test_amounts_of_up_to_four_places_are_exact_and_a_missing_amount_is_its_order_s_only():
    # 0.125 + 1.5 + 2 + 0.0001 as ten-thousandths: 1250 + 15000 + 20000 + 1
    assert line_sums(np.array([0, 0, 0, 0]), np.array([0.125, 1.5, 2.0, 0.0001]), 1).tolist() == [3.6251]
    sums = line_sums(np.array([0, 0, 1]), np.array([np.nan, 1.0, 2.25]), 2)
    assert np.isnan(sums[0]) and sums[1] == 2.25


def test_amounts_of_more_places_are_added_to_the_exact_sum_as_floats_in_line_order():
    third = 1 / 3
    # 0.1 and 0.2 exactly (0.3), then 1/3, 1/3 and 0.00001 after it, in line order
    sums = line_sums(np.array([0, 0, 0, 0, 0]), np.array([0.1, third, 0.2, third, 0.00001]), 1)
    assert sums.tolist() == [0.3 + (((0.0 + third) + third) + 0.00001)]
    # a float's tail: 59.970000000000006 (3 x 19.99 as floats) is not a decimal of four places
    assert line_sums(np.array([0, 0]), np.array([3 * 19.99, -59.97]), 1).tolist() == [-59.97 + 3 * 19.99]


def test_an_order_beyond_two_to_the_53_units_is_added_as_floats_in_line_order():
    # 0.0001 + 4.6e11 - 4.6e11 is 9.2e15 ten-thousandths in all: past 2**53, as floats
    lines = np.array([0.0001, 4.6e11, -4.6e11, 0.02])
    sums = line_sums(np.array([0, 0, 0, 1]), lines, 2)
    assert sums.tolist() == [((0.0 + 0.0001) + 4.6e11) - 4.6e11, 0.02] and sums[0] != 0.0001


def test_a_half_is_no_matter_the_units_are_those_that_give_the_amount_back():
    # 346359082612.8381 * 10**4 is 3463590826128380.5 as floats: rounded half to even
    # (numpy, PostgreSQL) it is ...80, which does not give the amount back; ...81 does
    assert 346359082612.8381 * 10**4 == 3463590826128380.5
    sums = line_sums(np.array([0, 0]), np.array([346359082612.8381, 0.0007]), 1)
    assert sums.tolist() == [float(Fraction("346359082612.8381") + Fraction("0.0007"))] == [346359082612.8388]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(-2 * 10**14, 2 * 10**14)), min_size=1, max_size=40),
       st.integers(0, 4), st.randoms(use_true_random=False))
def test_the_sum_is_the_exact_decimal_sum_rounded_once_whatever_the_line_order(lines, places, rnd):
    _exact_whatever_the_order(lines, places, rnd)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(-4 * 10**15, 4 * 10**15)), min_size=1, max_size=4),
       st.integers(0, 4), st.randoms(use_true_random=False))
def test_large_amounts_are_exact_too_up_to_two_to_the_53_units_an_order(lines, places, rnd):
    _exact_whatever_the_order(lines, places, rnd)


def _exact_whatever_the_order(lines, places, rnd):
    """Lines (order, ten-thousandths) as amounts of at most ``places`` places (their
    orders under 2**53 units): each order's sum is the exact one, rounded once."""
    orders = np.array([o for o, _ in lines])
    values = [Fraction(u - u % 10 ** (4 - places), 10 ** 4) for _, u in lines]
    if any(sum(abs(v) for o, v in zip(orders, values) if o == k) * 10**4 >= 2**53 for k in set(orders.tolist())):
        return  # an order of 2**53 units: added as floats (tested above)
    amounts = np.array([float(v) for v in values])  # each amount as its text reads: the nearest float
    n = int(orders.max()) + 1
    got = line_sums(orders, amounts, n)
    for k in range(n):
        exact = sum((v for o, v in zip(orders, values) if o == k), Fraction(0))
        assert got[k] == float(exact)  # Fraction -> float rounds to the nearest
    shuffled = list(range(len(lines)))
    rnd.shuffle(shuffled)
    assert line_sums(orders[shuffled], amounts[shuffled], n).tolist() == got.tolist()


def test_a_fully_refunded_order_is_an_order_of_zero_in_the_purchases(cli):
    # R1 is bought and refunded line by line in one order: it sums to 0, an order
    # (SPEC §1), not a return; B's order of 20 is the other. Revenue 20, 2 orders,
    # average order value 10.
    write(cli.cwd, "p.csv", "customer_id,order_id,order_date,amount\n"
                            "A,R1,2024-03-05,10.10\nA,R1,2024-03-05,5.05\nA,R1,2024-03-06,-15.15\n"
                            "B,B1,2024-03-09,20\n")
    r = cli("purchases", "--purchases", "p.csv", "--period", "2024-03", "--format", "csv")
    assert r.exit_code == 0, r.stderr
    (row,) = cli.csv_rows(r)
    assert (row["orders"], row["buyers"], row["revenue"], row["average_order_value"]) == ("2", "2", "20.0", "10.0")


@pytest.mark.parametrize("amounts, expected", [(("0.1", "0.2"), "0.3"), (("10.10", "5.05", "-15.15"), "0.0")])
def test_an_orders_sum_reads_as_its_decimals(cli, amounts, expected):
    rows = "".join(f"A,O1,2024-03-05,{a}\n" for a in amounts)
    write(cli.cwd, "p.csv", "customer_id,order_id,order_date,amount\n" + rows)
    r = cli("purchases", "--purchases", "p.csv", "--period", "2024-03", "--format", "csv")
    assert r.exit_code == 0, r.stderr
    (row,) = cli.csv_rows(r)
    assert row["revenue"] == expected
