"""The YAML config (SPEC §7): pydantic models, loading, line-numbered errors.

The file is read with a safe loader and validated before any data is read. Every
problem is reported as ``retention.yaml:LINE: key.path: problem`` with exit 78:
besides wrong keys, types and values, what cannot be meant (a column name no table
has, a period label that is none, a number that is not finite, an unknown
placeholder, an environment variable that is not set, a key written twice, a
document nested too deep or expanding itself through aliases).
"""

from __future__ import annotations

import difflib
import os
import re
import string
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from retention_cli.errors import ConfigError, UsageError
from retention_cli.periods import Period, parse_label

TABLES = ("customers", "purchases", "complaints", "responses", "invoices")

# Canonical column names per table (SPEC §1); the first ones are required.
CANONICAL: dict[str, tuple[str, ...]] = {
    "customers": ("customer_id", "signup_date", "churn_date", "churn_reason",
                  "loyalty_member", "first_contact_date"),
    "purchases": ("customer_id", "order_date", "amount", "quantity", "unit_price",
                  "order_id", "product_id", "cost", "unit_cost"),
    "complaints": ("customer_id", "opened_date", "resolved_date", "status", "category",
                   "complaint_id", "channel"),
    "responses": ("nps_score", "csat_score", "answered_date", "customer_id"),
    "invoices": ("customer_id", "invoice_date", "amount", "due_date", "paid_date", "invoice_id",
                 "disputed", "status"),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "customers": ("customer_id",),
    "purchases": ("customer_id", "order_date"),
    "complaints": ("customer_id", "opened_date"),
    "responses": (),  # at least one of nps_score, csat_score: checked by the reader
    "invoices": ("customer_id", "invoice_date", "amount"),
}

SECTIONS = ("summary", "churn", "purchases", "cohorts", "satisfaction", "complaints", "wom", "clv", "survival",
            "collections", "mrr")
FORMATS = ("table", "csv", "json", "jsonl")

Fraction = Annotated[float, Field(gt=0, le=1)]


class _Strict(BaseModel):
    # allow_inf_nan=False: YAML's .inf and .nan (and "inf" as text) are not numbers
    # anyone means for a margin, a spend or a reach; every float of every section
    # refuses them ("input should be a finite number").
    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)


def _int_keys_as_text(v: Any) -> Any:
    """YAML reads `2024:` as a number; as a period label it is the text "2024"."""
    if isinstance(v, dict):
        return {str(k) if isinstance(k, int) and not isinstance(k, bool) else k: x for k, x in v.items()}
    return v


class SubscriptionsConfig(_Strict):
    """A customers file of one row per subscription (Stripe, Chargebee): signup_date
    is a subscription's start, churn_date its end; the reader makes one customer of
    each customer's rows and keeps every subscription's paying span (a customer is
    one while a subscription of theirs is paying), with its MRR when an amount is
    named."""

    trial_end: str | None = None              # header of the trial's end: paying starts there
    period_end: str | None = None             # header of the current period's end
    cancel_at_period_end: str | None = None   # header of the flag: the subscription ends at period_end
    # MRR (docs/exports.md): the recurring amount billed every interval_count intervals, × quantity
    amount: str | None = None                 # header of the recurring amount (per interval)
    quantity: str | None = None               # header of the quantity (seats) the amount is multiplied by; empty: 1
    interval: str | None = None               # header of the billing interval: day, week, month, quarter, year
    interval_count: str | None = None         # header of the number of intervals between two bills; empty: 1
    amount_in_cents: bool = False             # the amounts are in cents (the currency's minor unit): ÷ 100


def _texts(v: Any) -> Any:
    """Values compared with a file's cells: numbers (Freshdesk's status 5) as
    written; yes/no/true/false would reach us as booleans, which is never meant."""
    if isinstance(v, (str, int, float)) and not isinstance(v, bool):
        v = [v]
    if isinstance(v, list):
        if any(isinstance(x, bool) for x in v):
            raise ValueError('yes, no, true and false are read by YAML as true/false: quote the value, as "yes"')
        return [str(x) if isinstance(x, (int, float)) else x for x in v]
    return v


DATABASE_SCHEMES = ("sqlite", "duckdb", "postgres", "postgresql")
# the options that describe a file's bytes and lines (not the values in it)
FILE_LAYOUT = frozenset({"delimiter", "encoding", "header", "header_row", "skip_rows"})


