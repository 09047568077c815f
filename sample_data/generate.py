"""Make the sample exports of a fictional retailer, "Maison Lumière" (home goods),
over three calendar years (2023-01-01 to 2025-12-31). Seeded: the same bytes every run.

    python sample_data/generate.py          # writes next to this script

The data tells the story of the customer-service literature, so the KPIs show it:
- very satisfied customers (CSAT 5) leave far less often than merely satisfied
  ones (CSAT 4); promoters leave less than detractors;
- complainers whose problem is solved within two days nearly all come back;
  those solved late come back less; unresolved ones mostly leave;
- most recorded churn reasons are about how customers were treated.

Files, each in the style of a real export:
- customers.csv        UTF-8 with BOM (an Excel export), comma separated, ISO dates
- commandes.csv        French accounting export: ';', cp1252, decimal comma,
                       dd/mm/yyyy, French headers; one row per order line, returns
                       as negative lines under their own order number; the line's
                       cost price ("Coût de revient"), empty for the few products
                       the costing does not cover yet
- complaints.csv       helpdesk export: ISO timestamps, some never resolved
- survey_responses.csv.gz  gzipped survey dump: NPS (0-10) and CSAT (1-5)
- invoices.csv         the trade customers' invoices (accounting system export):
                       one per order, a credit note per return; late, unpaid and
                       disputed ones, worse among the customers who leave

The costs and the invoices are drawn from generators of their own, after the rest:
adding them changed no value of the other columns and files.
"""

from __future__ import annotations

import gzip
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20230101
INVOICE_SEED = 20230102
COST_SEED = 20230103
N_CUSTOMERS = 2000
START = date(2023, 1, 1)
END = date(2026, 1, 1)  # exclusive
DAYS = (END - START).days

# Satisfaction levels: share of customers, CSAT score, monthly churn hazard.
# Seed 004: "very satisfied" and "relatively satisfied" customers can differ by up
# to 50 points of loyalty; the hazards below give such a gap over a year.
LEVELS = {
    "very_satisfied": (0.35, 0.006),
    "satisfied": (0.35, 0.045),
    "neutral": (0.15, 0.06),
    "dissatisfied": (0.15, 0.09),
}
COMPLAINT_PROB = {"very_satisfied": 0.04, "satisfied": 0.10, "neutral": 0.22, "dissatisfied": 0.45}
# Outcome of a complaint: share, probability of leaving within 60 days (seed 000:
# 95 % of those resolved fast come back, 54-70 % of those resolved, few others).
OUTCOMES = {"fast": (0.55, 0.05), "slow": (0.30, 0.40), "unresolved": (0.15, 0.85)}
# Seed benchmark of why customers leave, with the free text a CRM would hold.
REASONS = [
    ("treatment", 0.68, ["poor service", "unfriendly staff", "complaint not answered", "felt ignored"]),
    ("product", 0.14, ["product quality", "broken item"]),
    ("competition", 0.09, ["competitor"]),
    ("alternatives", 0.05, ["found alternative"]),
    ("moved", 0.03, ["moved away"]),
    ("died", 0.01, ["deceased"]),
]


def day(n: float) -> date:
    return START + timedelta(days=int(n))


