import gzip
import io
import zipfile
from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retention_cli.config import parse_config
from retention_cli.errors import DataError, InputMissingError
from retention_cli.io.readers import load_inputs, read_table, record_spans, sniff_delimiter
from tests.conftest import write


def cfg_for(tmp_path, table: str, body: str, top: str = ""):
    return parse_config(f"{top}inputs:\n  {table}: {body}\n", tmp_path / "retention.yaml")


def read(tmp_path, table, body, top=""):
    cfg = cfg_for(tmp_path, table, body, top)
    return read_table(table, cfg.input(table), cfg)


def test_french_export(tmp_path):
    text = ("N° client;N° commande;Date commande;Montant TTC\r\n"
            "00042;A1;01/03/2024;12,50\r\n"
            "00042;A1;01/03/2024;1 234,50\r\n"
            "17850.0;A2;31/12/2024;-3,00\r\n")
    write(tmp_path, "p.csv", text, "cp1252")
    t = read(tmp_path, "purchases", "{path: p.csv, encoding: cp1252, decimal: ',', thousands: ' ', "
             "date_format: '%d/%m/%Y', columns: {customer_id: 'N° client', order_id: 'N° commande', "
             "order_date: 'Date commande', amount: 'Montant TTC'}}")
    assert t.df["customer_id"].tolist() == ["00042", "00042", "17850.0"]  # ids stay text
    assert t.df["amount"].tolist() == [12.5, 1234.5, -3.0]
    assert t.df["order_date"].dt.date.tolist() == [date(2024, 3, 1)] * 2 + [date(2024, 12, 31)]
    assert t.mapping["amount"] == "Montant TTC"


def test_headers_match_loosely(tmp_path):
    write(tmp_path, "p.csv", "Customer ID,Order-Date,AMOUNT\nc1,2024-01-05,10\n")
    t = read(tmp_path, "purchases", "{path: p.csv}")
    assert t.mapping == {"customer_id": "Customer ID", "order_date": "Order-Date", "amount": "AMOUNT"}


def test_bom_and_sniffed_delimiters(tmp_path):
    for d in [",", ";", "\t", "|"]:
        write(tmp_path, "c.csv", b"\xef\xbb\xbf" + f"customer_id{d}segment\nA{d}x\nB{d}y\n".encode())
        t = read(tmp_path, "customers", "{path: c.csv}")
        assert t.df["customer_id"].tolist() == ["A", "B"], d
        assert t.df["segment"].tolist() == ["x", "y"]


def test_sniffer_ignores_delimiters_inside_quotes():
    assert sniff_delimiter('a;b;c\n"1,5";"2,5";x\n4;5;6\n') == ";"


def test_headerless_whitespace_by_position(tmp_path):
    # the CDNOW sample layout: master id, sample id, YYYYMMDD, cds, dollars; CRLF
    write(tmp_path, "s.txt", " 00004 0001 19970101  2   29.33\r\n 00004 0001 19970118  2   29.73\r\n")
    t = read(tmp_path, "purchases", "{path: s.txt, header: false, delimiter: whitespace, date_format: '%Y%m%d', "
             "columns: {customer_id: 1, order_date: 3, amount: 5}}")
    assert t.df["customer_id"].tolist() == ["00004", "00004"]
    assert t.df["amount"].tolist() == [29.33, 29.73]
    assert t.df["order_date"].dt.date.tolist() == [date(1997, 1, 1), date(1997, 1, 18)]


def test_quantity_times_unit_price(tmp_path):
    write(tmp_path, "p.csv", "customer_id,order_date,quantity,unit_price\na,2024-01-01,3,2.5\n")
    assert read(tmp_path, "purchases", "{path: p.csv}").df["amount"].tolist() == [7.5]


def test_timestamps_with_offsets(tmp_path):
    text = ("customer_id,order_date,amount\n"
            "a,2024-03-01T23:30:00+01:00,1\n"    # Paris 23:30 = 22:30 UTC = 2024-03-01 in Paris, in UTC
            "b,2024-03-01T23:30:00-05:00,1\n"    # = 2024-03-02 04:30 UTC = 05:30 in Paris
            "c,2024-03-01 10:00,1\n")
    write(tmp_path, "p.csv", text)
    as_written = read(tmp_path, "purchases", "{path: p.csv}").df["order_date"].dt.date.tolist()
    assert as_written == [date(2024, 3, 1)] * 3
    paris = read(tmp_path, "purchases", "{path: p.csv}", top="timezone: Europe/Paris\n").df["order_date"].dt.date.tolist()
    assert paris == [date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 1)]


def test_dayfirst(tmp_path):
    write(tmp_path, "p.csv", "customer_id,order_date,amount\na,03/04/2024,1\n")
    assert read(tmp_path, "purchases", "{path: p.csv, dayfirst: true}").df["order_date"].dt.date.tolist() == [date(2024, 4, 3)]


def test_gzip_zip_parquet(tmp_path):
    csv = b"customer_id,order_date,amount\na,2024-01-01,5\nb,2024-01-02,6\n"
    write(tmp_path, "p.csv.gz", gzip.compress(csv))
    assert read(tmp_path, "purchases", "{path: p.csv.gz}").df["amount"].sum() == 11
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("export/p.csv", csv)
    write(tmp_path, "p.zip", buf.getvalue())
    assert read(tmp_path, "purchases", "{path: p.zip}").df["customer_id"].tolist() == ["a", "b"]
    pd.DataFrame({"customer_id": ["a", "b"], "order_date": pd.to_datetime(["2024-01-01", "2024-01-02"]),
                  "amount": [5.0, 6.0]}).to_parquet(tmp_path / "p.parquet")
    t = read(tmp_path, "purchases", "{path: p.parquet}")
    assert t.df["amount"].tolist() == [5.0, 6.0] and t.df["order_date"].dt.day.tolist() == [1, 2]


