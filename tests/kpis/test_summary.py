import numpy as np

from retention_cli.kpis.summary import summary_table
from retention_cli.model.customers import build_base
from retention_cli.periods import parse_label
from tests.kpis.test_purchasing import CUSTOMERS, END, LINES


def test_summary_compares_previous_and_year_ago():
    base = build_base(CUSTOMERS, LINES, "inactivity")
    df = summary_table(base, parse_label("2024-03", END), model="inactivity", window=20, data_end=END,
                       denominator="start", top_share=0.2, gross_margin=1.0).set_index("kpi")
    # March: 3 orders, revenue 160; February: 2 orders, revenue 90; March 2023: nothing
    assert (df.loc["orders", "value"], df.loc["orders", "previous"], df.loc["orders", "year_ago"]) == (3, 2, 0)
    assert df.loc["revenue", "change_vs_previous"] == 70 and df.loc["revenue", "change_vs_year_ago"] == 160
    assert (df.loc["revenue", "previous_period"], df.loc["revenue", "year_ago_period"]) == ("2024-02", "2023-03")
    # churn (W = 20): March 1/1 = 1.0, February 0/1 = 0.0; March 2023 had nobody at the start: null
    assert df.loc["churn_rate", "change_vs_previous"] == 1.0
    assert np.isnan(df.loc["churn_rate", "year_ago"]) and np.isnan(df.loc["churn_rate", "change_vs_year_ago"])
    assert list(df.index[:3]) == ["customers_end", "new_customers", "lost_customers"]