def generate(rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    names = list(LEVELS)
    level = rng.choice(names, size=N_CUSTOMERS, p=[LEVELS[n][0] for n in names])
    first = np.sort(rng.integers(0, DAYS, size=N_CUSTOMERS))
    loyalty = rng.random(N_CUSTOMERS) < 0.35
    segment = rng.choice(["retail", "trade", "online"], size=N_CUSTOMERS, p=[0.6, 0.15, 0.25])
    country = rng.choice(["FR", "BE", "CH", "LU"], size=N_CUSTOMERS, p=[0.7, 0.15, 0.1, 0.05])
    rate = rng.gamma(2.0, 0.35 / 30 / 2.0, size=N_CUSTOMERS) * np.where(loyalty, 1.3, 1.0)  # orders per day
    spend_level = rng.gamma(4.0, 0.25, size=N_CUSTOMERS)  # some customers buy dearer things than others

    customers, lines, complaints, responses = [], [], [], []
    order_no, complaint_no, response_no = 100000, 5000, 1
    for i in range(N_CUSTOMERS):
        cid = f"C{i + 1:05d}"
        lvl = level[i]
        hazard = LEVELS[lvl][1] / 30
        f = int(first[i])
        churn = f + rng.exponential(1 / hazard)
        outcome = None
        if rng.random() < COMPLAINT_PROB[lvl] and min(churn, DAYS) - f > 5:
            t_c = f + rng.uniform(1, min(churn, DAYS) - f)
            out_names = list(OUTCOMES)
            outcome = rng.choice(out_names, p=[OUTCOMES[o][0] for o in out_names])
            leaves = rng.random() < OUTCOMES[outcome][1]
            # a complainer who leaves does so within a week (seed 000: they do not come back)
            churn = t_c + (rng.uniform(1, 7) if leaves else rng.exponential(1 / (hazard * (0.6 if outcome == "fast" else 1.5))))
            opened = START + timedelta(days=float(t_c))
            hour = int(rng.integers(8, 19))
            resolved = ""
            if outcome == "fast":
                resolved_dt = day(t_c) + timedelta(days=int(rng.integers(0, 3)))
            elif outcome == "slow":
                resolved_dt = day(t_c) + timedelta(days=int(rng.integers(3, 30)))
            else:
                resolved_dt = None
            if resolved_dt is not None and resolved_dt < END:
                resolved = f"{resolved_dt.isoformat()}T{int(rng.integers(8, 19)):02d}:{int(rng.integers(0, 60)):02d}:00"
            complaint_no += 1
            complaints.append({
                "complaint_id": f"T{complaint_no}", "customer_id": cid,
                "opened_date": f"{opened.isoformat()}T{hour:02d}:{int(rng.integers(0, 60)):02d}:00",
                "resolved_date": resolved, "status": "resolved" if resolved else "open",
                "category": rng.choice(["delivery", "product", "billing", "staff"], p=[0.4, 0.3, 0.15, 0.15]),
                "channel": rng.choice(["phone", "email", "store"], p=[0.45, 0.4, 0.15]),
            })
        stop = min(churn, DAYS)
        # purchases: the first on day f, then a Poisson process until the customer leaves
        t = float(f)
        while t < stop:
            order_no += 1
            n_lines = int(rng.choice([1, 2, 3], p=[0.55, 0.3, 0.15]))
            products = rng.choice(120, size=n_lines, replace=False) + 1
            amounts = []
            for p in products:
                qty = int(rng.choice([1, 2, 3], p=[0.7, 0.2, 0.1]))
                price = round(float(rng.choice([4.9, 9.9, 14.5, 19.9, 29.0, 39.9, 59.0, 89.0, 129.0])) * spend_level[i], 2)
                amounts.append(round(qty * price, 2))
                lines.append((cid, f"A{order_no}", day(t), f"P{p:03d}", qty, round(qty * price, 2)))
            if rng.random() < 0.04:  # a return a few days later, under its own number
                r_day = t + int(rng.integers(3, 21))
                if r_day < DAYS:
                    lines.append((cid, f"R{order_no}", day(r_day), lines[-1][3], -lines[-1][4], -amounts[-1]))
            t += rng.exponential(1 / rate[i]) + 1
        # survey answers during the customer's life
        if rng.random() < 0.4 and stop - f > 1:
            for _ in range(int(rng.integers(1, 3))):
                when = day(rng.uniform(f, stop))
                csat = {"very_satisfied": 5, "satisfied": 4, "neutral": 3}.get(lvl) or int(rng.integers(1, 3))
                if rng.random() < 0.15:  # people are not perfectly consistent
                    csat = int(np.clip(csat + rng.choice([-1, 1]), 1, 5))
                nps_lo, nps_hi = {"very_satisfied": (9, 10), "satisfied": (7, 9), "neutral": (5, 8), "dissatisfied": (0, 6)}[lvl]
                response_no += 1
                responses.append({
                    "response_id": f"S{response_no:05d}", "customer_id": cid, "answered_date": when.isoformat(),
                    "nps_score": int(rng.integers(nps_lo, nps_hi + 1)), "csat_score": csat,
                })
        signup = day(f) - timedelta(days=int(rng.integers(0, 21)))
        contact = signup - timedelta(days=int(rng.integers(0, 90))) if rng.random() < 0.5 else None
        churn_date, reason = None, ""
        if churn < DAYS:
            churn_date = day(churn)  # the first day no longer a customer
            if rng.random() < 0.7:
                if outcome in ("slow", "unresolved"):
                    group = REASONS[0]
                else:
                    group = REASONS[int(rng.choice(len(REASONS), p=[r[1] for r in REASONS]))]
                reason = str(rng.choice(group[2]))
        customers.append({
            "customer_id": cid, "signup_date": signup.isoformat(), "segment": segment[i], "country": country[i],
            "loyalty_member": "yes" if loyalty[i] else "no",
            "first_contact_date": contact.isoformat() if contact else "",
            "churn_date": churn_date.isoformat() if churn_date else "", "churn_reason": reason,
        })
    purchases = pd.DataFrame(lines, columns=["N° client", "N° commande", "Date commande", "Réf. produit", "Quantité", "Montant TTC"])
    purchases = purchases.sort_values(["Date commande", "N° commande"], kind="stable")
    dates = purchases["Date commande"]
    purchases["Date commande"] = pd.to_datetime(purchases["Date commande"]).dt.strftime("%d/%m/%Y")
    amounts = purchases["Montant TTC"].to_numpy()
    purchases["Montant TTC"] = purchases["Montant TTC"].map(lambda v: f"{v:.2f}".replace(".", ","))
    purchases["Coût de revient"] = cost_prices(purchases["Réf. produit"], amounts, np.random.default_rng(COST_SEED))
    customers = pd.DataFrame(customers)
    bills = pd.DataFrame({"customer_id": purchases["N° client"], "order_id": purchases["N° commande"],
                          "order_date": dates, "amount": amounts})
    return {
        "customers": customers,
        "purchases": purchases,
        "complaints": pd.DataFrame(complaints).sort_values("opened_date", kind="stable"),
        "responses": pd.DataFrame(responses).sort_values(["answered_date", "response_id"], kind="stable"),
        "invoices": invoices(bills, customers, np.random.default_rng(INVOICE_SEED)),
    }


def cost_prices(products: pd.Series, amounts: np.ndarray, rng: np.random.Generator) -> list[str]:
    """The cost price of each line, as the accounting export writes it: each product
    costs a share of its price (55-75 %: a gross margin near 35 %, what the config's
    economics.gross_margin assumed before costs were exported); a return's cost comes
    back with it (negative). The last three products are new and not costed yet: empty."""
    share = rng.uniform(0.55, 0.75, size=121)  # per product number (1-120)
    number = products.str[1:].astype(int).to_numpy()
    cost = np.round(share[number] * amounts, 2)
    return ["" if n > 117 else f"{c:.2f}".replace(".", ",") for n, c in zip(number, cost)]


def invoices(purchases: pd.DataFrame, customers: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The invoices of the trade customers: one per order (its lines summed), a
    credit note per return. Each customer pays promptly, late or very late; those
    who leave pay worse and often leave their last bills unpaid or disputed. Terms
    are 30 days (the due date left empty, as the accounting system does) or 45."""
    trade = customers.loc[customers["segment"] == "trade", ["customer_id", "churn_date"]]
    lines = purchases[purchases["customer_id"].isin(trade["customer_id"])]
    orders = (lines.groupby(["customer_id", "order_id"], sort=False)
              .agg(invoice_date=("order_date", "first"), amount=("amount", "sum")).reset_index())
    orders = orders.sort_values(["invoice_date", "order_id"], kind="stable").reset_index(drop=True)
    # payment habits per customer: prompt, late, very late; customers who leave pay worse
    leaving = (trade.set_index("customer_id")["churn_date"] != "")
    profile = pd.Series(np.where(leaving, rng.choice(3, len(trade), p=[0.35, 0.40, 0.25]),
                                 rng.choice(3, len(trade), p=[0.70, 0.25, 0.05])), index=trade["customer_id"])
    terms = pd.Series(rng.choice([30, 30, 30, 45], len(trade)), index=trade["customer_id"])
    n = len(orders)
    issued = orders["invoice_date"].to_numpy()
    prof = profile.reindex(orders["customer_id"]).to_numpy()
    term = terms.reindex(orders["customer_id"]).to_numpy()
    due = [d + timedelta(days=int(t)) for d, t in zip(issued, term)]
    u = rng.random(n)
    delay = np.select([prof == 0, prof == 1], [rng.integers(-20, 1, n), rng.integers(1, 41, n)],
                      rng.integers(20, 151, n))
    disputed = rng.random(n) < np.where(prof == 2, 0.10, 0.02)
    delay = np.where(disputed, delay + rng.integers(20, 90, n), delay)
    never = (u < np.where(prof == 2, 0.12, 0.01)) | (disputed & (rng.random(n) < 0.3))
    # customers who leave often leave their last bills unpaid (or disputed)
    churn = pd.to_datetime(trade.set_index("customer_id")["churn_date"]).reindex(orders["customer_id"])
    near_end = (pd.to_datetime(pd.Series(issued)) >= churn.to_numpy() - pd.Timedelta(days=150)).to_numpy()
    last_bills = near_end & (rng.random(n) < 0.6)
    disputed |= last_bills & (rng.random(n) < 0.3)
    never |= last_bills
    prepaid = (prof == 0) & (rng.random(n) < 0.02)
    paid = []
    for i in range(n):  # a few thousand invoices: a loop reads best here
        if never[i]:
            paid.append(None)
            continue
        p = issued[i] - timedelta(days=int(rng.integers(1, 4))) if prepaid[i] else \
            max(issued[i], due[i] + timedelta(days=int(delay[i])))
        paid.append(p if p < END else None)
    credit = orders["amount"].to_numpy() < 0
    return pd.DataFrame({
        "Invoice ID": ["FA" + o[1:] if not c else "AV" + o[1:] for o, c in zip(orders["order_id"], credit)],
        "Customer ID": orders["customer_id"],
        "Invoice Date": [d.isoformat() for d in issued],
        # the accounting system leaves the due date empty for standard 30-day terms
        "Due Date": ["" if c or t == 30 else d.isoformat() for d, t, c in zip(due, term, credit)],
        "Paid Date": ["" if c or p is None else p.isoformat() for p, c in zip(paid, credit)],
        "Amount": np.round(orders["amount"].to_numpy(), 2),
        "Disputed": np.where(disputed & ~credit, "yes", "no"),
        "Status": np.where(credit, "credit note", np.where([p is None for p in paid],
                                                            np.where(disputed, "disputed", "open"), "paid")),
    })


def main() -> None:
    here = Path(__file__).resolve().parent
    data = generate(np.random.default_rng(SEED))
    (here / "customers.csv").write_bytes(b"\xef\xbb\xbf" + data["customers"].to_csv(index=False, lineterminator="\r\n").encode("utf-8"))
    (here / "commandes.csv").write_bytes(data["purchases"].to_csv(index=False, sep=";", lineterminator="\r\n").encode("cp1252"))
    (here / "complaints.csv").write_bytes(data["complaints"].to_csv(index=False, lineterminator="\n").encode("utf-8"))
    raw = data["responses"].to_csv(index=False, lineterminator="\n").encode("utf-8")
    (here / "survey_responses.csv.gz").write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
    (here / "invoices.csv").write_bytes(data["invoices"].to_csv(index=False, lineterminator="\n").encode("utf-8"))
    for name, df in data.items():
        print(f"{name}: {len(df)} rows")


if __name__ == "__main__":
    main()