def test_bad_rows_are_all_listed_with_physical_lines(tmp_path):
    text = ('customer_id,order_date,amount,note\n'      # line 1
            'a,2024-01-01,5,"two\nlines"\n'            # lines 2-3
            'b,2024-13-01,6,x\n'                       # line 4: bad date
            '\n'                                       # line 5: blank, not a row
            ',2024-01-02,7,x\n'                        # line 6: missing id
            'c,2024-01-03,12€,x\n')                    # line 7: currency sign
    write(tmp_path, "p.csv", text)
    with pytest.raises(DataError) as e:
        read(tmp_path, "purchases", "{path: p.csv}")
    assert e.value.exit_code == 65
    assert e.value.message == "p.csv: 3 bad rows (set `on_bad_rows: skip` to leave them out)"
    assert e.value.details[0].startswith("p.csv:4: column 'order_date': value '2024-13-01': not an ISO date")
    assert e.value.details[1] == "p.csv:6: column 'customer_id': value '': missing"
    assert e.value.details[2].startswith("p.csv:7: column 'amount': value '12€': not a number (currency sign")


def test_number_hints(tmp_path):
    write(tmp_path, "p.csv", 'customer_id,order_date,amount\na,2024-01-01,"1,234.50"\nb,2024-01-01,"12,5"\nc,2024-01-01,inf\n')
    with pytest.raises(DataError) as e:
        read(tmp_path, "purchases", "{path: p.csv}")
    assert "thousands separator? set `thousands: \",\"`" in e.value.details[0]
    assert "decimal comma? set `decimal: \",\"`" in e.value.details[1]
    assert "not a finite number" in e.value.details[2]


def test_skip_keeps_the_rest_and_rejects_byte_for_byte(tmp_path):
    text = 'customer_id,order_date,amount\r\na,2024-01-01,5\r\nb,"2024-01-xx",6\r\nc,2024-01-03,7\r\nd,2024-01-04,oops'
    write(tmp_path, "p.csv", text)
    t = read(tmp_path, "purchases", "{path: p.csv}", top="on_bad_rows: skip\n")
    assert t.df["customer_id"].tolist() == ["a", "c"]
    assert t.rejected_rows == 2 and t.rows_read == 4
    assert t.reject_bytes == b'customer_id,order_date,amount\r\nb,"2024-01-xx",6\r\nd,2024-01-04,oops\n'
    assert t.warnings == ["p.csv: skipped 2 bad rows (on_bad_rows: skip)"]


def test_scores_are_validated(tmp_path):
    text = "nps_score,csat_score\n10,5\n#ERROR!,4\nN/A,3\n9.5,2\n11,1\n,\n7,6\n"
    write(tmp_path, "r.csv", text)
    with pytest.raises(DataError) as e:
        read(tmp_path, "responses", "{path: r.csv}")
    lines = [d.split(":")[1] for d in e.value.details]
    # bad: #ERROR! (3), N/A (4), 9.5 (5), 11 (6), CSAT 6 on a 1-5 scale (8);
    # line 7 has no value at all: an empty row, ignored with a warning
    assert lines == ["3", "4", "5", "6", "8"]
    ok = read(tmp_path, "responses", "{path: r.csv, na_values: ['N/A']}", top="on_bad_rows: skip\n")
    assert "1 empty row (no value in any column) ignored" in ok.warnings[0]
    assert ok.df["nps_score"].dropna().tolist() == [10]  # N/A is a missing NPS; CSAT 3 keeps that row
    assert len(ok.df) == 2 and ok.df["csat_score"].tolist() == [5, 3]


def test_csat_scale_from_config(tmp_path):
    write(tmp_path, "r.csv", "csat_score\n7\n1\n")
    t = read(tmp_path, "responses", "{path: r.csv}", top="satisfaction: {csat_scale: [1, 7]}\n")
    assert t.df["csat_score"].tolist() == [7, 1]


def test_loyalty_flags(tmp_path):
    write(tmp_path, "c.csv", "customer_id,loyalty_member\na,yes\nb,Non\nc,1\nd,\ne,maybe\n")
    with pytest.raises(DataError, match="1 bad row"):
        read(tmp_path, "customers", "{path: c.csv}")
    write(tmp_path, "c.csv", "customer_id,loyalty_member\na,yes\nb,Non\nc,1\nd,\n")
    assert read(tmp_path, "customers", "{path: c.csv}").df["loyalty_member"].tolist() == [True, False, True, False]


def test_structural_errors(tmp_path):
    write(tmp_path, "p.csv", 'customer_id,order_date,amount\na,2024-01-01,5\n"b\nc",2024-01-01,12,50\n')
    with pytest.raises(DataError, match=r"p.csv:3: 4 fields where the header has 3"):
        read(tmp_path, "purchases", "{path: p.csv}")
    write(tmp_path, "p.csv", 'customer_id,order_date,amount\na,2024-01-01,5\n"b,2024-01-01,12\n')
    with pytest.raises(DataError, match=r"p.csv:3: a quoted field that never closes"):
        read(tmp_path, "purchases", "{path: p.csv}")


