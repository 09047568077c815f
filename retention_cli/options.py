"""The options every command shares, after typer has parsed them (kept free of
heavy imports: ``retention --help`` must not load pandas)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass
class Options:
    """``None`` means not given on the command line nor in a ``RETENTION_*``
    environment variable; the config or the default then applies."""

    config: str | None = None
    customers: str | None = None
    purchases: str | None = None
    complaints: str | None = None
    responses: str | None = None
    invoices: str | None = None
    period: str | None = None
    from_: str | None = None
    to: str | None = None
    freq: str | None = None
    as_of: date | None = None
    by: list[str] = field(default_factory=list)
    format: str | None = None
    output: str | None = None
    quiet: bool = False
    verbose: bool = False
    no_color: bool = False
    engine: str | None = None
