"""What real exports mean (docs/exports.md): ``exclude``, continuation lines
(``inherit``), order-level amounts, refunds, subscriptions (one customer per
customer's rows, and every subscription's paying span and MRR beside them).
Each option of an input is applied only when it is set: a clean export without
them is read exactly as before, at the same cost."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from retention_cli.config import InputConfig
from retention_cli.errors import ConfigError, DataError
from retention_cli.io.schemas import normalise_header
from retention_cli.io.readers.cells import trimmed
from retention_cli.io.readers.convert import convert_column
from retention_cli.io.readers.ids import is_dictionary
from retention_cli.io.readers.mapping import closest

if TYPE_CHECKING:  # (tables imports this module)
    from retention_cli.io.readers.tables import Table


# Each option of an input is applied only when it is set: a clean export without
# them is read exactly as before, at the same cost.

def uses_options(inp: InputConfig) -> bool:
    return bool(inp.exclude or inp.inherit or inp.refund_amount or inp.refund_date or inp.subscriptions
                or inp.amount_scope != "line")


def needed_by_options(inp: InputConfig, use: set[str]) -> set[str]:
    """Canonical columns the options need besides those a command reads."""
    need: set[str] = set()
    if inp.inherit or ((inp.amount_scope == "order" or inp.refund_amount) and "amount" in use):
        need.add("order_id")
    if inp.subscriptions:
        need |= {"signup_date", "churn_date"}
    return need


def option_columns(table: str, inp: InputConfig, headers: list[str], found: dict[str, int],
                   display: str) -> dict[str, int]:
    """The position of every column an option names (``exclude``, ``inherit``, the
    refund and subscription columns): a canonical name the file maps, or a header,
    matched as mapped columns are (exactly, else ignoring case, spaces, - and _)."""
    def wrong(key: str, what: str) -> None:
        raise ConfigError(f"inputs.{table}.{key}: {what}")

    if table != "purchases":
        for key in ("refund_amount", "refund_date"):
            if getattr(inp, key):
                wrong(key, "refunds are read with the purchases")
        if inp.amount_scope != "line":
            wrong("amount_scope", "only purchases have order amounts")
    if inp.subscriptions and table != "customers":
        wrong("subscriptions", "a subscriptions export is read as the customers input")
    if inp.refund_date and not inp.refund_amount:
        wrong("refund_date", "set refund_amount too: the date of which refund?")
    names = [(f"exclude.{k}", k) for k in inp.exclude] + [("inherit", n) for n in inp.inherit]
    names += [(k, getattr(inp, k)) for k in ("refund_amount", "refund_date") if getattr(inp, k)]
    if inp.subscriptions:
        names += [(f"subscriptions.{k}", v) for k, v in inp.subscriptions.model_dump().items()
                  if v and isinstance(v, str)]  # headers (amount_in_cents is a switch)
    listed = ", ".join(f"'{h}'" for h in headers if h) or "(none)"
    out: dict[str, int] = {}
    for key, name in names:
        if name in found:
            out[name] = found[name]
            continue
        exact = [i for i, h in enumerate(headers) if h == name.strip()]
        loose = [i for i, h in enumerate(headers) if normalise_header(h) == normalise_header(name)]
        if not (exact or loose):
            raise DataError(f"{display}: column '{name}' ({key} in the config) is not in the file; "
                            f"headers found: {listed}{closest(name, headers)}")
        out[name] = (exact or loose)[0]
    if inp.inherit and "order_id" not in found:
        raise DataError(f"{display}: inherit fills an order's continuation lines, found by their order_id: "
                        "map order_id in the config")
    return out


def _as_text(s: pd.Series) -> pd.Series:
    if pd.api.types.is_string_dtype(s) and not is_dictionary(s):
        return s
    return s.astype("str").where(s.notna(), "")


def inherit(cells: pd.DataFrame, positions: list[int], order_pos: int) -> pd.DataFrame:
    """Continuation lines (Shopify: only an order's first line carries Email,
    Created at, Total): an empty cell takes the value of its order's first line
    that has one. Lines without an order id keep their cells."""
    key = _as_text(cells[order_pos]).str.strip()
    keyed = (key != "").to_numpy()
    for p in dict.fromkeys(positions):
        s = _as_text(cells[p])
        empty = (s.str.strip() == "").to_numpy()
        if not empty.any():
            continue
        first = s.where(~empty).groupby(key, sort=False).transform("first")
        fill = empty & keyed & first.notna().to_numpy()
        cells[p] = s.where(~fill, first)
    return cells


def exclude(cells: pd.DataFrame, exclude: dict[str, list[str]], aux: dict[str, int],
             display: str) -> tuple[pd.DataFrame, int, str | None]:
    """Rows whose column holds one of the listed values (trimmed, case-insensitive;
    "" an empty cell, "*" any value) are left out, and counted in a note by value."""
    drop = np.zeros(len(cells), dtype=bool)
    parts = []
    for name, values in exclude.items():
        s = _as_text(cells[aux[name]]).str.strip().str.lower()
        wanted = {v.strip().lower() for v in values}
        hit = s.isin(wanted - {"*"}).to_numpy()
        if "*" in wanted:
            hit = hit | (s != "").to_numpy()
        new = hit & ~drop
        drop |= hit
        if new.any():
            v = s[new]
            labels = v.where(v.isin(wanted - {"*"}), "any value").where(v != "", "empty")
            counts = labels.value_counts()
            counts = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            parts.append(f"{name}: " + ", ".join(f"{label} {n}" for label, n in counts))
    n = int(drop.sum())
    if not n:
        return cells, 0, None
    note = f"{display}: left out {n} row{'s' if n != 1 else ''} by exclude ({'; '.join(parts)})"
    return cells[~drop], n, note


def parse_option_columns(table: str, inp: InputConfig, cells: pd.DataFrame, aux: dict[str, int], na: set[str],
                         tz: str | None, flag) -> dict[str, pd.Series]:
    """The refund and subscription columns, typed as their kind by the one
    conversion path (``convert_column``); a bad value is a bad row under the
    column's header, as for any mapped column."""
    out: dict[str, pd.Series] = {}

    def parse(key: str, name: str | None, kind: str) -> None:
        if name:
            s = trimmed(_as_text(cells[aux[name]]), na)
            out[key], problems = convert_column(s, kind, "csv", inp, na, tz)
            for mask, reasons, values in problems:
                flag(name, mask, reasons, values)

    parse("refund", inp.refund_amount, "number")
    parse("refund_date", inp.refund_date, "date")
    sub = inp.subscriptions
    if sub:
        parse("trial_end", sub.trial_end, "date")
        parse("period_end", sub.period_end, "date")
        parse("cancel", sub.cancel_at_period_end, "bool")
        parse("recurring", sub.amount, "number")
        parse("quantity", sub.quantity, "number")
        parse("interval_count", sub.interval_count, "number")
        parse("interval", sub.interval, "text")
        _check_recurring(out, sub, flag, lambda name: _as_text(cells[aux[name]]).str.strip())
    return out


