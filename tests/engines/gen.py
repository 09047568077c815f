"""Generated inputs for the engine tests: every table, with order lines, returns,
segments, gaps, customers unknown to the customers file, and (``bad=True``) bad
values, written as CSV. Seeded: the same files every run."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import numpy as np

START = date(2023, 1, 1)


def _day(n: int) -> str:
    return (START + timedelta(days=int(n))).isoformat()


def write_inputs(folder: Path, *, customers: int = 80, seed: int = 7, bad: bool = False) -> dict[str, Path]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    ids = [f"C{i:04d}" for i in range(customers)]
    signup = rng.integers(0, 400, customers)
    with open(folder / "customers.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["customer_id", "signup_date", "segment", "loyalty_member", "churn_date", "churn_reason"])
        for i, c in enumerate(ids):
            churned = rng.random() < 0.3
            w.writerow([c, _day(signup[i]), ["retail", "pro", "vip"][i % 3], "yes" if i % 4 == 0 else "no",
                        _day(signup[i] + rng.integers(30, 300)) if churned else "",
                        rng.choice(["price", "service", ""]) if churned else ""])
    paths["customers"] = folder / "customers.csv"
    rows = []
    order = 0
    for i, c in enumerate(ids + ["X9001", "X9002"]):  # two customers unknown to the customers file
        first = signup[i] if i < customers else 200
        n = int(rng.integers(0, 12))
        day = int(first)
        for _ in range(n):
            day += int(rng.integers(5, 120))  # gaps, some longer than the window
            if day > 720:
                break
            order += 1
            for line in range(int(rng.integers(1, 4))):  # order lines
                amount = round(float(rng.gamma(2.0, 20.0)), 2)
                if rng.random() < 0.05:
                    amount = -amount  # a return
                rows.append([f"O{order:05d}", c, _day(day + (1 if line == 2 else 0)), f"{amount:.2f}",
                             f"P{int(rng.integers(1, 30)):02d}", ["web", "shop"][order % 2]])
    if bad:
        rows[5][2] = "2024-02-30"   # no such day
        rows[17][3] = "12,5x"        # not a number
        rows[40][1] = ""             # no customer
    with open(folder / "purchases.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["order_id", "customer_id", "order_date", "amount", "product_id", "channel"])
        w.writerows(rows)
    paths["purchases"] = folder / "purchases.csv"
    with open(folder / "complaints.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["complaint_id", "customer_id", "opened_date", "resolved_date", "status", "category"])
        for k in range(60):
            c = ids[int(rng.integers(0, customers))]
            opened = int(rng.integers(0, 700))
            resolved = _day(opened + rng.integers(0, 20)) if rng.random() < 0.8 else ""
            when = _day(opened) + ("T10:30:00" if k % 3 == 0 else "")  # timestamps and dates in one column
            w.writerow([f"T{k:04d}", c, when, resolved, "resolved" if resolved else "open",
                        rng.choice(["product", "delivery", "staff"])])
    paths["complaints"] = folder / "complaints.csv"
    with open(folder / "responses.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["customer_id", "answered_date", "nps_score", "csat_score"])
        for k in range(90):
            w.writerow([ids[int(rng.integers(0, customers))], _day(rng.integers(0, 720)),
                        int(rng.integers(0, 11)), int(rng.integers(1, 6)) if k % 3 else ""])
    paths["responses"] = folder / "responses.csv"
    with open(folder / "invoices.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["invoice_id", "customer_id", "invoice_date", "due_date", "paid_date", "amount"])
        for k in range(70):
            issued = int(rng.integers(0, 700))
            paid = _day(issued + rng.integers(0, 60)) if rng.random() < 0.7 else ""
            w.writerow([f"F{k:04d}", ids[int(rng.integers(0, customers))], _day(issued), _day(issued + 30), paid,
                        f"{float(rng.gamma(2.0, 30.0)):.2f}"])
    paths["invoices"] = folder / "invoices.csv"
    return paths


def config(folder: Path, paths: dict[str, Path] | None = None, *, engine: str | None = None,
           policy: str = "error", extra: str = "") -> Path:
    """A config over the generated files (or ``paths``: table -> path text)."""
    paths = paths or {t: folder / f"{t}.csv" for t in ("customers", "purchases", "complaints", "responses", "invoices")}
    def shown(p) -> str:  # relative to the config's folder when inside it (messages name it so)
        if isinstance(p, str):  # as written (a glob, a URL)
            return p
        return str(p.relative_to(folder)) if p.is_absolute() and p.is_relative_to(folder) else str(p)

    lines = ["inputs:"] + [f"  {t}: {{path: '{shown(p)}'}}" for t, p in paths.items()]
    if engine:
        lines.append(f"engine: {engine}")
    lines.append(f"on_bad_rows: {policy}")
    lines.append("churn: {inactivity_days: 90}")
    text = "\n".join(lines) + "\n" + extra
    p = folder / "retention.yaml"
    p.write_text(text)
    return p


def split_by_month(src: Path, folder: Path) -> list[str]:
    """The purchases file as one file per month in ``folder`` (each with the
    header), named by its month; the months, sorted."""
    with open(src, newline="") as f:
        header, *rows = list(csv.reader(f))
    folder.mkdir()
    months: dict[str, list] = {}
    for r in rows:
        months.setdefault(r[2][:7], []).append(r)
    for m, rs in months.items():
        with open(folder / f"{m}.csv", "w", newline="") as f:
            csv.writer(f).writerows([header, *rs])
    return sorted(months)
