"""The Typer app: options, the error handler, nothing else (no arithmetic).

Heavy modules (pandas) are imported inside the commands, so ``--help`` and
``--version`` start fast.
"""

from __future__ import annotations

import contextlib

import functools
import inspect
import os
import sys
import time
import traceback
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer
from rich.console import Console

from retention_cli import __version__
from retention_cli.errors import DataError, RetentionError, UsageError
from retention_cli.options import Options

app = typer.Typer(
    name="retention",
    help=(
        "Customer-retention KPIs from the CSV exports every business has: customers, "
        "purchases, complaints and survey answers. Data goes to stdout (a table on a "
        "terminal, CSV in a pipe); messages go to stderr."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


class Freq(str, Enum):
    week = "week"
    month = "month"
    quarter = "quarter"
    year = "year"


class Engine(str, Enum):
    local = "local"
    duckdb = "duckdb"
    spark = "spark"
    auto = "auto"


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    jsonl = "jsonl"


def plain_output(opts: Options | None = None) -> bool:
    """--no-color or NO_COLOR (any value, no-color.org): no colour and no style at
    all (bold, italics, reverse), on stdout and stderr alike."""
    return bool(opts and opts.no_color) or bool(os.environ.get("NO_COLOR"))


def _style(opts: Options | None) -> dict[str, Any]:
    return {"no_color": True, "color_system": None} if plain_output(opts) else {}


def err_console(opts: Options | None = None) -> Console:
    # emoji=False: ":100:" in "retention.yaml:100:" is a line number, not an emoji code
    return Console(stderr=True, highlight=False, soft_wrap=True, emoji=False, **_style(opts))


def out_console(opts: Options | None = None) -> Console:
    return Console(file=sys.stdout, highlight=False, emoji=False, **_style(opts))


def render_view(opts: Options, make: Callable[[int | None], Any]) -> None:
    """Print a terminal view: ``make(width)`` fitted to the terminal's width (no cell
    is ever wrapped: wide tables come in blocks); to a file (``-o``) or a pipe, one
    block as wide as it needs, without colour (``--format table`` in a pipe)."""
    import io

    from retention_cli.io import writers

    con = out_console(opts)
    if con.is_terminal and not opts.output:
        con.print(make(con.width))
        return
    view = make(None)
    buf = io.StringIO()
    style = _style(opts) if not opts.output else {"no_color": True, "color_system": None}
    Console(file=buf, width=writers.needed_width(view), highlight=False, emoji=False, **style).print(view)
    text = "".join(line.rstrip() + "\n" for line in buf.getvalue().splitlines())
    writers.emit(text.encode("utf-8"), opts.output)


def warn(opts: Options, messages: list[str]) -> None:
    if opts.quiet:
        return
    con = err_console(opts)
    from retention_cli.io.writers import visible

    for m in messages:
        con.print(visible(f"retention: warning: {m}"), markup=False)


# --- shared options -----------------------------------------------------------------

IN, PER, OUT, MSG = "Input", "Periods", "Output", "Messages"


def _date(text: str):
    from retention_cli.periods import check_day

    try:
        d = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise UsageError(f"--as-of {text!r} is not a date (YYYY-MM-DD)") from None
    return check_day(d, "--as-of")


_COMMON: dict[str, tuple[Any, Any]] = {
    "config": (Optional[str], typer.Option("--config", "-c", metavar="PATH", rich_help_panel=IN,
               help="Config file \\[default: $RETENTION_CONFIG, else ./retention.yaml when present].")),
    "customers": (Optional[str], typer.Option("--customers", metavar="PATH", rich_help_panel=IN,
                  help="Customers file (overrides the config; - for stdin).")),
    "purchases": (Optional[str], typer.Option("--purchases", metavar="PATH", rich_help_panel=IN,
                  help="Purchases file (overrides the config; - for stdin).")),
    "complaints": (Optional[str], typer.Option("--complaints", metavar="PATH", rich_help_panel=IN,
                   help="Complaints file (overrides the config; - for stdin).")),
    "responses": (Optional[str], typer.Option("--responses", metavar="PATH", rich_help_panel=IN,
                  help="Survey responses file (overrides the config; - for stdin).")),
    "invoices": (Optional[str], typer.Option("--invoices", metavar="PATH", rich_help_panel=IN,
                 help="Invoices file (overrides the config; - for stdin).")),
    "engine": (Optional[Engine], typer.Option("--engine", envvar="RETENTION_ENGINE", case_sensitive=False, rich_help_panel=IN,
               help="Where the inputs are read: local (in memory), duckdb (out of core; globs, folders), spark, auto (duckdb for a file larger than memory) \\[default: the config's engine, else local].")),
    "period": (Optional[str], typer.Option("--period", metavar="LABEL", rich_help_panel=PER,
               help="One period: 2024-03, 2024-Q1, 2024-W05, 2024, all, last-month, this-year…")),
    "from_": (Optional[str], typer.Option("--from", metavar="LABEL", rich_help_panel=PER,
              help="First period of a series (inclusive).")),
    "to": (Optional[str], typer.Option("--to", metavar="LABEL", rich_help_panel=PER,
           help="Last period of a series (inclusive).")),
    "freq": (Optional[Freq], typer.Option("--freq", envvar="RETENTION_FREQ", case_sensitive=False, rich_help_panel=PER,
             help="Period length \\[default: the config's periods.freq, else month].")),
    "as_of": (Optional[str], typer.Option("--as-of", metavar="DATE", envvar="RETENTION_AS_OF", rich_help_panel=PER,
              help="Data end and anchor of relative periods (YYYY-MM-DD) \\[default: the day after the latest event; today for relative labels].")),
    "by": (Optional[list[str]], typer.Option("--by", metavar="COLUMN", rich_help_panel=PER,
           help="Split by this column (a customers attribute or an event column); repeatable.")),
    "format": (Optional[Format], typer.Option("--format", "-f", envvar="RETENTION_FORMAT", case_sensitive=False, rich_help_panel=OUT,
               help="Output format, any case \\[default: from --output's extension (.csv, .json, .jsonl), else the config's format, else table on a terminal and csv in a pipe].")),
    "output": (Optional[str], typer.Option("--output", "-o", metavar="PATH", rich_help_panel=OUT,
               help="Write the data to this file (atomically) instead of stdout; - is stdout. An extension other than .csv, .json, .jsonl needs --format.")),
    "quiet": (bool, typer.Option("--quiet", "-q", rich_help_panel=MSG, help="No warnings or progress on stderr.")),
    "verbose": (bool, typer.Option("--verbose", "-v", rich_help_panel=MSG, help="On stderr: the config used, each input read (size, time) and the run's time; tracebacks for internal errors.")),
    "no_color": (bool, typer.Option("--no-color", rich_help_panel=MSG, help="No colour and no style (bold, italics) in tables and progress (NO_COLOR is honoured too).")),
}


def _merge(base: Options | None, given: dict[str, Any]) -> Options:
    base = base or Options()
    opts = Options(**{k: getattr(base, k) for k in Options.__dataclass_fields__})
    for k, v in given.items():
        if v is None or v is False or v == []:
            continue
        if isinstance(v, Enum):
            v = v.value
        if k == "as_of":
            v = _date(v)
        setattr(opts, k, v)
    return opts


def command(name: str, *, common: bool = True, exclude: tuple[str, ...] = (), **kwargs: Any) -> Callable:
    """Register a command with the shared options appended (less ``exclude``) and
    the error handler around it. The function receives ``opts: Options`` and its
    own options."""

    def deco(f: Callable) -> Callable:
        own = [p for p in inspect.signature(f, eval_str=True).parameters.values() if p.name != "opts"]
        extra = [
            inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=None if ann is not bool else False,
                              annotation=Annotated[ann, opt])
            for k, (ann, opt) in (_COMMON.items() if common else ()) if k not in exclude
        ]
        ctx_param = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)

        @functools.wraps(f)
        def wrapper(ctx: typer.Context, **kw: Any) -> Any:
            given = {k: kw.pop(k) for k in list(kw) if common and k in _COMMON and k not in exclude}
            early = _merge(ctx.obj, {k: v for k, v in given.items() if k in ("verbose", "quiet", "no_color")})

            def body() -> Any:
                # options are checked inside the error handler: a bad value is one line, exit 2
                opts = _merge(ctx.obj, given)
                _check_output(opts, "--output")
                started = time.perf_counter()
                if opts.verbose and not opts.quiet:
                    _config_line(opts)
                out = f(opts=opts, **kw)
                if opts.verbose and not opts.quiet:
                    err_console(opts).print(f"retention: {name} done in {time.perf_counter() - started:.2f} s",
                                            markup=False)
                return out

            return run_guarded(early, body)

        wrapper.__signature__ = inspect.Signature([ctx_param, *own, *extra])  # type: ignore[attr-defined]
        kwargs.setdefault("epilog", _epilog(name))
        return app.command(name, **kwargs)(wrapper)

    return deco


