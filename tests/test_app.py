"""The application layer (app.Workspace): a table made once over every planned
period and sliced gives exactly what the KPI function gives for the periods asked;
the report computes each KPI table once."""

from datetime import date

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retention_cli.kpis.base import churn_flows
from retention_cli.kpis.complaints import complaint_table
from retention_cli.kpis.purchasing import purchase_kpis
from retention_cli.model.customers import build_base
from retention_cli.periods import parse_label, series
from tests.conftest import workspace, write
from tests.kpis.test_purchasing import CUSTOMERS, LINES

END = date(2024, 7, 1)
MONTHS = series(parse_label("2023-05", END), parse_label("2024-06", END))
COMPLAINTS = pd.DataFrame({"customer_id": ["A", "B", "C", "Z"],
                           "opened_date": pd.to_datetime(["2024-02-11", "2024-03-13", "2024-03-21", "2024-03-02"]),
                           "resolved_date": pd.to_datetime(["2024-02-12", None, "2024-04-01", "2024-03-03"])})
COMPLAINTS[["opened_date", "resolved_date"]] = COMPLAINTS[["opened_date", "resolved_date"]].astype("datetime64[s]")
CUST = CUSTOMERS.assign(segment=["x", "y", "x", "y"])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(MONTHS), min_size=1, max_size=6, unique=True),
       st.lists(st.sampled_from(MONTHS), max_size=6, unique=True), st.sampled_from([[], ["segment"]]),
       st.sampled_from([20, 45]))
def test_a_sliced_table_equals_the_table_of_the_periods_asked(asked, other, by, window):
    base = build_base(CUST, LINES, "inactivity")
    ws = workspace(base, END, window=window, complaints=COMPLAINTS)
    ws.plan(asked, other)  # the table is made over both lists, then sliced
    pd.testing.assert_frame_equal(ws.flows(asked, by), churn_flows(base, asked, "inactivity", window, END, "start", by))
    pd.testing.assert_frame_equal(ws.purchases(asked, by), purchase_kpis(
        base, asked, model="inactivity", window=window, data_end=END, by=by))
    pd.testing.assert_frame_equal(ws.complaint_kpis(asked, by), complaint_table(
        COMPLAINTS, asked, data_end=END, base=base, model="inactivity", window=window, sla_days=2, by=by))


def test_a_table_without_segments_is_the_total_rows_of_the_planned_segments():
    base = build_base(CUST, LINES, "inactivity")
    ws = workspace(base, END, window=20)
    ws.plan(MONTHS, by=["segment"])
    asked = MONTHS[-5:]
    pd.testing.assert_frame_equal(ws.purchases(asked), purchase_kpis(base, asked, model="inactivity", window=20,
                                                                     data_end=END))


def test_slicing_keeps_the_order_asked_and_the_segment_rows():
    base = build_base(CUST, LINES, "inactivity")
    ws = workspace(base, END, window=20)
    mar, feb = parse_label("2024-03", END), parse_label("2024-02", END)
    ws.plan([feb, mar])
    t = ws.flows([mar, feb], ["segment"])
    assert list(t["period"]) == ["2024-03"] * 3 + ["2024-02"] * 3
    assert list(t["segment"]) == ["(all)", "x", "y"] * 2
    # March: one new customer, C (first order 03-20, segment x); February: B (02-05, y)
    assert list(t["new_customers"]) == [1, 1, 0, 1, 0, 1]


