import numpy as np
import pytest

from retention_cli.model.customers import build_base
from retention_cli.periods import parse_label
from tests.conftest import workspace
from tests.kpis.test_purchasing import CUSTOMERS, END, LINES


def test_summary_compares_previous_and_year_ago():
    base = build_base(CUSTOMERS, LINES, "inactivity")
    df = workspace(base, END, window=20).summary(parse_label("2024-03", END)).set_index("kpi")
    # March: 3 orders, revenue 160; February: 2 orders, revenue 90; March 2023: nothing
    assert (df.loc["orders", "value"], df.loc["orders", "previous"], df.loc["orders", "year_ago"]) == (3, 2, 0)
    assert df.loc["revenue", "change_vs_previous"] == 70 and df.loc["revenue", "change_vs_year_ago"] == 160
    assert (df.loc["revenue", "previous_period"], df.loc["revenue", "year_ago_period"]) == ("2024-02", "2023-03")
    # churn (W = 20): March 1/1 = 1.0, February 0/1 = 0.0; March 2023 had nobody at the start: null
    assert df.loc["churn_rate", "change_vs_previous"] == 1.0
    assert np.isnan(df.loc["churn_rate", "year_ago"]) and np.isnan(df.loc["churn_rate", "change_vs_year_ago"])
    assert list(df.index[:3]) == ["customers_end", "new_customers", "lost_customers"]


def test_summary_adds_satisfaction_and_complaints_lines():
    import pandas as pd

    responses = pd.DataFrame({"answered_date": pd.to_datetime(["2024-03-02", "2024-03-03", "2024-02-05"]).astype("datetime64[s]"),
                              "nps_score": pd.array([10, 0, 9], dtype="Int64")})
    complaints = pd.DataFrame({"customer_id": ["A", "B"],
                               "opened_date": pd.to_datetime(["2024-03-01", "2024-03-02"]).astype("datetime64[s]"),
                               "resolved_date": pd.to_datetime(["2024-03-02", None]).astype("datetime64[s]")})
    base = build_base(CUSTOMERS, LINES, "inactivity")
    df = workspace(base, END, window=20, responses=responses,
                   complaints=complaints).summary(parse_label("2024-03", END)).set_index("kpi")
    # March NPS: one promoter, one detractor = 0; February: one promoter = 100
    assert (df.loc["nps", "value"], df.loc["nps", "previous"], df.loc["nps", "change_vs_previous"]) == (0, 100, -100)
    assert df.loc["complaints", "value"] == 2 and df.loc["resolved_share", "value"] == 0.5
    assert df.loc["sla_attainment", "value"] == 0.5  # resolved in 1 day, within 2


def test_summary_revenue_at_risk_line():
    import pandas as pd

    complaints = pd.DataFrame({"customer_id": ["A", "B"],
                               "opened_date": pd.to_datetime(["2024-03-01", "2024-03-02"]).astype("datetime64[s]")})
    base = build_base(CUSTOMERS, LINES, "inactivity")
    df = workspace(base, END, window=20, complaints=complaints,
                   customer_value=100.0).summary(parse_label("2024-03", END)).set_index("kpi")
    # 2 unresolved complainers: 2 / 0.04 = 50 dissatisfied, 48 silent × 0.91 = 43.68;
    # complainers: 2 × (1 − 0.09) = 1.82; 43.68 + 1.82 = 45.5 defections. But March lost one
    # customer (A, W = 20), so at most 1 × 0.82 (no churn reasons: the seeds' share) left for
    # dissatisfaction: capped at 0.82 × 100 = 82. The ends are capped too (optimistic:
    # 38 × 0.91 + 1.82 = 36.4; pessimistic 48 + 1.82 = 49.82; both > 0.82), so no range.
    assert df.loc["revenue_at_risk", "value"] == pytest.approx(82)
    assert df.loc["revenue_at_risk", "label"] == "revenue at risk from unseen dissatisfaction, capped by the customers lost"

