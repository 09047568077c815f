"""Bad-input catalogue, continued: config cases (same form as test_catalogue.CASES:
name -> (files, config, args, exit code, message fragment)).

Every refused case here stops at the config, before any data is read: the inputs
they name do not exist, so reading anything would end in 66, not 78."""

P = "inputs:\n  purchases: {path: p.csv}\n"
OK = b"customer_id,order_date,amount\nA,2024-01-05,10\nB,2024-02-05,20\n"
# A variable no test environment sets.
UNSET = "RETENTION_TEST_SURELY_UNSET"
# `report` checks an -o folder before it reads the config: a new one, never created.
REPORT = ["report", "-o", "rep"]


def spend(key: str, value: str = "100") -> str:
    return P + f"economics:\n  acquisition_spend:\n    \"{key}\": {value}\n"


def period(text: str) -> str:
    return P + f"report:\n  period: \"{text}\"\n"


def output_dir(template: str) -> str:
    return P + f"report:\n  output_dir: '{template}'\n"


CASES: dict = {
    # --- a key under columns: that no table column has --------------------------------
    "columns: misspelt canonical name": (
        {}, "inputs:\n  purchases:\n    path: p.csv\n    columns: {ammount: Montant}\n", ["validate"], 78,
        "retention.yaml:4: inputs.purchases.columns.ammount: not a column of purchases (did you mean 'amount'?)"),
    "columns: a column of another table": (
        {}, "inputs:\n  purchases:\n    path: p.csv\n    columns:\n      category: Rayon\n", ["churn"], 78,
        "retention.yaml:5: inputs.purchases.columns.category: not a column of purchases (its columns: customer_id,"),
    "columns: a customers attribute": (
        {}, "inputs:\n  customers:\n    path: c.csv\n    columns: {segment: Region}\n", ["churn"], 78,
        "inputs.customers.columns.segment: not a column of customers"),
    "columns: by position, misspelt": (
        {}, "inputs:\n  purchases:\n    path: p.txt\n    header: false\n    columns: {customer_id: 1, order_date: 2, amout: 3}\n",
        ["validate"], 78, "retention.yaml:5: inputs.purchases.columns.amout: not a column of purchases (did you mean 'amount'?)"),
    "columns: canonical customers names": (
        {"c.csv": b"Client,Inscrit le,Region\nA,2024-01-05,North\n"},
        "inputs:\n  customers:\n    path: c.csv\n    columns: {customer_id: Client, signup_date: Inscrit le}\n",
        ["validate"], 0, ""),
    # --- period labels that are not labels --------------------------------------------
    "spend for month 13": (
        {}, spend("2024-13"), ["validate"], 78,
        "retention.yaml:5: economics.acquisition_spend.2024-13: period '2024-13': month must be 01 to 12"),
    "spend for a relative period": (
        {}, spend("last-month"), ["validate"], 78, "economics.acquisition_spend.last-month: period 'last-month' is relative"),
    "spend for all": ({}, spend("all"), ["validate"], 78, "economics.acquisition_spend.all: 'all' is not one period"),
    "spend under another spelling": (
        {}, spend("2024-1"), ["validate"], 78, "economics.acquisition_spend.2024-1: write the period as '2024-01'"),
    "spend for a year written as a number": (
        {"p.csv": OK}, P + "economics:\n  acquisition_spend: {2024: 5000, 2024-Q1: 1200}\n", ["validate"], 0, ""),
    "report period month 13": (
        {}, period("2024-13"), REPORT, 78, "retention.yaml:4: report.period: period '2024-13': month must be 01 to 12"),
    "report period quarter 5": ({}, period("2024-Q5"), REPORT, 78, "report.period: period '2024-Q5': quarter must be Q1 to Q4"),
    "report period week 53 of a 52-week year": (
        {}, period("2023-W53"), REPORT, 78, "report.period: period '2023-W53': ISO year 2023 has no week 53"),
    "report period not a label": ({}, period("yesterday"), REPORT, 78, "report.period: period 'yesterday' is not a label"),
    "report range backwards": (
        {}, period("2024-05..2024-02"), REPORT, 78, "report.period: period '2024-05..2024-02': 2024-05 is after 2024-02"),
    "report range with a bad end": (
        {}, period("2024-01..2024-13"), REPORT, 78, "report.period: period '2024-13': month must be 01 to 12"),
    "report range to all": ({}, period("2024-01..all"), REPORT, 78, "'all' cannot be one end of a range"),
    "report range without ends": ({}, period(".."), REPORT, 78, "a range needs a first or a last period"),
    "report period open range": ({"p.csv": OK}, period("2024-01.."), ["validate"], 0, ""),
    # --- numbers that are not finite --------------------------------------------------
    "customer value .inf": (
        {}, P + "economics:\n  customer_value: .inf\n", ["validate"], 78,
        "retention.yaml:4: economics.customer_value: input should be a finite number"),
    "gross margin .nan": ({}, P + "economics: {gross_margin: .nan}\n", ["validate"], 78, "economics.gross_margin: input should be a finite number"),
    "spend .inf": ({}, spend("2024-01", ".inf"), ["validate"], 78, "economics.acquisition_spend.2024-01: input should be a finite number"),
    "negative reach -.inf": ({}, "wom: {negative_reach: -.inf}\n", ["wom", "--unhappy", "1"], 78, "wom.negative_reach: input should be a finite number"),
    "negative reach .inf": ({}, "wom: {negative_reach: .inf}\n", ["wom", "--unhappy", "1"], 78, "wom.negative_reach: input should be a finite number"),
    "SLA .inf days": ({}, P + "complaints: {sla_days: .inf}\n", ["validate"], 78, "complaints.sla_days: input should be a finite number"),
    "CSAT scale to .inf": ({}, P + "satisfaction: {csat_scale: [1, .inf]}\n", ["validate"], 78, "satisfaction.csat_scale.1: input should be a finite number"),
    "spend 'inf' as text": ({}, spend("2024-01", "inf"), ["validate"], 78, "input should be a finite number"),
    # --- output_dir placeholders ------------------------------------------------------
    "output_dir {period.label}": (
        {}, output_dir("out/{period.label}"), REPORT, 78,
        "retention.yaml:4: report.output_dir: unknown placeholder {period.label} (known: {period}, {as_of}, {freq}"),
    "output_dir {0}": ({}, output_dir("out/{0}"), REPORT, 78, "report.output_dir: unknown placeholder {0}"),
    "output_dir {}": ({}, output_dir("out/{}"), REPORT, 78, "report.output_dir: unknown placeholder {}"),
    "output_dir {period!r}": ({}, output_dir("out/{period!r}"), REPORT, 78, "placeholder {period!r}: write {period} as it is"),
    "output_dir {period:>5}": ({}, output_dir("out/{period:>5}"), REPORT, 78, "placeholder {period:>5}: write {period} as it is"),
    "output_dir unbalanced {": ({}, output_dir("out/{period"), REPORT, 78, "report.output_dir: expected '}' before end of string"),
    "output_dir unbalanced }": ({}, output_dir("out/period}"), REPORT, 78, "report.output_dir: single '}' encountered"),
    "output_dir ${VAR}": ({}, output_dir("${HOME}/{period}"), REPORT, 78, "write the environment variable as $HOME"),
    "output_dir literal braces": ({"p.csv": OK}, output_dir("out/{{x}}/{as_of}_{freq}"), ["validate"], 0, ""),
    # --- environment variables that are not set ---------------------------------------
    "output_dir with an unset variable": (
        {}, output_dir(f"${UNSET}/{{period}}"), REPORT, 78,
        f"retention.yaml:4: report.output_dir: environment variable ${UNSET} is not set"),
    "input path with an unset variable": (
        {}, f"inputs:\n  purchases: {{path: ${UNSET}/p.csv}}\n", ["validate"], 78,
        f"retention.yaml:2: inputs.purchases.path: environment variable ${UNSET} is not set"),
    "input path with an unset ${variable}": (
        {}, f"inputs:\n  purchases: {{path: '${{{UNSET}}}/p.csv'}}\n", ["churn"], 78,
        f"inputs.purchases.path: environment variable ${UNSET} is not set"),
    # --- a key written twice ----------------------------------------------------------
    "duplicate top-level key": (
        {}, P + "churn: {model: contract}\nperiods: {freq: month}\nchurn: {model: inactivity}\n", ["churn"], 78,
        "retention.yaml:5: churn: duplicate key 'churn' (first at line 3)"),
    "duplicate nested key": (
        {}, "inputs:\n  purchases:\n    path: p.csv\n    delimiter: ';'\n    path: q.csv\n", ["validate"], 78,
        "retention.yaml:5: inputs.purchases.path: duplicate key 'path' (first at line 3)"),
    "duplicate key in a flow mapping": (
        {}, "inputs:\n  purchases: {path: p.csv, path: q.csv}\n", ["validate"], 78,
        "inputs.purchases.path: duplicate key 'path' (first at line 2)"),
    "merge key overridden": (
        {"p.csv": OK}, "inputs:\n  purchases:\n    <<: {path: q.csv, delimiter: ','}\n    path: p.csv\n", ["validate"], 0, ""),
    # --- nested too deep --------------------------------------------------------------
    "20,000 nested [": ({}, "[" * 20000, ["validate"], 78, "retention.yaml:1: YAML nested deeper than 100 levels"),
    "20,000 nested flow mappings": ({}, "{a: " * 20000, REPORT, 78, "YAML nested deeper than 100 levels"),
    "1,000 nested block mappings": (
        {}, "# deep\n" + "".join(" " * i + "a:\n" for i in range(1000)), ["churn"], 78,
        "retention.yaml:101: YAML nested deeper than 100 levels"),
    # a date format that cannot be a date format: 78 before reading, never exit 1
    "date_format %Q": ({}, "inputs:\n  purchases: {path: p.csv, date_format: '%Q'}\n", ["validate"], 78,
                       "inputs.purchases.date_format: '%Q' is not a usable date format"),
    "date_format with a trailing %": ({}, "inputs:\n  purchases: {path: p.csv, date_format: '%d/%m/%Y%'}\n",
                                      ["churn"], 78, "is not a usable date format"),
    "date_format day-first is fine": ({"p.csv": b"customer_id,order_date,amount\nA,31/01/2024,5\n"},
                                      "inputs:\n  purchases: {path: p.csv, date_format: '%d/%m/%Y'}\n", ["validate"], 0, ""),
}