def test_missing_required_column_names_the_closest(tmp_path):
    write(tmp_path, "p.csv", "Client ID,Date,Amount\na,2024-01-01,5\n")
    with pytest.raises(DataError) as e:
        read(tmp_path, "purchases", "{path: p.csv}")
    assert "no column for customer_id (required); headers found: 'Client ID', 'Date', 'Amount'" in e.value.message


def test_duplicate_headers_and_customers(tmp_path):
    write(tmp_path, "p.csv", "customer_id,order_date,amount,amount\na,2024-01-01,5,6\n")
    with pytest.raises(DataError, match=r"p.csv:1: duplicate column name 'amount' \(columns 3 and 4\)"):
        read(tmp_path, "purchases", "{path: p.csv}")
    write(tmp_path, "c.csv", "customer_id\nA\nB\nA\n")
    with pytest.raises(DataError) as e:
        read(tmp_path, "customers", "{path: c.csv}", top="on_bad_rows: skip\n")
    assert e.value.details == ["c.csv:2: column 'customer_id': value 'A': duplicate customer_id",
                               "c.csv:4: column 'customer_id': value 'A': duplicate customer_id"]


def test_encoding_error_names_the_fix(tmp_path):
    write(tmp_path, "p.csv", "customer_id,order_date,amount\nRené,2024-01-01,5\n", "cp1252")
    with pytest.raises(DataError, match=r"p.csv:2: byte 0xe9 .* set `encoding: cp1252`"):
        read(tmp_path, "purchases", "{path: p.csv}")


def test_utf16_with_bom_is_read(tmp_path):
    write(tmp_path, "c.csv", "customer_id,segment\nA,x\n".encode("utf-16"))
    assert read(tmp_path, "customers", "{path: c.csv}").df["customer_id"].tolist() == ["A"]


def test_empty_and_header_only(tmp_path):
    write(tmp_path, "p.csv", "")
    with pytest.raises(DataError, match="empty file: no header"):
        read(tmp_path, "purchases", "{path: p.csv}")
    write(tmp_path, "p.csv", "customer_id,order_date,amount\n")
    t = read(tmp_path, "purchases", "{path: p.csv}")
    assert t.rows == 0 and list(t.df.columns) == ["customer_id", "order_date", "amount"]


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputMissingError, match="not found"):
        read(tmp_path, "purchases", "{path: nope.csv}")
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(InputMissingError, match="is a folder"):
        read(tmp_path, "purchases", "{path: d.csv}")


def test_orphans_are_kept_and_counted(tmp_path):
    write(tmp_path, "c.csv", "customer_id\nA\n")
    write(tmp_path, "p.csv", "customer_id,order_date,amount\nA,2024-01-01,5\nZ,2024-01-01,6\nZ,2024-01-02,7\n")
    cfg = parse_config("inputs:\n  customers: {path: c.csv}\n  purchases: {path: p.csv}\n", tmp_path / "r.yaml")
    inputs = load_inputs(cfg, ("purchases",), optional=("customers",))
    assert len(inputs.get("purchases").df) == 3
    assert inputs.warnings == ["p.csv: 2 rows (1 customer_id, e.g. 'Z') are not in the customers file; they are kept"]


def test_record_spans_with_quotes_and_crlf():
    buf = b'h1,h2\r\n"a\nb",1\r\nc,2'
    starts, ends, lines = record_spans(buf)
    assert lines.tolist() == [1, 2, 4]
    assert [buf[s:e] for s, e in zip(starts, ends)] == [b"h1,h2\r\n", b'"a\nb",1\r\n', b"c,2"]


def test_date_format_refuses_impossible_dates_and_reads_unpadded_ones(tmp_path):
    # pyarrow's strptime would roll 31/02 over to 2 March: such a value is a bad row
    write(tmp_path, "p.csv", "customer_id,order_date,amount\nA,1/2/2024,1\nB,29/02/2024,1\nC,31/02/2024,1\n")
    t = read(tmp_path, "purchases", "{path: p.csv, date_format: '%d/%m/%Y'}", top="on_bad_rows: skip\n")
    assert t.df["order_date"].dt.date.tolist() == [date(2024, 2, 1), date(2024, 2, 29)]
    assert t.bad[["line", "value"]].values.tolist() == [[4, "31/02/2024"]]


def test_a_file_larger_than_memory_is_refused_before_reading(tmp_path, monkeypatch):
    from retention_cli.io.readers import source as readers

    text = "customer_id,order_date,amount\n" + "A,2024-01-05,10\n" * 1000   # 16,030 bytes
    write(tmp_path, "p.csv", text)
    write(tmp_path, "p.csv.gz", gzip.compress(text.encode()))
    # 3 bytes of memory per byte of text: 48,090 needed
    monkeypatch.setattr(readers, "memory_available", lambda: 48_089)
    for name in ("p.csv", "p.csv.gz"):  # the gzip trailer gives the text's size
        with pytest.raises(InputMissingError, match=rf"{name}: reading this file \(16.0 KB of text\) needs about "
                                                    r"48.1 KB of memory and 48.1 KB is available"):
            read(tmp_path, "purchases", f"{{path: {name}}}")
    monkeypatch.setattr(readers, "memory_available", lambda: 48_090)
    assert read(tmp_path, "purchases", "{path: p.csv.gz}").rows == 1000
    monkeypatch.setattr(readers, "memory_available", lambda: None)  # not Linux: no check
    assert read(tmp_path, "purchases", "{path: p.csv}").rows == 1000