class InputConfig(_Strict):
    path: str | None = Field(None, description="the file (.csv, .csv.gz, .zip, .parquet, or - for stdin), a glob "
                             "(exports/2024-*.csv) or a folder of CSV or Parquet files (hive partitions read as columns)")
    connection: str | None = Field(None, description="a database instead of a file: sqlite:///shop.db, "
                                   "duckdb:///shop.duckdb, postgresql://user@host/db ($VARS expanded)")
    table: str | None = Field(None, description="the database table (with connection)")
    query: str | None = Field(None, description="a SELECT giving the table (with connection), instead of table")
    header: bool = True
    delimiter: str | None = Field(None, description="one character, or 'whitespace'; default sniffed")
    encoding: str = "utf-8"
    decimal: Literal[".", ","] = "."
    thousands: str | None = None
    date_format: str | None = None
    dayfirst: bool = False
    na_values: list[str] = []
    columns: dict[str, str | int] = {}
    on_bad_rows: Literal["error", "skip"] | None = None
    # What real exports need (docs/exports.md); each costs nothing when unset.
    header_row: int = Field(1, ge=1, le=1000)    # the line of the header: lines above it are a banner
    skip_rows: int = Field(0, ge=0, le=1000)     # records after the header that are no data (a second header row)
    exclude: dict[str, list[str]] = {}           # column -> values whose rows are left out ("" empty, "*" any value)
    inherit: list[str] = []                      # columns an order's continuation lines take from its first line
    amount_scope: Literal["line", "order"] = "line"  # order: the order's total, repeated on its lines, counted once
    refund_amount: str | None = None             # header of the amount refunded on the order
    refund_date: str | None = None               # header of the refund's date (else the order's date)
    customer_key: Literal["id", "email"] = "id"  # email: ids compared lower-case, trimmed
    normalise_ids: Literal["none", "lower"] = "none"
    subscriptions: SubscriptionsConfig | None = None

    @field_validator("exclude", mode="before")
    @classmethod
    def _exclude_values(cls, v: Any) -> Any:
        return {k: _texts(x) for k, x in v.items()} if isinstance(v, dict) else v

    @field_validator("exclude")
    @classmethod
    def _exclude(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for k, values in v.items():
            if not values:
                raise ValueError(f"exclude.{k}: an empty list: list the values whose rows are left out")
        return v

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, v: str | None) -> str | None:
        if v is None or v == "whitespace":
            return v
        v = {"\\t": "\t", "tab": "\t"}.get(v, v)
        if len(v) != 1:
            raise ValueError("must be one character, 'tab' or 'whitespace'")
        if v in "\"\r\n":
            raise ValueError(f"{v!r} cannot be a delimiter")
        return v

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, v: str) -> str:
        import codecs

        try:
            codecs.lookup(v)
        except LookupError:
            raise ValueError(f"unknown encoding {v!r} (try utf-8, latin-1, cp1252)") from None
        return v

    @field_validator("thousands")
    @classmethod
    def _thousands(cls, v: str | None) -> str | None:
        if v is not None and len(v) != 1:
            raise ValueError("must be one character, such as ',' '.' or ' '")
        return v

    @field_validator("date_format")
    @classmethod
    def _date_format(cls, v: str | None) -> str | None:
        if v is not None and "%" not in v:
            raise ValueError("must be a strftime format such as '%d/%m/%Y'")
        if v is not None:
            # a format that cannot read back a date it writes is no date format
            # ('%Q', a trailing '%'): refused here, not while reading the data
            from datetime import datetime

            sample = datetime(2024, 3, 31, 13, 45, 30)
            try:
                datetime.strptime(sample.strftime(v), v)
            except ValueError as e:
                raise ValueError(f"{v!r} is not a usable date format ({e}); e.g. '%d/%m/%Y'") from None
        return v

    @field_validator("columns")
    @classmethod
    def _columns(cls, v: dict[str, str | int]) -> dict[str, str | int]:
        for k, pos in v.items():
            if isinstance(pos, int) and pos < 1:
                raise ValueError(f"position of {k!r} must be 1 or more (positions are 1-based)")
        return v

    @model_validator(mode="after")
    def _source(self) -> "InputConfig":
        """A file (path) or a database (connection with table or query)."""
        if (self.path is None) == (self.connection is None):
            raise ValueError("give either path (a file, glob or folder) or connection (a database), not both"
                             if self.path is not None else "needs path (a file, glob or folder) or connection (a database)")
        if self.connection is not None and (self.table is None) == (self.query is None):
            raise ValueError("with connection, give table or query (one of them)")
        if self.connection is None and (self.table is not None or self.query is not None):
            raise ValueError("table and query name a database's table: they need connection")
        if self.connection is not None:
            scheme = self.connection.split(":", 1)[0].strip().lower()
            if not scheme.startswith("$") and scheme not in DATABASE_SCHEMES:  # $DB_URL: said when it is read
                raise ValueError(f"connection {scheme + ':' if scheme else repr(self.connection)}: use sqlite:///…, "
                                 "duckdb:///… or postgresql://…")
            layout = sorted(self.model_fields_set & FILE_LAYOUT)
            if layout:  # a database hands over rows and typed columns: nothing of a file's layout applies
                raise ValueError(f"{', '.join(layout)}: a file's layout, which a database input does not have "
                                 "(its rows come as the database holds them): leave "
                                 f"{'it' if len(layout) == 1 else 'them'} out")
        return self

    @model_validator(mode="after")
    def _check(self) -> "InputConfig":
        if self.thousands is not None and self.thousands == self.decimal:
            raise ValueError("thousands and decimal cannot be the same character")
        if not self.header and any(isinstance(p, str) for p in self.columns.values()):
            raise ValueError("with header: false, columns map names to 1-based positions")
        if not self.header and self.header_row != 1:
            raise ValueError("header_row needs a header: with header: false, skip_rows skips the first lines")
        return self

    @property
    def where(self) -> str:
        """The input as messages name it: the path, or the database and its table
        (the connection without its password)."""
        if self.connection is None:
            return self.path
        from retention_cli.engines.sources import redacted

        return f"{redacted(self.connection)}#{self.table if self.table is not None else 'query'}"

    @property
    def lower_ids(self) -> bool:
        return self.customer_key == "email" or self.normalise_ids == "lower"


