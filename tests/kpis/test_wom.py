"""Word-of-mouth estimate (SPEC §4.5): the seeds' arithmetic and observed values."""

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retention_cli.kpis.wom import OUTPUTS, Situation, assumptions, sensitivity, wom_table
from tests.conftest import workspace
from retention_cli.model.customers import build_base
from retention_cli.periods import parse_label


def test_seed_example_to_the_unit():
    # 100 unhappy; 4 % complain: 96 silent; all leave (rate 1); each tells 15: 1,440 prospects
    a = assumptions({"negative_reach": 15, "silent_defection_rate": 1})
    row = wom_table([Situation("what-if", unhappy=100)], a).iloc[0]
    assert (row.estimated_dissatisfied, row.complainers, row.silent_dissatisfied) == (100, 4, 96)
    assert row.expected_silent_defections == 96 and row.prospects_lost == 1440
    assert row.people_reached_negative == 1440
    assert row.happy_customers_needed_to_offset == 1440 / 4


def test_seed_example_with_the_default_defection():
    # 96 × 0.91 = 87.36 leave; × 15 = 1,310.4
    row = wom_table([Situation("what-if", unhappy=100)], assumptions({"negative_reach": 15})).iloc[0]
    assert row.expected_silent_defections == pytest.approx(87.36)
    assert row.prospects_lost == pytest.approx(1310.4)


def test_complaints_and_customer_value():
    # 40 complaints: 40 / 0.04 = 1,000 dissatisfied, 960 silent; 960 × 0.91 = 873.6 leave;
    # complainers counted as resolved: 40 × (1 − 0.62) = 15.2; (873.6 + 15.2) × 1,200 = 1,066,560
    row = wom_table([Situation("what-if", complaints=40, clv=1200)], assumptions({})).iloc[0]
    assert row.customers_with_problems == 40 * 26 and row.serious_problems == pytest.approx(40 * 6)
    assert row.expected_complainer_defections == pytest.approx(15.2)
    assert row.revenue_at_risk == pytest.approx(1_066_560)
    assert row.revenue_at_risk_prospects == pytest.approx(873.6 * 11.3 * 1200)
    # optimistic end: complaint share 5 % -> 800 dissatisfied, 760 silent × 0.91 = 691.6; resolved return 0.70
    assert row.revenue_at_risk_low == pytest.approx((691.6 + 40 * 0.30) * 1200)
    # pessimistic end: 4 %, all silent leave (960), resolved return 0.54
    assert row.revenue_at_risk_high == pytest.approx((960 + 40 * 0.46) * 1200)


def test_zero_complaints_gives_zeros():
    row = wom_table([Situation("2024-01", complaints=0, clv=100)], assumptions({})).iloc[0]
    assert all(row[c] == 0 for c in OUTPUTS)


@settings(max_examples=60, deadline=None)
@given(st.floats(0, 500), st.booleans(), st.floats(0, 5000), st.integers(0, 20), st.integers(0, 20), st.integers(0, 20))
def test_low_central_high_ordered(n, what_if, clv, fast, slow, unresolved):
    s = Situation("x", unhappy=n, clv=clv) if what_if else Situation(
        "x", complaints=float(fast + slow + unresolved), clv=clv,
        outcomes={"resolved_fast": fast, "resolved_slow": slow, "unresolved": unresolved})
    row = wom_table([s], assumptions({})).iloc[0]
    for c in OUTPUTS:
        assert row[f"{c}_low"] <= row[c] + 1e-9 and row[c] <= row[f"{c}_high"] + 1e-9, c


def test_sensitivity_largest_first():
    t = sensitivity(Situation("x", complaints=40, clv=1200), assumptions({}))
    assert t.iloc[0].assumption == "complaint_share"  # 0.04 -> 0.05 moves the most
    assert list(t.swing) == sorted(t.swing, reverse=True)
    # complaint share alone: at 0.05, (760 × 0.91 + 15.2) × 1200 = 848,160
    assert t.iloc[0].at_low == pytest.approx(848_160)


