"""Order lines written by the engine tests: a shop whose orders the engines make."""

from __future__ import annotations


# Orders made in the engine (SPEC §1 order lines, §10): the lines of one order summed
# there, one after the other in the order of the lines, as the process sums them.
# O1's three amounts sum to 0.6000000000000001 that way and to 0.6 in another order;
# O2's lines are dated two days apart (the later one is the data's latest event).
LINES = ("customer_id,order_id,order_date,amount\n"
         "C1,O1,2024-01-05,0.1\nC1,O1,2024-01-05,0.2\nC1,O1,2024-01-05,0.3\n"
         "C2,O2,2024-02-10,5\nC3,O3,2024-02-11,7.5\nC2,O2,2024-03-02,1\n"
         "C3,O4,2024-03-01,-7.5\nC9,O5,2024-02-20,3\n")

# O1: 0.1 and 0.2 are added exactly (0.3), then 0.55926, 0.62013 and 0.94062 (five
# places) after them, in the order of the lines (2.1200099999999997; in the reverse
# order 2.12001); O2: a float's tail (3 x 19.99 as floats) and its refund; O3: a
# refund line by line (0, not -1.8e-15); O4: 346359082612.8381 is 3463590826128381
# ten-thousandths though its float times 10**4 is ...80.5, a half (each engine rounds
# a half its own way): 346359082612.8388 with 0.0007
MORE_PLACES = ("customer_id,order_id,order_date,amount\nC1,O1,2024-01-05,0.55926\nC1,O1,2024-01-05,0.1\n"
               "C1,O1,2024-01-05,0.62013\nC1,O1,2024-01-05,0.2\nC1,O1,2024-01-05,0.94062\n"
               "C2,O2,2024-01-06,59.970000000000006\n"
               "C2,O2,2024-01-06,-59.97\nC3,O3,2024-02-01,10.10\nC3,O3,2024-02-01,5.05\n"
               "C3,O3,2024-02-02,-15.15\nC3,O4,2024-02-03,346359082612.8381\nC3,O4,2024-02-03,0.0007\n")
MORE_PLACES_SUMS = [0.3 + ((0.55926 + 0.62013) + 0.94062), -59.97 + 59.970000000000006, 0.0, 346359082612.8388]
MORE_PLACES_LINES = [5, 2, 3, 2]


def shop(tmp_path, purchases: str = LINES):
    (tmp_path / "p.csv").write_text(purchases)
    (tmp_path / "c.csv").write_text("customer_id,signup_date\nC1,2024-01-01\nC2,2024-01-01\nC3,2024-01-01\n")
    (tmp_path / "retention.yaml").write_text("inputs:\n  purchases: {path: p.csv}\n  customers: {path: c.csv}\n"
                                             "churn: {inactivity_days: 30}\n")


def read_purchases(tmp_path, engine: str):
    from retention_cli.config import load_config
    from retention_cli.io.readers.tables import read_table
    from retention_cli.session import ORDER_COLUMNS

    cfg = load_config(tmp_path / "retention.yaml")
    return read_table("purchases", cfg.input("purchases"), cfg, columns=ORDER_COLUMNS,
                      engine=cfg.engine.model_copy(update={"name": engine}), orders=True)


def typed_shop(tmp_path, amount_type=None, date_type=None):
    """LINES as a Parquet file with typed columns: order ids as whole numbers, dates
    as timestamps (O2's later line at a time of day), amounts as doubles."""
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [line.split(",") for line in LINES.splitlines()[1:]]
    stamps = [dt.datetime.fromisoformat(r[2]) for r in rows]
    stamps[5] = stamps[5].replace(hour=17, minute=30)
    amounts = pa.array([float(r[3]) for r in rows])
    pq.write_table(pa.table({
        "customer_id": pa.array([r[0] for r in rows]),
        "order_id": pa.array([int(r[1][1:]) for r in rows], pa.int64()),
        "order_date": pa.array(stamps, date_type or pa.timestamp("us")),
        "amount": amounts.cast(amount_type) if amount_type is not None else amounts,
    }), tmp_path / "p.parquet")
    shop(tmp_path)
    (tmp_path / "retention.yaml").write_text((tmp_path / "retention.yaml").read_text().replace("p.csv", "p.parquet"))