def test_the_report_computes_each_table_once(cli, monkeypatch):
    import retention_cli.kpis.complaints as complaints
    import retention_cli.kpis.purchasing as purchasing

    calls = {"purchase_kpis": 0, "complaint_table": 0}

    def counted(name, f):
        def wrapper(*a, **k):
            calls[name] += 1
            return f(*a, **k)
        return wrapper

    monkeypatch.setattr(purchasing, "purchase_kpis", counted("purchase_kpis", purchasing.purchase_kpis))
    monkeypatch.setattr(complaints, "complaint_table", counted("complaint_table", complaints.complaint_table))
    write(cli.cwd, "p.csv", "customer_id,order_id,order_date,amount\n"
          + "".join(f"c{i},o{i}_{m},2024-{m:02d}-0{1 + i % 9},{10 + i}\n" for i in range(6)
                    for m in range(1, 13) if (i + m) % 3))
    write(cli.cwd, "c.csv", "customer_id,segment\n" + "".join(f"c{i},{'ab'[i % 2]}\n" for i in range(6)))
    write(cli.cwd, "k.csv", "customer_id,opened_date,resolved_date\nc1,2024-03-02,2024-03-03\nc2,2024-05-02,\n")
    write(cli.cwd, "retention.yaml", "inputs:\n  purchases: {path: p.csv}\n  customers: {path: c.csv}\n  complaints: {path: k.csv}\n"
          "churn: {inactivity_days: 60}\nreport:\n  period: 2024-03..2024-12\n"
          "  sections: [summary, churn, purchases, complaints, wom]\n  formats: [csv]\n  output_dir: out\n")
    r = cli("report", "--by", "segment")
    assert r.exit_code == 0, r.stderr
    # purchases: one table by segment over the report's periods, the trend and the
    # summary's comparison periods; the section reads it, the summary, the chart and
    # wom read its total rows
    assert calls["purchase_kpis"] == 1
    # complaints: the section (by segment, with return rates), the trend and summary
    # (without the base), the pooled outcome bars, and wom's observation span
    assert calls["complaint_table"] == 4


def test_a_sliced_mrr_table_equals_the_table_of_the_periods_asked():
    from retention_cli.kpis.mrr import mrr_table
    from tests.kpis.test_mrr import PLANS, STORY, frames

    customers, subs = frames(STORY, {"plan": PLANS})
    base = build_base(customers, None, "contract", subscriptions=subs)
    ws = workspace(base, END, model="contract")
    asked = [parse_label("2024-03", END), parse_label("2024-01", END)]
    ws.plan(MONTHS)  # made over fourteen months, then sliced
    assert ws.has_mrr()
    for by in ([], ["plan"]):
        pd.testing.assert_frame_equal(ws.mrr(asked, by), mrr_table(base, asked, END, by))


def test_a_table_asked_from_two_threads_at_once_is_computed_once(monkeypatch):
    import threading

    import retention_cli.kpis.base as kbase

    base = build_base(CUST, LINES, "inactivity")
    ws = workspace(base, END, window=20)
    started, release, calls = threading.Event(), threading.Event(), []
    real = kbase.churn_flows

    def slow(*a, **k):  # the first call holds on until the main thread has asked too
        calls.append(threading.current_thread().name)
        started.set()
        release.wait(10)
        return real(*a, **k)

    monkeypatch.setattr(kbase, "churn_flows", slow)
    ws.in_background(lambda: ws.flows(MONTHS))
    assert started.wait(10)
    got = []
    asker = threading.Thread(target=lambda: got.append(ws.flows(MONTHS)))
    asker.start()  # asks while the background thread computes: waits for its table
    asker.join(0.3)  # (time to ask; a workspace that did not wait would compute it again)
    release.set()
    asker.join(10)
    assert calls == ["retention-tables"]  # computed once, by the thread that asked first
    pd.testing.assert_frame_equal(got[0], real(base, MONTHS, "inactivity", 20, END, "start", []))


def test_an_error_in_the_background_is_raised_where_the_table_is_asked(monkeypatch, capsys):
    import threading

    import retention_cli.kpis.base as kbase
    from retention_cli.errors import DataError

    base = build_base(CUST, LINES, "inactivity")
    ws = workspace(base, END, window=20)
    threads = []

    def failing(*a, **k):
        threads.append(threading.current_thread().name)
        raise DataError("no flows today")

    monkeypatch.setattr(kbase, "churn_flows", failing)
    ws.in_background(lambda: ws.flows(MONTHS))
    for _ in range(1000):  # the background thread fails on its own
        if threads:
            break
        threading.Event().wait(0.01)
    with pytest.raises(DataError, match="no flows today"):
        ws.flows(MONTHS)  # computed again here, where the error is raised as without a second thread
    assert threads[0] == "retention-tables" and threads[-1] == threading.current_thread().name
    assert capsys.readouterr().err == ""  # the background's error printed nothing