def test_a_quoted_line_break_at_any_block_edge(tmp_path, monkeypatch):
    """The reader cuts the file into blocks without looking at quotes first; a
    quoted line break at a block's edge must still give the right records (the
    read fails, and the file is read again quote-aware)."""
    from retention_cli.io.readers import formats as readers

    rows = "".join(f"C{i},2024-01-{1 + i % 28:02d},retail\n" for i in range(60))
    body = "customer_id,signup_date,note\n" + rows + 'C60,2024-02-01,"first line\nsecond line"\n' + rows.replace("C", "D")
    write(tmp_path, "c.csv", body)
    edge = body.encode().index(b"first line\n") + len("first line")  # the quoted line break
    for block in (64, edge - 20, edge - 1, edge, edge + 1, edge + 7, 1 << 20):
        monkeypatch.setattr(readers, "CSV_BLOCK", block)
        t = read(tmp_path, "customers", "{path: c.csv}")
        assert t.rows == 121, block
        assert t.df.loc[60, "note"] == "first line\nsecond line"
        assert t.df.loc[61, "customer_id"] == "D0" and t.df.loc[120, "signup_date"] == pd.Timestamp("2024-01-04")


# --- Parquet: dictionary-encoded ids, typed timestamps, column types ------------------------

def _parquet_dates(tmp_path, values, top=""):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"customer_id": ["A"] * len(values), "order_date": values, "amount": [1.0] * len(values)}),
                   tmp_path / "p.parquet")
    return read(tmp_path, "purchases", "{path: p.parquet}", top=top).df["order_date"].dt.date.tolist()


def test_parquet_timestamps_follow_the_timezone_as_csv_timestamps_do(tmp_path):
    from datetime import datetime, timezone

    import pyarrow as pa

    utc = pa.array([datetime(2024, 1, 31, 23, 30), datetime(2024, 7, 31, 22, 30), datetime(2024, 3, 1, 12, 0)],
                   pa.timestamp("us", tz="UTC"))
    # Paris is UTC+1 in January and UTC+2 in July: 23:30 UTC on 31 January is 00:30 on
    # 1 February there, 22:30 UTC on 31 July is 00:30 on 1 August; noon stays on 1 March
    paris = [date(2024, 2, 1), date(2024, 8, 1), date(2024, 3, 1)]
    assert _parquet_dates(tmp_path, utc, top="timezone: Europe/Paris\n") == paris
    # without `timezone:`, the date in the zone the file stores them in (UTC here)
    assert _parquet_dates(tmp_path, utc) == [date(2024, 1, 31), date(2024, 7, 31), date(2024, 3, 1)]
    # 20:00 in New York (UTC-5) on 31 January is 01:00 UTC and 02:00 in Paris on 1 February
    ny = pa.array([datetime(2024, 2, 1, 1, 0)], pa.timestamp("s", tz="UTC")).cast(pa.timestamp("s", tz="America/New_York"))
    assert _parquet_dates(tmp_path, ny) == [date(2024, 1, 31)]
    assert _parquet_dates(tmp_path, ny, top="timezone: Europe/Paris\n") == [date(2024, 2, 1)]
    # a naive timestamp is kept as written, with or without `timezone:`
    naive = pa.array([datetime(2024, 1, 31, 23, 30)], pa.timestamp("ms"))
    assert _parquet_dates(tmp_path, naive) == _parquet_dates(tmp_path, naive, top="timezone: Europe/Paris\n") \
        == [date(2024, 1, 31)]
    # exactly what a CSV file with the same instants written with their offsets gives
    write(tmp_path, "p.csv", "customer_id,order_date,amount\nA,2024-01-31T23:30:00Z,1\nA,2024-07-31T22:30:00+00:00,1\n"
                             "A,2024-03-01T12:00:00Z,1\nA,2024-01-31T20:00:00-05:00,1\nA,2024-01-31T23:30:00,1\n")
    csv_dates = read(tmp_path, "purchases", "{path: p.csv}", top="timezone: Europe/Paris\n").df["order_date"].dt.date
    assert csv_dates.tolist() == paris + [date(2024, 2, 1), date(2024, 1, 31)]


def test_parquet_dates_are_calendar_dates_checked_like_csv_ones(tmp_path):
    from datetime import datetime

    import pyarrow as pa

    import pyarrow.parquet as pq

    # typed dates become midnights; an empty optional date is no date
    pa_dates = pa.array([date(2024, 1, 5), None], pa.date32())
    pq.write_table(pa.table({"customer_id": ["A", "B"], "opened_date": pa.array([date(2024, 1, 5), date(2024, 1, 6)]),
                             "resolved_date": pa_dates}), tmp_path / "k.parquet")
    t = read(tmp_path, "complaints", "{path: k.parquet}")
    assert t.df["opened_date"].tolist() == [pd.Timestamp("2024-01-05"), pd.Timestamp("2024-01-06")]
    assert t.df["resolved_date"].iloc[0] == pd.Timestamp("2024-01-05") and pd.isna(t.df["resolved_date"].iloc[1])
    pq.write_table(pa.table({"customer_id": ["A", "B"], "order_date": pa.array(
        [datetime(2024, 1, 5, 13, 45), datetime(2250, 1, 1)], pa.timestamp("us")), "amount": [1.0, float("nan")]}),
        tmp_path / "p.parquet")
    # the time of day is cut off; a year beyond 2199 and a missing amount are bad rows, as in a CSV file
    t = read(tmp_path, "purchases", "{path: p.parquet}", top="on_bad_rows: skip\n")
    assert t.df["order_date"].tolist() == [pd.Timestamp("2024-01-05")]
    assert t.bad[["line", "column", "reason"]].values.tolist() == [
        [2, "amount", "missing"], [2, "order_date", "implausible date (before 1900 or after 2199)"]]


