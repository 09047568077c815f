"""Order lines of the customer-facts tests (``engines.facts``), on DuckDB and Spark."""

# A: two purchases 20 days apart (one stretch under a 30-day window), one 54 days
# later (a second stretch), a second order on that day, a return after it; B only
# returned; C's one order has two lines dated a month apart (dated by the earlier).
LINES_WITH_STRETCHES = ("customer_id,order_id,order_date,amount\n"
                        "A,a1,2024-01-01,10\nA,a2,2024-01-21,5\nA,a3,2024-03-15,8\nA,a4,2024-03-15,2\n"
                        "B,b1,2024-02-01,-4\nA,a5,2024-03-20,-8\nC,c1,2024-02-27,1\nC,c1,2024-03-27,1\n")


def spy_on_orders(monkeypatch) -> list[tuple[bool, bool]]:
    """Record each ``tables._orders_of`` call as (asked for the facts, the engine gave them)."""
    from retention_cli.io.readers import tables

    asked: list[tuple[bool, bool]] = []
    real = tables._orders_of

    def spy(*a, facts=False):  # facts: False, True (churn, cohorts) or "sums" (purchases)
        got = real(*a, facts=facts)
        asked.append((facts, got is not None))
        return got

    monkeypatch.setattr(tables, "_orders_of", spy)
    return asked


def local_then_engine(cli, args: tuple, asked: list, engine: str = "duckdb"):
    """``args`` run on local, then on ``engine`` with ``asked`` (``spy_on_orders``)
    holding that run's calls only; both must succeed. (local's run, the engine's)"""
    local = cli(*args)
    asked.clear()
    other = cli(*args, "--engine", engine)
    assert local.exit_code == other.exit_code == 0, other.stderr
    return local, other


# Three months of a shop (hand-worked in test_facts): A buys two products in January
# and more in February; B buys in January, returns in February, comes back in March;
# C's first order (February) has two lines of two products, its second is smaller.
SHOP_LINES = ("customer_id,order_id,order_date,product_id,amount\n"
              "A,a1,2024-01-05,p1,10\nA,a2,2024-01-20,p2,5\nB,b1,2024-01-10,p1,20\nA,a3,2024-02-03,p1,30\n"
              "B,b2,2024-02-14,p1,-20\nC,c1,2024-02-20,p3,7\nC,c1,2024-02-20,p4,3\nB,b3,2024-03-01,p2,8\n"
              "C,c2,2024-03-02,p3,4\n")


def close_csv(local: str, other: str, rel: float = 1e-9) -> None:
    """Two CSV outputs with the same rows and columns, text equal, numbers within
    ``rel`` of each other (SPEC §10: counts exact, sums within 1e-9 relative; a
    figure written as whole is a count and must be equal). Money is written in
    cents: two sums within 1e-9 of each other on either side of a half cent are
    written a cent apart (5.5 / 4 orders = 1.375 exactly, 1.3750000000000002 as
    floats add it up), so figures of two decimals may differ by that cent."""
    import csv
    import io
    import math

    a, b = list(csv.reader(io.StringIO(local))), list(csv.reader(io.StringIO(other)))
    assert len(a) == len(b) and a[0] == b[0], (a[:1], b[:1])
    for row_a, row_b in zip(a[1:], b[1:]):
        for name, x, y in zip(a[0], row_a, row_b):
            if x == y:
                continue
            try:
                fx, fy = float(x), float(y)
            except ValueError:
                raise AssertionError(f"{name}: {x!r} != {y!r}") from None
            cents = len(x.split(".")[-1]) <= 2 and len(y.split(".")[-1]) <= 2
            assert "." in x and (math.isclose(fx, fy, rel_tol=rel, abs_tol=1e-12)
                                 or cents and abs(fx - fy) <= 0.01 + rel * abs(fx)), f"{name}: {x} != {y}"