# Months per billing interval, to make every amount a monthly one (MRR). A year is
# 12 months; a week 12/52 of a month and a day 12/365 of one, as ChartMogul and
# Baremetrics normalise weekly and daily plans (a weekly amount × 52 / 12).
INTERVAL_MONTHS = {
    "day": 12 / 365, "daily": 12 / 365, "days": 12 / 365,
    "week": 12 / 52, "weekly": 12 / 52, "weeks": 12 / 52,
    "month": 1.0, "monthly": 1.0, "months": 1.0,
    "quarter": 3.0, "quarterly": 3.0, "quarters": 3.0,
    "year": 12.0, "yearly": 12.0, "annual": 12.0, "annually": 12.0, "years": 12.0,
}


def _check_recurring(out: dict[str, pd.Series], sub, flag, raw) -> None:
    """The MRR columns' values that cannot mean a recurring amount are bad values of
    their column: an amount missing or below 0, a quantity below 0, an interval not
    among INTERVAL_MONTHS, an interval count that is not a whole number from 1.
    ``raw(header)``: the column's cells as written, for the messages."""
    def bad(key: str, header: str, wrong: pd.Series, reason: str) -> None:
        wrong = wrong.fillna(False).astype(bool)
        if wrong.any():
            idx = wrong.index[wrong.to_numpy()]
            flag(header, wrong, pd.Series(reason, index=idx), raw(header))

    if "recurring" in out:
        v = out["recurring"]
        bad("recurring", sub.amount, v.isna(), "missing (a subscription's recurring amount)")
        bad("recurring", sub.amount, v < 0, "a recurring amount below 0")
    if "quantity" in out:
        bad("quantity", sub.quantity, out["quantity"] < 0, "a quantity below 0")
    if "interval_count" in out:
        n = out["interval_count"]
        bad("interval_count", sub.interval_count, n.notna() & ((n < 1) | (n != n.round())),
            "not a whole number of intervals from 1")
    if "interval" in out:
        text = out["interval"].astype("str").str.strip().str.lower().where(out["interval"].notna(), "")
        known = text.isin(list(INTERVAL_MONTHS))
        bad("interval", sub.interval, ~known & (text != ""), "not an interval (day, week, month, quarter, year)")
        bad("interval", sub.interval, text == "", "missing (the billing interval)")
        out["interval"] = text


