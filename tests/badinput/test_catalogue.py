"""The bad-input catalogue (issue: hardening): one generated case per kind of
trouble, across the four tables, the config and the command line. Each case states
the exit code and a fragment of the message; a failing case never writes the output
file. Cases that are accepted on purpose (exit 0) are listed with why in docs/bad-input.md."""

import gzip
import io
import zipfile

import pytest

from tests.conftest import write

H = "customer_id,order_date,amount\n"
OK = H + "A,2024-01-05,10\nB,2024-02-05,20\n"
P = "inputs:\n  purchases: {path: p.csv}\n"
R = "inputs:\n  responses: {path: r.csv}\n"
C = "inputs:\n  customers: {path: c.csv}\n"
K = "inputs:\n  complaints: {path: k.csv}\n"


def zipped(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def bomb() -> str:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev, name = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{name}: &{name} [{', '.join('*' + prev for _ in range(15))}]")
    return "\n".join(lines) + "\n"


# name: (files, config, args, exit code, message fragment)
CASES = {
    # --- purchases: files -----------------------------------------------------------------
    "missing file": ({}, P, ["validate"], 66, "p.csv: purchases file not found"),
    "folder as file": ({"p.csv/": b""}, P, ["validate"], 66, "is a folder"),
    "empty file": ({"p.csv": b""}, P, ["validate"], 65, "empty file: no header"),
    "only blank lines": ({"p.csv": b"\n\n\n"}, P, ["validate"], 65, "empty file: no header"),
    "header only": ({"p.csv": H.encode()}, P, ["validate"], 0, ""),
    "missing required column": ({"p.csv": b"customer_id,amount\nA,1\n"}, P, ["validate"], 65, "no column for order_date (required)"),
    "wrong encoding": ({"p.csv": (H + "Andr\u00e9,2024-01-05,10\n").encode("cp1252")}, P, ["validate"], 65, "set `encoding: cp1252`"),
    "declared encoding, wrong bytes": ({"p.csv": b"customer_id,order_date,amount\n\x81\x8d,2024-01-05,1\n"},
                                       "inputs:\n  purchases: {path: p.csv, encoding: cp1252}\n", ["validate"], 65, "not valid cp1252"),
    "wrong encoding on a row with a field too many": ({"p.csv": (OK + "Andr\u00e9,2024-01-05,10,5\n").encode("cp1252")}, P,
                                                      ["validate"], 65, "p.csv:4: byte 0xe9"),
    "UTF-16 with BOM": ({"p.csv": OK.encode("utf-16")}, P, ["validate"], 0, ""),
    "NUL bytes": ({"p.csv": (OK + "C,2024-03-01,\x0010\n").encode()}, P, ["validate"], 65, "p.csv:4: NUL byte"),
    "gzip that is not": ({"p.csv.gz": b"\x1f\x8bnot gzip at all"}, "inputs:\n  purchases: {path: p.csv.gz}\n", ["validate"], 65, "not a readable gzip file"),
    "zip with two files": ({"p.zip": zipped({"a.csv": OK.encode(), "b.csv": OK.encode()})},
                           "inputs:\n  purchases: {path: p.zip}\n", ["validate"], 65, "exactly one file"),
    "broken parquet": ({"p.parquet": b"PAR1 this is not parquet PAR1"}, "inputs:\n  purchases: {path: p.parquet}\n",
                       ["validate"], 65, "not a readable Parquet file"),
    # --- purchases: structure ---------------------------------------------------------------
    "duplicate header": ({"p.csv": b"customer_id,order_date,amount,amount\nA,2024-01-05,1,2\n"}, P, ["validate"], 65, "duplicate column name 'amount'"),
    "unquoted decimal comma": ({"p.csv": (H + "A,2024-01-05,12,50\n").encode()}, P, ["validate"], 65, "p.csv:2: 4 fields where the header has 3"),
    "truncated last line": ({"p.csv": (OK + "C,2024-03-0").encode()}, P, ["validate"], 65, "p.csv:4: 2 fields where the header has 3"),
    "last line cut in its last value": ({"p.csv": (OK + "C,2024-03-05,1").encode()}, P, ["validate"], 0, ""),
    "quote never closes": ({"p.csv": (OK + '"C,2024-03-05,1\n').encode()}, P, ["validate"], 65, "p.csv:4: a quoted field that never closes"),
    "a header and no line end": ({"p.csv": H.rstrip("\n").encode()}, P, ["churn"], 0, "no purchases at all"),
    # a short record that is how an earlier, whole one begins: named by its own line
    "short record, the start of an earlier one": ({"p.csv": (OK + "A,2024\nC,2024-03-05,1\n").encode()}, P, ["validate"], 65,
                                                  "p.csv:4: 2 fields where the header has 3"),
    "delimiter changes halfway": ({"p.csv": (OK + "C;2024-03-05;1\n").encode()}, P, ["validate"], 65, "p.csv:4: 1 fields where the header has 3"),
    "mixed line endings": ({"p.csv": b"customer_id,order_date,amount\r\nA,2024-01-05,10\nB,2024-02-05,20\r\n"}, P, ["validate"], 0, ""),
    "BOM in the middle": ({"p.csv": OK.encode() + b"\xef\xbb\xbf" + OK.encode()}, P, ["validate"], 65, "p.csv:4: column 'order_date'"),
    "10 MB single line": ({"p.csv": ("customer_id,order_date,amount,note\nA,2024-01-05,10," + "x" * 10_000_000 + "\n").encode()},
                          P, ["validate"], 0, ""),
    "missing customer id": ({"p.csv": (OK + ",2024-03-05,1\n").encode()}, P, ["validate"], 65, "column 'customer_id': value '': missing"),
    "missing amount": ({"p.csv": (OK + "C,2024-03-05,\n").encode()}, P, ["validate"], 65, "column 'amount': value '': missing"),
    # --- purchases: values ------------------------------------------------------------------
    "date before 1900": ({"p.csv": (OK + "C,1899-12-31,1\n").encode()}, P, ["validate"], 65, "implausible date"),
    "date 0000-00-00": ({"p.csv": (OK + "C,0000-00-00,1\n").encode()}, P, ["validate"], 65, "value '0000-00-00': not an ISO date"),
    "Excel serial date": ({"p.csv": (OK + "C,45000,1\n").encode()}, P, ["validate"], 65, "value '45000': not an ISO date"),
    "day-first date without format": ({"p.csv": (OK + "C,31/01/2024,1\n").encode()}, P, ["validate"], 65, "set `date_format:`"),
    "31 February with a date format": ({"p.csv": (H + "A,01/02/2024,1\nC,31/02/2024,1\n").encode()},
                                       "inputs:\n  purchases: {path: p.csv, date_format: '%d/%m/%Y'}\n", ["validate"], 65,
                                       "p.csv:3: column 'order_date': value '31/02/2024'"),
    "unpadded day-first dates": ({"p.csv": (H + "A,1/2/2024,1\nC,29/2/2024,1\n").encode()},
                                 "inputs:\n  purchases: {path: p.csv, date_format: '%d/%m/%Y'}\n", ["validate"], 0, ""),
    "date in the future": ({"p.csv": (OK + "C,2099-01-01,1\n").encode()}, P, ["validate"], 0, ""),
    "amount NaN": ({"p.csv": (OK + "C,2024-03-05,NaN\n").encode()}, P, ["validate"], 65, "value 'NaN': not a number"),
    "amount inf": ({"p.csv": (OK + "C,2024-03-05,inf\n").encode()}, P, ["validate"], 65, "not a finite number"),
    "amount 1e308": ({"p.csv": (OK + "C,2024-03-05,1e308\n").encode()}, P, ["validate"], 65,
                     "p.csv:4: column 'amount': value '1e308': implausible number (1e15 or more in size)"),
    "amount just under 1e15": ({"p.csv": (OK + "C,2024-03-05,999999999999999\n").encode()}, P, ["validate"], 0, ""),
    "amount --5": ({"p.csv": (OK + "C,2024-03-05,--5\n").encode()}, P, ["validate"], 65, "value '--5': not a number"),
    "amount with currency": ({"p.csv": (OK + "C,2024-03-05,12\u20ac\n").encode()}, P, ["validate"], 65, "currency sign"),
    "undeclared thousands": ({"p.csv": (OK + 'C,2024-03-05,"1,234.50"\n').encode()}, P, ["validate"], 65, "thousands separator?"),
    "ids with leading zeros": ({"p.csv": (H + "007,2024-01-05,1\n07,2024-01-06,1\n").encode()}, P, ["validate"], 0, ""),
    "ids with spaces": ({"p.csv": (H + " C1,2024-01-05,1\nC1 ,2024-01-06,1\n").encode()}, P, ["validate"], 0, ""),
    # --- across tables ----------------------------------------------------------------------
    "ids in another case": ({"c.csv": b"customer_id\nc1\n", "p.csv": (H + "C1,2024-01-05,1\n").encode()},
                            "inputs:\n  customers: {path: c.csv}\n  purchases: {path: p.csv}\n", ["validate", "--strict"], 65, "not in the customers file"),
    "two tables, one file": ({"p.csv": OK.encode()}, "inputs:\n  customers: {path: p.csv}\n  purchases: {path: p.csv}\n",
                             ["validate"], 0, ""),
    "two tables, one file, repeat buyers": ({"p.csv": (OK + "A,2024-03-05,5\n").encode()},
                                            "inputs:\n  customers: {path: p.csv}\n  purchases: {path: p.csv}\n",
                                            ["validate"], 65, "appear more than once"),
    "stdin for two tables": ({}, "inputs:\n  customers: {path: '-'}\n  purchases: {path: '-'}\n", ["churn"], 2, "only one input table"),
    # --- responses ------------------------------------------------------------------------------
    "NPS 11": ({"r.csv": b"nps_score\n9\n11\n"}, R, ["validate"], 65, "r.csv:3: column 'nps_score': value '11': score out of range"),
    "NPS #ERROR!": ({"r.csv": b"nps_score\n9\n#ERROR!\n"}, R, ["validate"], 65, "value '#ERROR!': not a score"),
    "NPS 9.5": ({"r.csv": b"nps_score\n9\n9.5\n"}, R, ["validate"], 65, "value '9.5': score out of range"),
    "NPS N/A": ({"r.csv": b"nps_score,csat_score\n9,4\nN/A,3\n"}, R, ["validate"], 65, "value 'N/A': not a score"),
    "NPS N/A declared": ({"r.csv": b"nps_score,csat_score\n9,4\nN/A,3\n"},
                         "inputs:\n  responses: {path: r.csv, na_values: [N/A]}\n", ["validate"], 0, ""),
    "CSAT 0 on 1-5": ({"r.csv": b"csat_score\n0\n"}, R, ["validate"], 65, "score out of range (whole numbers 1 to 5)"),
    "no score column": ({"r.csv": b"customer_id,comment\nA,nice\n"}, R, ["validate"], 65, "needs nps_score or csat_score"),
    "negative score": ({"r.csv": b"nps_score\n-1\n"}, R, ["validate"], 65, "score out of range"),
    # --- customers and complaints ---------------------------------------------------------------
    "duplicate customers": ({"c.csv": b"customer_id\nA\nB\nA\n"}, C, ["validate"], 65, "c.csv:2: column 'customer_id': value 'A': duplicate customer_id"),
    "loyalty maybe": ({"c.csv": b"customer_id,loyalty_member\nA,maybe\n"}, C, ["validate"], 65, "value 'maybe': not yes/no"),
    "churn before signup": ({"c.csv": b"customer_id,signup_date,churn_date\nA,2024-02-01,2024-01-01\n"}, C, ["validate"], 65,
                            "churn_date before signup_date"),
    "resolved before opened": ({"k.csv": b"customer_id,opened_date,resolved_date\nA,2024-02-01,2024-01-31\n"}, K, ["validate"], 65,
                               "resolved_date before opened_date"),
    "complaint without opened date": ({"k.csv": b"customer_id,opened_date\nA,\n"}, K, ["validate"], 65, "column 'opened_date': value '': missing"),
    "timestamp with offset": ({"k.csv": b"customer_id,opened_date\nA,2024-02-01T23:30:00+01:00\n"}, K, ["validate"], 0, ""),
    # --- periods and options ----------------------------------------------------------------------
    "month 13": ({"p.csv": OK.encode()}, P, ["churn", "--period", "2024-13"], 2, "month must be 01 to 12"),
    "quarter 5": ({"p.csv": OK.encode()}, P, ["churn", "--period", "2024-Q5"], 2, "quarter must be Q1 to Q4"),
    "from after to": ({"p.csv": OK.encode()}, P, ["churn", "--from", "2024-05", "--to", "2024-02"], 2, "is after"),
    "not a date for --as-of": ({"p.csv": OK.encode()}, P, ["churn", "--as-of", "yesterday"], 2, "is not a date"),
    "unknown --by": ({"p.csv": OK.encode()}, P, ["churn", "--by", "region"], 2, "--by region"),
    # --- config -------------------------------------------------------------------------------------
    "YAML syntax error": ({}, "inputs:\n  purchases: {path: p.csv\n", ["validate"], 78, "retention.yaml:3: YAML syntax error"),
    "unknown key": ({}, "inputs:\n  purchases: {path: p.csv, delimter: ';'}\n", ["validate"], 78, "did you mean 'delimiter'?"),
    "window at its limit": ({"p.csv": OK.encode()}, P + "churn: {inactivity_days: 3660}\n", ["validate"], 0, ""),
    "window beyond its limit": ({}, P + "churn: {inactivity_days: 3661}\n", ["validate"], 78, "churn.inactivity_days: input should be less than or equal to 3660"),
    "window of zero": ({}, P + "churn: {inactivity_days: 0}\n", ["validate"], 78, "greater than or equal to 1"),
    "complaint share 0": ({}, "wom: {complaint_share: 0}\n", ["wom", "--unhappy", "1"], 78, "wom.complaint_share"),
    "top share 1": ({}, "concentration: {top_share: 1}\n", ["validate"], 78, "concentration.top_share"),
    "CSAT scale of two points": ({}, "satisfaction: {csat_scale: [1, 2]}\n", ["validate"], 78, "at least three points"),
    "alias bomb": ({}, bomb(), ["validate"], 78, "aliases"),
    "config is a list": ({}, "- a\n- b\n", ["validate"], 78, "must be a mapping"),
    "config is empty": ({}, "", ["validate"], 66, "nothing to validate"),
    "config is binary": ({}, b"\x00\x01\x02binary", ["validate"], 78, "not a text file"),
    "config not UTF-8": ({}, "inputs: {}\n# caf\u00e9\n".encode("cp1252"), ["validate"], 78, "not UTF-8"),
    # --- output ---------------------------------------------------------------------------------------
    "unwritable output": ({"p.csv": OK.encode()}, P, ["churn", "-o", "no/such/folder/out.csv"], 73, "cannot write"),
}


# The catalogue continues in the cases_*.py modules beside this file (one per class of
# trouble); they use the same form and run through the same test.
from tests.badinput import cases_config, cases_input, cases_cli  # noqa: E402

OWN = dict(CASES)
for _module in (cases_config, cases_input, cases_cli):
    _clash = set(CASES) & set(_module.CASES)
    assert not _clash, _clash
    CASES.update(_module.CASES)

PREVIOUS = b"the previous output\n"


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(cli, name):
    files, config, args, code, fragment = CASES[name]
    for fname, data in files.items():
        if fname.endswith("/"):
            (cli.cwd / fname.rstrip("/")).mkdir()
        else:
            write(cli.cwd, fname, data)
    write(cli.cwd, "retention.yaml", config if isinstance(config, bytes) else config.encode())
    out = [] if "-o" in args else ["-o", "out.csv"]
    write(cli.cwd, "out.csv", PREVIOUS)  # what a previous run left at the output path
    before = sorted(p.name for p in cli.cwd.iterdir())
    r = cli(*args, *out)
    assert r.exit_code == code, (name, r.stderr[-600:])
    assert fragment in r.stderr, (name, r.stderr[-600:])
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr
    if code:
        errors = [line for line in r.stderr.splitlines() if line.startswith("retention: error: ")]
        if args[0] == "validate":  # its data is the check of each table, one error line per problem
            assert errors, r.stderr[:600]
        else:  # one line says what is wrong (the offending rows may follow), and no data
            assert len(errors) == 1, r.stderr[:600]
            assert r.stdout == "", r.stdout[:300]
        assert (cli.cwd / "out.csv").read_bytes() == PREVIOUS  # nothing destroyed …
        assert sorted(p.name for p in cli.cwd.iterdir()) == before  # … and nothing left behind


def test_catalogue_has_at_least_150_cases():
    from tests.badinput.test_output_contract import CASES as OUTPUT_CASES

    assert len(CASES) + len(OUTPUT_CASES) >= 150