def test_parquet_ids_written_as_category_are_text_in_every_table(tmp_path):
    frames = {
        "customers": pd.DataFrame({"customer_id": ["A", "B"], "segment": ["retail", "pro"]}),
        "purchases": pd.DataFrame({"customer_id": ["A", "B", "A"], "order_id": ["o1", "o2", "o3"],
                                   "product_id": ["x", "y", "x"], "order_date": ["2024-01-05"] * 3, "amount": [1.0] * 3}),
        "complaints": pd.DataFrame({"customer_id": ["A", "B"], "complaint_id": ["k1", "k2"],
                                    "opened_date": ["2024-01-05"] * 2, "category": ["late", "broken"]}),
        "responses": pd.DataFrame({"customer_id": ["A", "B"], "nps_score": [9, 3]}),
    }
    for table, df in frames.items():
        text = [c for c in df.columns if df[c].dtype == object or pd.api.types.is_string_dtype(df[c])]
        df.astype({c: "category" for c in text}).to_parquet(tmp_path / f"{table}.parquet")
        t = read(tmp_path, table, f"{{path: {table}.parquet}}")
        for c in text:
            if c.endswith("_date"):  # a date column written as category is read as its dates
                assert t.df[c].tolist() == [pd.Timestamp("2024-01-05")] * len(df), (table, c)
            else:
                assert pd.api.types.is_string_dtype(t.df[c]) and t.df[c].tolist() == df[c].tolist(), (table, c)


