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

    def spy(*a, facts=False):
        got = real(*a, facts=facts)
        asked.append((facts, got is not None))
        return got

    monkeypatch.setattr(tables, "_orders_of", spy)
    return asked
