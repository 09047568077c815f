"""Hand-worked NPS, CSAT, trend and satisfaction-loyalty fixtures (SPEC §4.3)."""

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retention_cli.kpis.satisfaction import satisfaction_link, satisfaction_table
from retention_cli.model.customers import build_base
from retention_cli.periods import parse_label

END = date(2024, 7, 1)
JAN, FEB = parse_label("2024-01", END), parse_label("2024-02", END)


def answers(rows, cols=("customer_id", "answered_date", "nps_score", "csat_score")):
    df = pd.DataFrame(rows, columns=list(cols))
    if "answered_date" in df:
        df["answered_date"] = pd.to_datetime(df["answered_date"]).astype("datetime64[s]")
    for c in ("nps_score", "csat_score"):
        if c in df:
            df[c] = df[c].astype("Int64")
    return df


# January: 10 answers; promoters 10,10,10,9,9 (5), passives 8,7 (2), detractors 6,4,0 (3)
JAN_SCORES = [10, 10, 10, 9, 9, 8, 7, 6, 4, 0]
# February: 10 answers, all 10
RESP = answers([(f"c{i}", "2024-01-15", s, None) for i, s in enumerate(JAN_SCORES)]
               + [(f"d{i}", "2024-02-10", 10, None) for i in range(10)])


def test_nps_and_margin_by_hand():
    t = satisfaction_table(RESP, [JAN, FEB], data_end=END, min_responses=5).set_index("period")
    j = t.loc["2024-01"]
    assert (j.nps_responses, j.promoters_share, j.passives_share, j.detractors_share) == (10, 0.5, 0.2, 0.3)
    assert j.nps == pytest.approx(20.0)
    # 100 × 1.96 × sqrt((0.5 + 0.3 − (0.5 − 0.3)²) / 10) = 196 × sqrt(0.076) = 54.03
    assert j.nps_margin_of_error == pytest.approx(54.03, abs=0.01)
    f = t.loc["2024-02"]
    assert f.nps == 100 and f.nps_margin_of_error == 0
    # change 80 against the combined margin sqrt(54.03² + 0²) = 54.03: a real rise
    assert f.nps_change == pytest.approx(80.0) and f.nps_change_note == "up"
    assert pd.isna(j.nps_change_note) and not j.low_sample


def test_within_noise_and_low_sample():
    # February: 9 promoters and 1 detractor: NPS 80, margin 196 × sqrt((0.9 + 0.1 − 0.64)/10) = 37.19
    # change 60 < sqrt(54.03² + 37.19²) = 65.59: within noise
    resp = answers([(f"c{i}", "2024-01-15", s, None) for i, s in enumerate(JAN_SCORES)]
                   + [(f"d{i}", "2024-02-10", 10 if i else 0, None) for i in range(10)])
    t = satisfaction_table(resp, [JAN, FEB], data_end=END, min_responses=30).set_index("period")
    assert t.loc["2024-02", "nps_margin_of_error"] == pytest.approx(37.19, abs=0.01)
    assert t.loc["2024-02", "nps_change_note"] == "within noise"
    assert t["low_sample"].tolist() == [True, True]


def test_csat_on_a_seven_point_scale():
    resp = answers([(f"c{i}", "2024-01-10", None, s) for i, s in enumerate([7, 6, 5, 4, 7, 1])])
    t = satisfaction_table(resp, [JAN], data_end=END, csat_scale=(1, 7)).iloc[0]
    # top two boxes of 1-7 are 6 and 7: 7, 6, 7 -> 3/6; mean (7+6+5+4+7+1)/6 = 5
    assert (t.csat_responses, t.csat, t.csat_mean) == (6, 0.5, 5.0)
    assert t.nps_responses == 0 and np.isnan(t.nps)