def test_parquet_whole_number_ids_are_text_without_a_decimal_point(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    # pandas reads a whole-number column with a null as floats (17850.0): the ids are
    # taken from the file's own integers instead; whole floats print without ".0" too
    pq.write_table(pa.table({"customer_id": pa.array([17850, 42, None]), "x": [1, 2, 3]}), tmp_path / "c.parquet")
    t = read(tmp_path, "customers", "{path: c.parquet}", top="on_bad_rows: skip\n")
    assert t.df["customer_id"].tolist() == ["17850", "42"] and t.rejected_rows == 1
    pq.write_table(pa.table({"customer_id": pa.array([17850.0, 42.0])}), tmp_path / "c.parquet")
    assert read(tmp_path, "customers", "{path: c.parquet}").df["customer_id"].tolist() == ["17850", "42"]


def test_category_parquet_gives_the_numbers_of_the_same_csv(cli):
    # A buys on 5 January (10) and 5 March (5), B on 5 February (20): one order, one
    # buyer a month, revenue 10, 20, 5; in March A is a returning buyer (share 1.0)
    df = pd.DataFrame({"customer_id": ["A", "B", "A"], "order_id": ["o1", "o2", "o3"], "product_id": ["x", "y", "x"],
                       "order_date": pd.to_datetime(["2024-01-05", "2024-02-05", "2024-03-05"]),
                       "amount": [10.0, 20.0, 5.0]})
    df.astype({"customer_id": "category", "order_id": "category", "product_id": "category"}).to_parquet(
        cli.cwd / "p.parquet", index=False)
    pd.DataFrame({"customer_id": ["A", "B"]}).astype("category").to_parquet(cli.cwd / "c.parquet", index=False)
    write(cli.cwd, "retention.yaml", "inputs:\n  customers: {path: c.parquet}\n  purchases: {path: p.parquet}\n")
    r = cli("purchases", "--from", "2024-01", "--to", "2024-03")
    assert r.exit_code == 0, r.stderr
    rows = cli.csv_rows(r)
    assert [(x["orders"], x["buyers"], x["revenue"]) for x in rows] == [("1", "1", "10.0"), ("1", "1", "20.0"),
                                                                      ("1", "1", "5.0")]
    assert rows[2]["returning_buyer_share"] == "1.0"
    # churn: February starts with A, ends with A and B (B new); March keeps both
    r = cli("churn", "--from", "2024-02", "--to", "2024-03")
    assert [(x["customers_start"], x["customers_end"], x["new_customers"], x["retained_customers"])
            for x in cli.csv_rows(r)] == [("1", "2", "1", "1"), ("2", "2", "0", "2")]
    r = cli("validate", "--strict")  # every purchase's customer is in the customers file
    assert r.exit_code == 0, r.stderr
    assert [x["customers"] for x in cli.csv_rows(r)] == ["2", "2"]


# --- one header, several canonical names ---------------------------------------------

# The public CFPB consumer complaint export (its 16 current columns): no customer id,
# so the complaint id stands for the consumer.
CFPB_HEADER = ("Date received,Product,Sub-product,Issue,Sub-issue,Consumer complaint narrative,"
               "Company public response,Company,State,ZIP code,Tags,Submitted via,Date sent to company,"
               "Company response to consumer,Timely response?,Complaint ID\n")
CFPB_MAPPING = ('{customer_id: "Complaint ID", complaint_id: "Complaint ID", opened_date: "Date received", '
                'category: "Product", status: "Company response to consumer", channel: "Submitted via"}')


def test_one_header_feeds_customer_id_and_complaint_id(tmp_path):
    write(tmp_path, "k.csv", CFPB_HEADER
          + "2024-01-03,Credit card,,Billing dispute,,,,Bank A,CO,80202,,Web,2024-01-04,Closed with explanation,Yes,8000001\n"
          + "2024-01-10,Mortgage,,Trouble,,,,Bank A,TX,75001,,Phone,2024-01-10,In progress,Yes,0008002\n")
    t = read(tmp_path, "complaints", f"{{path: k.csv, columns: {CFPB_MAPPING}}}")
    assert t.df["customer_id"].tolist() == t.df["complaint_id"].tolist() == ["8000001", "0008002"]  # text, as ids are
    assert t.mapping["customer_id"] == t.mapping["complaint_id"] == "Complaint ID"
    assert t.df["status"].tolist() == ["Closed with explanation", "In progress"]
    # a column the config maps is not matched by name to another canonical name too
    t = read(tmp_path, "complaints", '{path: k.csv, columns: {customer_id: "Complaint ID", opened_date: "Date received"}}')
    assert "complaint_id" not in t.df and "complaint_id" not in t.mapping


def test_one_column_feeds_two_names_in_every_table_and_format(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    # purchases: the customer id is read dictionary-encoded, the order id as text: one read serves both
    write(tmp_path, "p.csv", "Invoice,Date,Total\nI1,2024-01-05,10\nI2,2024-01-06,20\n")
    t = read(tmp_path, "purchases", "{path: p.csv, columns: {customer_id: Invoice, order_id: Invoice, "
             "order_date: Date, amount: Total}}")
    assert t.df["customer_id"].astype(str).tolist() == t.df["order_id"].tolist() == ["I1", "I2"]
    # customers: two dates from one column
    write(tmp_path, "c.csv", "id,joined\nA,2024-02-01\n")
    t = read(tmp_path, "customers", "{path: c.csv, columns: {customer_id: id, signup_date: joined, "
             "first_contact_date: joined}}")
    assert t.df["signup_date"].tolist() == t.df["first_contact_date"].tolist() == [pd.Timestamp("2024-02-01")]
    # responses, without a header: one position for two names
    write(tmp_path, "r.csv", "a,9\nb,3\n")
    t = read(tmp_path, "responses", "{path: r.csv, header: false, columns: {customer_id: 1, nps_score: 2, csat_score: 2}}",
             top="satisfaction: {csat_scale: [0, 10]}\n")
    assert t.df["nps_score"].tolist() == t.df["csat_score"].tolist() == [9, 3]
    # Parquet: whole-number complaint ids become text for both names
    pq.write_table(pa.table({"Complaint ID": pa.array([8000001, 42]), "Date received": ["2024-01-03", "2024-01-04"],
                             "Product": ["Mortgage", None]}), tmp_path / "k.parquet")
    t = read(tmp_path, "complaints", '{path: k.parquet, columns: {customer_id: "Complaint ID", '
             'complaint_id: "Complaint ID", category: Product, opened_date: "Date received"}}')
    assert t.df["customer_id"].tolist() == t.df["complaint_id"].tolist() == ["8000001", "42"]


def test_a_column_cannot_be_an_id_and_a_date(tmp_path):
    write(tmp_path, "k.csv", "Complaint ID,Date received\nK1,2024-01-03\n")
    # written the same way: refused with the config's line (78)
    from retention_cli.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        cfg_for(tmp_path, "complaints", '{path: k.csv, columns: {customer_id: "Complaint ID", '
                'opened_date: "Complaint ID"}}')
    assert e.value.message == ("retention.yaml:2: inputs.complaints.columns.opened_date: 'Complaint ID' also feeds "
                               "customer_id: one column cannot be an id and a date")
    # written two ways that name one header: refused when the file is read (65)
    with pytest.raises(DataError, match=r"k.csv: column 'Complaint ID' is mapped to both customer_id and opened_date: "
                                        r"one column cannot be an id and a date"):
        read(tmp_path, "complaints", '{path: k.csv, columns: {customer_id: "Complaint ID", opened_date: "complaint id"}}')


# --- what real exports need -------------------------------------------------------

def _read(tmp_path, table, text, **kw):
    from retention_cli.config import Config, InputConfig
    from retention_cli.io.readers import read_table

    p = tmp_path / "f.csv"
    p.write_text(text)
    return read_table(table, InputConfig(path=str(p), **kw), Config())


def test_header_row_and_skip_rows_keep_line_numbers(tmp_path):
    import pytest as _pytest
    from retention_cli.errors import DataError

    text = "Report of sales\nexported 2024-02-01\ncustomer_id,order_date,amount\n(units),(date),(EUR)\nA,2024-01-02,5\nB,2024-01-03,x\n"
    with _pytest.raises(DataError) as e:
        _read(tmp_path, "purchases", text, header_row=3, skip_rows=1)
    assert "f.csv:6: column 'amount': value 'x'" in e.value.details[0]
    t = _read(tmp_path, "purchases", text.replace(",x", ",7"), header_row=3, skip_rows=1)
    assert t.df["amount"].tolist() == [5.0, 7.0]


def test_exclude_counts_and_amount_scope_order_and_lower_ids(tmp_path):
    text = ("order_id,customer_id,order_date,amount,status\n1,A@x.com,2024-01-02,30,paid\n1,A@x.com,2024-01-02,30,paid\n"
            "2,a@X.com,2024-01-05,8,cancelled\n3,a@x.com,2024-01-06,12,\n")
    t = _read(tmp_path, "purchases", text, exclude={"status": ["Cancelled"]}, amount_scope="order", customer_key="email")
    assert t.excluded_rows == 1 and "left out 1 row by exclude (status: cancelled 1)" in t.warnings[0]
    assert t.df["amount"].tolist() == [30.0, 0.0, 12.0]  # order 1's total once
    assert set(t.df["customer_id"].astype(str)) == {"a@x.com"}


def test_refund_with_a_date_is_a_return_of_its_own(tmp_path):
    text = "order_id,customer_id,order_date,amount,refunded,refund on\n1,A,2024-01-02,30,10,2024-02-01\n2,B,2024-01-03,20,5,\n"
    t = _read(tmp_path, "purchases", text, refund_amount="refunded", refund_date="refund on")
    df = t.df.reset_index(drop=True)
    # order 2: 20 - 5 in its own month; order 1 keeps 30 and a return of -10 on 2024-02-01
    assert df["amount"].tolist() == [30.0, 15.0, -10.0]
    assert str(df["order_date"].iloc[2].date()) == "2024-02-01" and df["order_id"].iloc[2] == "1 (refund)"


def test_a_purchases_name_under_customers_columns_is_a_config_error(tmp_path):
    import pytest as _pytest
    from retention_cli.errors import ConfigError

    with _pytest.raises(ConfigError, match="inputs.customers.columns.order_date: not a column of customers"):
        _read(tmp_path, "customers", "customer_id,order_date\nA,2024-01-01\n", columns={"order_date": "order_date"})


def test_skipped_rows_of_a_glob_say_where_and_why_beside_the_rejects(tmp_path):
    """rejects/<table>.problems.csv: each bad value of the rows left out, by file and
    line (a glob's files named), column, value (guarded against formulas) and reason."""
    from tests.conftest import Cli

    (tmp_path / "ex").mkdir()
    (tmp_path / "ex" / "a.csv").write_text("customer_id,order_date,amount\nA,2024-01-05,10\nB,2024-02-30,5\n")
    (tmp_path / "ex" / "b.csv").write_text("customer_id,order_date,amount\nC,2024-01-07,=1+2\nA,2024-02-05,20\n")
    (tmp_path / "retention.yaml").write_text('on_bad_rows: skip\ninputs:\n  purchases: {path: "ex/*.csv"}\n')
    (tmp_path / "out").mkdir()
    r = Cli.fresh(tmp_path)("churn", "-q", "--from", "2024-01", "--to", "2024-02", "-o", "out/churn.csv")
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "out" / "rejects" / "purchases.csv").read_text() == (
        "customer_id,order_date,amount\nB,2024-02-30,5\nC,2024-01-07,=1+2\n")
    assert (tmp_path / "out" / "rejects" / "purchases.problems.csv").read_text() == (
        "place,column,value,reason\n"
        "ex/a.csv:3,order_date,2024-02-30,not an ISO date (YYYY-MM-DD); set `date_format:` for this input\n"
        "ex/b.csv:2,amount,'=1+2,not a number\n")


def test_an_earlier_runs_rejects_are_not_passed_off_as_this_runs(tmp_path):
    """A run that leaves out no row does not delete rejects it did not write (they may
    be kept on purpose), and says they are not its own."""
    from tests.conftest import Cli

    (tmp_path / "p.csv").write_text("customer_id,order_date,amount\nA,2024-01-05,10\nB,2024-01-40,5\n")
    (tmp_path / "retention.yaml").write_text("on_bad_rows: skip\ninputs:\n  purchases: {path: p.csv}\n")
    (tmp_path / "out").mkdir()
    cli = Cli.fresh(tmp_path)
    assert cli("churn", "--from", "2024-01", "--to", "2024-01", "-o", "out/churn.csv").exit_code == 0
    rejects = (tmp_path / "out" / "rejects" / "purchases.csv").read_bytes()
    (tmp_path / "p.csv").write_text("customer_id,order_date,amount\nA,2024-01-05,10\nB,2024-01-10,5\n")
    r = cli("churn", "--from", "2024-01", "--to", "2024-01", "-o", "out/churn.csv")
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "out" / "rejects" / "purchases.csv").read_bytes() == rejects  # kept, not ours
    assert "out/rejects/purchases.csv is not this run's: it left out no row of that table" in r.stderr
    assert "out/rejects/purchases.problems.csv is not this run's" in r.stderr


