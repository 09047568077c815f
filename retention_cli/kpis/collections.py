"""Collections (SPEC §4.7): how much customers owe, how late they pay, how much of
what falls due is collected, and how customers with overdue invoices churn.

Pure functions over the invoices table: no files, no clock, no printing, inputs
never modified. Dates are int64 day numbers (days since 1970-01-01); an instant t is
the start of a calendar day, so "paid before t" is ``paid_date < t``.

Everything is known as of the data end D: an invoice dated on or after D, or a
payment dated on or after D, is not known yet (an ``as_of`` before the export's
last day cuts both).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from retention_cli.errors import DataError, UsageError
from retention_cli.kpis.base import ALL, MISSING, ratio
from retention_cli.model.customers import NEVER, day_numbers
from retention_cli.periods import Period, bounds_days, to_day

COLLECTION_COLUMNS = [
    "invoices", "invoiced_amount", "paid_share", "on_time_share", "mean_days_late",
    "receivables_start", "receivables_end", "overdue_end", "overdue_share_end", "dso", "cei",
    "disputed_share", "write_off_amount", "customers_with_overdue_end", "credit_notes", "credit_note_amount",
]
# for the writers (kpis/kinds.py): what each column is
COLLECTION_RATIOS = ("paid_share", "on_time_share", "overdue_share_end", "disputed_share")
COLLECTION_COUNTS = ("invoices", "customers_with_overdue_end", "credit_notes")
COLLECTION_MONEY = ("invoiced_amount", "receivables_start", "receivables_end", "overdue_end",
                    "write_off_amount", "credit_note_amount")
# the KPIs that need to know when invoices were paid: null without a paid_date column
PAYMENT_KPIS = ("paid_share", "on_time_share", "mean_days_late", "receivables_start", "receivables_end",
                "overdue_end", "overdue_share_end", "dso", "cei", "write_off_amount", "customers_with_overdue_end")

OVERDUE_CHURN_COLUMNS = [
    "customers_start_overdue", "lost_overdue", "churn_rate_overdue",
    "customers_start_not_overdue", "lost_not_overdue", "churn_rate_not_overdue",
]
OVERDUE_CHURN_RATIOS = ("churn_rate_overdue", "churn_rate_not_overdue")
OVERDUE_CHURN_COUNTS = ("customers_start_overdue", "lost_overdue", "customers_start_not_overdue", "lost_not_overdue")

DEFAULT_TERMS_DAYS = 30       # "net 30", the most common payment term
DEFAULT_WRITE_OFF_DAYS = 180  # receivables 180 days past due are commonly written off as doubtful


@dataclass(frozen=True)
class Invoices:
    """One entry per invoice (rows sharing customer_id and invoice_id are lines of
    one invoice), as day numbers. ``paid`` is None when the table has no paid_date
    column (nothing is known about payment), ``disputed`` None without a disputed
    column. Unpaid: ``paid == NEVER``. Credit notes (negative amounts) are kept,
    flagged by ``credit``; the KPIs leave them out of everything but their own count."""

    customer: np.ndarray        # customer_id (text)
    cust: np.ndarray            # int64 code of customer_id
    issued: np.ndarray          # invoice_date
    due: np.ndarray             # due_date, or invoice_date + terms_days
    paid: np.ndarray | None     # paid_date (NEVER: unpaid)
    amount: np.ndarray          # float64
    disputed: np.ndarray | None
    extras: pd.DataFrame        # the other columns (first line's value), for segments

    @property
    def credit(self) -> np.ndarray:
        return self.amount < 0

    def __len__(self) -> int:
        return len(self.issued)


def _blank(s: pd.Series) -> np.ndarray:
    return (s.isna() | (s.astype(str).str.strip() == "")).to_numpy()


def invoice_facts(invoices: pd.DataFrame, *, terms_days: int = DEFAULT_TERMS_DAYS) -> Invoices:
    """The invoices of a table with the canonical columns (customer_id, invoice_date,
    amount; optional due_date, paid_date, invoice_id, disputed, status, others).

    A row without due_date is due ``terms_days`` after its invoice_date. With
    invoice_id, the rows of one (customer, invoice_id) are lines of one invoice: the
    amounts are summed, the invoice is dated by its earliest line, due by its
    earliest due date, paid when its last line is paid (unpaid while one is not),
    and disputed when one line is. A row with an empty invoice_id is an invoice.

    Raises DataError for rows the reader refuses (missing customer_id, invoice_date
    or amount; due_date before invoice_date): they cannot reach here through it."""
    for col in ("customer_id", "invoice_date", "amount"):
        if col not in invoices:
            raise DataError(f"the invoices have no {col} column")
    customer = invoices["customer_id"]
    issued = day_numbers(invoices["invoice_date"])
    amount = invoices["amount"].to_numpy(dtype="float64", na_value=np.nan)
    problems = {"an empty customer_id": _blank(customer), "no invoice_date": issued == NEVER,
                "no amount": np.isnan(amount)}
    due = issued + terms_days
    if "due_date" in invoices:
        given = day_numbers(invoices["due_date"])
        due = np.where(given < NEVER, given, due)
        problems["a due_date before the invoice_date"] = (given < NEVER) & (given < issued)
    for what, bad in problems.items():
        if bad.any():
            raise DataError(f"{int(bad.sum())} invoice row{'s' if bad.sum() != 1 else ''} with {what} "
                            f"(first: row {int(np.flatnonzero(bad)[0]) + 1})")
    paid = day_numbers(invoices["paid_date"]) if "paid_date" in invoices else None
    disputed = None
    if "disputed" in invoices:
        disputed = invoices["disputed"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    canonical = {"customer_id", "invoice_date", "amount", "due_date", "paid_date", "invoice_id", "disputed"}
    extras = invoices[[c for c in invoices.columns if c not in canonical]].reset_index(drop=True)
    customer = customer.astype(str).str.strip().to_numpy(dtype=object)

    if "invoice_id" in invoices:
        iid = invoices["invoice_id"]
        no_id = _blank(iid)
        key = pd.Series(customer, dtype=object) + "\x1f" + iid.astype(str).str.strip().to_numpy(dtype=object)
        line, _ = pd.factorize(key.where(~no_id, None), use_na_sentinel=True)
        # a row without an invoice_id is an invoice of its own
        line = np.where(no_id, line.max(initial=-1) + 1 + np.cumsum(no_id) - 1, line)
        if len(np.unique(line)) < len(line):
            lines = pd.DataFrame({"line": line, "issued": issued, "due": due, "amount": amount})
            if paid is not None:
                lines["paid"] = paid
            if disputed is not None:
                lines["disputed"] = disputed
            g = lines.groupby("line", sort=True)
            first = g.head(1).sort_values("line").index.to_numpy()  # each invoice's first line
            agg = g.agg(issued=("issued", "min"), due=("due", "min"), amount=("amount", "sum"),
                        **({"paid": ("paid", "max")} if paid is not None else {}),
                        **({"disputed": ("disputed", "any")} if disputed is not None else {}))
            customer = customer[first]
            issued, due, amount = (agg[c].to_numpy() for c in ("issued", "due", "amount"))
            paid = agg["paid"].to_numpy() if paid is not None else None  # NEVER (unpaid) is the largest
            disputed = agg["disputed"].to_numpy(dtype=bool) if disputed is not None else None
            extras = extras.iloc[first].reset_index(drop=True)
    cust, _ = pd.factorize(customer)
    return Invoices(customer, cust.astype(np.int64), issued.astype(np.int64), due.astype(np.int64),
                    None if paid is None else paid.astype(np.int64), amount.astype(np.float64),
                    disputed, extras)


# --- segments ----------------------------------------------------------------------------

def _ids(values: Iterable) -> pd.Index:
    """Customer ids as the reader writes them: text, trimmed."""
    arr = values if isinstance(values, (np.ndarray, pd.Index, pd.Series)) else list(values)
    return pd.Index(pd.Series(np.asarray(arr, dtype=object), dtype=object).astype(str).str.strip())


def _segment_values(customer: np.ndarray, extras: pd.DataFrame | None, by: list[str],
                    customers: pd.DataFrame | None) -> pd.DataFrame:
    """The ``by`` values of each entry: a customers attribute (looked up by its
    customer_id) or a column of ``extras`` (the invoices' own columns; None when only
    customers attributes will do); empty -> "(missing)". A column in both is the
    customers attribute."""
    cols = {}
    attrs = None
    if customers is not None:
        attrs = customers.set_axis(_ids(customers["customer_id"])).drop(columns=["customer_id"])
        attrs = attrs[~attrs.index.duplicated()]
    for b in by:
        if attrs is not None and b in attrs.columns:
            v = attrs[b].reindex(_ids(customer)).reset_index(drop=True)
        elif extras is not None and b in extras.columns:
            v = extras[b].reset_index(drop=True)
        else:
            known = list(attrs.columns) if attrs is not None else []
            if extras is not None:
                known += [c for c in extras.columns if c not in known]
            kinds = "an invoices column nor a customers attribute" if extras is not None else "a customers attribute"
            raise UsageError(f"segment column {b!r}: not {kinds} (known: {', '.join(map(str, known)) or 'none'})")
        v = v.astype(object)
        cols[b] = v.where(v.notna() & (v.astype(str).str.strip() != ""), MISSING).astype(str)
    return pd.DataFrame(cols, index=range(len(customer)))


def _codes(frame: pd.DataFrame, by: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Per row, the code of its combination of values; the combinations, sorted."""
    if not by:
        return np.zeros(len(frame), dtype=np.int64), pd.DataFrame(index=[0])
    labels = frame.drop_duplicates().sort_values(by, kind="stable").reset_index(drop=True)
    codes = pd.MultiIndex.from_frame(labels).get_indexer(pd.MultiIndex.from_frame(frame)) if len(by) > 1 \
        else pd.Index(labels[by[0]]).get_indexer(frame[by[0]])
    return codes.astype(np.int64), labels