EXAMPLES: dict[str, tuple[str, ...]] = {
    "validate": ("retention validate -c shop.yaml", "retention validate --purchases - -f json < orders.csv"),
    "init": ("retention init customers.csv orders.csv", "retention init --profile shopify-orders orders_export.csv -o shop.yaml"),
    "churn": ("retention churn --from 2025-01 --to 2025-06 --by segment", "retention churn --freq quarter -f json -o churn.json"),
    "purchases": ("retention purchases --period last-month", "retention purchases --by country -o purchases.csv"),
    "suggest-window": ("retention suggest-window", "retention suggest-window --purchases orders.csv -f json"),
    "cohorts": ("retention cohorts --freq quarter", "retention cohorts --revenue --relative previous -f csv"),
    "summary": ("retention summary", "retention summary --period 2025-06 -f json"),
    "satisfaction": ("retention satisfaction --by segment", "retention satisfaction --link --freq quarter"),
    "complaints": ("retention complaints --period last-quarter", "retention complaints --reasons --freq year"),
    "wom": ("retention wom --period last-month", "retention wom --complaint-count 40 --customer-value 250"),
    "report": ("retention report -c /etc/retention.yaml --period last-month", "retention report --period 2025-06 -o reports/2025-06"),
    "clv": ("retention clv --customers-out scores.csv", "retention clv --compare --calibration-end 2025-06-30"),
    "collections": ("retention collections --freq quarter", "retention collections --churn --by segment"),
    "survival": ("retention survival --parameters", "retention survival --by segment --horizon 24"),
    "mrr": ("retention mrr --from 2025-01 --to 2025-12", "retention mrr --freq quarter --by plan -f csv"),
    "completion": ("retention completion bash > ~/.local/share/bash-completion/completions/retention",
                   "retention completion fish > ~/.config/fish/completions/retention.fish"),
}


def _epilog(name: str) -> str | None:
    """Two examples per command under --help (blank lines: the help keeps each on its line)."""
    lines = EXAMPLES.get(name)
    if not lines:
        return None
    return "Examples:\n\n" + "\n\n".join(f"  {x}".replace("[", "\\[") for x in lines)


DATA_FORMATS = ("csv", "json", "jsonl")


def _check_output(opts: Options, option: str, path: str | None = None, fmt: str | None = None) -> None:
    """An output file whose extension names no format is a usage error unless
    --format says the format (``-o x.xlsx`` would otherwise be CSV by surprise)."""
    path = opts.output if path is None else path
    fmt = opts.format if fmt is None else fmt
    if not path or path == "-" or fmt:
        return
    suffix = Path(path).suffix.lower()
    if suffix and suffix.lstrip(".") not in DATA_FORMATS:
        raise UsageError(f"{option} {path}: the extension {suffix} names no format (csv, json, jsonl); "
                         f"give --format, or name the file .csv, .json or .jsonl")


def _config_line(opts: Options) -> None:
    """--verbose: which config file the run uses."""
    from retention_cli.config import find_config

    try:
        path = find_config(opts.config, None)
    except Exception:  # the command itself reports a config problem, with its exit code
        return
    from retention_cli.io.writers import shown

    err_console(opts).print(f"retention: config: {shown(path) if path else 'none (defaults and options only)'}",
                            markup=False)


