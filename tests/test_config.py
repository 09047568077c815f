from pathlib import Path

import pytest

from retention_cli.config import find_config, load_config, parse_config
from retention_cli.errors import ConfigError

CFG = Path("/cfg/retention.yaml")


def problem(text: str) -> str:
    with pytest.raises(ConfigError) as e:
        parse_config(text, CFG)
    assert e.value.exit_code == 78
    return e.value.message


def test_defaults():
    cfg = parse_config("", CFG)
    assert cfg.churn.inactivity_days == 180 and cfg.churn.denominator == "start"
    assert cfg.periods.freq == "month" and cfg.on_bad_rows == "error"
    assert cfg.satisfaction.csat_scale == (1, 5) and cfg.concentration.top_share == 0.2


def test_unknown_key_has_line_and_suggestion():
    text = "inputs:\n  purchases:\n    path: a.csv\n    delimter: ';'\n"
    assert problem(text) == "retention.yaml:4: inputs.purchases.delimter: unknown key (did you mean 'delimiter'?)"


def test_unknown_top_key():
    assert problem("churn: {}\nrepot: {}\n") == "retention.yaml:2: repot: unknown key (did you mean 'report'?)"


def test_wrong_type_and_impossible_value():
    assert problem("churn:\n  inactivity_days: soon\n").startswith("retention.yaml:2: churn.inactivity_days: input should be a valid integer")
    assert problem("churn:\n  inactivity_days: 0\n").startswith("retention.yaml:2: churn.inactivity_days: input should be greater than or equal to 1")
    assert "complaint_share" in problem("wom:\n  complaint_share: 1.5\n")


def test_literal_choices_listed():
    assert problem("churn: {model: subscription}") == "retention.yaml:1: churn.model: input should be 'inactivity' or 'contract'"


def test_yaml_syntax_error_has_line():
    msg = problem("inputs:\n  purchases: {path: a.csv\nchurn: {}\n")
    assert msg.startswith("retention.yaml:3: YAML syntax error")


def test_config_that_is_a_list_or_scalar():
    assert "must be a mapping" in problem("- a\n- b\n")
    assert "must be a mapping" in problem("just text\n")


def test_alias_bomb_refused():
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        name = chr(ord("a") + i)
        lines.append(f"{name}: &{name} [{', '.join('*' + prev for _ in range(15))}]")
    assert "aliases" in problem("\n".join(lines))


def test_bad_delimiter_encoding_timezone():
    assert "one character" in problem("inputs: {purchases: {path: a, delimiter: ';;'}}")
    assert "unknown encoding" in problem("inputs: {purchases: {path: a, encoding: klingon}}")
    assert "unknown time zone" in problem("timezone: Mars/Olympus")