def test_observed_values_replace_the_assumptions():
    # W = 30, one period (March 2024), data end 2024-04-15. 12 complainers resolved fast, all buy
    # again within 30 days; lost in March (S − E): L0..L9 active at 03-01, gone by 04-01; 5 of them
    # had complained. Observed from the first complaint (01-10) to the data end: the customers lost
    # by then are L0..L9 (last purchase 02-15, inactive from 03-17); F0..F11 bought 03-20, still
    # active on 04-15: complaint share 5 / 10.
    end = date(2024, 4, 15)
    march = parse_label("2024-03", end)
    rows, complaints = [], []
    for i in range(12):
        rows += [(f"F{i}", "2024-02-20"), (f"F{i}", "2024-03-20")]      # active at both ends: not lost
        complaints.append((f"F{i}", "2024-03-02", "2024-03-03"))       # resolved in a day; buys 03-20
    for i in range(10):
        rows.append((f"L{i}", "2024-02-15"))                            # lost in March
        if i < 5:
            complaints.append((f"L{i}", "2024-01-10", None))            # complained in January, never resolved
    purchases = pd.DataFrame(rows, columns=["customer_id", "order_date"]).assign(amount=10.0)
    purchases["order_date"] = pd.to_datetime(purchases["order_date"]).astype("datetime64[s]")
    comp = pd.DataFrame(complaints, columns=["customer_id", "opened_date", "resolved_date"])
    for c in ("opened_date", "resolved_date"):
        comp[c] = pd.to_datetime(comp[c]).astype("datetime64[s]")
    base = build_base(None, purchases, "inactivity")
    r = workspace(base, end, window=30, wom={"negative_reach": 15}, customer_value=500, complaints=comp).wom([march])
    (s,), a = r.situations, r.assumptions
    assert a["return_if_resolved_fast"].value == 1.0 and a["return_if_resolved_fast"].status == "observed"
    assert a["complaint_share"].value == 0.5 and a["complaint_share"].status == "observed"  # 5 of 10 lost
    # every lens on the same share: 1 / 0.5 − 1 = 1 other per complainer
    assert a["silent_per_complaint"].value == 1 and a["silent_per_complaint"].status == "observed"
    assert a["return_if_resolved"].status == "assumed"   # no customer resolved late
    assert a["negative_reach"].status == "configured"    # the user's value is never replaced
    assert a["dissatisfaction_share"].status == "assumed"  # no churn_reason column: the seeds' 0.82
    assert s.complaints == 12 and s.outcomes == {"resolved_fast": 12, "resolved_slow": 0, "unresolved": 0}
    assert s.lost == 10                                  # L0..L9, lost in March
    row = wom_table([s], a).iloc[0]
    # 12 / 0.5 = 24 dissatisfied, 12 silent × 0.91 = 10.92; complainers all come back: 0.
    # 10.92 > 10 lost × 0.82 = 8.2: capped there (all of it silent)
    assert row.estimated_dissatisfied == 24 and row.customers_with_problems == 12 == row.silent_dissatisfied
    assert row.expected_silent_defections == pytest.approx(8.2) and row.expected_complainer_defections == 0
    assert row.capped_by_observed_losses and row.defection_cap == pytest.approx(8.2)
    assert row.revenue_at_risk == pytest.approx(8.2 * 500)
    assert row.people_reached_negative == pytest.approx(8.2 * 15)     # from the capped defections


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 30), st.integers(0, 30), st.integers(0, 30), st.integers(0, 200), st.floats(0, 5000),
       st.one_of(st.none(), st.floats(0.01, 1)), st.one_of(st.none(), st.floats(0, 1)))
def test_the_cap_keeps_every_end_ordered_and_within_the_losses(fast, slow, unresolved, lost, clv, share, rate):
    # SPEC §4.5: central, low and high each capped at lost × 0.82, proportionally; every output
    # stays ≥ 0 and ordered low ≤ central ≤ high, and the capped ends still add up
    a = assumptions({"complaint_share": share, "silent_defection_rate": rate})
    s = Situation("x", complaints=float(fast + slow + unresolved), clv=clv, lost=lost,
                  outcomes={"resolved_fast": fast, "resolved_slow": slow, "unresolved": unresolved})
    row = wom_table([s], a).iloc[0]
    limit = lost * 0.82
    for end in ("", "_low", "_high"):
        silent, complainer = row[f"expected_silent_defections{end}"], row[f"expected_complainer_defections{end}"]
        assert silent + complainer <= limit * (1 + 1e-12) + 1e-12
        assert row[f"expected_defections{end}"] == pytest.approx(silent + complainer, rel=1e-12, abs=1e-12)
        assert row[f"revenue_at_risk{end}"] == pytest.approx(row[f"expected_defections{end}"] * clv, rel=1e-12, abs=1e-9)
    for c in OUTPUTS:
        assert 0 <= row[f"{c}_low"] <= row[c] <= row[f"{c}_high"], c
    free = wom_table([Situation("x", complaints=s.complaints, clv=clv, outcomes=s.outcomes)], a).iloc[0]
    assert row.capped_by_observed_losses == (free.expected_defections_high > limit)
