"""Every option a command offers does something (issue 17): walked from the typer app.

For each command and each of its options (as ``--help`` lists them), the command is
run twice on a small real dataset (a slice of sample_data/): once as a baseline and
once with the option set to a value that must matter. The two runs must differ in
what the user sees: exit code, stdout, stderr or the files written. An option that
changes nothing is a bug: make it work, or take it off the command (``command()``'s
``exclude=``). An option missing from VARIANTS below fails the walk too, so a new
option comes with its check.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from retention_cli.cli import app
from tests.conftest import ROOT

GROUP = typer.main.get_command(app)
KEEP = 200  # customers C00001..C00200; purchases also of C00201..C00240 (orphans: a warning)

CONFIG = """\
inputs:
  customers: {path: customers.csv}
  purchases:
    path: purchases.csv
  complaints: {path: complaints.csv}
  responses: {path: responses.csv}
  invoices: {path: invoices.csv}
report:
  sections: [summary, churn]
  formats: [csv]
  output_dir: out/{period}
"""
ALT = CONFIG.replace("path: purchases.csv", "path: purchases-2024.csv") + \
    "churn: {inactivity_days: 60}\nperiods: {freq: quarter}\n"
# the customers as a subscriptions export: one subscription each, signup to churn, 10 to 50 a month
SUBSCRIPTIONS = CONFIG.replace("customers: {path: customers.csv}", "customers: {path: subscriptions.csv, "
                               "subscriptions: {amount: amount, interval: interval}}") + "churn: {model: contract}\n"

# Per option name, or (command, option name): (extra baseline args, the args that must change something).
# The baseline of every command is `retention COMMAND -f csv` in a folder holding retention.yaml.
WOM_VALUES = {"complaint_share": "0.1", "silent_per_complaint": "30", "serious_share_of_silent": "0.5",
              "silent_defection_rate": "0.95", "return_if_resolved": "0.3", "return_if_resolved_fast": "0.5",
              "return_if_unresolved": "0.01", "negative_reach": "20", "positive_reach": "8",
              "prospect_loss_per_told": "0.5"}
VARIANTS: dict = {
    "config": ([], ["-c", "alt.yaml"]),
    **{t: ([], [f"--{t}", "missing.csv"]) for t in ("customers", "purchases", "complaints", "responses", "invoices")},
    "period": ([], ["--period", "2024-06"]),
    "from_": ([], ["--from", "2025-06"]),
    "to": ([], ["--to", "2025-03"]),
    "freq": ([], ["--freq", "quarter"]),
    "as_of": ([], ["--as-of", "2025-07-01"]),
    "by": ([], ["--by", "segment"]),
    # the numbers are the same on every engine (tests/engines): the run's settings say which read the inputs
    "engine": (["-f", "json"], ["--engine", "duckdb"]),
    ("report", "engine"): ([], ["--engine", "duckdb"]),
    "format": ([], ["-f", "JSON"]),
    "output": ([], ["-o", "out.csv"]),
    "verbose": ([], ["-v"]),
    "quiet": (["-v"], ["-q"]),
    "no_color": (["-f", "table"], ["--no-color"]),  # run with FORCE_COLOR=1: only the flag removes the colour
    ("validate", "strict"): ([], ["--strict"]),
    ("init", "output"): (["customers.csv", "-o", "-"], ["-o", "new.yaml"]),
    ("init", "force"): (["customers.csv", "-o", "retention.yaml"], ["--force"]),
    ("init", "profile"): (["customers.csv", "-o", "-"], ["--profile", "shopify-orders"]),
    ("cohorts", "revenue"): ([], ["--revenue"]),
    ("cohorts", "relative"): ([], ["--relative", "previous"]),
    ("satisfaction", "link"): ([], ["--link"]),
    ("complaints", "reasons"): ([], ["--reasons"]),
    ("wom", "unhappy"): ([], ["--unhappy", "100"]),
    ("wom", "complaints_n"): ([], ["--complaint-count", "40"]),
    ("wom", "customer_value"): ([], ["--customer-value", "999"]),
    ("wom", "show_sensitivity"): ([], ["--sensitivity"]),
    ("wom", "show_assumptions"): ([], ["--assumptions"]),
    # the assumptions act on the estimate; a what-if makes that visible on a slice this small (its
    # few complaints make the observed share 1); the outcomes' return rates show in --assumptions
    **{("wom", k): (["--complaint-count", "40", "--customer-value", "100"]
                    + (["--assumptions"] if k in ("return_if_resolved_fast", "return_if_unresolved") else []),
                    [f"--{k.replace('_', '-')}", v]) for k, v in WOM_VALUES.items()},
    ("report", "output"): ([], ["-o", "elsewhere"]),
    ("report", "no_color"): ([], ["--no-color"]),
    ("clv", "model"): ([], ["--model", "pareto-nbd"]),
    ("clv", "time_unit"): ([], ["--time-unit", "days"]),
    ("clv", "horizon"): ([], ["--horizon", "10"]),
    ("clv", "calibration_end"): ([], ["--calibration-end", "2025-06-30"]),
    ("clv", "holdout"): (["-f", "json", "--calibration-end", "2025-06-30"], ["--holdout"]),  # meta.holdout
    ("clv", "compare"): ([], ["--compare"]),
    ("clv", "horizon_months"): ([], ["--horizon-months", "3"]),
    ("clv", "customers_out"): ([], ["--customers-out", "scores.csv"]),
    ("collections", "churn"): ([], ["--churn"]),
    ("survival", "horizon"): ([], ["--horizon", "3"]),
    ("survival", "parameters"): ([], ["--parameters"]),
    ("survival", "cohorts"): ([], ["--cohorts"]),
}
# mrr reads a subscriptions export with amounts: its runs use the config that has one (SUBSCRIPTIONS)
VARIANTS.update({("mrr", o): (["-c", "subscriptions.yaml", *extra], changed)
                 for o, (extra, changed) in list(VARIANTS.items()) if isinstance(o, str)})
# Options of commands with no data format: the baseline has no -f csv.
NO_FORMAT = {"init", "report", "completion"}
# report has no table on stdout: --no-color shows only on a terminal (the progress bar,
# the headline summary on stderr), which a test runner has not; it is checked there by
# test_no_color_has_no_style_at_all below.
TERMINAL_ONLY = {("report", "no_color")}


def _slice(src: Path, dest: Path, key: str, keep, *, encoding: str = "utf-8-sig", delimiter: str = ",",
           opener=open) -> None:
    with opener(src, "rt", encoding=encoding, newline="") as f:
        rows = list(csv.reader(f, delimiter=delimiter))
    i = rows[0].index(key)
    with open(dest, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(rows[0])
        w.writerows(r for r in rows[1:] if keep(int(r[i][1:])))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("walk-data")
    s = ROOT / "sample_data"
    _slice(s / "customers.csv", d / "customers.csv", "customer_id", lambda n: n <= KEEP)
    with open(s / "commandes.csv", encoding="cp1252", newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    with open(d / "purchases.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["customer_id", "order_id", "order_date", "product_id", "quantity", "amount"])
        for r in rows[1:]:
            if int(r[0][1:]) <= KEEP + 40:
                day, month, year = r[2].split("/")
                w.writerow([r[0], r[1], f"{year}-{month}-{day}", r[3], r[4], r[5].replace(",", ".")])
    _slice(s / "complaints.csv", d / "complaints.csv", "customer_id", lambda n: n <= KEEP)
    lines = (d / "purchases.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (d / "purchases-2024.csv").write_text("".join(lines[:1] + [x for x in lines[1:] if x.split(",")[2] < "2025"]),
                                          encoding="utf-8")
    _slice(s / "survey_responses.csv.gz", d / "responses.csv", "customer_id", lambda n: n <= KEEP, opener=gzip.open)
    _slice(s / "invoices.csv", d / "invoices.csv", "Customer ID", lambda n: n <= KEEP)
    (d / "retention.yaml").write_text(CONFIG, encoding="utf-8")
    (d / "alt.yaml").write_text(ALT, encoding="utf-8")
    with open(d / "customers.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    with open(d / "subscriptions.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["customer_id", "signup_date", "churn_date", "segment", "amount", "interval"])
        w.writerows([r["customer_id"], r["signup_date"], r["churn_date"], r["segment"], 10 * (1 + i % 5), "month"]
                    for i, r in enumerate(rows))
    (d / "subscriptions.yaml").write_text(SUBSCRIPTIONS, encoding="utf-8")
    return d


def _run(data: Path, tmp: Path, args: list[str], env: dict | None = None) -> tuple:
    """Run in a fresh copy of the data; what the user sees: exit code, stdout, stderr,
    and the files the run wrote (name and content)."""
    work = tmp / f"run{len(list(tmp.iterdir()))}"
    shutil.copytree(data, work)
    before = {p.relative_to(work): p.read_bytes() for p in work.rglob("*") if p.is_file()}
    cwd = os.getcwd()
    os.chdir(work)
    try:
        r = CliRunner().invoke(app, args, catch_exceptions=False,
                               env={"RETENTION_CONFIG": None, "RETENTION_FORMAT": None, "RETENTION_FREQ": None,
                                    "RETENTION_AS_OF": None, "RETENTION_CACHE": "off", "NO_COLOR": None,
                                    "COLUMNS": "200", **(env or {})})
    finally:
        os.chdir(cwd)
    files = hashlib.sha256()
    for p in sorted(work.rglob("*")):
        if p.is_file() and before.get(p.relative_to(work)) != p.read_bytes():
            files.update(str(p.relative_to(work)).encode() + b"\0" + p.read_bytes())
    return r.exit_code, r.stdout, r.stderr, files.hexdigest()


def _options():
    for name, cmd in sorted(GROUP.commands.items()):
        for p in cmd.params:
            if isinstance(p, typer.core.TyperOption) and p.name != "help":
                yield name, p.name


WALK = list(_options())


def test_the_walk_covers_every_option():
    missing = [f"{c} {o}" for c, o in WALK if (c, o) not in VARIANTS and o not in VARIANTS]
    assert missing == [], "give these options a check in VARIANTS (or take them off the command)"
    assert len(WALK) > 150


@pytest.mark.parametrize("command, option", [w for w in WALK if w not in TERMINAL_ONLY],
                         ids=[f"{c}-{o}" for c, o in WALK if (c, o) not in TERMINAL_ONLY])
def test_option_changes_something(command, option, data, tmp_path):
    extra, changed = VARIANTS.get((command, option)) or VARIANTS[option]
    base = [command] + ([] if command in NO_FORMAT or option == "no_color" else ["-f", "csv"]) + extra
    env = {"FORCE_COLOR": "1"} if option == "no_color" else None
    before = _run(data, tmp_path, base, env)
    after = _run(data, tmp_path, base + changed, env)
    assert before != after, f"retention {' '.join(base + changed)} changes nothing: {after[0]} {after[2][-300:]}"


@pytest.mark.parametrize("command, option", [
    ("clv", "by"), ("clv", "period"), ("clv", "freq"), ("suggest-window", "by"), ("suggest-window", "period"),
    ("suggest-window", "freq"), ("validate", "by"), ("validate", "period"), ("validate", "freq"),
    ("summary", "by"), ("wom", "by")])
def test_options_that_did_nothing_are_not_offered(command, option):
    """issue 17: these were listed and did nothing; they are off the command now."""
    assert option not in {p.name for p in GROUP.commands[command].params}


def test_wom_complaints_is_the_file_and_the_count_has_its_own_name(data, tmp_path):
    code, _, err, _ = _run(data, tmp_path, ["wom", "--complaints", "40"])
    assert code == 2 and "--complaint-count 40" in err and len(err.strip().splitlines()) == 1
    code, out, _, _ = _run(data, tmp_path, ["wom", "--complaint-count", "40", "--customer-value", "1200", "-f", "json"])
    assert code == 0 and '"complaints_observed"' in out


def test_format_is_case_insensitive_and_unknown_extensions_are_usage_errors(data, tmp_path):
    assert _run(data, tmp_path, ["churn", "-f", "JSON"])[1].lstrip().startswith("{")
    code, out, err, written = _run(data, tmp_path, ["churn", "-o", "churn.xlsx"])
    assert code == 2 and err.startswith("retention: error: --output churn.xlsx") and len(err.splitlines()) == 1
    assert _run(data, tmp_path, ["churn", "-o", "churn.txt", "-f", "table"])[0] == 0


def test_stdin_and_stdout_dash(data, tmp_path):
    code, out, err, _ = _run(data, tmp_path, ["clv", "--customers-out", "-", "-o", "summary.csv"])
    assert code == 0 and out.startswith("customer_id,frequency,recency")
    runner = CliRunner()
    text = (data / "customers.csv").read_text(encoding="utf-8")
    r = runner.invoke(app, ["init", "-", "-o", "-"], input=text, env={"RETENTION_CACHE": "off"})
    assert r.exit_code == 0, r.stderr
    assert 'path: "-"' in r.stdout and "customer_id" in r.stdout


def test_version_short_flag_and_completion_script():
    runner = CliRunner()
    assert runner.invoke(app, ["-V"]).stdout.startswith("retention ")
    bash = runner.invoke(app, ["completion", "bash"])
    assert bash.exit_code == 0 and "_RETENTION_COMPLETE=complete_bash" in bash.stdout and "complete " in bash.stdout
    for shell in ("zsh", "fish"):
        r = runner.invoke(app, ["completion", shell])
        assert r.exit_code == 0 and "_RETENTION_COMPLETE" in r.stdout


def test_every_command_has_two_examples():
    runner = CliRunner()
    for name in GROUP.commands:
        out = runner.invoke(app, [name, "--help"], env={"COLUMNS": "200"}).stdout
        examples = out.split("Examples:", 1)[-1]
        assert "Examples:" in out and examples.count(f"retention {name}") >= 2, name


def test_usage_errors_are_one_line_without_pydantic_prefixes(data):
    """The parser's own errors are turned into one line by the entry point (main)."""
    import subprocess
    import sys

    for args in (["churn", "--freq", "nope"], ["churn", "-f", "xml"], ["churn", "--bogus"],
                 ["wom", "--complaint-share", "2"], ["wom", "--unhappy", "-3"]):
        p = subprocess.run([sys.executable, "-m", "retention_cli", *args], cwd=data, capture_output=True, text=True,
                           env={**os.environ, "RETENTION_CACHE": "off", "PYTHONPATH": str(ROOT)})
        err = p.stderr
        assert p.returncode == 2 and err.startswith("retention: error: ") and len(err.strip().splitlines()) == 1, err
        assert "Value error" not in err and "╭" not in err


def test_no_color_has_no_style_at_all(data, tmp_path):
    code, out, _, _ = _run(data, tmp_path, ["churn", "-f", "table"], env={"FORCE_COLOR": "1"})
    assert code == 0 and "\x1b[" in out
    for args, env in ((["--no-color"], {"FORCE_COLOR": "1"}), ([], {"FORCE_COLOR": "1", "NO_COLOR": "1"})):
        code, out, _, _ = _run(data, tmp_path, ["churn", "-f", "table", *args], env=env)
        assert code == 0 and "\x1b[" not in out


def test_suggest_window_heads_its_numbers_value(data, tmp_path):
    code, out, _, _ = _run(data, tmp_path, ["suggest-window", "-f", "csv"])
    assert code == 0 and out.splitlines()[0] == "statistic,value"


def test_verbose_tells_what_was_read(data, tmp_path):
    code, _, err, _ = _run(data, tmp_path, ["churn", "-v", "-f", "csv"])
    assert code == 0 and "retention: config: " in err and "retention.yaml" in err
    assert "retention: read purchases: purchases.csv" in err and "retention: churn done in" in err