def test_latest_per_customer():
    resp = answers([("X", "2024-01-05", 3, None), ("X", "2024-01-20", 10, None), ("Y", "2024-01-07", 8, None)])
    every = satisfaction_table(resp, [JAN], data_end=END).iloc[0]
    latest = satisfaction_table(resp, [JAN], data_end=END, count="latest_per_customer").iloc[0]
    assert (every.nps_responses, every.nps) == (3, pytest.approx(0.0))  # 1 promoter, 1 passive, 1 detractor
    assert (latest.nps_responses, latest.nps) == (2, 50.0)               # X's 10 and Y's 8


def test_no_dates_only_with_all():
    from retention_cli.errors import UsageError

    resp = answers([("X", 9), ("Y", 3)], cols=("customer_id", "nps_score"))
    with pytest.raises(UsageError, match="--period all"):
        satisfaction_table(resp, [JAN], data_end=END)
    all_ = parse_label("2024", END).__class__(date(2024, 1, 1), END, "all")
    assert satisfaction_table(resp, [all_], data_end=END).iloc[0].nps == 0.0


def test_by_customer_attribute():
    customers = pd.DataFrame({"customer_id": [f"c{i}" for i in range(10)], "segment": ["a"] * 5 + ["b"] * 5})
    base = build_base(customers, None, "inactivity")
    t = satisfaction_table(RESP[RESP.answered_date < "2024-02-01"], [JAN], data_end=END, base=base, by=["segment"])
    got = t.set_index("segment")
    assert got.loc["a", "nps"] == 100.0   # 10, 10, 10, 9, 9
    assert got.loc["b", "nps"] == -60.0   # 8, 7 passive; 6, 4, 0 detractors: (0 − 3) / 5
    assert got.loc["(all)", "nps_responses"] == 10


def test_link_by_hand():
    # W = 30; January answers, horizon 1: retained = active at the end of February (03-01),
    # i.e. a purchase in [01-31, 02-29]
    purchases = pd.DataFrame({"customer_id": ["P", "P", "Q", "R", "R"],
                              "order_date": pd.to_datetime(["2024-01-02", "2024-02-20", "2024-01-03",
                                                            "2024-01-04", "2024-02-01"]).astype("datetime64[s]"),
                              "amount": 10.0})
    base = build_base(None, purchases, "inactivity")
    resp = answers([("P", "2024-01-10", 10, 5), ("Q", "2024-01-10", 2, 4), ("R", "2024-01-08", 3, 4),
                    ("R", "2024-01-25", 9, 5)])  # R counts by the latest answer: promoter, CSAT 5
    t = satisfaction_link(resp, [JAN], base, model="inactivity", window=30, data_end=END, horizon=1)
    got = {(r.dimension, r.group): (r.respondents, r.retained, r.retention) for r in t.itertuples()}
    assert got[("nps", "promoter")] == (2, 2, 1.0)       # P, R retained
    assert got[("nps", "detractor")] == (1, 0, 0.0)      # Q gone
    assert got[("csat", "5")] == (2, 2, 1.0) and got[("csat", "4")] == (1, 0, 0.0)
    assert got[("gap", "promoters - detractors")][2] == 1.0
    assert got[("gap", "top box (5) - rest")][2] == 1.0


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, 10), min_size=1, max_size=60), st.integers(2, 4))
def test_nps_properties(scores, copies):
    one = answers([(f"c{i}", "2024-01-10", s, None) for i, s in enumerate(scores)])
    many = answers([(f"c{i}-{j}", "2024-01-10", s, None) for j in range(copies) for i, s in enumerate(scores)])
    a = satisfaction_table(one, [JAN], data_end=END).iloc[0]
    b = satisfaction_table(many, [JAN], data_end=END).iloc[0]
    assert a.promoters_share + a.passives_share + a.detractors_share == pytest.approx(1)
    assert -100 <= a.nps <= 100
    assert b.nps == pytest.approx(a.nps)
    assert b.nps_margin_of_error <= a.nps_margin_of_error + 1e-12  # more answers, smaller margin