def _rows(periods: list[Period], by: list[str], labels: pd.DataFrame, data_end: date,
          cols: dict[str, np.ndarray], order: list[str]) -> pd.DataFrame:
    """The output frame from per-(period, segment) arrays laid out as
    ``k * (n_seg + 1) + s``, with s = n_seg the total: one row per period and
    segment, the total first ("(all)" in the ``by`` columns), then the segments."""
    n_seg = len(labels) if by else 0
    width = n_seg + 1
    P = len(periods)
    # total first in each period, then the segments in label order
    pos = np.concatenate([[k * width + n_seg, *range(k * width, k * width + n_seg)] for k in range(P)]) \
        if P else np.zeros(0, dtype=np.int64)
    out = pd.DataFrame({"period": [periods[k].label for k in pos // width]})
    seg = pos % width
    for b in by:
        out[b] = np.append(labels[b].to_numpy(dtype=object), ALL)[seg]
    out["complete"] = [periods[k].complete(data_end) for k in pos // width]
    for c in order:
        if c in cols:
            out[c] = cols[c][pos]
    return out


# --- the KPIs --------------------------------------------------------------------------

def collection_kpis(invoices: pd.DataFrame | Invoices, periods: list[Period], *, data_end: date,
                    terms_days: int = DEFAULT_TERMS_DAYS, write_off_days: int = DEFAULT_WRITE_OFF_DAYS,
                    by: list[str] | None = None, customers: pd.DataFrame | None = None) -> pd.DataFrame:
    """The collection KPIs (COLLECTION_COLUMNS) per period and ``by`` segment.

    ``invoices``: the invoices table (or ``invoice_facts`` of it); ``customers``: a
    frame with customer_id and attribute columns, for segments by a customers
    attribute. Nulls, never zeros, for what the data cannot say: every payment KPI
    without a paid_date column (PAYMENT_KPIS), disputed_share without a disputed
    column, a ratio whose denominator is 0, and every KPI of a period that starts on
    or after the data end."""
    by = list(by or [])
    inv = invoices if isinstance(invoices, Invoices) else invoice_facts(invoices, terms_days=terms_days)
    seg_frame = _segment_values(inv.customer, inv.extras, by, customers)
    seg, labels = _codes(seg_frame, by)
    n_seg = len(labels) if by else 0
    width, P = n_seg + 1, len(periods)
    D = to_day(data_end)
    starts, ends = bounds_days(periods)

    known = inv.issued < D            # dated on or after the data end: not known yet
    credit = known & inv.credit
    real = known & ~inv.credit
    has_paid = inv.paid is not None
    # a payment dated on or after the data end is not known yet
    paid = np.where(inv.paid < D, inv.paid, NEVER) if has_paid else np.full(len(inv), NEVER)
    is_paid = paid < NEVER
    amount = inv.amount
    n_cust = int(inv.cust.max()) + 1 if len(inv) else 1

    def per_seg(mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """The segments' counts (or sums of ``weights``) over ``mask``, then the total."""
        w = None if weights is None else weights[mask]
        parts = np.bincount(seg[mask], weights=w, minlength=n_seg) if n_seg else np.zeros(0)
        total = mask.sum() if w is None else w.sum()
        return np.append(parts, total).astype(float)

    def distinct_customers(mask: np.ndarray) -> np.ndarray:
        pairs = np.unique(seg[mask] * np.int64(n_cust) + inv.cust[mask])
        parts = np.bincount(pairs // n_cust, minlength=n_seg) if n_seg else np.zeros(0)
        return np.append(parts, len(np.unique(inv.cust[mask]))).astype(float)

    def receivable(t: int) -> np.ndarray:
        """Dated before t and not paid before t."""
        return real & (inv.issued < t) & (paid >= t)

    G = P * width
    cols = {c: np.full(G, np.nan) for c in COLLECTION_COLUMNS}
    write_off_day = inv.due + write_off_days
    for k in range(P):
        s, e = int(starts[k]), int(ends[k])
        if s >= D:
            continue  # no data: every KPI stays null
        at = slice(k * width, (k + 1) * width)
        in_k = real & (inv.issued >= s) & (inv.issued < e)
        n = per_seg(in_k)
        invoiced = per_seg(in_k, amount)
        cols["invoices"][at], cols["invoiced_amount"][at] = n, invoiced
        notes = credit & (inv.issued >= s) & (inv.issued < e)
        cols["credit_notes"][at], cols["credit_note_amount"][at] = per_seg(notes), 0 - per_seg(notes, amount)  # no -0.0
        if inv.disputed is not None:
            cols["disputed_share"][at] = ratio(per_seg(in_k & inv.disputed), n)
        if not has_paid:
            continue
        cols["paid_share"][at] = ratio(per_seg(in_k & is_paid), n)
        fell_due = in_k & (inv.due < D)
        cols["on_time_share"][at] = ratio(per_seg(fell_due & (paid <= inv.due)), per_seg(fell_due))
        late = in_k & is_paid & (paid > inv.due)
        cols["mean_days_late"][at] = ratio(per_seg(late, (paid - inv.due).astype(float)), per_seg(late))
        r_start, r_end = receivable(s), receivable(e)
        overdue = r_end & (inv.due < e)
        rs, re, oe = per_seg(r_start, amount), per_seg(r_end, amount), per_seg(overdue, amount)
        cols["receivables_start"][at], cols["receivables_end"][at], cols["overdue_end"][at] = rs, re, oe
        cols["overdue_share_end"][at] = ratio(oe, re)
        # sales per day over the days observed: all of them for a complete period
        cols["dso"][at] = ratio(re, invoiced) * (min(e, D) - s)
        # CEI: what was collected of what could be (Beginning receivables + credit
        # sales - ending total receivables) / (beginning receivables + credit sales -
        # ending current receivables) x 100, the usual credit-management formula
        collectible = rs + invoiced - (re - oe)
        # a sum of the same amounts in another order can leave a residue of 1e-12
        collectible = np.where(np.abs(collectible) <= 1e-9 * np.maximum(1.0, rs + invoiced), 0.0, collectible)
        cols["cei"][at] = 100 * ratio(rs + invoiced - re, collectible)
        wo = real & (write_off_day >= s) & (write_off_day < e) & (write_off_day < D) & (paid >= write_off_day)
        cols["write_off_amount"][at] = per_seg(wo, amount)
        cols["customers_with_overdue_end"][at] = distinct_customers(overdue)
    return _rows(periods, by, labels, data_end, cols, COLLECTION_COLUMNS)


def collection_notes(invoices: pd.DataFrame | Invoices, *, data_end: date,
                     terms_days: int = DEFAULT_TERMS_DAYS) -> list[str]:
    """What goes with ``collection_kpis`` as warnings: which KPIs are null because
    a column is absent, and which invoices are left out or read specially."""
    inv = invoices if isinstance(invoices, Invoices) else invoice_facts(invoices, terms_days=terms_days)
    D = to_day(data_end)
    notes = []
    if inv.paid is None:
        notes.append(f"the invoices have no paid_date column: {', '.join(PAYMENT_KPIS)} are null")
    if inv.disputed is None:
        notes.append("the invoices have no disputed column: disputed_share is null")
    credit = inv.credit & (inv.issued < D)
    if credit.any():
        notes.append(f"{int(credit.sum())} invoice{'s' if credit.sum() != 1 else ''} with a negative amount "
                     "(credit notes) are left out of the collection KPIs and counted in credit_notes")
    if inv.paid is not None:
        prepaid = (inv.paid < inv.issued) & ~inv.credit
        if prepaid.any():
            notes.append(f"{int(prepaid.sum())} invoice{'s were' if prepaid.sum() != 1 else ' was'} paid before "
                         "being issued: counted as paid on time, never receivable")
    later = inv.issued >= D
    if later.any():
        notes.append(f"{int(later.sum())} invoice{'s' if later.sum() != 1 else ''} dated on or after the data end "
                     f"({data_end}) are not counted")
    return notes


# --- the link to loyalty -------------------------------------------------------------------

def overdue_customers(invoices: pd.DataFrame | Invoices, at: date, *, data_end: date,
                      terms_days: int = DEFAULT_TERMS_DAYS) -> np.ndarray:
    """The customer_ids (sorted) with an overdue invoice at the instant ``at``: dated
    before it, not paid before it, due before it. Empty without a paid_date column
    is not an answer: raises DataError then (nothing is known about payment)."""
    inv = invoices if isinstance(invoices, Invoices) else invoice_facts(invoices, terms_days=terms_days)
    if inv.paid is None:
        raise DataError("overdue invoices need the invoices' paid_date column")
    return np.unique(inv.customer[_overdue_mask(inv, to_day(at), to_day(data_end))]).astype(object)


def _overdue_mask(inv: Invoices, t: int, D: int) -> np.ndarray:
    paid = np.where(inv.paid < D, inv.paid, NEVER)
    return ~inv.credit & (inv.issued < min(t, D)) & (paid >= t) & (inv.due < t)


ChurnFacts = Sequence[tuple[Iterable, Iterable]]


def churn_facts(base, periods: list[Period], model: str, window: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per period, (customer_ids active at its start, customer_ids lost in it: active
    at the start and not at the end), from the customer base of the purchases or
    contracts (SPEC §3): the churn facts ``overdue_churn`` takes."""
    from retention_cli.kpis.base import states

    ids = base.ids.to_numpy(dtype=object)
    return [(ids[S], ids[S & ~E]) for _, _, S, E, _ in states(base, periods, model, window)]


def overdue_churn(invoices: pd.DataFrame | Invoices, periods: list[Period], facts: ChurnFacts, *,
                  data_end: date, terms_days: int = DEFAULT_TERMS_DAYS, by: list[str] | None = None,
                  customers: pd.DataFrame | None = None) -> pd.DataFrame:
    """Churn of the customers active at each period start with and without an
    overdue invoice at that start (OVERDUE_CHURN_COLUMNS), per period and segment
    of a customers attribute.

    ``facts``: per period, in the order of ``periods``, (customer_ids active at the
    start, customer_ids lost in the period): what ``churn_facts`` gives. The churn
    rate of each group is its lost customers over its customers at the start (the
    `start` denominator: the groups are defined at the start). Null without a
    paid_date column and for a period that starts on or after the data end."""
    by = list(by or [])
    if len(facts) != len(periods):
        raise ValueError(f"{len(facts)} churn facts for {len(periods)} periods")
    inv = invoices if isinstance(invoices, Invoices) else invoice_facts(invoices, terms_days=terms_days)
    D = to_day(data_end)
    starts, _ = bounds_days(periods)
    facts = [(_ids(active), _ids(lost)) for active, lost in facts]  # one step per period
    universe = pd.Index(np.unique(np.concatenate([inv.customer.astype(str)] + [a.to_numpy(dtype=str) for a, _ in facts])))
    # segments are customers attributes: a customer is in one, whatever its invoices say
    if by:
        if customers is None:
            raise UsageError("segments of the churn of customers with overdue invoices need the customers table")
        seg, labels = _codes(_segment_values(universe.to_numpy(dtype=object), None, by, customers), by)
    else:
        seg, labels = np.zeros(len(universe), dtype=np.int64), pd.DataFrame(index=[0])
    n_seg = len(labels) if by else 0
    width = n_seg + 1
    cols = {c: np.full(len(periods) * width, np.nan) for c in OVERDUE_CHURN_COLUMNS}

    def count(codes: np.ndarray) -> np.ndarray:
        parts = np.bincount(seg[codes], minlength=n_seg) if n_seg else np.zeros(0)
        return np.append(parts, len(codes)).astype(float)

    for k, (active, lost) in enumerate(facts):
        s = int(starts[k])
        if s >= D or inv.paid is None:
            continue
        at = slice(k * width, (k + 1) * width)
        S = np.unique(universe.get_indexer(active))
        L = np.intersect1d(universe.get_indexer(lost), S)
        late = np.unique(universe.get_indexer(inv.customer[_overdue_mask(inv, s, D)]))
        S_o, L_o = np.intersect1d(S, late), np.intersect1d(L, late)
        S_n, L_n = np.setdiff1d(S, late), np.setdiff1d(L, late)
        cols["customers_start_overdue"][at], cols["lost_overdue"][at] = count(S_o), count(L_o)
        cols["customers_start_not_overdue"][at], cols["lost_not_overdue"][at] = count(S_n), count(L_n)
        cols["churn_rate_overdue"][at] = ratio(count(L_o), count(S_o))
        cols["churn_rate_not_overdue"][at] = ratio(count(L_n), count(S_n))
    return _rows(periods, by, labels, data_end, cols, OVERDUE_CHURN_COLUMNS)