def monthly_amount(parsed: dict[str, pd.Series], index: pd.Index, in_cents: bool) -> pd.Series:
    """Each subscription's monthly recurring revenue: amount × quantity (empty: 1)
    / (interval_count (empty: 1) × months per interval; no interval column: a
    month), in currency units (÷ 100 when the amounts are in cents)."""
    amount = parsed["recurring"].reindex(index).astype("float64")
    if "quantity" in parsed:
        amount = amount * parsed["quantity"].reindex(index).astype("float64").fillna(1.0)
    months = pd.Series(1.0, index=index)
    if "interval" in parsed:
        months = parsed["interval"].reindex(index).map(INTERVAL_MONTHS).astype("float64")
    if "interval_count" in parsed:
        months = months * parsed["interval_count"].reindex(index).astype("float64").fillna(1.0)
    return amount / months / (100.0 if in_cents else 1.0)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _first_lines(order_id: pd.Series) -> np.ndarray:
    """The first line of each order (a line without order id is an order of its own)."""
    return (~order_id.duplicated() | (order_id == "")).to_numpy()


def apply_meaning(result: Table, inp: InputConfig, parsed: dict[str, pd.Series]) -> pd.DataFrame:
    """What the export means, on the rows that are kept: an order total counted
    once, refunds, subscriptions made customers (their spans kept beside them)."""
    if inp.subscriptions:
        return _fold_subscriptions(result, parsed, inp.subscriptions.amount_in_cents)
    df, display = result.df, result.display
    first = None
    if inp.amount_scope == "order" and "amount" in df:
        if "order_id" not in df:
            raise DataError(f"{display}: amount_scope: order takes the amount once per order_id: map order_id")
        first = _first_lines(df["order_id"])
        df = df.assign(amount=df["amount"].where(first, 0.0))
    if "refund" in parsed and "amount" in df:
        # refund columns are order-level in the exports we know (Shopify, WooCommerce):
        # with order ids, an order's refund is taken once
        r = parsed["refund"].reindex(df.index).abs().fillna(0.0)
        if "order_id" in df:
            r = r.where(first if first is not None else _first_lines(df["order_id"]), 0.0)
        has = (r > 0).to_numpy()
        if has.any():
            dated = np.zeros(len(df), dtype=bool)
            if "refund_date" in parsed:
                day = parsed["refund_date"].reindex(df.index)
                dated = has & (day.notna() & (day != df["order_date"])).to_numpy()
            df = df.assign(amount=df["amount"] - r.where(has & ~dated, 0.0))
            if dated.any():  # a return of its own, dated when the money went back
                back = df[dated].assign(order_date=day[dated], amount=-r[dated])
                if "order_id" in back:
                    oid = back["order_id"]
                    back = back.assign(order_id=oid.where(oid == "", oid + " (refund)"))
                start = int(df.index.max()) + 1
                back.index = pd.RangeIndex(start, start + len(back))
                if is_dictionary(df["customer_id"]):
                    df = df.assign(customer_id=df["customer_id"].astype("str"))
                    back = back.assign(customer_id=back["customer_id"].astype("str"))
                df = pd.concat([df, back])
            when = (f"{int(dated.sum())} dated by {inp.refund_date}, the others in the order's period"
                    if dated.any() else "each in the order's period")
            result.warnings.append(f"{display}: {_plural(int(has.sum()), 'refund')} ({r[has].sum():,.2f}) "
                                   f"lower revenue ({when})")
    return df


