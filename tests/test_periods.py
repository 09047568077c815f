from datetime import date

import pytest

from retention_cli.errors import UsageError
from retention_cli.periods import Period, PeriodRequest, parse_label, period_containing, resolve, series, split

TODAY = date(2024, 7, 15)


@pytest.mark.parametrize("label, start, end, freq", [
    ("2024-03", date(2024, 3, 1), date(2024, 4, 1), "month"),
    ("2024-12", date(2024, 12, 1), date(2025, 1, 1), "month"),
    ("2024-Q1", date(2024, 1, 1), date(2024, 4, 1), "quarter"),
    ("2024-q4", date(2024, 10, 1), date(2025, 1, 1), "quarter"),
    ("2024", date(2024, 1, 1), date(2025, 1, 1), "year"),
    # ISO week 5 of 2024 starts on Monday 29 January
    ("2024-W05", date(2024, 1, 29), date(2024, 2, 5), "week"),
    # ISO week 1 of 2021 starts on Monday 4 January 2021
    ("2021-W01", date(2021, 1, 4), date(2021, 1, 11), "week"),
    ("last-month", date(2024, 6, 1), date(2024, 7, 1), "month"),
    ("this-month", date(2024, 7, 1), date(2024, 8, 1), "month"),
    ("last-quarter", date(2024, 4, 1), date(2024, 7, 1), "quarter"),
    ("last-year", date(2023, 1, 1), date(2024, 1, 1), "year"),
    # 15 July 2024 is a Monday of week 29; last week is 8-14 July
    ("last-week", date(2024, 7, 8), date(2024, 7, 15), "week"),
])
def test_labels(label, start, end, freq):
    p = parse_label(label, TODAY)
    assert (p.start, p.end, p.freq) == (start, end, freq)


@pytest.mark.parametrize("label", ["2024-W05", "2024-03", "2024-Q1", "2024"])
def test_label_round_trip(label):
    assert parse_label(label, TODAY).label == label


@pytest.mark.parametrize("label, fragment", [
    ("2024-13", "month must be 01 to 12"),
    ("2024-Q5", "quarter must be Q1 to Q4"),
    ("2023-W53", "has no week 53"),
    ("March", "is not a label"),
])
def test_bad_labels(label, fragment):
    with pytest.raises(UsageError, match=fragment):
        parse_label(label, TODAY)


def test_last_month_in_january_is_previous_december():
    p = parse_label("last-month", date(2025, 1, 1))
    assert p.label == "2024-12"


def test_series_inclusive_and_ordered():
    s = series(parse_label("2023-11", TODAY), parse_label("2024-02", TODAY))
    assert [p.label for p in s] == ["2023-11", "2023-12", "2024-01", "2024-02"]


def test_series_from_after_to_is_usage_error():
    with pytest.raises(UsageError, match="after"):
        series(parse_label("2024-05", TODAY), parse_label("2024-02", TODAY))


def test_split_year_into_quarters():
    assert [p.label for p in split(parse_label("2024", TODAY), "quarter")] == ["2024-Q1", "2024-Q2", "2024-Q3", "2024-Q4"]


def test_complete_flag():
    p = parse_label("2024-06", TODAY)
    assert p.complete(date(2024, 7, 1))       # end == data end: complete
    assert not p.complete(date(2024, 6, 30))  # one day short


def test_default_is_twelve_most_recent_complete_periods():
    # data from 2022-03-10 to 2024-07-14 (data end 2024-07-15): July 2024 is incomplete,
    # so the 12 complete months are 2023-07 .. 2024-06
    ps = resolve(PeriodRequest(), TODAY, date(2022, 3, 10), date(2024, 7, 15))
    assert [p.label for p in ps][0] == "2023-07" and ps[-1].label == "2024-06" and len(ps) == 12


def test_default_clipped_at_data_start():
    ps = resolve(PeriodRequest(), TODAY, date(2024, 3, 10), date(2024, 7, 15))
    assert [p.label for p in ps] == ["2024-03", "2024-04", "2024-05", "2024-06"]


def test_all_spans_the_data():
    (p,) = resolve(PeriodRequest(period="all"), TODAY, date(2022, 3, 10), date(2024, 7, 15))
    assert (p.start, p.end, p.label) == (date(2022, 3, 10), date(2024, 7, 15), "all")


def test_period_with_explicit_finer_freq_is_split():
    ps = resolve(PeriodRequest(period="2024-Q2", freq="month", freq_explicit=True), TODAY, date(2020, 1, 1), date(2024, 7, 15))
    assert [p.label for p in ps] == ["2024-04", "2024-05", "2024-06"]


def test_from_only_runs_to_last_complete():
    ps = resolve(PeriodRequest(from_="2024-04"), TODAY, date(2020, 1, 1), date(2024, 7, 15))
    assert [p.label for p in ps] == ["2024-04", "2024-05", "2024-06"]


def test_period_and_from_conflict():
    with pytest.raises(UsageError):
        resolve(PeriodRequest(period="2024-01", from_="2024-01"), TODAY, date(2020, 1, 1), date(2024, 7, 15))


def test_shift_and_containing():
    assert period_containing(date(2024, 2, 29), "quarter").shift(-1) == Period(date(2023, 10, 1), date(2024, 1, 1), "quarter")