ENGINES = ("local", "duckdb", "spark", "auto")
URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")  # a path Spark reads as written (hdfs://, s3a://, file://)


class EngineConfig(_Strict):
    """Where the inputs are read (docs/engines.md): ``local`` in memory; ``duckdb``
    out of core; ``spark`` on a Spark master; ``auto``: duckdb for an input that
    would not fit in memory, local otherwise. A name alone is accepted for the mapping."""

    name: Literal[ENGINES] = "local"  # type: ignore[valid-type]
    memory_limit: str | None = Field(None, description="duckdb: the most memory it may use (2GB, 400MB)")
    temp_directory: str | None = Field(None, description="duckdb: where it spills what does not fit in memory")
    threads: int | None = Field(None, ge=1, le=1024, description="duckdb: worker threads (default: the cores)")
    master: str = Field("local[*]", description="spark: local[*], spark://host:7077, yarn")
    conf: dict[str, str] = Field({}, description="spark: further settings (spark.executor.memory: 4g)")

    @model_validator(mode="before")
    @classmethod
    def _name_alone(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else v

    @field_validator("memory_limit")
    @classmethod
    def _memory(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"\s*\d+(\.\d+)?\s*([KMGT]i?B|B)\s*", v, re.IGNORECASE):
            raise ValueError(f"{v!r} is not an amount of memory such as 2GB or 400MB")
        return v


class InputsConfig(_Strict):
    customers: InputConfig | None = None
    purchases: InputConfig | None = None
    complaints: InputConfig | None = None
    responses: InputConfig | None = None
    invoices: InputConfig | None = None


class ProfileConfig(InputConfig):
    """A platform's export (retention_cli/profiles/*.yaml, or the config's
    ``profiles:``): the headers that recognise it, the table it feeds, and the
    input keys `init` writes for it."""

    path: str | None = None
    title: str                     # what init names it: "Shopify orders"
    table: str
    match: list[str]               # headers that must all be in the file (case-insensitive)
    notes: list[str] = []          # what the profile assumes, written as comments
    model: Literal["inactivity", "contract"] | None = None  # the churn model the export calls for
    # canonical name -> regular expressions for a header that varies (a survey question's
    # text), searched case-insensitively in the header and in the rows skip_rows leaves out
    patterns: dict[str, list[str]] = {}

    def _source(self) -> "ProfileConfig":  # a profile names no file: `table` is the table it feeds
        return self

    @field_validator("table")
    @classmethod
    def _table(cls, v: str) -> str:
        if v not in TABLES:
            raise ValueError(f"not a table ({', '.join(TABLES)})")
        return v

    @field_validator("match")
    @classmethod
    def _match(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("list the headers that recognise the export")
        return v

    @model_validator(mode="after")
    def _columns_of_table(self) -> "ProfileConfig":
        for key in self.columns:
            if msg := _columns_problem(self.table, key):
                raise ValueError(f"columns.{key}: {msg}")
        return self


class ChurnConfig(_Strict):
    model: Literal["inactivity", "contract"] = "inactivity"
    inactivity_days: int = Field(180, ge=1, le=3660)
    denominator: Literal["start", "start_plus_new", "average"] = "start"


class PeriodsConfig(_Strict):
    freq: Literal["week", "month", "quarter", "year"] = "month"


class EconomicsConfig(_Strict):
    gross_margin: Fraction = 1.0
    acquisition_spend: dict[str, Annotated[float, Field(ge=0)]] = {}
    annual_discount_rate: float = Field(0.10, ge=0, le=1)
    customer_value: float | None = Field(None, ge=0)
    # the size of the market (its revenue, in the currency of the amounts) per period label
    market_size: dict[str, Annotated[float, Field(gt=0)]] = {}

    @field_validator("acquisition_spend", "market_size", mode="before")
    @classmethod
    def _spend_keys(cls, v: Any) -> Any:
        return _int_keys_as_text(v)


class ConcentrationConfig(_Strict):
    top_share: float = Field(0.20, gt=0, lt=1)


class SatisfactionConfig(_Strict):
    csat_scale: tuple[int, int] = (1, 5)
    min_responses: int = Field(30, ge=1)
    horizon_periods: int = Field(1, ge=1, le=120)

    @field_validator("csat_scale")
    @classmethod
    def _scale(cls, v: tuple[int, int]) -> tuple[int, int]:
        if v[1] - v[0] < 2:
            raise ValueError("needs at least three points, low first: [1, 5]")
        return v


class NpsConfig(_Strict):
    count: Literal["all", "latest_per_customer"] = "all"


class ComplaintsConfig(_Strict):
    sla_days: float = Field(2, ge=0)
    # The status values that mean resolved (Zendesk: solved, closed), for a file
    # without resolved_date; compared trimmed and case-insensitively.
    resolved_statuses: list[str] | None = None

    @field_validator("resolved_statuses", mode="before")
    @classmethod
    def _statuses_list(cls, v: Any) -> Any:
        if isinstance(v, str):
            raise ValueError(f"a list of status values, such as [solved, closed] (not the text {v!r})")
        if isinstance(v, list):
            if any(isinstance(x, bool) for x in v):
                raise ValueError('yes, no, true and false are read by YAML as true/false: quote a status such as "yes"')
            # numeric status codes (Freshdesk: 4 resolved, 5 closed) are written as the file has them
            return [str(x) if isinstance(x, int) and not isinstance(x, bool) else x for x in v]
        return v

    @field_validator("resolved_statuses")
    @classmethod
    def _statuses(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("an empty list: list the status values that mean resolved, or leave the key out")
        for s in v:
            if not s.strip():
                raise ValueError("an empty status value: every value must name a status, such as solved")
        return [s.strip() for s in v]


REASON_CATEGORIES = ("died", "moved", "alternatives", "competition", "product", "treatment")


class ChurnReasonsConfig(_Strict):
    """Free-text churn reasons -> the seed benchmark's categories (case-insensitive)."""

    map: dict[str, Literal[REASON_CATEGORIES]] = {}  # type: ignore[valid-type]


class WomConfig(_Strict):
    """Word-of-mouth assumptions (SPEC §4.5); None means the seed default."""

    complaint_share: float | None = Field(None, gt=0, le=1)
    silent_per_complaint: float | None = Field(None, ge=0)
    serious_share_of_silent: float | None = Field(None, ge=0, le=1)
    silent_defection_rate: float | None = Field(None, ge=0, le=1)
    return_if_resolved: float | None = Field(None, ge=0, le=1)
    return_if_resolved_fast: float | None = Field(None, ge=0, le=1)
    return_if_unresolved: float | None = Field(None, ge=0, le=1)
    negative_reach: float | None = Field(None, ge=0)
    positive_reach: float | None = Field(None, gt=0)
    prospect_loss_per_told: float | None = Field(None, ge=0, le=1)


class ClvConfig(_Strict):
    model: Literal["bgnbd", "pareto-nbd", "mbg-nbd"] = "bgnbd"
    time_unit: Literal["days", "weeks", "months"] = "weeks"
    horizon_months: int = Field(12, ge=1, le=240)
    # the horizon in time_unit; when set it replaces horizon_months (20 years at most)
    horizon: float | None = Field(None, gt=0, le=7305)
    calibration_end: date | None = None   # default: the last day of the data
    holdout: bool = False                 # the days after calibration_end are the holdout
    compare: bool = False                 # the report also ranks every model on the holdout

    @field_validator("time_unit", mode="before")
    @classmethod
    def _plural(cls, v: Any) -> Any:
        return v + "s" if v in ("day", "week", "month") else v


class SurvivalConfig(_Strict):
    horizon_periods: int = Field(12, ge=1, le=1200)   # projected periods past the data


class CollectionsConfig(_Strict):
    # an invoice without due_date is due this many days after its invoice_date
    # (30: the common "net 30" term); 0 is "due on receipt"
    terms_days: int = Field(30, ge=0, le=3660)
    # an invoice still unpaid this many days after its due date counts as written off
    write_off_days: int = Field(180, ge=1, le=3660)


OUTPUT_PLACEHOLDERS = ("period", "as_of", "freq")


def check_placeholders(template: str) -> None:
    """``report.output_dir`` may name {period}, {as_of} and {freq}, as they are:
    no attribute, index, conversion or format spec, no positional ``{}``; ``{{`` and
    ``}}`` are literal braces. Read with the parser str.format itself uses."""
    try:
        fields = [(lit, f, spec, conv) for lit, f, spec, conv in string.Formatter().parse(template) if f is not None]
    except ValueError as e:  # "Single '{' encountered in format string", …
        raise ValueError(f"{e} (write {{{{ or }}}} for a literal brace)") from None
    known = ", ".join("{" + k + "}" for k in OUTPUT_PLACEHOLDERS)
    for lit, field, spec, conv in fields:
        written = "{" + field + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
        if field in OUTPUT_PLACEHOLDERS and not spec and not conv:
            continue
        if lit.endswith("$") and field.isidentifier() and not spec and not conv:
            raise ValueError(f"placeholder {written}: write the environment variable as ${field} "
                             f"(braces are placeholders here: {known})")
        if field in OUTPUT_PLACEHOLDERS:
            raise ValueError(f"placeholder {written}: write {{{field}}} as it is, without "
                             f"{'a conversion' if conv else 'a format'}")
        raise ValueError(f"unknown placeholder {written} (known: {known}; {{{{ and }}}} for a literal brace)")


class ReportConfig(_Strict):
    period: str | None = None
    # None: every section the configured inputs allow (report.default_sections)
    sections: list[Literal[SECTIONS]] | None = None  # type: ignore[valid-type]
    by: list[str] = []
    formats: list[Literal["csv", "json", "jsonl", "html"]] = ["csv", "json", "html"]
    output_dir: str = "reports/{period}"

    @field_validator("period", mode="before")
    @classmethod
    def _period_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("output_dir")
    @classmethod
    def _placeholders(cls, v: str) -> str:
        check_placeholders(v)
        return v


class Config(_Strict):
    inputs: InputsConfig = InputsConfig()
    engine: EngineConfig = EngineConfig()
    on_bad_rows: Literal["error", "skip"] = "error"
    as_of: date | None = None
    timezone: str | None = None
    format: Literal[FORMATS] | None = None  # type: ignore[valid-type]
    churn: ChurnConfig = ChurnConfig()
    periods: PeriodsConfig = PeriodsConfig()
    economics: EconomicsConfig = EconomicsConfig()
    concentration: ConcentrationConfig = ConcentrationConfig()
    satisfaction: SatisfactionConfig = SatisfactionConfig()
    nps: NpsConfig = NpsConfig()
    complaints: ComplaintsConfig = ComplaintsConfig()
    churn_reasons: ChurnReasonsConfig = ChurnReasonsConfig()
    clv: ClvConfig = ClvConfig()
    survival: SurvivalConfig = SurvivalConfig()
    collections: CollectionsConfig = CollectionsConfig()
    wom: WomConfig = WomConfig()
    report: ReportConfig = ReportConfig()
    # the user's own platform profiles, which `retention init` recognises as the built-in ones
    profiles: dict[str, ProfileConfig] = {}

    # Not part of the YAML: where the file was, for relative paths and messages.
    source: Path | None = Field(None, exclude=True)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as Europe/Paris)") from None
        return v

    def input(self, table: str) -> InputConfig | None:
        return getattr(self.inputs, table)

    def bad_rows_policy(self, table: str) -> str:
        inp = self.input(table)
        return (inp.on_bad_rows if inp and inp.on_bad_rows else self.on_bad_rows)

    def resolve_path(self, raw: str) -> str:
        """Expand ``~`` and ``$VARS``; relative paths are relative to the config's folder."""
        if raw == "-" or URL.match(raw):  # a URL (s3a://, hdfs://, file://) is the engine's to read
            return os.path.expandvars(raw) if raw != "-" else raw
        p = Path(os.path.expandvars(os.path.expanduser(raw)))
        if not p.is_absolute() and self.source is not None:
            p = self.source.parent / p
        return str(p)


# --- loading --------------------------------------------------------------------

MAX_ALIASES = 100  # a YAML alias bomb ("billion laughs") is refused before it expands
MAX_DEPTH = 100    # a config is 4 levels deep; 20,000 nested "[" would exhaust the stack


class _Refused(Exception):
    """The loader stops reading: ``message`` at ``mark``."""

    def __init__(self, message: str, mark: yaml.Mark | None):
        super().__init__(message)
        self.message, self.mark = message, mark


class _Loader(yaml.SafeLoader):
    """The safe loader, counting as it composes: aliases (an alias bomb is refused
    before anything expands it) and depth (a deep document is refused before
    Python's recursion limit is reached, in the time it takes to read 100 levels)."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _Refused(f"more than {MAX_ALIASES} YAML aliases; refusing a config that expands itself",
                               self.peek_event().start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(f"YAML nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_MERGE = "tag:yaml.org,2002:merge"


def _line_map(node: yaml.Node, path: tuple = (), out: dict | None = None, seen: set | None = None,
              dups: list | None = None) -> dict:
    """Map each key path of the document to its 1-based line; a key written twice in
    one mapping (YAML would keep the last silently) goes to ``dups`` as
    (path, line, first line). Run on the composed nodes, before construction
    merges ``<<:`` keys in."""
    out = {} if out is None else out
    seen = set() if seen is None else seen
    if id(node) in seen:
        return out
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict = {}
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else str(k)
            line = k.start_mark.line + 1
            if k.tag != _MERGE:
                if key in first and dups is not None:
                    dups.append((path + (key,), line, first[key]))
                first.setdefault(key, line)
            out[path + (key,)] = line
            _line_map(v, path + (key,), out, seen, dups)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            out[path + (i,)] = v.start_mark.line + 1
            _line_map(v, path + (i,), out, seen, dups)
    return out


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The pydantic model that owns the key at ``loc`` (for "did you mean")."""
    model: Any = Config
    for part in loc[:-1]:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            return None
        ann = field.annotation
        for cand in getattr(ann, "__args__", (ann,)):
            if isinstance(cand, type) and issubclass(cand, BaseModel):
                model = cand
                break
        else:
            return None
    return model


def _explain(err: dict) -> str:
    loc = err["loc"]
    if err["type"] == "extra_forbidden":
        model = _model_at(loc)
        key = loc[-1]
        hint = ""
        if model is not None:
            close = difflib.get_close_matches(str(key), list(model.model_fields), n=1, cutoff=0.6)
            if close:
                hint = f" (did you mean '{close[0]}'?)"
            else:
                hint = f" (known keys: {', '.join(k for k in model.model_fields if k != 'source')})"
        return f"unknown key{hint}"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return msg[0].lower() + msg[1:] if msg else msg


def _real_path(data: Any, loc: tuple) -> tuple:
    """The part of pydantic's error location that names keys of the YAML: pydantic
    appends union members ('str', 'int') and validator names, which the user never
    wrote. Keys that exist are followed; the first one that does not (an unknown
    or missing key) ends the path."""
    out: list = []
    cur = data
    for p in loc:
        if isinstance(cur, dict) and p in cur:
            out.append(p)
            cur = cur[p]
        elif isinstance(cur, list) and isinstance(p, int) and 0 <= p < len(cur):
            out.append(p)
            cur = cur[p]
        else:
            if isinstance(cur, dict) and isinstance(p, str):
                out.append(p)
            break
    return tuple(out)


# --- checks that need more than one field, the environment or the period parser ---

# The ${NAME} and $NAME forms that os.path.expandvars replaces (posixpath's own
# pattern); a name that is not set would stay in the path as it is written.
_VAR = re.compile(r"\$(\w+|\{[^}]*\})", re.ASCII)

# Two "todays" far apart: a label that resolves differently against them is relative.
_TODAYS = (date(2001, 2, 15), date(2003, 8, 15))


def unset_variables(raw: str, env: Any = None) -> list[str]:
    """The environment variables ``raw`` names that are not set, in order."""
    env = os.environ if env is None else env
    names = [m.group(1).removeprefix("{").removesuffix("}") for m in _VAR.finditer(raw)]
    return list(dict.fromkeys(n for n in names if n and n not in env))  # "${}" stays as written


def _label(text: str) -> tuple[Period, bool]:
    """The period a label names (against an arbitrary today) and whether it is
    relative. Raises ValueError with the period parser's own message."""
    try:
        p = parse_label(text, _TODAYS[0])
        return p, p != parse_label(text, _TODAYS[1])
    except UsageError as e:
        raise ValueError(e.message) from None


def _report_period(text: str) -> None:
    """As the report reads it: ``all``, a label, a relative label, or FIRST..LAST
    (either end may be left out, as --from or --to alone)."""
    if text.strip() == "" or text.strip().lower() == "all":
        return
    if ".." not in text:
        _label(text)
        return
    a, b = (x.strip() for x in text.split("..", 1))
    if not a and not b:
        raise ValueError(f"period {text!r}: a range needs a first or a last period: 2024-01..2024-06")
    ends = []
    for x in (a, b):
        if x.lower() == "all":
            raise ValueError(f"period {text!r}: 'all' cannot be one end of a range")
        ends.append(_label(x) if x else None)
    if ends[0] and ends[1] and not (ends[0][1] or ends[1][1]) and ends[0][0].start >= ends[1][0].end:
        raise ValueError(f"period {text!r}: {ends[0][0].label} is after {ends[1][0].label}")


def _spend_key(key: str, what: str = "spend") -> None:
    """A key of economics.acquisition_spend (or market_size) is matched to the
    label of a period as the output writes it, so it must be one."""
    if key.strip().lower() == "all":
        raise ValueError(f"'all' is not one period: {what} is given per period label (2024-01, 2024-Q1, …)")
    p, relative = _label(key)
    if relative:
        raise ValueError(f"period {key!r} is relative: {what} is given per fixed period label (2024-01, 2024-Q1, …)")
    if p.label != key:
        raise ValueError(f"write the period as {p.label!r}, the label the output uses")


def _columns_problem(table: str, key: str) -> str | None:
    names = CANONICAL[table]
    if key in names:
        return None
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'?" if close else f"its columns: {', '.join(names)}"
    msg = f"not a column of {table} ({hint})"
    if table == "customers":
        msg += "; other columns are attributes under their own header (--by HEADER)"
    return msg


def _shared_column_problems(table: str, columns: dict[str, str | int]) -> list[tuple[str, str]]:
    """One header (or position) may feed several canonical names (SPEC §1), read
    once for all of them: an id and text can share it; a date, a number, a score or
    a flag only with names of the same kind (a column is not an id and a date)."""
    from retention_cli.io.schemas import KIND_WORDS, SCHEMAS, compatible_kinds

    kinds = {c.name: c.kind for c in SCHEMAS[table]}
    first: dict[str | int, str] = {}
    out = []
    for key, target in columns.items():
        if key not in kinds:
            continue  # reported as not a column of the table
        where = target.strip() if isinstance(target, str) else target
        other = first.setdefault(where, key)
        if other != key and not compatible_kinds(kinds[other], kinds[key]):
            shown = f"column {target}" if isinstance(target, int) else f"'{where}'"
            out.append((key, f"{shown} also feeds {other}: one column cannot be {KIND_WORDS[kinds[other]]} "
                             f"and {KIND_WORDS[kinds[key]]}"))
    return out


def _semantic_problems(cfg: Config) -> list[tuple[tuple, str]]:
    """What the models accept one field at a time but cannot be meant, as
    (key path, problem)."""
    out: list[tuple[tuple, str]] = []
    for table in TABLES:
        inp = cfg.input(table)
        if inp is None:
            continue
        for key in inp.columns:
            if msg := _columns_problem(table, key):
                out.append((("inputs", table, "columns", key), msg))
        for key, msg in _shared_column_problems(table, inp.columns):
            out.append((("inputs", table, "columns", key), msg))
        for key in ("path", "connection"):
            for name in unset_variables(getattr(inp, key) or ""):
                out.append((("inputs", table, key), f"environment variable ${name} is not set"))
    for key in cfg.economics.acquisition_spend:
        try:
            _spend_key(key)
        except ValueError as e:
            out.append((("economics", "acquisition_spend", key), str(e)))
    for key in cfg.economics.market_size:
        try:
            _spend_key(key, "the market size")
        except ValueError as e:
            out.append((("economics", "market_size", key), str(e)))
    if cfg.report.period is not None:
        try:
            _report_period(cfg.report.period)
        except ValueError as e:
            out.append((("report", "period"), str(e)))
    # The placeholders are filled before $VARS are expanded (as the report does);
    # "-" stands for their values, so "$OUT{period}" names OUT.
    filled = cfg.report.output_dir.format(**dict.fromkeys(OUTPUT_PLACEHOLDERS, "-"))
    for name in unset_variables(filled):
        out.append((("report", "output_dir"), f"environment variable ${name} is not set"))
    return out


def _line_of(lines: dict, loc: tuple) -> int:
    return next((lines[loc[:i]] for i in range(len(loc), 0, -1) if loc[:i] in lines), 1)


def _key(loc: tuple) -> str:
    return ".".join(str(p) for p in loc) or "(top)"


def parse_config(text: str, source: Path | None = None) -> Config:
    name = source.name if source else "config"
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        dups: list = []
        lines = _line_map(node, dups=dups) if node is not None else {}
        if dups:
            problems = [f"{name}:{line}: {_key(loc)}: duplicate key '{loc[-1]}' (first at line {first})"
                        for loc, line, first in sorted(dups, key=lambda d: d[1])]
            raise ConfigError(problems[0], problems[1:])
        data = loader.construct_document(node) if node is not None else None
    except _Refused as e:
        line = f":{e.mark.line + 1}" if e.mark else ""
        raise ConfigError(f"{name}{line}: {e.message}") from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{name}{line}: YAML syntax error: {e.problem or e.context}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{name}: not valid YAML: {e}") from None
    finally:
        loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{name}:1: the config must be a mapping of keys (inputs:, churn:, …), not a {type(data).__name__}")
    try:
        cfg = Config.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = _real_path(data, err["loc"])
            problems.append(f"{name}:{_line_of(lines, loc)}: {_key(loc)}: {_explain({**err, 'loc': loc})}")
        raise ConfigError(problems[0], problems[1:]) from None
    found = sorted(_semantic_problems(cfg), key=lambda p: _line_of(lines, p[0]))
    if found:
        problems = [f"{name}:{_line_of(lines, loc)}: {_key(loc)}: {msg}" for loc, msg in found]
        raise ConfigError(problems[0], problems[1:])
    cfg.source = source
    return cfg


# A config is a page of YAML; more than this is a data file or a device given as the
# config (/dev/zero would otherwise be read until memory runs out).
MAX_CONFIG_BYTES = 1 << 20


def load_config(path: str | Path) -> Config:
    p = Path(path)
    shown = os.fsencode(str(p)).decode("utf-8", "replace")  # a name that is not UTF-8 still prints
    try:
        with open(p, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{shown}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{shown}: is a folder, not a config file") from None
    except OSError as e:
        raise ConfigError(f"{shown}: cannot read the config: {e.strerror}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{shown}: larger than 1 MiB: not a config file (a data file, or a device such as "
                          "/dev/zero, given as the config?)")
    if b"\0" in raw:
        raise ConfigError(f"{os.path.basename(shown)}: not a text file (binary data in the config)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{os.path.basename(shown)}: not UTF-8 text (byte {e.start}); save the config as UTF-8") from None
    return parse_config(text, p.resolve())


def find_config(explicit: str | None, env: dict[str, str] | None = None, cwd: Path | None = None) -> Path | None:
    """--config > $RETENTION_CONFIG > ./retention.yaml (see README: env beats the
    file in the working folder, so a cron job's setting is never shadowed)."""
    env = os.environ if env is None else env
    if explicit:
        return Path(explicit)
    if env.get("RETENTION_CONFIG"):
        return Path(env["RETENTION_CONFIG"])
    local = (cwd or Path.cwd()) / "retention.yaml"
    return local if local.is_file() else None