def test_relative_paths_are_relative_to_the_config(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    p = tmp_path / "conf" / "r.yaml"
    p.write_text("inputs:\n  purchases: {path: data/p.csv}\n")
    cfg = load_config(p)
    assert cfg.resolve_path(cfg.inputs.purchases.path) == str(tmp_path / "conf" / "data" / "p.csv")
    monkeypatch.setenv("DATA_DIR", "/srv/data")
    assert cfg.resolve_path("$DATA_DIR/x.csv") == "/srv/data/x.csv"


def test_binary_and_missing_config(tmp_path):
    b = tmp_path / "bin.yaml"
    b.write_bytes(b"\x00\x01\x02")
    with pytest.raises(ConfigError, match="not a text file"):
        load_config(b)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_discovery_precedence(tmp_path):
    (tmp_path / "retention.yaml").write_text("")
    assert find_config("x.yaml", {"RETENTION_CONFIG": "env.yaml"}, tmp_path) == Path("x.yaml")
    assert find_config(None, {"RETENTION_CONFIG": "env.yaml"}, tmp_path) == Path("env.yaml")
    assert find_config(None, {}, tmp_path) == tmp_path / "retention.yaml"
    assert find_config(None, {}, tmp_path / "nowhere") is None


# --- what cannot be meant: refused at load, with the line (exit 78) -----------------


def test_column_key_must_be_a_canonical_name_of_its_table():
    text = "inputs:\n  purchases:\n    path: p.csv\n    columns:\n      customer_id: Client\n      ammount: Montant\n"
    assert problem(text) == ("retention.yaml:6: inputs.purchases.columns.ammount: "
                             "not a column of purchases (did you mean 'amount'?)")
    # a complaints column under purchases: nothing close, so the table's columns are listed
    assert problem("inputs:\n  purchases: {path: p.csv, columns: {channel: Canal}}\n") == (
        "retention.yaml:2: inputs.purchases.columns.channel: not a column of purchases (its columns: "
        "customer_id, order_date, amount, quantity, unit_price, order_id, product_id, cost, unit_cost)")


def test_customers_attributes_come_from_headers_not_from_columns():
    msg = problem("inputs:\n  customers: {path: c.csv, columns: {segment: Region}}\n")
    assert msg.startswith("retention.yaml:2: inputs.customers.columns.segment: not a column of customers (its columns: ")
    assert msg.endswith("other columns are attributes under their own header (--by HEADER)")
    cfg = parse_config("inputs:\n  customers: {path: c.csv, columns: {customer_id: Client, churn_reason: Motif}}\n", CFG)
    assert cfg.inputs.customers.columns == {"customer_id": "Client", "churn_reason": "Motif"}


def test_one_header_may_feed_several_names_of_one_kind():
    cfg = parse_config('inputs:\n  complaints:\n    path: k.csv\n    columns:\n      customer_id: "Complaint ID"\n'
                       '      complaint_id: "Complaint ID"\n      category: "Complaint ID"\n', CFG)  # ids and text
    assert cfg.inputs.complaints.columns == {"customer_id": "Complaint ID", "complaint_id": "Complaint ID",
                                             "category": "Complaint ID"}
    parse_config("inputs:\n  customers: {path: c.csv, columns: {signup_date: D, first_contact_date: D}}\n", CFG)
    # a column is not an id and a number; by position as by name
    assert problem("inputs:\n  purchases:\n    path: p.txt\n    header: false\n"
                   "    columns: {customer_id: 1, order_date: 2, amount: 1}\n") == (
        "retention.yaml:5: inputs.purchases.columns.amount: column 1 also feeds customer_id: "
        "one column cannot be an id and a number")


def test_resolved_statuses():
    assert parse_config("", CFG).complaints.resolved_statuses is None
    cfg = parse_config('complaints:\n  resolved_statuses: [" Solved ", closed, 4]\n', CFG)
    assert cfg.complaints.resolved_statuses == ["Solved", "closed", "4"]  # trimmed; codes as the file writes them
    assert problem("complaints:\n  resolved_statuses: solved\n") == (
        "retention.yaml:2: complaints.resolved_statuses: a list of status values, such as [solved, closed] "
        "(not the text 'solved')")
    assert problem("complaints:\n  resolved_statuses: []\n") == (
        "retention.yaml:2: complaints.resolved_statuses: an empty list: list the status values that mean resolved, "
        "or leave the key out")
    assert problem('complaints:\n  sla_days: 2\n  resolved_statuses: [solved, " "]\n').startswith(
        "retention.yaml:3: complaints.resolved_statuses: an empty status value")
    assert problem("complaints:\n  resolved_statuses: [solved, yes]\n").startswith(
        "retention.yaml:2: complaints.resolved_statuses: yes, no, true and false are read by YAML as true/false")
    assert "did you mean 'resolved_statuses'" in problem("complaints:\n  resolved_status: [solved]\n")


def test_every_bad_column_key_is_listed_in_line_order():
    with pytest.raises(ConfigError) as e:
        parse_config("inputs:\n  purchases: {path: p.csv, columns: {amout: A}}\n"
                     "  customers: {path: c.csv, columns: {sigup_date: S}}\n", CFG)
    assert e.value.message.startswith("retention.yaml:2: inputs.purchases.columns.amout:")
    assert e.value.details == ["retention.yaml:3: inputs.customers.columns.sigup_date: not a column of customers "
                               "(did you mean 'signup_date'?); other columns are attributes under their own header (--by HEADER)"]


def test_acquisition_spend_keys_are_period_labels():
    base = "economics:\n  acquisition_spend:\n    2024-01: 100\n"
    assert problem(base + "    2024-13: 100\n") == (
        "retention.yaml:4: economics.acquisition_spend.2024-13: period '2024-13': month must be 01 to 12")
    assert problem(base + "    2024-1: 100\n") == (
        "retention.yaml:4: economics.acquisition_spend.2024-1: write the period as '2024-01', the label the output uses")
    assert "is relative" in problem(base + "    this-quarter: 100\n")
    assert "'all' is not one period" in problem(base + "    all: 100\n")
    # a year written as a number is the year's label; every frequency's label is a key
    cfg = parse_config(base + "    2024: 1200\n    2024-Q2: 300\n    2024-W05: 20\n", CFG)
    assert cfg.economics.acquisition_spend == {"2024-01": 100, "2024": 1200, "2024-Q2": 300, "2024-W05": 20}


@pytest.mark.parametrize("text", ["2024-03", "2024-Q1", "2024-W05", "2024", "all", "ALL", "last-month",
                                  "this-quarter", "2024-01..2024-06", "2024-01 .. last-month", "2024-01..", "..2024-06",
                                  "2024..2024-Q2"])
def test_report_period_accepted(text):
    assert parse_config(f"report:\n  period: '{text}'\n", CFG).report.period == text


@pytest.mark.parametrize("text, expected", [
    ("2024-13", "period '2024-13': month must be 01 to 12"),
    ("2024-Q0", "period '2024-Q0': quarter must be Q1 to Q4"),
    ("2025-W53", "period '2025-W53': ISO year 2025 has no week 53"),  # 2025 begins on a Wednesday: 52 weeks
    ("last-fortnight", "period 'last-fortnight' is not a label: use 2024-W05, 2024-03"),
    ("2024-06..2024-01", "period '2024-06..2024-01': 2024-06 is after 2024-01"),
    ("2025..2024-Q4", "period '2025..2024-Q4': 2025 is after 2024-Q4"),  # 2025 starts after 2024-Q4 ends
    ("2024-01..2024-13", "period '2024-13': month must be 01 to 12"),
    ("all..2024-01", "period 'all..2024-01': 'all' cannot be one end of a range"),
    ("..", "period '..': a range needs a first or a last period: 2024-01..2024-06"),
])
def test_report_period_refused_with_its_line(text, expected):
    assert problem(f"churn: {{}}\nreport:\n  sections: [churn]\n  period: '{text}'\n").startswith(
        f"retention.yaml:4: report.period: {expected}")


def test_report_range_within_one_period_is_fine():
    # 2024-Q1..2024-03: Q1 starts before March ends (a series of its months with --freq month)
    assert parse_config("report: {period: 2024-Q1..2024-03}\n", CFG).report.period == "2024-Q1..2024-03"


@pytest.mark.parametrize("where, text", [
    ("economics.customer_value", "economics:\n  customer_value: .inf\n"),
    ("economics.gross_margin", "economics:\n  gross_margin: .nan\n"),
    ("economics.annual_discount_rate", "economics:\n  annual_discount_rate: .NaN\n"),
    ("economics.acquisition_spend.2024-01", "economics:\n  acquisition_spend: {2024-01: .inf}\n"),
    ("wom.negative_reach", "wom:\n  negative_reach: -.inf\n"),
    ("wom.silent_per_complaint", "wom:\n  silent_per_complaint: .inf\n"),
    ("complaints.sla_days", "complaints:\n  sla_days: .inf\n"),
    ("concentration.top_share", "concentration:\n  top_share: .nan\n"),
    ("satisfaction.csat_scale.1", "satisfaction:\n  csat_scale: [1, .inf]\n"),
    ("churn.inactivity_days", "churn:\n  inactivity_days: .inf\n"),
    ("wom.positive_reach", "wom:\n  positive_reach: 'inf'\n"),  # the text "inf" as well as YAML's .inf
])
def test_numbers_must_be_finite(where, text):
    assert problem(text) == f"retention.yaml:2: {where}: input should be a finite number"


def test_large_finite_numbers_are_still_numbers():
    assert parse_config("economics:\n  customer_value: 1.0e+300\n", CFG).economics.customer_value == 1e300


@pytest.mark.parametrize("template", ["reports/{period}", "{as_of}/{freq}/{period}", "out", "r/{{x}}/{period}", "~/r/{period}"])
def test_output_dir_placeholders_accepted(template):
    assert parse_config(f"report:\n  output_dir: '{template}'\n", CFG).report.output_dir == template


@pytest.mark.parametrize("template, expected", [
    ("r/{period.label}", "unknown placeholder {period.label} (known: {period}, {as_of}, {freq}; {{ and }} for a literal brace)"),
    ("r/{0}", "unknown placeholder {0} (known: "),
    ("r/{}", "unknown placeholder {} (known: "),
    ("r/{Period}", "unknown placeholder {Period} (known: "),
    ("r/{period[0]}", "unknown placeholder {period[0]} (known: "),
    ("r/{period!r}", "placeholder {period!r}: write {period} as it is, without a conversion"),
    ("r/{period:>5}", "placeholder {period:>5}: write {period} as it is, without a format"),
    ("r/{period", "expected '}' before end of string (write {{ or }} for a literal brace)"),
    ("r/period}", "single '}' encountered in format string (write {{ or }} for a literal brace)"),
    ("${OUT}/{period}", "placeholder {OUT}: write the environment variable as $OUT (braces are placeholders here: "),
])
def test_output_dir_placeholders_refused(template, expected):
    assert problem(f"report:\n  formats: [csv]\n  output_dir: '{template}'\n").startswith(
        f"retention.yaml:3: report.output_dir: {expected}")


def test_unset_variables_in_paths(monkeypatch):
    monkeypatch.delenv("NOPE", raising=False)
    monkeypatch.setenv("DATA_DIR", "/srv/data")
    assert problem("inputs:\n  purchases: {path: $NOPE/p.csv}\n") == (
        "retention.yaml:2: inputs.purchases.path: environment variable $NOPE is not set")
    assert problem("inputs:\n  customers:\n    path: '${NOPE}/c.csv'\n") == (
        "retention.yaml:3: inputs.customers.path: environment variable $NOPE is not set")
    assert problem("report:\n  output_dir: $NOPE/{period}\n") == (
        "retention.yaml:2: report.output_dir: environment variable $NOPE is not set")
    # set variables and ~ are expanded as before
    cfg = parse_config("inputs:\n  purchases: {path: $DATA_DIR/p.csv}\n  customers: {path: ~/c.csv}\n"
                       "report: {output_dir: '$DATA_DIR/{period}'}\n", CFG)
    assert cfg.resolve_path(cfg.inputs.purchases.path) == "/srv/data/p.csv"
    assert cfg.resolve_path(cfg.inputs.customers.path) == str(Path.home() / "c.csv")


def test_unset_variables_follow_expandvars():
    from retention_cli.config import unset_variables

    env = {"A": "1", "EMPTY": ""}
    assert unset_variables("$A/${A}/$EMPTY/x.csv", env) == []  # set, even to nothing
    assert unset_variables("$B/${C}/$B/price$.csv/${}", env) == ["B", "C"]  # "$." and "${}" are not names
    assert unset_variables("$A_B/x", env) == ["A_B"]  # a name runs to the last word character


def test_report_with_unset_output_variable_writes_nothing(cli, monkeypatch):
    from tests.conftest import write

    monkeypatch.delenv("RETENTION_TEST_SURELY_UNSET", raising=False)
    write(cli.cwd, "retention.yaml", "inputs:\n  purchases: {path: p.csv}\n"
                                     "report:\n  output_dir: $RETENTION_TEST_SURELY_UNSET/{period}\n")
    r = cli("report")  # p.csv does not exist: reading it would be 66
    assert r.exit_code == 78, r.stderr
    assert r.stderr == ("retention: error: retention.yaml:4: report.output_dir: "
                        "environment variable $RETENTION_TEST_SURELY_UNSET is not set\n")
    assert sorted(p.name for p in cli.cwd.iterdir()) == ["retention.yaml"]


def test_duplicate_keys_name_both_lines():
    assert problem("churn:\n  model: contract\n  inactivity_days: 90\n  model: inactivity\n") == (
        "retention.yaml:4: churn.model: duplicate key 'model' (first at line 2)")
    with pytest.raises(ConfigError) as e:
        parse_config("report: {}\nchurn: {}\nreport: {}\ninputs: {purchases: {path: a, path: b}}\n", CFG)
    assert e.value.message == "retention.yaml:3: report: duplicate key 'report' (first at line 1)"
    assert e.value.details == ["retention.yaml:4: inputs.purchases.path: duplicate key 'path' (first at line 4)"]


def test_merge_keys_are_not_duplicates():
    cfg = parse_config("inputs:\n  purchases:\n    <<: {path: a.csv, delimiter: ';'}\n    path: b.csv\n", CFG)
    assert cfg.inputs.purchases.path == "b.csv" and cfg.inputs.purchases.delimiter == ";"


@pytest.mark.parametrize("text, line", [
    ("[" * 20000, 1),
    ("{a: " * 20000, 1),
    ("- " * 20000 + "1\n", 1),
    ("".join(" " * i + "a:\n" for i in range(2000)), 100),  # the 101st node is the key on line 100
])
def test_deep_nesting_refused_quickly(text, line):
    import time

    started = time.perf_counter()
    msg = problem(text)
    assert time.perf_counter() - started < 3  # it was 25 s and a RecursionError; it is 0.3 s
    assert msg == f"retention.yaml:{line}: YAML nested deeper than 100 levels"


def test_nesting_at_the_limit_and_some_aliases_are_fine():
    # 99 levels of lists under one key: the mapping, the key's value and 98 more lists = 100 nodes deep
    text = "x: " + "[" * 99 + "]" * 99 + "\n"
    with pytest.raises(ConfigError, match="x: unknown key"):
        parse_config(text, CFG)
    anchors = "inputs:\n  purchases: &p {path: a.csv}\n  customers: *p\n"
    assert parse_config(anchors, CFG).inputs.customers.path == "a.csv"


def test_alias_bomb_refused_with_its_line():
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev, name = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{name}: &{name} [{', '.join('*' + prev for _ in range(15))}]")
    # 15 aliases per line from line 2: the 101st is on line 8
    assert problem("\n".join(lines)) == "retention.yaml:8: more than 100 YAML aliases; refusing a config that expands itself"
