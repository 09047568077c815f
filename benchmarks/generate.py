"""Seeded generator of realistic exports at any size, for the benchmarks.

    python benchmarks/generate.py --rows 10M --out benchmarks/data/10M

Writes customers.csv (id, signup_date, segment, loyalty_member), purchases.csv
(order lines: customer_id, order_id, order_date, product_id, quantity, amount, with
multi-line orders and about 3 % returns as negative lines under their own order
number; customers leave after a lifetime of their own and buy while alive),
complaints.csv and responses.csv (dated while the customer is one), and a retention.yaml
mapping them.
Customers are rows / 10; three years of history (2022-01-01 .. 2024-12-31).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

START = np.datetime64("2022-01-01")
DAYS = 3 * 365 + 1


def size(text: str) -> int:
    t = text.strip().upper()
    mult = {"K": 1_000, "M": 1_000_000}.get(t[-1], 1)
    return int(float(t[:-1] if t[-1] in "KM" else t) * mult)


def ids(prefix: str, n: np.ndarray, width: int) -> pa.Array:
    s = pc.utf8_lpad(pa.array(n).cast(pa.large_string()), width, "0")  # large: 100M ids pass 2 GiB
    return pc.binary_join_element_wise(pa.scalar(prefix, pa.large_string()), s, pa.scalar("", pa.large_string()))


def generate(rows: int, out: Path, seed: int = 42) -> None:
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    n_cust = max(rows // 10, 1)
    first = rng.integers(0, DAYS - 1, n_cust)
    segment = rng.choice(np.array(["retail", "trade", "online"]), n_cust, p=[0.6, 0.15, 0.25])
    pcsv.write_csv(pa.table({
        "customer_id": ids("C", np.arange(n_cust), 7),
        "signup_date": pa.array(START + first.astype("timedelta64[D]")),
        "segment": pa.array(segment),
        "loyalty_member": pa.array(rng.random(n_cust) < 0.3),
    }), out / "customers.csv")

    # lines: each line belongs to an order; orders to customers, heavier for some
    lines_per_order = rng.choice([1, 2, 3], size=rows, p=[0.6, 0.28, 0.12])
    n_orders = int(np.searchsorted(np.cumsum(lines_per_order), rows)) + 1
    lines_per_order = lines_per_order[:n_orders]
    lines_per_order[-1] -= int(lines_per_order.sum() - rows)
    # customers leave (SPEC's churn, and what BG/NBD and Pareto/NBD model): each lives
    # an exponential time whose mean varies between customers (gamma, shape 1, mean
    # 400 days: the median life is about 160 days, 70 % are gone within a year); while
    # alive, a customer buys at a rate of their own (gamma weights), so an order goes
    # to a customer in proportion to weight x days alive within the data
    life = rng.exponential(rng.gamma(1.0, 400.0, n_cust)) + 1
    alive = np.minimum(first + life, DAYS).astype(np.int64) - first
    weight = rng.gamma(1.2, 1.0, n_cust) * np.maximum(alive, 1)
    order_cust = rng.choice(n_cust, size=n_orders, p=weight / weight.sum())
    # an order is dated on a day its customer is alive (from their first day)
    span = np.maximum(alive[order_cust], 1)
    order_day = first[order_cust] + (rng.random(n_orders) * span).astype(np.int64)
    is_first = np.zeros(n_orders, dtype=bool)
    order = np.lexsort((order_day, order_cust))
    firsts = order[np.concatenate([[True], order_cust[order][1:] != order_cust[order][:-1]])]
    order_day[firsts] = first[order_cust[firsts]]  # the first order on the customer's first day
    is_first[firsts] = True
    is_return = (rng.random(n_orders) < 0.03) & ~is_first
    line_order = np.repeat(np.arange(n_orders), lines_per_order)
    qty = rng.choice([1, 2, 3], size=rows, p=[0.7, 0.2, 0.1])
    price = rng.choice(np.array([4.9, 9.9, 14.5, 19.9, 29.0, 39.9, 59.0, 89.0, 129.0]), size=rows)
    amount = np.round(qty * price, 2) * np.where(is_return[line_order], -1, 1)
    prefix = np.where(is_return, "R", "A")
    order_id = pc.binary_join_element_wise(pa.array(prefix[line_order], pa.large_string()), pc.utf8_lpad(pa.array(line_order).cast(pa.large_string()), 9, "0"), pa.scalar("", pa.large_string()))
    pcsv.write_csv(pa.table({
        "customer_id": ids("C", order_cust[line_order], 7),
        "order_id": order_id,
        "order_date": pa.array(START + order_day[line_order].astype("timedelta64[D]")),
        "product_id": ids("P", rng.integers(0, 5000, rows), 4),
        "quantity": pa.array(qty),
        "amount": pa.array(amount),
    }), out / "purchases.csv")

    n_comp = max(rows // 200, 1)
    c_cust = rng.integers(0, n_cust, n_comp)
    opened = first[c_cust] + (rng.random(n_comp) * np.maximum(alive[c_cust], 1)).astype(np.int64)  # while a customer
    resolved = opened + rng.integers(0, 20, n_comp)
    resolved_dates = pa.array(START + resolved.astype("timedelta64[D]"), mask=rng.random(n_comp) < 0.15)
    pcsv.write_csv(pa.table({
        "complaint_id": ids("T", np.arange(n_comp), 8), "customer_id": ids("C", c_cust, 7),
        "opened_date": pa.array(START + opened.astype("timedelta64[D]")), "resolved_date": resolved_dates,
        "category": pa.array(rng.choice(np.array(["delivery", "product", "billing"]), n_comp)),
    }), out / "complaints.csv")
    n_resp = max(rows // 100, 1)
    r_cust = rng.integers(0, n_cust, n_resp)
    pcsv.write_csv(pa.table({
        "customer_id": ids("C", r_cust, 7),
        "answered_date": pa.array(START + (first[r_cust] + (rng.random(n_resp) * np.maximum(alive[r_cust], 1)).astype(np.int64)).astype("timedelta64[D]")),
        "nps_score": pa.array(rng.integers(0, 11, n_resp)), "csat_score": pa.array(rng.integers(1, 6, n_resp)),
    }), out / "responses.csv")
    (out / "retention.yaml").write_text(
        "inputs:\n  customers: {path: customers.csv}\n  purchases: {path: purchases.csv}\n"
        "  complaints: {path: complaints.csv}\n  responses: {path: responses.csv}\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default="1M", help="purchase rows: 1M, 10M, 250K …")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    out = args.out or Path(__file__).resolve().parent / "data" / args.rows
    generate(size(args.rows), out, args.seed)
    print(out)


if __name__ == "__main__":
    main()
