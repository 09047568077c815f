"""One schema per input table (SPEC §1): what kind each canonical column is.

Kinds: ``id`` (text, stripped, never a number: ``00042`` stays ``00042``),
``date``, ``number``, ``score``, ``bool``, ``text``. ``required`` columns must be
present in the file and non-empty on every row.
"""

from __future__ import annotations

from dataclasses import dataclass

from retention_cli.config import CANONICAL, REQUIRED


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    required: bool = False


_KINDS = {
    "customer_id": "id", "order_id": "id", "product_id": "id", "complaint_id": "id",
    "signup_date": "date", "churn_date": "date", "first_contact_date": "date",
    "order_date": "date", "opened_date": "date", "resolved_date": "date", "answered_date": "date",
    "amount": "number", "quantity": "number", "unit_price": "number",
    "nps_score": "score", "csat_score": "score",
    "loyalty_member": "bool",
    # invoices (collections) and the cost of purchases (gross margin)
    "invoice_id": "id", "invoice_date": "date", "due_date": "date", "paid_date": "date", "disputed": "bool",
    "cost": "number", "unit_cost": "number",
    "churn_reason": "text", "status": "text", "category": "text", "channel": "text",
}

# One column may feed several canonical names (column mapping), when one reading of
# it serves them all: ids and text are both text; a date, a number, a score or a
# yes/no flag only goes with names of its own kind.
KIND_WORDS = {"id": "an id", "text": "text", "date": "a date", "number": "a number", "score": "a score",
              "bool": "a yes/no flag"}
_TEXTUAL = frozenset({"id", "text"})


def compatible_kinds(a: str, b: str) -> bool:
    return a == b or {a, b} <= _TEXTUAL


SCHEMAS: dict[str, tuple[Column, ...]] = {
    table: tuple(Column(c, _KINDS[c], c in REQUIRED[table]) for c in cols)
    for table, cols in CANONICAL.items()
}

# Spellings accepted for loyalty_member (and any yes/no flag), case-insensitive.
TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1", "oui", "o", "x", "vrai", "ja", "si", "sí"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0", "non", "faux", "nein", ""})

NPS_RANGE = (0, 10)


def normalise_header(name: str) -> str:
    """Headers match canonical names case-insensitively, ignoring spaces, - and _."""
    return "".join(ch for ch in str(name).strip().lower() if ch not in " -_")
