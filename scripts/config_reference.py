"""Regenerate the configuration reference, docs/configuration.md, from the config's
models (a test checks it is current and that every key has a meaning here).

    python scripts/config_reference.py
"""

from __future__ import annotations

import typing
from pathlib import Path

from pydantic import BaseModel

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "configuration.md"
BEGIN, END = "<!-- config:begin -->", "<!-- config:end -->"

# What each key means, in a line; the pages that say more are linked from the table.
MEANING = {
    "on_bad_rows": "`error`: a bad row stops the run (65) and is listed; `skip`: left out, counted, kept in `rejects/` ([bad input](bad-input.md))",
    "as_of": "the data end (YYYY-MM-DD) instead of the day after the latest event of the inputs ([periods](periods.md))",
    "timezone": "the zone timestamps with an offset are converted to before their date is taken (e.g. `Europe/Paris`)",
    "format": "the default output format: table, csv, json, jsonl ([output](output.md))",
    "churn.model": "`inactivity` (lost after W days without a purchase) or `contract` (signup_date and churn_date) ([KPIs](kpis.md))",
    "churn.inactivity_days": "W, the inactivity window in days (`retention suggest-window` proposes one)",
    "churn.denominator": "what churn_rate divides by: customers at the `start`, `start_plus_new`, or the `average` of start and end",
    "periods.freq": "week, month, quarter or year",
    "economics.gross_margin": "the margin applied to revenue in clv_simple and the value at risk when purchases have no cost column",
    "economics.acquisition_spend": "spend per period label, for acquisition_cost",
    "economics.annual_discount_rate": "discounts future value in clv and the survival model's DERL",
    "economics.customer_value": "the value of one customer for revenue_at_risk instead of the observed clv_simple",
    "economics.market_size": "the market's revenue per period label, for market_share",
    "concentration.top_share": "the share of buyers whose revenue top_customer_revenue_share measures",
    "satisfaction.csat_scale": "the lowest and highest CSAT score; the top two count as satisfied",
    "satisfaction.min_responses": "below this many answers a row is flagged low_sample",
    "satisfaction.horizon_periods": "how many periods after an answer `satisfaction --link` looks for the customer's retention",
    "nps.count": "`all` answers, or the `latest_per_customer` in each period",
    "complaints.sla_days": "a complaint resolved within this many days counts as resolved fast ([customer service](customer-service.md))",
    "complaints.resolved_statuses": "status values that mean resolved, for files without resolved_date",
    "churn_reasons.map": "free-text churn reasons mapped to the benchmark's categories",
    "clv.model": "bgnbd, pareto-nbd or mbg-nbd ([CLV](clv.md))",
    "clv.time_unit": "days, weeks or months: the unit the model is fitted in",
    "clv.horizon_months": "the horizon of the predicted value, in months",
    "clv.horizon": "the horizon in time units instead (any length)",
    "clv.calibration_end": "the last day the model learns from (default: the last day of the data)",
    "clv.holdout": "the days after calibration_end are a holdout the predictions are checked on",
    "clv.compare": "the report also ranks every model on the holdout",
    "survival.horizon_periods": "how many periods the survival curve is projected past the data ([models](models.md))",
    "collections.terms_days": "an invoice without a due date is due this many days after it is issued ([collections](collections.md))",
    "collections.write_off_days": "unpaid this many days after the due date: counted in write_off_amount",
    "wom.complaint_share": "share of dissatisfied customers who complain (default: observed, else the literature's 0.04)",
    "wom.silent_per_complaint": "customers with a problem per complaint received",
    "wom.serious_share_of_silent": "share of those problems that are serious",
    "wom.silent_defection_rate": "share of silent dissatisfied customers who leave",
    "wom.return_if_resolved": "complainers resolved late who buy again (default: observed)",
    "wom.return_if_resolved_fast": "complainers resolved fast who buy again (default: observed)",
    "wom.return_if_unresolved": "unresolved complainers who buy again (default: observed)",
    "wom.negative_reach": "people an unhappy customer who left tells",
    "wom.positive_reach": "people a happy customer tells",
    "wom.prospect_loss_per_told": "told people who become lost prospects",
    "report.period": "the report's period or series (`2025-12`, `last-month`, `2025-01..2025-12`) ([report](report.md))",
    "report.sections": "the sections, in order: summary, churn, purchases, cohorts, satisfaction, complaints, wom, clv, survival, collections, mrr; default: every one the configured inputs allow but clv (a model's fit: ask for it by name)",
    "report.by": "the segments every section splits by",
    "report.formats": "csv, json, jsonl and html",
    "report.output_dir": "the folder, with `{period}`, `{as_of}` and `{freq}` placeholders",
    "engine.name": "where the inputs are read: local (in memory), duckdb (out of core, globs, folders), spark, auto (duckdb for a file too large for memory) ([engines](engines.md))",
    "engine.memory_limit": "duckdb: the most memory it may use (2GB, 400MB)",
    "engine.temp_directory": "duckdb: where it spills what does not fit in memory; transcoded inputs go there too",
    "engine.threads": "duckdb: worker threads (default: the cores)",
    "engine.master": "spark: the master (local[*], spark://host:7077, yarn)",
    "engine.conf": "spark: further settings, as spark-submit's --conf (spark.executor.memory: 4g)",
    "inputs": "one entry per table (customers, purchases, complaints, responses, invoices): path (a file, glob or folder) or connection with table or query (a database), dialect, column mapping and the options real exports need ([inputs](inputs.md), [exports](exports.md))",
    "profiles": "your own export profiles, as the built-in ones are written ([exports](exports.md))",
}