def test_rejects_into_a_folder_that_does_not_exist_say_so(tmp_path):
    from tests.conftest import Cli

    (tmp_path / "p.csv").write_text("customer_id,order_date,amount\nA,2024-01-05,10\nB,2024-01-40,5\n")
    (tmp_path / "retention.yaml").write_text("on_bad_rows: skip\ninputs:\n  purchases: {path: p.csv}\n")
    r = Cli.fresh(tmp_path)("churn", "--from", "2024-01", "--to", "2024-01", "-o", "nodir/churn.csv")
    assert r.exit_code == 73
    assert "nodir/rejects/purchases.csv: cannot write: folder nodir does not exist" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv", "retention.yaml"]


def test_customer_ids_are_coded_once_across_a_plain_and_a_dictionary_column():
    """encode_ids: a plain column's rows go into the one hash as they are (their codes
    are their stretch of it), a dictionary column brings its codes: the ids in order of
    first appearance, customers first, then the purchases' new ones."""
    import pyarrow as pa

    from retention_cli.io.readers import encode_ids

    customers = pd.Series(["C3", "C1", "C2"], dtype="str")
    dictionary = pa.DictionaryArray.from_arrays(pa.array([0, 1, 0, 2, 1], pa.int32()), pa.array(["C9", "C1", "C3"]))
    purchases = pd.Series(pd.arrays.ArrowExtensionArray(dictionary))
    ids, (cust, purch) = encode_ids(customers, purchases)
    assert list(ids) == ["C3", "C1", "C2", "C9"]
    assert cust.tolist() == [0, 1, 2]
    assert purch.tolist() == [3, 1, 3, 0, 1]
    ids, (none, plain) = encode_ids(None, pd.Series(["b", "a", "b"], dtype="str"))
    assert none is None and list(ids) == ["b", "a"] and plain.tolist() == [0, 1, 0]