def run_guarded(opts: Options, body: Callable[[], Any]) -> Any:
    """The error handler: user mistakes become one line and their exit code;
    bugs become "internal error … please report" (traceback with --verbose)."""
    con = err_console(opts)
    try:
        return body()
    except typer.Exit:
        raise
    except RetentionError as e:
        from retention_cli.io.writers import visible

        con.print(visible(f"retention: error: {e.message}"), markup=False)
        for line in e.details:
            con.print(visible(f"  {line}"), markup=False)
        raise typer.Exit(e.exit_code) from None
    except KeyboardInterrupt:
        # as SIGTERM and SIGHUP say (main): a ^C is told, not only exit 130
        sys.stderr.write("retention: stopped by SIGINT; nothing half-written is left\n")
        raise typer.Exit(130) from None
    except BrokenPipeError:
        # The reader went away (`| head`): end quietly, without a second error on exit.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        raise typer.Exit(0) from None
    except Exception as e:  # a bug: short message, traceback only on request
        if _signalled:  # SIGTERM or SIGHUP inside an extension module's import or callback,
            # which wraps the exception in its own ("ImportError: initialization failed";
            # main handles those that are not an Exception): stopped, not broken
            raise Terminated(_signalled[-1]) from None
        from retention_cli.io.writers import visible

        con.print(visible(f"retention: internal error: {type(e).__name__}: {e} (please report this; "
                          "--verbose shows the traceback)"), markup=False)
        if opts.verbose:
            con.print(traceback.format_exc(), markup=False)
        raise typer.Exit(1) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"retention {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    ctx: typer.Context,
    config: Annotated[Optional[str], typer.Option("--config", "-c", metavar="PATH", help="Config file (also accepted after the command).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="More detail; tracebacks for internal errors.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No warnings or progress on stderr.")] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colours (NO_COLOR is honoured too).")] = False,
    version: Annotated[bool, typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    ctx.obj = Options(config=config, verbose=verbose, quiet=quiet, no_color=no_color)


# --- output helper --------------------------------------------------------------------

@contextlib.contextmanager
def fitting(opts: Options):
    """Progress on stderr while a model is fitted: the model, its start, the iteration."""
    from retention_cli.kpis import clv
    from retention_cli.session import activity

    with activity(opts) as update, clv.fit_progress(
            lambda model, start, starts, i: update(f"fitting {model}: start {start} of {starts}, iteration {i}")):
        yield


def show(run, df, *, title: str, percent: tuple[str, ...] = (), meta: dict | None = None,
         transpose_key: str | None = None) -> None:
    """Data to stdout or --output in the chosen format; warnings to stderr."""
    from retention_cli.io import writers

    df = run.blank_after_end(df)
    warn(run.opts, run.warnings)
    fmt = run.output_format()
    meta = meta if meta is not None else run.meta()
    folder = writers.side_folder(run.opts.output)
    if folder is not None and run.inputs is not None:
        # SPEC §1: with an output folder, skipped rows are kept there, unchanged
        kept = writers.write_rejects(run.inputs.tables, folder)
        warn(run.opts, [f"rejected rows kept in {writers.shown(p)}" for p in kept])
        warn(run.opts, [f"{writers.shown(p)} is not this run's: it left out no row of that table "
                        "(an earlier run's rejects: delete the file once dealt with)"
                        for p in writers.stale_rejects(run.inputs.tables, folder)])
    if fmt == "table":
        # KPIs per period: always KPIs as rows and periods (with segments) as columns,
        # in blocks of periods that fit the terminal, with or without --by
        if transpose_key:
            view = writers.transpose_for_terminal(df, transpose_key, percent, by=run.by)
            render_view(run.opts, lambda w: writers.rich_table(view, title=title, width=w, keys=1, align="right"))
        else:
            render_view(run.opts, lambda w: writers.rich_table(df, title=title, percent=percent, width=w))
        return
    writers.emit(writers.render(df, fmt, meta), run.opts.output)


# --- commands -------------------------------------------------------------------------

@command("validate", exclude=("period", "from_", "to", "freq", "as_of", "by"), help="Load every configured input, check it and report problems. Exit 0 when clean, 65 when a table has bad rows (or warnings, with --strict), 66 when a file is missing.")
def validate_cmd(
    opts: Options,
    strict: Annotated[bool, typer.Option("--strict", help="Warnings (rows whose customer is not in the customers file) count as problems.")] = False,
) -> None:
    import pandas as pd

    from retention_cli.session import Run
    from retention_cli.validate import validate

    run = Run(opts)
    overrides = {t: getattr(opts, t) for t in ("customers", "purchases", "complaints", "responses", "invoices")}
    checks, code = validate(run.cfg, overrides, strict=strict)
    from retention_cli.io import writers

    fmt = run.output_format()
    if fmt == "table":
        _print_checks(opts, checks)
    else:
        df = pd.DataFrame([c.as_row() for c in checks])
        for col in ("rows", "bad_rows", "customers", "orphan_rows"):  # counts, null where unknown: not 50.0
            df[col] = df[col].astype("Int64")
        meta = run.meta(tables=[{k: v for k, v in vars(c).items()} for c in checks], exit_code=code)
        # A failed run never writes or replaces a file (README: output files);
        # the report still goes to stdout for scripts.
        writers.emit(writers.render(df, fmt, meta), None if code else opts.output)
    con = err_console(opts)
    for c in checks:
        for p in c.problems:
            if p.endswith(" bad rows"):
                continue
            # rows of customers not in the customers file are a warning (kept), whatever
            # else the table has, unless --strict makes warnings fail the check: then
            # they are printed as the errors they are
            notice = c.orphan_rows and p.endswith("are not in the customers file")
            level = "warning" if (notice or c.status == "warnings") and not strict else "error"
            if level == "warning" and opts.quiet:
                continue
            con.print(writers.visible(f"retention: {level}: {c.table}: {p}"), markup=False)
        for reason, info in c.bad_by_reason.items():
            con.print(writers.visible(f"retention: error: {c.table}: {info['count']} × {reason}"), markup=False)
            for ex in info["examples"]:
                con.print(writers.visible(f"  {ex}"), markup=False)
    if code:
        raise typer.Exit(code)


def _print_checks(opts: Options, checks) -> None:
    from rich.table import Table as RichTable
    from rich.text import Text

    from retention_cli.io.writers import cell

    con = out_console(opts)
    for c in checks:
        colour = {"ok": "green", "warnings": "yellow"}.get(c.status, "red")
        t = RichTable(title=Text.assemble(cell(f"{c.table}: {c.file}  "), cell(c.status, colour)), title_justify="left",
                      show_header=False, box=None, padding=(0, 2))
        t.add_column("what", style="bold")
        t.add_column("value", overflow="fold")
        if c.rows is not None:
            t.add_row("rows", cell(f"{c.rows:,}" + (f" ({c.bad_rows:,} bad)" if c.bad_rows else "")))
        if c.customers is not None:
            t.add_row("customers", cell(f"{c.customers:,}"))
        if c.date_from is not None:
            t.add_row("dates", cell(f"{c.date_from} to {c.date_to}"))
        for h, canon in c.mapping.items():
            t.add_row("column", cell(f"{h} → {canon}" if h != canon else canon))
        if c.attributes:
            t.add_row("attributes", cell(", ".join(c.attributes)))
        for reason, info in c.bad_by_reason.items():
            t.add_row("bad", cell(f"{info['count']:,} × {reason}"))
            for ex in info["examples"]:
                t.add_row("", cell(ex))
        for p in c.problems:
            if not p.endswith("bad rows"):
                t.add_row("problem", cell(p))
        con.print(t)
        con.print()


@command("init", common=False, help="Sniff the given exports and write a commented retention.yaml that maps them (never overwrites without --force).")
def init_cmd(
    opts: Options,
    files: Annotated[list[Path], typer.Argument(help="The exports to map: customers, purchases, complaints and/or survey answers; - reads one from stdin (the config then reads it from stdin too).", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the config; - is stdout.")] = Path("retention.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing config.")] = False,
    profile: Annotated[Optional[str], typer.Option("--profile", metavar="NAME", help="Read every file with this platform profile (shopify-orders, stripe-subscriptions, zendesk-tickets…; see docs/exports.md) instead of recognising it from the header.")] = None,
) -> None:
    from retention_cli.init import write_config
    from retention_cli.io import writers

    def echo(line: str) -> None:  # what init recognised and what it could not decide: stderr
        if not opts.quiet:
            print(line, file=sys.stderr)

    if any(str(f) == "-" for f in files):
        written = _init_from_stdin(files, output, force=force, profile=profile, echo=echo)
    else:
        written = write_config(files, output, force=force, profile=profile, echo=echo)
    if str(output) == "-":
        return
    typer.echo(writers.shown(written))
    if not opts.quiet:
        err_console(opts).print(f"retention: wrote {written}; check the guesses, then run `retention validate -c {written}`",
                                markup=False)


def _init_from_stdin(files: list[Path], output: Path, *, force: bool, profile: str | None, echo) -> Path:
    """``init -``: the export on standard input is sniffed like a file (spooled to a
    temporary folder) and the config reads it from standard input (``path: "-"``)."""
    import re
    import tempfile

    from retention_cli.errors import OutputError
    from retention_cli.init import write_config
    from retention_cli.io import writers

    if sum(str(f) == "-" for f in files) > 1:
        raise UsageError("- (standard input) can be given once")
    if sys.stdin is None or sys.stdin.isatty():
        raise UsageError("- is standard input, but it is a terminal: pipe or redirect the export (retention init - < orders.csv)")
    if str(output) != "-" and output.exists() and not force:
        raise OutputError(f"{output} exists; use --force to overwrite it")
    data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode("utf-8")
    suffix = ".csv.gz" if data[:2] == b"\x1f\x8b" else ".parquet" if data[:4] == b"PAR1" else ".csv"
    with tempfile.TemporaryDirectory(prefix="retention-init-") as tmp:
        spooled = Path(tmp) / f"standard-input{suffix}"
        spooled.write_bytes(data)
        config = Path(tmp) / "retention.yaml"
        write_config([spooled if str(f) == "-" else f.resolve() for f in files], config, force=True,
                     profile=profile, echo=lambda line: echo(line.replace(str(spooled), "-").replace(spooled.name, "-")))
        text = config.read_text(encoding="utf-8")
    text = re.sub(r"(['\"]?)[^\s'\"]*" + re.escape(spooled.name) + r"\1", '"-"', text)
    if str(output) == "-":
        writers.emit(text.encode("utf-8"), None)
    else:
        writers.atomic_write(output, text.encode("utf-8"))
    return output


@command("churn", help="Customers at the start and end of each period, new, lost, retained and reactivated ones, churn rate with its 95 % Wilson interval, and retention rate. Needs purchases (inactivity model) or customers with signup_date and churn_date (contract model).")
def churn_cmd(opts: Options) -> None:
    from retention_cli.kpis.base import CHURN_RATIOS
    from retention_cli.session import Run

    run = Run(opts)
    model = run.cfg.churn.model
    needed = ("purchases",) if model == "inactivity" else ("customers",)
    optional = ("customers",) if model == "inactivity" else ("purchases",)
    run.load(needed, optional, orders_only=True, base_only=True, facts=True)
    periods = run.periods()
    run.horizon_warning(periods)
    df = run.workspace().flows(periods, run.by)
    show(run, df, title=f"Churn ({model} model)", percent=CHURN_RATIOS,
         transpose_key="period")


@command("purchases", help="Orders, buyers, revenue, average order value, purchase frequency, repurchase rate, first vs repeat order value, multi-product buyers, revenue concentration, net revenue retention, lifetime, simple CLV, acquisition cost, loyalty participation and sales cycle, per period. KPIs whose input column is absent are left out with a note.")
def purchases_cmd(opts: Options) -> None:
    from retention_cli.kpis.purchasing import PURCHASE_RATIOS
    from retention_cli.session import Run

    run = Run(opts)
    run.load(("purchases",), ("customers",), orders_only=True, products=True, costs=True, base_only=True,
             facts="sums")
    periods = run.periods()
    run.horizon_warning(periods)
    df = run.workspace().purchases(periods, run.by)
    run.note_omitted(df)
    show(run, df, title="Purchasing", percent=PURCHASE_RATIOS, transpose_key="period")


@command("suggest-window", exclude=("customers", "complaints", "responses", "invoices", "period", "from_", "to", "freq", "as_of", "by"), help="The distribution of gaps between a customer's consecutive purchase days (percentiles 50/75/90/95/99) and a proposed inactivity window W: the 90th percentile rounded up to a multiple of 30 days.")
def suggest_window_cmd(opts: Options) -> None:
    from retention_cli.kpis.base import suggest_window
    from retention_cli.session import Run

    run = Run(opts)
    run.load(("purchases",), orders_only=True, base_only=True, facts=True)
    df, w, sentence = suggest_window(run.base())
    df = df.rename(columns={"days": "value"})  # it holds counts (purchase days, gaps) as well as days
    if not opts.quiet:
        err_console(opts).print(sentence, markup=False)
    show(run, df, title="Gaps between purchases: counts, and percentiles in days", meta=run.meta(proposed_window=w, explanation=sentence))


class Relative(str, Enum):
    previous = "previous"


@command("cohorts", help="Customers grouped by the period of their first purchase (contract model: signup), and the share of each cohort active k periods later. A heat map on a terminal; tidy rows (cohort, offset, cohort_size, active, retention) in csv/json.")
def cohorts_cmd(
    opts: Options,
    revenue: Annotated[bool, typer.Option("--revenue", help="Add cumulative revenue per cohort member.")] = False,
    relative: Annotated[Optional[Relative], typer.Option("--relative", help="Also retention relative to the previous offset (active at k / active at k - 1).")] = None,
) -> None:
    from retention_cli.io import writers
    from retention_cli.kpis.cohorts import cohort_table
    from retention_cli.session import Run

    run = Run(opts)
    model = run.cfg.churn.model
    run.load(("purchases",) if model == "inactivity" else ("customers",),
             ("customers",) if model == "inactivity" else ("purchases",), orders_only=True, base_only=True,
             facts="sums" if revenue else True)
    periods = run.periods()
    df = cohort_table(run.base(), periods, model, run.cfg.churn.inactivity_days,
                      revenue=revenue, relative=relative.value if relative else None, by=run.by)
    if run.output_format() == "table":
        from rich.console import Group

        warn(opts, run.warnings)
        # a heat map per value asked for (retention; with --relative the retention
        # relative to the previous offset; with --revenue the cumulative revenue per
        # member), and per segment with --by
        values = ["retention"] + (["retention_relative"] if relative else []) + (
            ["cumulative_revenue_per_member"] if revenue else [])
        parts = [(None, df)] if not run.by else [
            (", ".join(str(k) for k in (key if isinstance(key, tuple) else (key,))), part)
            for key, part in df.groupby(run.by, sort=False)]
        render_view(opts, lambda w: Group(*[writers.cohort_heatmap(part, value=v, width=w, title=name)
                                           for name, part in parts for v in values]))
        return
    show(run, df, title="Cohorts", percent=("retention", "retention_relative"))


@command("summary", exclude=("from_", "to", "by"), help="The headline KPIs (customers, churn, retention, orders, revenue, order value, repurchase, net revenue retention; NPS and CSAT, complaints and their resolution, and the revenue at risk from unseen dissatisfaction when those inputs are configured) of the latest complete period, or --period, beside the previous period and the same period a year earlier.")
def summary_cmd(opts: Options) -> None:
    from retention_cli.kpis.summary import RATIOS
    from retention_cli.session import Run

    run = Run(opts)
    run.load(("purchases",), ("customers", "responses", "complaints"), orders_only=True, products=True, costs=True,
             base_only=True, facts="sums", attributes=True)
    if opts.from_ or opts.to:
        raise UsageError("summary takes one period (--period), not a series")
    period = run.periods()[-1]
    responses = run.inputs.get("responses")
    if responses is not None and "answered_date" not in responses.df:
        run.warnings.append("the responses have no answered_date: no satisfaction lines in the summary")
    df = run.workspace().summary(period)
    if run.output_format() == "table":
        from retention_cli.io import writers

        warn(opts, run.warnings)
        render_view(opts, lambda w: writers.summary_view(df, RATIOS, width=w))
        return
    show(run, df, title="Summary")


@command("satisfaction", help="NPS (with its 95 % margin of error and whether the change from the previous period exceeds the noise), promoter/passive/detractor shares, CSAT mean and top-two-box share, per period. --link: retention of the customers who answered, by NPS category and CSAT score.")
def satisfaction_cmd(
    opts: Options,
    link: Annotated[bool, typer.Option("--link", help="Retention over the next satisfaction.horizon_periods of the customers who answered, by NPS category and by CSAT score, with the gaps promoters - detractors and top box - rest.")] = False,
) -> None:
    from retention_cli.kpis.satisfaction import SATISFACTION_RATIOS, satisfaction_link, satisfaction_table
    from retention_cli.session import Run

    run = Run(opts)
    cfg = run.cfg
    if link:
        run.load_with_base("responses")
    else:
        run.load(("responses",), ("customers", "purchases"), orders_only=True, base_only=True, facts=True)
    periods = run.periods()
    responses = run.inputs.get("responses").df
    base = run.base() if (run.inputs.get("customers") or run.inputs.get("purchases")) else None
    if link:
        h = cfg.satisfaction.horizon_periods
        df = satisfaction_link(responses, periods, base, model=cfg.churn.model, window=cfg.churn.inactivity_days,
                               data_end=run.data_end(), horizon=h, csat_scale=cfg.satisfaction.csat_scale)
        if (~df["complete"]).any():
            run.warnings.append(f"the {h}-period horizon after {', '.join(sorted(set(df.loc[~df['complete'], 'period'])))} "
                                "ends after the data end: retention not observed yet (null)")
        show(run, df, title=f"Retention {h} period{'s' if h > 1 else ''} after answering",
             percent=("retention",), meta=run.meta(horizon_periods=h))
        return
    df = satisfaction_table(responses, periods, data_end=run.data_end(), base=base, by=run.by,
                            count=cfg.nps.count, csat_scale=cfg.satisfaction.csat_scale,
                            min_responses=cfg.satisfaction.min_responses)
    low = df[df["low_sample"]]
    if len(low):
        run.warnings.append(f"{len(low)} row{'s' if len(low) != 1 else ''} with fewer than "
                            f"{cfg.satisfaction.min_responses} answers (low_sample: true); their NPS is noise-prone")
    show(run, df, title="Satisfaction", percent=SATISFACTION_RATIOS, transpose_key="period")


@command("complaints", help="Complaints opened, complaining customers and their rate, complaints per 100 orders, resolution share and days, SLA attainment, open backlog, traceability, and the return rate of complainers by outcome beside the benchmarks of the customer-service literature. --reasons: why lost customers left.")
def complaints_cmd(
    opts: Options,
    reasons: Annotated[bool, typer.Option("--reasons", help="Instead: the lost customers of each period by churn reason (customers.churn_reason mapped through churn_reasons.map) beside the benchmark of the customer-service literature, and the share the company controls.")] = False,
) -> None:
    from retention_cli.kpis.complaints import (BENCHMARKS, COMPLAINT_RATIOS, REASON_BENCHMARK, churn_reasons,
                                               complaint_notes)
    from retention_cli.session import Run

    run = Run(opts)
    cfg = run.cfg
    if reasons:
        run.load(("customers", "purchases") if cfg.churn.model == "inactivity" else ("customers",), ("purchases",),
                 orders_only=True, base_only=True, facts=True, attributes=True)
        periods = run.periods()
        df = churn_reasons(run.base(), periods, model=cfg.churn.model, window=cfg.churn.inactivity_days,
                           data_end=run.data_end(), mapping=cfg.churn_reasons.map)
        unmapped = sorted(set(df.loc[~df["mapped"] & (df["lost_customers"] > 0) & (df["reason"] != "(missing)"), "reason"]))
        if unmapped:
            run.warnings.append(f"churn reasons not mapped to a benchmark category (churn_reasons.map): {', '.join(unmapped)}")
        show(run, df, title="Why lost customers left", percent=("share_of_known", "benchmark_share"),
             meta=run.meta(benchmark=REASON_BENCHMARK, benchmark_source="IPeut, \"Aller plus loin que le service clients\""))
        return
    run.load(("complaints",), ("customers", "purchases"), orders_only=True, base_only=True, facts=True,
             attributes=True)
    periods = run.periods()
    ws = run.workspace()
    base = ws.base
    if base is None:
        run.warnings.append("no purchases: complaint_rate, complaints_per_100_orders and the return rates are left out")
    complaints = run.inputs.get("complaints").df
    statuses = cfg.complaints.resolved_statuses
    df = ws.complaint_kpis(periods, run.by, with_base=base is not None)
    run.warnings.extend(complaint_notes(complaints, data_end=run.data_end(), resolved_statuses=statuses,
                                        purchases=base is not None))
    show(run, df, title="Complaints", percent=COMPLAINT_RATIOS, transpose_key="period",
         meta=run.meta(benchmarks=BENCHMARKS, benchmark_source="IPeut, \"Aller plus loin que le service clients\""))


WOM = "Word-of-mouth assumptions (default: config wom:, else the customer-service literature)"


@command("wom", exclude=("by",), help="Word-of-mouth loss estimate: from the complaints seen, the dissatisfied customers not seen, the defections expected, the people they tell, the prospects lost and the revenue at risk, each as central, low (optimistic) and high (pessimistic), with every assumption and its source. What-if without data: --unhappy U or --complaint-count N.")
def wom_cmd(
    opts: Options,
    unhappy: Annotated[Optional[float], typer.Option("--unhappy", min=0, help="What-if: this many dissatisfied customers in all (no data needed).")] = None,
    complaints_n: Annotated[Optional[float], typer.Option("--complaint-count", min=0, metavar="N", help="What-if: this many complaining customers (no data needed). --complaints is the complaints file, as on every command.")] = None,
    customer_value: Annotated[Optional[float], typer.Option("--customer-value", min=0, help="Value of one customer for revenue_at_risk \\[default: economics.customer_value, else the observed clv_simple].")] = None,
    show_sensitivity: Annotated[bool, typer.Option("--sensitivity", help="Instead: how revenue_at_risk moves when each assumption goes from its low to its high value (a tornado), largest first.")] = False,
    show_assumptions: Annotated[bool, typer.Option("--assumptions", help="Instead: the assumptions used, with value, range, observed/assumed/configured and source.")] = False,
    complaint_share: Annotated[Optional[float], typer.Option(rich_help_panel=WOM, help="Share of dissatisfied customers who complain (0.04).")] = None,
    silent_per_complaint: Annotated[Optional[float], typer.Option(rich_help_panel=WOM, help="Customers with a problem per complaint received (26).")] = None,
    serious_share_of_silent: Annotated[Optional[float], typer.Option(rich_help_panel=WOM, help="Share of those problems that are serious (6/26).")] = None,
    silent_defection_rate: Annotated[Optional[float], typer.Option(rich_help_panel=WOM, help="Share of silent dissatisfied customers who leave (0.91).")] = None,
    return_if_resolved: Annotated[Optional[float], typer.Option(rich_help_panel=WOM, help="Complainers resolved (late) who buy again (0.62).")] = None,
    return_if_resolved_fast: Annotated[Optional[float], typer.Option(rich_help_panel=WOM, help="Complainers resolved fast who buy again (0.95).")] = None,
    return_if_unresolved: Annotated[Optional[float], typer.Option(rich_help_panel=WOM, help="Unresolved complainers who buy again (0.09).")] = None,
    negative_reach: Annotated[Optional[float], typer.Option(rich_help_panel=WOM, help="People an unhappy customer who left tells (11.3).")] = None,
    positive_reach: Annotated[Optional[float], typer.Option(rich_help_panel=WOM, help="People a happy customer tells (4).")] = None,
    prospect_loss_per_told: Annotated[Optional[float], typer.Option(rich_help_panel=WOM, help="Told people who become lost prospects (1.0, an upper bound).")] = None,
) -> None:
    from retention_cli.config import ConfigError, WomConfig
    from retention_cli.kpis import wom
    from retention_cli.session import Run

    run = Run(opts)
    cfg = run.cfg
    given = {"complaint_share": complaint_share, "silent_per_complaint": silent_per_complaint,
             "serious_share_of_silent": serious_share_of_silent, "silent_defection_rate": silent_defection_rate,
             "return_if_resolved": return_if_resolved, "return_if_resolved_fast": return_if_resolved_fast,
             "return_if_unresolved": return_if_unresolved, "negative_reach": negative_reach,
             "positive_reach": positive_reach, "prospect_loss_per_told": prospect_loss_per_told}
    merged = {**cfg.wom.model_dump(), **{k: v for k, v in given.items() if v is not None}}
    try:
        WomConfig.model_validate(merged)
    except Exception as e:  # the limits of the config's wom: section; a value typed here is a usage error (2)
        err = e.errors()[0]
        key = err["loc"][0]
        msg = err["msg"].removeprefix("Value error, ")  # pydantic's prefix is not for people
        problem = msg[0].lower() + msg[1:]
        if given.get(key) is not None:
            raise UsageError(f"--{str(key).replace('_', '-')} {given[key]:g}: {problem}") from None
        raise ConfigError(f"wom.{key}: {problem}") from None
    value = customer_value if customer_value is not None else cfg.economics.customer_value
    if opts.complaints and opts.complaints != "-" and not Path(opts.complaints).exists() and _is_number(opts.complaints):
        # the spelling before 0.2: `wom --complaints 40` was a count
        raise UsageError(f"--complaints is the complaints file, as on every command; for a what-if count "
                         f"use --complaint-count {opts.complaints}")
    if unhappy is not None and complaints_n is not None:
        raise UsageError("give --unhappy or --complaint-count, not both")
    if unhappy is not None or complaints_n is not None:
        a = wom.assumptions(merged)
        situations = [wom.Situation("what-if", complaints=complaints_n, unhappy=unhappy, clv=value,
                                    clv_source="--customer-value" if customer_value is not None else
                                    ("economics.customer_value" if value is not None else "none"))]
        estimates = wom.wom_table(situations, a)  # no observed losses: nothing caps the defections
        meta_extra = {"mode": "what-if"}
    else:
        # the costs: the observed margin of clv_simple, the customer value of the revenue at risk
        # (the purchase sums only for the customer value: none asked when one is given)
        run.load(("complaints",), ("customers", "purchases"), orders_only=True, costs=True, base_only=True,
                 facts=True if value is not None else "sums", attributes=True)
        periods = run.periods()
        # the customer base as the report builds it (contract model: from the customers alone)
        base = run.workspace().base
        # the same computation as summary's and the report's revenue at risk
        result = run.workspace().wom(periods, configured=merged, customer_value=value)
        situations, a, estimates = result.situations, result.assumptions, result.table
        run.warnings.extend(result.warnings)
        if base is None:
            run.warnings.append("no purchases: every assumption is the literature's or the config's, and revenue needs economics.customer_value")
        elif run.inputs.get("purchases") is None:
            run.warnings.append("no purchases: the return rates are the literature's or the config's, and revenue needs economics.customer_value")
        meta_extra = {"mode": "data"}
    table = wom.assumption_table(a)
    meta = run.meta(assumptions=table.to_dict("records"), note="estimates from general studies, not measurements of this business", **meta_extra)
    if show_assumptions:
        show(run, table, title="Word-of-mouth assumptions", meta=meta)
        return
    if show_sensitivity:
        df = pd_concat([wom.sensitivity(s, a) for s in situations])
        if run.output_format() == "table":
            from retention_cli.io import writers

            warn(opts, run.warnings)
            render_view(opts, lambda w: writers.tornado(df, width=w))
            return
        show(run, df, title="Sensitivity", meta=meta)
        return
    df = estimates
    if run.output_format() == "table":
        from retention_cli.io import writers

        warn(opts, run.warnings)
        render_view(opts, lambda w: writers.wom_view(df, table, width=w))
        return
    show(run, df, title="Word of mouth", meta=meta)
    from retention_cli.io import writers

    folder = writers.side_folder(opts.output)
    if folder is not None and run.output_format() == "csv":
        name = writers.output_target(opts.output)[1].name
        writers.atomic_write(folder / ((name[:-4] if name.endswith(".csv") else name) + ".assumptions.csv"),
                             writers.to_csv(table))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def pd_concat(frames):
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


@command("report", exclude=("format", "output"), help="Everything the config's report: section asks for, written to files (one per section and format, meta.json, rejects/, and a self-contained index.html), put in place atomically. Prints the files written, one per line. For cron: retention report -c /etc/retention.yaml --period last-month.")
def report_cmd(
    opts: Options,
    output: Annotated[Optional[str], typer.Option("--output", "-o", metavar="DIR", rich_help_panel=OUT, help="The report's folder \\[default: the config's report.output_dir]. Replaced only when it is new, empty or an earlier report.")] = None,
) -> None:
    import time
    from pathlib import Path as P

    from retention_cli import report
    from retention_cli.session import Run

    from retention_cli.io import writers

    opts.output = output
    started = time.perf_counter()
    if opts.output == "-":
        raise UsageError("report writes a folder of files: -o - (stdout) is not possible; name a folder")
    run = Run(opts)
    if opts.output:
        writers.check_replaceable(opts.output)  # before the work: a folder of other files is never replaced
    rc = run.cfg.report
    if not (opts.period or opts.from_ or opts.to) and rc.period:
        if ".." in rc.period:
            opts.from_, opts.to = (x.strip() for x in rc.period.split("..", 1))
        else:
            opts.period = rc.period
    by = run.by or list(rc.by)
    run.opts.by = by
    from retention_cli.session import activity

    sections = list(rc.sections) if rc.sections is not None else report.default_sections(run)
    if "clv" in sections:  # the fit's progress on the bar (SciPy is imported for the clv section only)
        from retention_cli.kpis.clv import fit_progress
    else:
        fit_progress = contextlib.nullcontext
    with activity(opts, total=len(sections)) as update:
        done: list[str] = []

        def on_section(name: str) -> None:  # the bar counts the sections computed
            update(f"report: {name}", advance=1 if done else 0)
            done.append(name)

        with fit_progress(lambda model, start, starts, i: update(
                f"report: clv, fitting {model}: start {start} of {starts}, iteration {i}")):
            built, periods, notes = report.build(run, sections, by, on_section=on_section)
    target = opts.output or report.output_dir(rc.output_dir, periods, run.as_of or run.data_end(), run.freq)
    target = P(target if opts.output else run.cfg.resolve_path(target))
    files = report.write(run, built, periods, notes, list(rc.formats), target, started)
    warn(opts, run.warnings + notes)
    if not opts.quiet:
        for f in files:
            typer.echo(writers.shown(f))
        headline = next((s.headline for s in built if s.headline is not None), None)
        if headline is not None and sys.stderr.isatty():
            from retention_cli.kpis.summary import RATIOS

            con = err_console(opts)
            con.print(writers.summary_view(headline, RATIOS, width=con.width))


class TimeUnit(str, Enum):
    days = "days"
    weeks = "weeks"
    months = "months"
    day = "day"
    week = "week"
    month = "month"


class ClvModel(str, Enum):
    bgnbd = "bgnbd"
    pareto_nbd = "pareto-nbd"
    mbg_nbd = "mbg-nbd"


@command("clv", exclude=("period", "from_", "to", "freq", "by"), help="Predicted churn and customer value: a buy-till-you-die model (BG/NBD by default; Pareto/NBD or MBG/NBD with --model) fitted by maximum likelihood gives each customer's probability of still being a customer and expected purchases over any horizon; Gamma-Gamma the expected spend per purchase; CLV is their discounted product. Prints the parameters with standard errors, expected customers alive, expected revenue and the CLV deciles. --compare: every model ranked on the holdout.")
def clv_cmd(
    opts: Options,
    model: Annotated[Optional[ClvModel], typer.Option("--model", help="The purchase model: bgnbd (Fader, Hardie & Lee 2005), pareto-nbd (Schmittlein, Morrison & Colombo 1987) or mbg-nbd (Batislam, Denizel & Filiztekin 2007) \\[default: clv.model, else bgnbd].")] = None,
    time_unit: Annotated[Optional[TimeUnit], typer.Option("--time-unit", metavar="UNIT", help="Unit of frequency, recency, T and --horizon: days, weeks or months (day, week, month too) \\[default: clv.time_unit, else weeks].")] = None,
    horizon: Annotated[Optional[float], typer.Option("--horizon", metavar="N", help="Horizon of expected purchases and CLV, in --time-unit (at most 20 years) \\[default: clv.horizon, else 12 months].")] = None,
    calibration_end: Annotated[Optional[str], typer.Option("--calibration-end", metavar="DATE", help="Last day of the calibration period \\[default: clv.calibration_end, else the last day of the data].")] = None,
    holdout: Annotated[Optional[bool], typer.Option("--holdout/--no-holdout", help="Compare predicted and actual repeat purchases after --calibration-end (per frequency bucket, and the cumulative tracking) \\[default: clv.holdout].")] = None,
    compare: Annotated[bool, typer.Option("--compare", help="Instead: fit every model on the calibration span and rank them by the mean absolute error per customer of their holdout predictions (the days after --calibration-end) and by log-likelihood.")] = False,
    horizon_months: Annotated[Optional[int], typer.Option("--horizon-months", min=1, max=240, help="Horizon in months (the same as --horizon N --time-unit months, but frequency, recency and T keep their unit) \\[default: clv.horizon_months, else 12].")] = None,
    customers_out: Annotated[Optional[str], typer.Option("--customers-out", metavar="FILE", help="Write the per-customer table (customer_id, frequency, recency, T, p_alive, expected_purchases, expected_avg_order_value, clv) to FILE (csv, json or jsonl by extension).")] = None,
) -> None:
    from datetime import timedelta

    from retention_cli.io import writers
    from retention_cli.kpis import clv
    from retention_cli.periods import parse_date
    from retention_cli.session import Run

    run = Run(opts)
    cfg = run.cfg
    if customers_out == "-" and opts.output in (None, "-"):
        raise UsageError("--customers-out - and the summary would both go to stdout: "
                         "name a file for one of them (-o FILE or --customers-out FILE)")
    if horizon is not None and horizon_months is not None:
        raise UsageError("give --horizon (in --time-unit) or --horizon-months, not both")
    if compare and customers_out:
        raise UsageError("--compare ranks the models; --customers-out scores the customers with one of them: "
                         "run them apart")
    # the orders alone (an engine may keep them and sum them per customer)
    run.load(("purchases",), orders_only=True, base_only=True, facts="sums")
    unit = time_unit.value if time_unit else cfg.clv.time_unit
    unit = unit if unit.endswith("s") else unit + "s"  # day, week, month: as their plurals
    kind = model.value if model else cfg.clv.model
    end = parse_date(calibration_end, "--calibration-end") if calibration_end else cfg.clv.calibration_end
    last_day = run.data_end() - timedelta(days=1)
    end = end or last_day
    use_holdout = cfg.clv.holdout if holdout is None else holdout
    if use_holdout and end >= last_day:
        raise UsageError("--holdout needs a --calibration-end before the last day of the data")
    purchases = run.purchase_orders()
    if compare:
        if end >= last_day:
            run.warnings.append("no holdout (the calibration ends on the last day of the data): the models are "
                                "ranked by log-likelihood only; set --calibration-end earlier to rank them by "
                                "their predictions too")
        try:
            with fitting(opts):
                table, notes = clv.compare(purchases, calibration_end=end,
                                           holdout_end=last_day if end < last_day else None, unit=unit)
        except DataError as e:
            raise DataError(f"clv: {e.message}") from None
        run.warnings += notes
        show(run, table, title=f"Models compared: calibration to {end}"
                               + (f", holdout to {last_day}" if end < last_day else "") + f" ({unit})",
             meta=run.meta(calibration_end=end, holdout_end=last_day if end < last_day else None, time_unit=unit))
        return
    months = horizon_months or cfg.clv.horizon_months
    if horizon is None and horizon_months is None and cfg.clv.horizon is not None:
        horizon = cfg.clv.horizon
    try:  # a degenerate fit is refused (65) with its reason, on one line
        with fitting(opts):
            result = clv.analyse(purchases, calibration_end=end, unit=unit, horizon_months=months, horizon=horizon,
                                 model=kind, annual_discount_rate=cfg.economics.annual_discount_rate,
                                 gross_margin=cfg.economics.gross_margin, holdout_end=last_day if use_holdout else None)
    except DataError as e:
        raise DataError(f"clv: {e.message}") from None
    run.warnings += result.warnings
    fitted = result.model
    meta = run.meta(calibration_end=end, time_unit=unit, model=kind, horizon=result.horizon_label.replace("_", " "),
                    horizon_months=None if horizon is not None else months,
                    **{fitted.name: {"converged": result.bg.converged, "message": result.bg.message,
                                     "starts": result.bg.starts_tried}},
                    holdout=None if result.holdout is None else result.holdout.to_dict("records"))
    if customers_out:
        fmt = writers.format_from_path(customers_out) or "csv"
        writers.emit(writers.render(result.customers, fmt, meta), customers_out)
    if run.output_format() == "table":
        from rich.console import Group

        warn(opts, run.warnings)
        exact = {fitted.name, "gamma_gamma", "new_customer"}
        view = result.summary.assign(  # parameters need four decimals, money two
            value=[f"{v:,.4f}" if k in exact and v is not None
                   else writers.format_cell(v, n, set()) for k, n, v in zip(result.summary["kind"], result.summary["name"], result.summary["value"])],
            standard_error=[writers.format_cell(v, "", set()) if v is None or v != v else f"{v:.4f}"
                            for v in result.summary["standard_error"]])
        title = f"Customer value: {fitted.title} + Gamma-Gamma, calibration to {end} ({unit})"
        render_view(opts, lambda w: Group(writers.rich_table(view, title=title, width=w), *(
            [] if result.holdout is None else
            [writers.rich_table(result.holdout, title="Holdout: repeat purchases per customer, actual vs predicted",
                                width=w)])))
        return
    show(run, result.summary, title="Customer value", meta=meta)


@command("collections", help="Invoices and what customers owe: invoices issued and their amount, the share paid and paid on time, mean days late, receivables at the start and end, overdue amount and share, days sales outstanding (DSO), the collection effectiveness index (CEI), disputed share, amounts to write off and customers with overdue invoices, per period. --churn: churn of the customers with and without an overdue invoice at each period start. Needs an invoices input.")
def collections_cmd(
    opts: Options,
    churn: Annotated[bool, typer.Option("--churn", help="Instead: churn of the customers active at each period start, with and without an overdue invoice then (needs purchases, or customers under the contract model).")] = False,
) -> None:
    from retention_cli.kpis.collections import (COLLECTION_RATIOS, OVERDUE_CHURN_RATIOS, collection_notes)
    from retention_cli.session import Run

    run = Run(opts)
    cfg = run.cfg
    if churn:
        run.load_with_base("invoices")
    else:
        run.load(("invoices",), ("customers",))
    periods = run.periods()
    ws = run.workspace()
    run.warnings.extend(collection_notes(ws.invoices, data_end=run.data_end(), terms_days=cfg.collections.terms_days))
    if churn:
        df = ws.overdue_churn(periods, run.by)
        show(run, df, title="Churn and overdue invoices", percent=OVERDUE_CHURN_RATIOS,
             transpose_key="period")
        return
    df = ws.collections(periods, run.by)
    show(run, df, title="Collections", percent=COLLECTION_RATIOS, transpose_key="period",
         meta=run.meta(terms_days=cfg.collections.terms_days, write_off_days=cfg.collections.write_off_days))


@command("survival", help="Survival of subscribers: the share of each signup cohort still a customer at the end of each later period, and the shifted-beta-geometric model (Fader & Hardie 2007) fitted on every cohort at once, overall and per --by segment, projected --horizon periods past the data. Prints per offset the observed and fitted survival and retention rate and the discounted expected residual lifetime (DERL); --parameters: α, β with standard errors, log-likelihood and lifetimes; --cohorts: the cohort table. Needs customers with signup_date and churn_date.")
def survival_cmd(
    opts: Options,
    horizon: Annotated[Optional[int], typer.Option("--horizon", min=1, max=1200, metavar="N", help="Periods (of --freq) projected past the longest observed tenure \\[default: survival.horizon_periods, else 12].")] = None,
    parameters: Annotated[bool, typer.Option("--parameters", help="Instead: one row per segment with α, β and their standard errors, the log-likelihood, expected and median lifetime, and the DERL of a new customer.")] = False,
    cohorts: Annotated[bool, typer.Option("--cohorts", help="Instead: the cohort survival table (cohort, offset, cohort_size, alive, survival, survival_fitted).")] = False,
) -> None:
    from retention_cli.errors import InputMissingError
    from retention_cli.kpis import survival
    from retention_cli.model.customers import build_base
    from retention_cli.session import Run

    if parameters and cohorts:
        raise UsageError("give --parameters or --cohorts, not both")
    run = Run(opts)
    cfg = run.cfg
    run.load(("customers",))
    customers = run.inputs.get("customers")
    missing = [c for c in ("signup_date", "churn_date") if c not in customers.df]
    if missing:
        raise InputMissingError(f"survival needs customers.{' and customers.'.join(missing)} (when each customer "
                                f"started and, if so, ended the contract); {customers.display} has no "
                                f"{' or '.join(missing)} column")
    base = build_base(customers.df, None, "contract", run.inputs.encoded,
                      subscriptions=getattr(customers, "subscriptions", None))
    chosen = run.periods() if (opts.period or opts.from_ or opts.to) else None
    h = horizon or cfg.survival.horizon_periods
    try:  # a degenerate fit is refused (65) with its reason, on one line
        result = survival.analyse(base, freq=run.freq, data_end=run.data_end(), horizon=h,
                                  annual_discount_rate=cfg.economics.annual_discount_rate, by=run.by, cohorts=chosen)
    except DataError as e:
        raise DataError(f"survival: {e.message}") from None
    run.warnings += result.warnings
    meta = run.meta(model="shifted-beta-geometric (Fader & Hardie 2007)", horizon_periods=h,
                    discount_rate_per_period=result.discount_rate,
                    first_cohort=result.periods[0].label, last_complete_period=result.periods[-1].label,
                    parameters=result.parameters.to_dict("records"))
    if cohorts:
        show(run, result.cohorts, title="Cohort survival", percent=survival.SURVIVAL_RATIOS, meta=meta)
        return
    if parameters:
        show(run, result.parameters, title="Shifted-beta-geometric fit", meta=meta)
        return
    if run.output_format() == "table":
        from retention_cli.io import writers

        from rich.console import Group

        warn(opts, run.warnings)
        view = result.parameters.assign(**{c: [None if v is None or v != v else f"{v:.4f}" for v in result.parameters[c]]
                                           for c in ("alpha", "alpha_se", "beta", "beta_se")})
        render_view(opts, lambda w: Group(
            writers.rich_table(view, title=f"Shifted-beta-geometric fit, cohorts {result.periods[0].label} to "
                                           f"{result.periods[-1].label} ({run.freq})", width=w),
            writers.rich_table(result.curve, title=f"Survival per {run.freq} of tenure, observed and fitted "
                                                   f"(projected {h} past the data)",
                               percent=survival.SURVIVAL_RATIOS, width=w)))
        return
    show(run, result.curve, title="Survival", percent=survival.SURVIVAL_RATIOS, meta=meta)


@command("mrr", help="Monthly recurring revenue of a subscriptions export: MRR at the start and end of each period and how it moved in between, customer by customer — new, reactivation (customers back after a time without a paying subscription), expansion, contraction and churned MRR — net new MRR, paying customers, average MRR per paying customer, net and gross MRR retention. Yearly, weekly and daily amounts count as monthly ones (÷ 12, × 52/12, × 365/12). Needs customers read as subscriptions with a recurring amount.")
def mrr_cmd(opts: Options) -> None:
    from retention_cli.kpis.mrr import MRR_RATIOS
    from retention_cli.session import Run

    run = Run(opts)
    run.load(("customers",))
    periods = run.periods()
    df = run.workspace().mrr(periods, run.by)
    show(run, df, title="Monthly recurring revenue", percent=MRR_RATIOS, transpose_key="period")


class Shell(str, Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


@command("completion", common=False, help="Print the shell completion script for bash, zsh or fish (commands, options and their values complete on Tab). Save it where your shell loads completions, or eval it in your shell's startup file.")
def completion_cmd(
    opts: Options,
    shell: Annotated[Shell, typer.Argument(help="The shell: bash, zsh or fish.", case_sensitive=False, show_default=False)],
) -> None:
    from typer._completion_shared import get_completion_script

    script = get_completion_script(prog_name="retention", complete_var="_RETENTION_COMPLETE", shell=shell.value)
    typer.echo(script)


class Terminated(BaseException):
    """SIGTERM (a cron job's timeout, a shutdown) or SIGHUP (the terminal closed)
    turned into an exception, so that every ``with`` block unwinds: temporary files
    and folders are removed and the previous output stays as it was."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


_signalled: list[int] = []  # the termination signals received, in order


def _on_signal(signum, frame) -> None:
    _signalled.append(signum)
    raise Terminated(signum)


def main() -> None:
    import os
    import signal

    # The one process-wide setting, at the entry point only (library code never
    # changes the process): pyarrow's jemalloc pool. The 10M churn peaks at 1.7 GiB
    # with it, 1.9-2.1 GiB with the default pool, at the same speed
    # (docs/performance.md). Set before pyarrow is imported; a pool the user chose is
    # kept (ARROW_DEFAULT_MEMORY_POOL=system to opt out).
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _on_signal)
    try:
        try:
            _run()
        except (SystemExit, KeyboardInterrupt, Terminated):
            raise
        except BaseException:
            if not _signalled:
                raise
            # the signal's exception came back wrapped by an extension module (an
            # import's "initialization failed", pydantic-core's PanicException): a stop
            raise Terminated(_signalled[-1]) from None
    except SystemExit as e:
        # The outcome is decided and the output in place (or nothing written): a
        # signal while the interpreter shuts down (it puts the default handlers back
        # and waits for the cache's writer) must not turn it into "killed" with no
        # word. Ignored from here, as the process ends anyway.
        _ignore_signals()
        if isinstance(e.code, int) and (e.code == 130 or _computing()):
            # ^C, or an error while a report's second thread still computes: no
            # interpreter finalisation under that thread (``_stop``)
            _stop(e.code)
        raise
    except Terminated as t:
        _ignore_signals()  # a second signal must not cut the stop short
        name = signal.Signals(t.signum).name
        # the output is the previous one, or (when the signal came as it was put in
        # place) the complete new one: never a mixture, never a temporary left
        try:
            sys.stderr.write(f"retention: stopped by {name}; nothing half-written is left\n")
        except OSError:  # the terminal is gone (SIGHUP): nobody to tell
            pass
        _stop(128 + t.signum)  # the shell's convention: 143 for SIGTERM, 129 for SIGHUP


def _ignore_signals() -> None:
    """SIGTERM, SIGHUP and SIGINT ignored: the run's outcome is decided."""
    import signal

    for name in ("SIGTERM", "SIGHUP", "SIGINT"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)


def _stop(code: int) -> None:
    """End a stopped run without the interpreter's finalisation. A report's table
    thread (a daemon: a stopped run does not wait for it) may be inside pandas or
    Arrow when the run stops; finalising the interpreter under it can abort the
    process ("Fatal Python error: PyGILState_Release", exit -6 instead of 130).
    What finalisation would do that matters is done here first: the other
    non-daemon threads (the cache's writer) are awaited, the exit handlers run (the
    engine's temporary folder is removed), the streams are flushed. ``main`` is the
    process's entry point (the ``retention`` script, ``python -m retention_cli``): a
    run stopped there ends the process, which a caller of ``main`` cannot catch as
    ``SystemExit``; from a thread other than the main one it is a plain exit."""
    import atexit
    import threading

    if threading.current_thread() is not threading.main_thread():
        sys.exit(code)
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed pipe: nothing more to say there
            pass
    os._exit(code)


def _computing() -> bool:
    """Whether a report's table thread (``app.Workspace.in_background``) still runs."""
    import threading

    workspace = sys.modules.get("retention_cli.app")  # not imported: no such thread
    return workspace is not None and any(t.name == workspace.TABLE_THREAD and t.is_alive()
                                         for t in threading.enumerate())


def _run() -> None:
    try:
        # the parser's own usage errors (an unknown option, a value not among the
        # choices) become one line like every other error, not a framed box. They are
        # known by their class names: typer brings click itself or a copy of it
        code = app(standalone_mode=False)
    except Exception as e:
        kinds = {c.__name__ for c in type(e).__mro__}
        if "NoArgsIsHelpError" in kinds:  # `retention` alone: the help was printed
            sys.exit(2)
        if "UsageError" in kinds and hasattr(e, "format_message"):
            ctx = getattr(e, "ctx", None)
            where = ctx.command_path if ctx is not None else "retention"
            # one line, without pydantic's "Value error," (typer's enum choices go through it)
            message = " ".join(e.format_message().replace("Value error, ", "").split())
            sys.stderr.write(f"retention: error: {message} (see: {where} --help)\n")
            sys.exit(2)
        if "Abort" in kinds:  # ^C while the arguments were read
            sys.exit(130)
        raise
    sys.exit(code if isinstance(code, int) else 0)