def yamlish(v) -> str:
    """A default as it is written in YAML."""
    import json

    if v is None:
        return ""
    if isinstance(v, str):
        return v
    return json.dumps(list(v) if isinstance(v, tuple) else v)


def pretty(a) -> str:
    """A type as a reader of YAML says it."""
    origin, args = typing.get_origin(a), typing.get_args(a)
    if origin is typing.Literal:
        return ", ".join(str(x) for x in args)
    if origin is typing.Annotated:
        return pretty(args[0])
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        rest = [x for x in args if x is not type(None)]
        return " or ".join(pretty(x) for x in rest) + (" or null" if len(rest) < len(args) else "")
    if origin is dict:
        return f"{{{pretty(args[0])}: {pretty(args[1])}}}"
    if origin is list:
        return f"list of {pretty(args[0])}"
    if origin is tuple:
        return "[" + ", ".join(pretty(x) for x in args) + "]"
    names = {"str": "text", "int": "whole number", "float": "number", "bool": "true/false", "date": "date"}
    name = getattr(a, "__name__", str(a))
    return names.get(name, "number" if "Fraction" in name else name)


def keys(model: type[BaseModel] = None, prefix: str = "") -> list[tuple[str, str, str]]:
    """(key, type, default) of every setting; inputs and profiles as one row each."""
    from retention_cli.config import Config

    model = model or Config
    out = []
    for name, f in model.model_fields.items():
        if f.exclude:
            continue
        key = prefix + name
        sub = next((a for a in (f.annotation, *typing.get_args(f.annotation))
                    if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if sub is not None and key not in ("inputs", "profiles"):
            out += keys(sub, key + ".")
            continue
        default = "" if f.is_required() or key in ("inputs", "profiles") else yamlish(f.get_default(call_default_factory=True))
        kind = "tables" if key == "inputs" else "name: profile" if key == "profiles" else pretty(f.annotation)
        out.append((key, kind, default))
    return out


def block() -> str:
    rows = ["| key | values | default | meaning |", "|---|---|---|---|"]
    for key, kind, default in keys():
        shown = f"`{default}`" if default else ""
        rows.append(f"| `{key}` | {kind} | {shown} | {MEANING.get(key, '')} |")
    return f"{BEGIN}\n" + "\n".join(rows) + f"\n{END}"


HEAD = """# Configuration reference

Every key of the YAML config, its values and default, and what it does. The config is
found by `-c`, else `$RETENTION_CONFIG`, else `./retention.yaml`; a key the config
does not set has its default; an option on the command line wins over the config.
`config.example.yaml` shows most of them with comments. Generated from the config's
own models by `python scripts/config_reference.py`; a test fails when it is out of
date.

"""


def main() -> None:
    TARGET.write_text(HEAD + block() + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