def test_duplicate_customer_ids_are_found_whatever_their_count(tmp_path):
    """The customers' ids are checked by counting the distinct ones first: an id
    twice among unique ones is still found and named; unique ids pass."""
    write(tmp_path, "c.csv", "customer_id,signup_date\nC1,2024-01-01\nC2,2024-01-02\nC1,2024-01-03\n")
    cfg = parse_config("inputs:\n  customers: {path: c.csv}\n", tmp_path / "r.yaml")
    with pytest.raises(DataError) as e:
        read_table("customers", cfg.inputs.customers, cfg)
    assert "1 customer_id appear more than once" in str(e.value)
    write(tmp_path, "c.csv", "customer_id,signup_date\nC1,2024-01-01\nC2,2024-01-02\nC3,2024-01-03\n")
    assert read_table("customers", cfg.inputs.customers, cfg).df["customer_id"].tolist() == ["C1", "C2", "C3"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["C1", "C2", "C3", "C4", "", "c1", "C1 "]), unique=True),
       st.lists(st.sampled_from(["C1", "C2", "C3", "C5", "C6", "", "c1"]), max_size=12),
       st.booleans())
def test_ids_looked_up_among_unique_customers_are_coded_as_one_hash_codes_them(customers, purchases, dup_dictionary):
    """encode_ids with the customers' ids known to differ (a lookup of the purchases'
    distinct ids among them) gives the same ids, order and codes as hashing both;
    a dictionary whose values repeat (it may) too."""
    import pyarrow as pa

    from retention_cli.io.readers import encode_ids

    values = list(dict.fromkeys(purchases)) + (purchases[:2] if dup_dictionary else [])
    at = {v: i for i, v in reversed(list(enumerate(values)))}
    dictionary = pa.DictionaryArray.from_arrays(pa.array([at[v] for v in purchases], pa.int32()),
                                                pa.array(values, pa.string()))
    first = pd.Series(customers, dtype="str")
    second = pd.Series(pd.arrays.ArrowExtensionArray(dictionary))
    ids, (c, p) = encode_ids(first, second, unique_first=True)
    ids0, (c0, p0) = encode_ids(first, second)
    assert list(ids) == list(ids0) and c.tolist() == c0.tolist() and p.tolist() == p0.tolist()
    assert [ids[i] for i in p] == purchases and [ids[i] for i in c] == customers
    assert ids.dtype == ids0.dtype == first.dtype
    if set(purchases) <= set(customers):  # every id is a customer's: the ids are the customers' column itself
        assert ids.array._pa_array is first.array._pa_array


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(-10 ** 20, 10 ** 20), st.integers(-2 ** 54, 2 ** 54)),
                min_size=1, max_size=40),
       st.integers(0, 12), st.integers(0, 5))
def test_decimal_amounts_are_the_nearest_floats_as_their_text_reads(unscaled, scale, offset):
    """A decimal column (Parquet, a database's numeric) becomes the floats its
    values' text reads as, the nearest to each: Arrow's own cast is not (0.07 at
    scale 2 became 0.07000000000000001), PostgreSQL's numeric::float8 is."""
    from decimal import Decimal

    import pyarrow as pa

    from retention_cli.io.readers.formats import decimal_floats

    values = [None if u is None else Decimal(u).scaleb(-scale) for u in unscaled]
    col = pa.array(values, pa.decimal128(38, scale)).slice(min(offset, len(values) - 1))
    got = decimal_floats(col)
    want = [float(v) if v is not None else None for v in values[min(offset, len(values) - 1):]]
    assert [None if np.isnan(g) else float(g) for g in got] == want


def test_a_parquet_decimal_amount_is_read_to_the_nearest_float(tmp_path):
    from decimal import Decimal

    import pyarrow as pa
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"customer_id": ["C1", "C1", "C2"], "order_date": pa.array([date(2024, 1, 5)] * 3),
                             "amount": pa.array([Decimal("0.07"), Decimal("-19.99"), None], pa.decimal128(12, 2))}),
                   tmp_path / "p.parquet")
    t = read(tmp_path, "purchases", "{path: p.parquet}", top="on_bad_rows: skip\n")
    assert t.df["amount"].tolist() == [0.07, -19.99]  # the third line has no amount: a bad row
