"""Nothing lost (issue: hardening): with `on_bad_rows: skip`, every input record is
either kept or in the rejects file, and the rejects file holds the rejected records
exactly as they were in the input, bytes, encoding and line endings included."""

import codecs
import csv
import gzip
import io
import re

import pandas as pd
import pytest

from retention_cli.config import parse_config
from retention_cli.errors import DataError
from retention_cli.io.readers import read_table
from tests.badinput.test_catalogue import OWN as CASES
from tests.conftest import write

TABLES = {"p": "purchases", "c": "customers", "k": "complaints", "r": "responses"}

# every catalogue case that stops on bad data (exit 65) …
DATA_CASES = sorted(name for name, (files, config, args, code, fragment) in CASES.items()
                    if code == 65 and files and isinstance(config, str))
# … except these, which no policy can skip: the file itself is unreadable or ambiguous
# (the shape of every later row is in doubt), or a customer is there twice (which
# of the two is right?). They stay fatal under `skip`, as the README says.
FATAL_UNDER_SKIP = {
    "empty file", "only blank lines", "missing required column", "wrong encoding",
    "declared encoding, wrong bytes", "wrong encoding on a row with a field too many", "NUL bytes", "gzip that is not", "zip with two files", "broken parquet",
    "duplicate header", "unquoted decimal comma", "truncated last line", "short record, the start of an earlier one",
    "quote never closes",
    "delimiter changes halfway", "no score column", "duplicate customers", "ids in another case",
    "two tables, one file, repeat buyers",
}


def records(text: str) -> int:
    """Data records of a CSV text, counted by Python's csv module (blank lines are no record)."""
    rows = [r for r in csv.reader(io.StringIO(text, newline="")) if any(f.strip() for f in r)]
    return len(rows) - 1


def read_all(folder, config: str) -> dict:
    cfg = parse_config("on_bad_rows: skip\n" + config, folder / "retention.yaml")
    return {name: read_table(name, cfg.input(name), cfg) for name in TABLES.values() if cfg.input(name)}


def test_the_catalogue_has_bad_row_cases():
    assert len(set(DATA_CASES) - FATAL_UNDER_SKIP) >= 20 and FATAL_UNDER_SKIP <= set(DATA_CASES)


@pytest.mark.parametrize("name", DATA_CASES)
def test_kept_plus_rejected_is_every_row(tmp_path, name):
    files, config, args, _, _ = CASES[name]
    for fname, data in files.items():
        write(tmp_path, fname, data)
    if name in FATAL_UNDER_SKIP:
        with pytest.raises(DataError) as e:
            read_all(tmp_path, config)
            if "--strict" in args:  # a warning that --strict turns into an error
                raise DataError("strict")
        assert "bad row" not in e.value.message
        return
    tables = read_all(tmp_path, config)
    rejected = 0
    for fname, data in files.items():
        t = tables[TABLES[fname[0]]]
        text = data.decode("utf-8")
        assert t.rows + t.rejected_rows == records(text), name
        rejected += t.rejected_rows
        if t.rejected_rows:
            # the header line and the physical lines of the rejected records, as in the file
            lines = re.findall(rb"[^\n]*\n|[^\n]+$", data)
            bad_lines = sorted(set(t.bad["line"]))
            expected = lines[0] + b"".join(lines[i - 1] if lines[i - 1].endswith(b"\n") else lines[i - 1] + b"\n"
                                           for i in bad_lines)
            assert t.reject_bytes == expected, name
            assert len(bad_lines) == t.rejected_rows
    assert rejected >= 1, name


def test_french_cp1252_rejects_stay_cp1252_with_crlf(tmp_path):
    text = ("N° client;Date;Montant\r\n"
            "André;01/03/2024;12,50\r\n"
            "Zoé;31/02/2024;3,00\r\n"        # no 31 February
            "Hélène;02/03/2024;douze\r\n"    # not a number
            "Léa;03/03/2024;1,00\r\n")
    write(tmp_path, "p.csv", text, "cp1252")
    t = read_all(tmp_path, "inputs:\n  purchases: {path: p.csv, encoding: cp1252, delimiter: ';', decimal: ',', "
                           "date_format: '%d/%m/%Y', columns: {customer_id: 'N° client', order_date: Date, "
                           "amount: Montant}}\n")["purchases"]
    assert t.df["customer_id"].tolist() == ["André", "Léa"]
    assert t.reject_bytes == ("N° client;Date;Montant\r\nZoé;31/02/2024;3,00\r\nHélène;02/03/2024;douze\r\n"
                              .encode("cp1252"))


