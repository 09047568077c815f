"""Hand-worked complaint handling fixture (SPEC §4.4)."""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from retention_cli.kpis.complaints import churn_reasons, complaint_notes, complaint_table
from retention_cli.model.customers import build_base
from retention_cli.periods import parse_label

END = date(2024, 7, 1)
FEB, MARCH = parse_label("2024-02", END), parse_label("2024-03", END)
W = 30

PURCHASES = pd.DataFrame([
    ("A", "2024-02-10"), ("A", "2024-04-04"),   # A complains 03-05, resolved next day; buys on day 30 = W: returns
    ("B", "2024-02-25"), ("B", "2024-04-10"),   # B complains 03-10 (resolved in 10 days); buys on day 31 = W + 1: no
    ("C", "2024-01-15"),                        # C complains 03-25, never resolved, never buys
    ("D", "2024-03-29"),                        # D: new in March, complains 03-28 (resolved 04-03), buys 03-29
    ("E", "2024-02-15"), ("E", "2024-03-10"),   # no complaint: active at 03-01, buys within 30 days
    ("F", "2024-02-01"),                        # no complaint: active at 03-01, never again
], columns=["customer_id", "order_date"]).assign(amount=10.0)
PURCHASES["order_date"] = pd.to_datetime(PURCHASES["order_date"]).astype("datetime64[s]")

COMPLAINTS = pd.DataFrame([
    ("K1", "A", "2024-03-05", "2024-03-06", "resolved", "delivery"),
    ("K2", "B", "2024-03-10", "2024-03-20", "resolved", "product"),
    ("K3", "C", "2024-03-25", None, "open", None),          # unresolved, no category: not traceable
    ("K4", "A", "2024-02-20", "2024-03-15", "resolved", "delivery"),  # February; still open at 03-01
    ("K5", "D", "2024-03-28", "2024-04-03", None, "delivery"),  # resolved after the period end: in its backlog
], columns=["complaint_id", "customer_id", "opened_date", "resolved_date", "status", "category"])
for c in ("opened_date", "resolved_date"):
    COMPLAINTS[c] = pd.to_datetime(COMPLAINTS[c]).astype("datetime64[s]")


@pytest.fixture(scope="module")
def table():
    base = build_base(None, PURCHASES, "inactivity")
    return complaint_table(COMPLAINTS, [FEB, MARCH], data_end=END, base=base, model="inactivity",
                           window=W, sla_days=2).set_index("period")


def test_volumes_resolution_backlog(table):
    m = table.loc["2024-03"]
    assert (m.complaints, m.complaining_customers) == (4, 4)           # K1, K2, K3, K5
    # S at 03-01 (purchase in 01-31 .. 02-29) = {A, B, E, F}; new in March: D. Of the
    # complainers A, B, C, D, C had lapsed (last purchase 01-15): not one of the 5 the
    # rate divides by, so not counted above it either -> 3 / (4 + 1)
    assert m.complaint_rate == pytest.approx(0.6)
    assert m.complaints_per_100_orders == pytest.approx(200.0)        # 4 complaints, 2 March orders (E, D)
    assert m.resolved_share == 0.75                                   # K1, K2, K5
    assert (m.median_resolution_days, m.mean_resolution_days) == (6.0, pytest.approx(17 / 3))  # 1, 10, 6
    assert m.sla_attainment == 0.25                                   # only K1 within 2 days
    assert m.open_backlog_end == 2                                    # at 04-01: K3 (never), K5 (04-03)
    assert table.loc["2024-02", "open_backlog_end"] == 1              # at 03-01: K4 (resolved 03-15)
    assert m.traceability_share == 0.75                               # K3 has no category


def test_return_rates_by_outcome(table):
    m = table.loc["2024-03"]
    assert (m.customers_resolved_fast, m.return_rate_resolved_fast) == (1, 1.0)   # A, on day W exactly
    assert (m.customers_resolved_slow, m.return_rate_resolved_slow) == (2, 0.5)   # D yes; B on day W + 1: no
    assert (m.customers_unresolved, m.return_rate_unresolved) == (1, 0.0)         # C
    assert (m.customers_no_complaint, m.return_rate_no_complaint) == (2, 0.5)     # E yes, F no


