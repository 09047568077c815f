"""Calendar periods (SPEC §2): labels, relative labels, series. Pure: "today" is
always an argument (as hledger's period parser takes it), never read from the clock.

A period is the half-open date interval [start, end).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from retention_cli.errors import UsageError

FREQS = ("week", "month", "quarter", "year")
# How many days each step has at most; used only to order frequencies by size.
_FREQ_RANK = {"week": 0, "month": 1, "quarter": 2, "year": 3, "all": 4}

_WEEK = re.compile(r"^(\d{4})-W(\d{1,2})$", re.IGNORECASE)
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})-Q(\d)$", re.IGNORECASE)
_YEAR = re.compile(r"^(\d{4})$")
_RELATIVE = re.compile(r"^(last|this)-(week|month|quarter|year)$", re.IGNORECASE)

# The dates the tool works with: the same bounds as the dates read from the data
# (earlier or later ones there are typing errors or placeholders such as 0000-00-00).
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2199, 12, 31)
SUPPORTED = f"{FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}"
# A series longer than this is refused before anything is allocated: 10,000 periods
# are 192 years of weeks, more than any data set holds.
MAX_PERIODS = 10_000


def check_day(d: date, what: str) -> date:
    """``d`` when it lies within the supported dates, else a usage error (2)."""
    if not FIRST_DAY <= d <= LAST_DAY:
        raise UsageError(f"{what} {d.isoformat()} is outside the supported dates ({SUPPORTED})")
    return d


def _year(y: int, text: str) -> int:
    if not FIRST_DAY.year <= y <= LAST_DAY.year:
        raise UsageError(f"period {text!r}: the year must be {FIRST_DAY.year} to {LAST_DAY.year}")
    return y


@dataclass(frozen=True, order=True)
class Period:
    start: date
    end: date
    freq: str  # week | month | quarter | year | all

    @property
    def label(self) -> str:
        s = self.start
        if self.freq == "week":
            y, w, _ = s.isocalendar()
            return f"{y}-W{w:02d}"
        if self.freq == "month":
            return f"{s.year}-{s.month:02d}"
        if self.freq == "quarter":
            return f"{s.year}-Q{(s.month - 1) // 3 + 1}"
        if self.freq == "year":
            return f"{s.year}"
        return "all"

    def complete(self, data_end: date) -> bool:
        """A period whose end is after the data end is incomplete (SPEC §2)."""
        return self.end <= data_end

    def shift(self, n: int) -> "Period":
        """The period n steps later (earlier when n < 0)."""
        if self.freq == "all":
            raise ValueError("the 'all' period has no neighbours")
        return period_containing(_add(self.start, self.freq, n), self.freq)

    def __str__(self) -> str:
        return self.label


def _add(d: date, freq: str, n: int) -> date:
    if freq == "week":
        return d + timedelta(weeks=n)
    months = {"month": 1, "quarter": 3, "year": 12}[freq] * n
    m = d.year * 12 + (d.month - 1) + months
    return date(m // 12, m % 12 + 1, 1)


def period_containing(d: date, freq: str) -> Period:
    if freq == "week":
        start = d - timedelta(days=d.weekday())
    elif freq == "month":
        start = date(d.year, d.month, 1)
    elif freq == "quarter":
        start = date(d.year, (d.month - 1) // 3 * 3 + 1, 1)
    elif freq == "year":
        start = date(d.year, 1, 1)
    else:
        raise ValueError(f"unknown freq {freq!r}")
    return Period(start, _add(start, freq, 1), freq)


def parse_label(text: str, today: date) -> Period:
    """One period from its label: an absolute label carries its own frequency,
    a relative one (``last-month``) names it and is resolved against ``today``."""
    t = text.strip()
    if m := _RELATIVE.match(t):
        which, f = m.group(1).lower(), m.group(2).lower()
        current = period_containing(today, f)
        return current if which == "this" else current.shift(-1)
    if m := _WEEK.match(t):
        y, w = _year(int(m.group(1)), text), int(m.group(2))
        try:
            start = date.fromisocalendar(y, w, 1)
        except ValueError:
            raise UsageError(f"period {text!r}: ISO year {y} has no week {w}") from None
        return Period(start, start + timedelta(weeks=1), "week")
    if m := _QUARTER.match(t):
        y, q = _year(int(m.group(1)), text), int(m.group(2))
        if not 1 <= q <= 4:
            raise UsageError(f"period {text!r}: quarter must be Q1 to Q4")
        return period_containing(date(y, 3 * q - 2, 1), "quarter")
    if m := _MONTH.match(t):
        y, mo = _year(int(m.group(1)), text), int(m.group(2))
        if not 1 <= mo <= 12:
            raise UsageError(f"period {text!r}: month must be 01 to 12")
        return period_containing(date(y, mo, 1), "month")
    if m := _YEAR.match(t):
        return period_containing(date(_year(int(m.group(1)), text), 1, 1), "year")
    raise UsageError(
        f"period {text!r} is not a label: use 2024-W05, 2024-03, 2024-Q1, 2024, all, "
        "last-month, this-quarter, …"
    )


def series(first: Period, last: Period) -> list[Period]:
    """Every period from ``first`` to ``last``, both inclusive."""
    if first.freq != last.freq:
        raise UsageError(
            f"--from {first.label} and --to {last.label} are of different frequencies"
        )
    if first.start > last.start:
        raise UsageError(f"--from {first.label} is after --to {last.label}")
    n = steps(first, last) + 1
    if n > MAX_PERIODS:
        raise UsageError(f"{first.label} to {last.label} is {n:,} periods of a {first.freq}; at most "
                         f"{MAX_PERIODS:,} are computed at once (choose a longer --freq or a shorter series)")
    out = [first]
    while out[-1].start < last.start:
        out.append(out[-1].shift(1))
    return out


def steps(first: Period, last: Period) -> int:
    """How many steps of their frequency ``last`` lies after ``first``."""
    if first.freq == "week":
        return (last.start - first.start).days // 7
    per = {"month": 1, "quarter": 3, "year": 12}[first.freq]
    return ((last.start.year - first.start.year) * 12 + last.start.month - first.start.month) // per


def split(p: Period, freq: str) -> list[Period]:
    """The ``freq`` periods that make up ``p`` (e.g. the 12 months of a year)."""
    if _FREQ_RANK[freq] > _FREQ_RANK[p.freq]:
        raise UsageError(f"--freq {freq} is coarser than the period {p.label}")
    if freq == p.freq:
        return [p]
    return series(period_containing(p.start, freq), period_containing(p.end - timedelta(days=1), freq))


@dataclass(frozen=True)
class PeriodRequest:
    """The period options of a command, before they are resolved against data."""

    period: str | None = None
    from_: str | None = None
    to: str | None = None
    freq: str = "month"
    freq_explicit: bool = False
    count: int = 12


def resolve(req: PeriodRequest, today: date, data_start: date, data_end: date) -> list[Period]:
    """The periods a command computes (SPEC §2).

    - ``--period all``: one period from the earliest event to the data end.
    - ``--period LABEL``: that period; with an explicit finer ``--freq``, its parts.
    - ``--from/--to``: the series, both inclusive (a missing end defaults to the
      last complete period; a missing start to 11 periods before the end).
    - nothing: the ``count`` most recent complete periods, not before the data start.
    """
    if req.period is not None and (req.from_ or req.to):
        raise UsageError("--period cannot be combined with --from/--to")
    if req.period is not None:
        if req.period.strip().lower() == "all":
            return [Period(data_start, max(data_end, data_start + timedelta(days=1)), "all")]
        p = parse_label(req.period, today)
        if req.freq_explicit and req.freq != p.freq:
            return split(p, req.freq)
        return [p]
    last_complete = period_containing(data_end - timedelta(days=1), req.freq)
    if not last_complete.complete(data_end):
        last_complete = last_complete.shift(-1)
    if req.from_ or req.to:
        last = parse_label(req.to, today) if req.to else last_complete
        first = parse_label(req.from_, today) if req.from_ else last.shift(-(req.count - 1))
        if req.freq_explicit and first.freq != req.freq and req.from_ and req.to:
            return series(period_containing(first.start, req.freq),
                          period_containing(last.end - timedelta(days=1), req.freq))
        return series(first, last)
    first = last_complete.shift(-(req.count - 1))
    earliest = period_containing(data_start, req.freq)
    if first < earliest:
        first = earliest
    if first.start > last_complete.start:  # less than one complete period of data
        return [period_containing(data_end - timedelta(days=1), req.freq)]
    return series(first, last_complete)


def parse_date(text: str, what: str = "date") -> date:
    try:
        d = date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{what} {text!r} is not a date (YYYY-MM-DD)") from None
    return check_day(d, what)


# --- vectorised helpers: dates as int days since 1970-01-01 -----------------------

EPOCH = date(1970, 1, 1)


def to_day(d: date) -> int:
    return (d - EPOCH).days


def from_day(n: int) -> date:
    return EPOCH + timedelta(days=int(n))


def bounds_days(periods: list[Period]) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends of the periods as int64 day numbers."""
    starts = np.array([to_day(p.start) for p in periods], dtype=np.int64)
    ends = np.array([to_day(p.end) for p in periods], dtype=np.int64)
    return starts, ends