def test_utf16_and_utf8_bom_rejects_keep_the_files_encoding(tmp_path):
    text = "customer_id,order_date,amount\r\nA,2024-01-05,10\r\nB,2024-13-01,5\r\n"
    write(tmp_path, "p.csv", codecs.BOM_UTF16_BE + text.encode("utf-16-be"))
    t = read_all(tmp_path, "inputs:\n  purchases: {path: p.csv}\n")["purchases"]
    assert t.rows == 1
    assert t.reject_bytes == codecs.BOM_UTF16_BE + (
        "customer_id,order_date,amount\r\nB,2024-13-01,5\r\n".encode("utf-16-be"))
    write(tmp_path, "p.csv", codecs.BOM_UTF8 + text.encode())
    t = read_all(tmp_path, "inputs:\n  purchases: {path: p.csv}\n")["purchases"]
    assert t.reject_bytes == codecs.BOM_UTF8 + b"customer_id,order_date,amount\r\nB,2024-13-01,5\r\n"


def test_multiline_quoted_records_and_gzip(tmp_path):
    text = ('customer_id,note,order_date,amount\n'
            'A,"two\nlines",2024-01-05,10\n'
            'B,"three\nlines\n",2024-01-32,5\n'   # record on lines 4-6, bad date
            'C,plain,2024-01-07,\n'               # line 7: amount missing
            'D,"x",2024-01-08,7')                 # last line without newline
    write(tmp_path, "p.csv.gz", gzip.compress(text.encode()))
    t = read_all(tmp_path, "inputs:\n  purchases: {path: p.csv.gz}\n")["purchases"]
    assert t.df["customer_id"].tolist() == ["A", "D"] and t.rejected_rows == 2
    assert sorted(set(t.bad["line"])) == [4, 7]
    assert t.reject_bytes == b'customer_id,note,order_date,amount\nB,"three\nlines\n",2024-01-32,5\nC,plain,2024-01-07,\n'


def test_parquet_rejects_are_the_rows_themselves(tmp_path):
    df = pd.DataFrame({"customer_id": ["A", "B", "C"], "order_date": ["2024-01-05", "2024-02-30", "2024-03-01"],
                       "amount": [10.0, 5.0, None], "shop": ["x", "y", "z"]})
    df.to_parquet(tmp_path / "p.parquet", index=False)
    t = read_all(tmp_path, "inputs:\n  purchases: {path: p.parquet}\n")["purchases"]
    assert t.rows == 1 and t.rejected_rows == 2 and t.reject_ext == "parquet"
    back = pd.read_parquet(io.BytesIO(t.reject_bytes))
    pd.testing.assert_frame_equal(back, df.iloc[1:].reset_index(drop=True))


def test_a_command_with_an_output_file_keeps_the_rejects_beside_it(cli):
    write(cli.cwd, "p.csv", "customer_id,order_date,amount\nA,2024-01-05,10\nB,2024-01-06,ten\n")
    write(cli.cwd, "retention.yaml", "on_bad_rows: skip\ninputs:\n  purchases: {path: p.csv}\n")
    (cli.cwd / "out").mkdir()
    r = cli("churn", "--period", "2024-01", "-f", "csv", "-o", "out/churn.csv")
    assert r.exit_code == 0, r.stderr
    assert (cli.cwd / "out" / "rejects" / "purchases.csv").read_bytes() == (
        b"customer_id,order_date,amount\nB,2024-01-06,ten\n")
    assert "rejected rows kept in out/rejects/purchases.csv" in r.stderr
    assert cli.csv_rows(r) == [] and (cli.cwd / "out" / "churn.csv").exists()
    # to stdout there is no output folder: the count on stderr is all there is
    r = cli("churn", "--period", "2024-01", "-f", "csv")
    assert r.exit_code == 0 and "skipped 1 bad row" in r.stderr and "rejects" not in r.stderr


# The Parquet cases of the input catalogue that stop on bad values: under `skip`, kept
# plus rejected rows are the file's rows, and the rejects file holds those rows.
from tests.badinput import cases_input  # noqa: E402

PARQUET_BAD_ROWS = sorted(name for name, (files, config, args, code, fragment) in cases_input.CASES.items()
                          if code == 65 and ": column '" in fragment and "': value '" in fragment
                          and all(f.endswith(".parquet") for f in files))


def test_the_input_catalogue_has_parquet_bad_row_cases():
    assert len(PARQUET_BAD_ROWS) >= 4, PARQUET_BAD_ROWS


@pytest.mark.parametrize("name", PARQUET_BAD_ROWS)
def test_parquet_kept_plus_rejected_is_every_row(tmp_path, name):
    import pyarrow.parquet as pq

    files, config, args, _, _ = cases_input.CASES[name]
    for fname, data in files.items():
        write(tmp_path, fname, data)
    tables = read_all(tmp_path, config)
    for fname, data in files.items():
        t = tables[TABLES[fname[0]]]
        whole = pq.read_table(io.BytesIO(data))
        assert t.rows + t.rejected_rows == whole.num_rows and t.rejected_rows >= 1, name
        assert t.reject_ext == "parquet"
        rejected = pq.read_table(io.BytesIO(t.reject_bytes))
        assert rejected.schema.equals(whole.schema)
        assert rejected.equals(whole.take(sorted(t.df.index.symmetric_difference(range(whole.num_rows))))), name