def test_by_category():
    base = build_base(None, PURCHASES, "inactivity")
    t = complaint_table(COMPLAINTS, [MARCH], data_end=END, base=base, model="inactivity", window=W,
                        sla_days=2, by=["category"]).set_index("category")
    assert t.loc["delivery", "complaints"] == 2 and t.loc["(missing)", "complaints"] == 1
    assert np.isnan(t.loc["delivery", "complaints_per_100_orders"])  # orders have no category
    assert t.loc["(all)", "complaints"] == 4


def test_churn_reasons():
    customers = pd.DataFrame({"customer_id": list("ABCEF"),
                              "churn_reason": [None, "Rude staff", "moved away", None, "cheaper elsewhere"]})
    base = build_base(customers, PURCHASES, "inactivity")
    # March (W = 30): lost = S − E = {A, B, E, F} − {D, E} = {A, B, F}: reasons rude staff, (none), cheaper elsewhere
    t = churn_reasons(base, [MARCH], model="inactivity", window=W, data_end=END,
                      mapping={"rude staff": "treatment", "moved away": "moved"}).set_index("reason")
    assert t.loc["treatment", "lost_customers"] == 1 and t.loc["cheaper elsewhere", "lost_customers"] == 1
    assert not t.loc["cheaper elsewhere", "mapped"]
    assert t.loc["(missing)", "lost_customers"] == 1
    assert t.loc["treatment", "share_of_known"] == 0.5 and t.loc["treatment", "benchmark_share"] == 0.68
    assert t.loc["(controllable)", "share_of_known"] == 1.0  # nobody died or moved among the lost


# --- what the file cannot say is null, never 0 -----------------------------------------

JUNE = parse_label("2024-06", END)  # ends on the data end: the status snapshot's period


def _table(complaints, periods=(FEB, MARCH), **kw):
    base = build_base(None, PURCHASES, "inactivity")
    return complaint_table(complaints, list(periods), data_end=END, base=base, model="inactivity",
                           window=W, sla_days=2, **kw).set_index("period")


def test_resolved_is_fast_or_slow_together(table):
    m = table.loc["2024-03"]
    # resolved (fast or slow): A (returns), B (no), D (returns) -> 2 / 3
    assert (m.customers_resolved, m.return_rate_resolved) == (3, pytest.approx(2 / 3))


def test_without_resolved_date_and_statuses_every_resolution_kpi_is_null():
    t = _table(COMPLAINTS.drop(columns=["resolved_date"]), periods=(FEB, MARCH, JUNE))
    for p in ("2024-02", "2024-03", "2024-06"):
        for kpi in ("resolved_share", "median_resolution_days", "mean_resolution_days", "sla_attainment",
                    "open_backlog_end", "return_rate_resolved_fast", "return_rate_resolved_slow",
                    "return_rate_resolved", "return_rate_unresolved"):
            assert np.isnan(t.loc[p, kpi]), (p, kpi)
    # nobody can be counted in an outcome nobody can tell: those counts are left out
    assert not {"customers_resolved_fast", "customers_resolved_slow", "customers_resolved",
                "customers_unresolved"} & set(t.columns)
    m = t.loc["2024-03"]
    assert (m.complaints, m.complaining_customers) == (4, 4)   # what the file does say stays
    assert (m.customers_no_complaint, m.return_rate_no_complaint) == (2, 0.5)
    # traceable: a status and a category recorded: K1, K2 (K3 no category, K5 no status) -> 2 / 4
    assert m.traceability_share == 0.5


STATUSES = COMPLAINTS.drop(columns=["resolved_date"]).assign(
    status=[" Resolved", "RESOLVED ", "open", "resolved", None])  # K1..K5: trimmed, any case