def _fold_subscriptions(result: Table, parsed: dict[str, pd.Series], in_cents: bool = False) -> pd.DataFrame:
    """One row per subscription -> one customer each, and every subscription's
    paying span kept beside them (``result.subscriptions``: customer_id, start, end,
    mrr). A subscription pays from its trial's end (else its start) to its end
    (cancel at period end: the period's end); a customer is one while one of their
    subscriptions pays, so one who ends every subscription and later starts a new
    one is lost, then reactivated. The customer's row holds the first paying day
    (signup_date) and the end of the last subscription (churn_date, empty while one
    is open), and the other columns of their latest subscription. Trials that ended
    before paying, and those still running at the end of the export, make no
    customer."""
    df, display = result.df, result.display
    start = df["signup_date"]
    end = df["churn_date"] if "churn_date" in df else pd.Series(pd.NaT, index=df.index, dtype="datetime64[s]")
    # the last day the export knows of: its latest start or end (ends scheduled at a
    # period's end are not known yet)
    known = max(start.max(), end.max()) if end.notna().any() else start.max()
    if "cancel" in parsed and "period_end" in parsed:
        cancel = parsed["cancel"].reindex(df.index).fillna(False).astype(bool)
        end = end.where(end.notna() | ~cancel, parsed["period_end"].reindex(df.index))
    paying = start
    if "trial_end" in parsed:
        trial = parsed["trial_end"].reindex(df.index)
        paying = trial.where(trial.notna() & (trial > start), start)
    never = (end.notna() & (end <= paying)).to_numpy()
    in_trial = ~never & (paying > known).to_numpy()
    keep = ~never & ~in_trial
    k = df[keep].assign(signup_date=paying[keep], churn_date=end[keep])
    k = k.sort_values(["customer_id", "signup_date"], kind="stable")
    mrr = monthly_amount(parsed, k.index, in_cents) if "recurring" in parsed \
        else pd.Series(np.nan, index=k.index, dtype="float64")
    result.subscriptions = pd.DataFrame({"customer_id": k["customer_id"], "start": k["signup_date"],
                                         "end": k["churn_date"], "mrr": mrr}).sort_index()
    who = k["customer_id"].to_numpy()
    ends = k["churn_date"].to_numpy("datetime64[D]").astype(np.int64)
    ends[np.isnat(k["churn_date"].to_numpy("datetime64[D]"))] = np.iinfo(np.int64).max
    covered = pd.Series(ends, index=k.index).groupby(who, sort=False).cummax().groupby(who, sort=False).shift(1)
    starts = k["signup_date"].to_numpy("datetime64[D]").astype(np.int64)
    # a paying day after every earlier subscription of the customer ended: a return
    gap = (covered.notna() & (starts > covered.fillna(0))).to_numpy()
    open_ = k["churn_date"].isna().groupby(who, sort=False).transform("any").to_numpy()
    k = k.assign(signup_date=k["signup_date"].groupby(who, sort=False).transform("min"),
                 churn_date=k["churn_date"].groupby(who, sort=False).transform("max").where(~open_))
    folded = k[~k["customer_id"].duplicated(keep="last")].sort_index()
    result.warnings.append(f"{display}: {_plural(int(keep.sum()), 'paying subscription')} of "
                           f"{_plural(len(folded), 'customer')} (a customer while a subscription pays, after any "
                           "trial)")
    if never.any():
        had_trial = (paying > start).to_numpy()  # a trial that ended with the subscription; else none at all
        if (never & had_trial).any():
            result.warnings.append(f"{display}: {_plural(int((never & had_trial).sum()), 'trial')} that ended "
                                   "before paying left out")
        if (never & ~had_trial).any():
            result.warnings.append(f"{display}: {_plural(int((never & ~had_trial).sum()), 'subscription')} that "
                                   "ended the day it started (or before) left out: never paying")
    if in_trial.any():
        result.warnings.append(f"{display}: {_plural(int(in_trial.sum()), 'subscription')} still in trial at the "
                               "end of the export left out")
    if gap.any():
        n = len(set(who[gap]))
        result.warnings.append(f"{display}: {_plural(n, 'customer')} ended every subscription and later started "
                               "a new one: lost, then reactivated")
    result.excluded_rows += int(never.sum() + in_trial.sum())
    return folded