def test_without_resolved_date_the_statuses_give_resolved_share_not_timing():
    t = _table(STATUSES, periods=(FEB, MARCH, JUNE), resolved_statuses=["resolved", "closed "])
    m = t.loc["2024-03"]
    assert m.resolved_share == 0.5                                    # K1, K2 of K1, K2, K3, K5
    assert t.loc["2024-02", "resolved_share"] == 1.0                  # K4
    for kpi in ("median_resolution_days", "mean_resolution_days", "sla_attainment"):
        assert np.isnan(m[kpi]), kpi
    # a status is a snapshot at the export: the backlog is known at the data end only
    # (07-01, the end of June): opened before it, status not resolved: K3, K5
    assert np.isnan(t.loc["2024-02", "open_backlog_end"]) and np.isnan(m.open_backlog_end)
    assert t.loc["2024-06", "open_backlog_end"] == 2
    # resolved or not, not how fast: A (K1, returns on day W), B (K2, day W + 1: no) -> 1 / 2;
    # unresolved: C (K3, never buys), D (K5, no status: buys the next day) -> 1 / 2
    assert (m.customers_resolved, m.return_rate_resolved) == (2, 0.5)
    assert (m.customers_unresolved, m.return_rate_unresolved) == (2, 0.5)
    assert np.isnan(m.return_rate_resolved_fast) and np.isnan(m.return_rate_resolved_slow)
    assert "customers_resolved_fast" not in t and "customers_resolved_slow" not in t


def test_statuses_without_a_status_column_change_nothing():
    t = _table(STATUSES.drop(columns=["status"]), resolved_statuses=["resolved"])
    assert np.isnan(t.loc["2024-03", "resolved_share"])
    assert np.isnan(t.loc["2024-03", "traceability_share"])           # no status nor resolved_date


def test_resolved_date_decides_when_the_file_has_it(table):
    t = _table(COMPLAINTS, resolved_statuses=["open"])                # statuses would say K3 only
    assert t.loc["2024-03", "resolved_share"] == table.loc["2024-03", "resolved_share"] == 0.75


def test_no_category_column_no_traceability():
    t = _table(COMPLAINTS.drop(columns=["category"]))
    assert np.isnan(t.loc["2024-03", "traceability_share"])
    assert t.loc["2024-03", "resolved_share"] == 0.75


def test_inputs_are_not_changed():
    before = STATUSES.copy()
    _table(STATUSES, resolved_statuses=["resolved"])
    pd.testing.assert_frame_equal(STATUSES, before)


def test_notes_say_which_kpis_are_null_and_why():
    none = complaint_notes(COMPLAINTS.drop(columns=["resolved_date"]), data_end=END)
    assert len(none) == 1
    assert none[0].startswith("the complaints file has no resolved_date: resolved_share, median_resolution_days, "
                              "mean_resolution_days, sla_attainment, open_backlog_end and the return rates by "
                              "outcome are null")
    assert "set complaints.resolved_statuses" in none[0]
    missing = complaint_notes(STATUSES.drop(columns=["status", "category"]), data_end=END,
                              resolved_statuses=["solved"], purchases=False)
    assert "complaints.resolved_statuses is set but the complaints file has no status column" in missing[0]
    assert "return rates" not in missing[0]
    assert missing[1] == "the complaints file has no category column: traceability_share is null"
    status = complaint_notes(STATUSES, data_end=END, resolved_statuses=["resolved"])
    assert status == ["the complaints file has no resolved_date: a complaint counts as resolved when its status "
                      "is one of complaints.resolved_statuses (resolved), as it stood at the export; "
                      "median_resolution_days, mean_resolution_days, sla_attainment and the return rates resolved "
                      "fast and resolved slow are null (they need the resolution date); open_backlog_end is known "
                      "only at the data end (null for the periods that end before it)"]
    typo = complaint_notes(STATUSES, data_end=END, resolved_statuses=["solved"])
    assert typo[1] == "no complaint's status is one of complaints.resolved_statuses (solved); statuses found: " \
                      "RESOLVED, Resolved, open, resolved"
    dated = complaint_notes(COMPLAINTS, data_end=END, resolved_statuses=["resolved"])
    assert dated == ["complaints.resolved_statuses is not used: the complaints file has a resolved_date column, "
                     "which dates each resolution"]
    assert complaint_notes(COMPLAINTS, data_end=END) == []
