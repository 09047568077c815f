"""Bad-input catalogue, continued: input cases (same form as test_catalogue.CASES:
name -> (files, config, args, exit code, message fragment)).

The files a reader meets in the wild when they are not plain CSV: gzip, zip and
Parquet files that are damaged, encrypted or of a type a column cannot hold, and
names the system cannot open. Zip files that Python cannot write (encrypted, AES,
Deflate64) are made by patching the fields of a plain zip (PKWARE APPNOTE 4.3.7,
4.3.12: general purpose flag bit 0 = encrypted; method 99 = AES, 9 = Deflate64).
Cases that need more than files and a config (a FIFO, a lowered memory limit, a
name that is not UTF-8) are in test_hostile_inputs.py."""

import datetime as dt
import gzip
import io
import zipfile

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

H = "customer_id,order_date,amount\n"
OK = H + "A,2024-01-05,10\nB,2024-02-05,20\n"
P = "inputs:\n  purchases: {path: p.csv}\n"


def inp(path: str, table: str = "purchases", extra: str = "") -> str:
    return f"{extra}inputs:\n  {table}: {{path: {path}}}\n"


# --- gzip -----------------------------------------------------------------------------

GZ = gzip.compress(OK.encode(), mtime=0)
# a gzip header (no name, no time) and a deflate block of the reserved type 3 (RFC 1951 3.2.3)
GZ_BAD_BLOCK = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + b"\xff" * 16


def flipped(data: bytes, at: int) -> bytes:
    """``data`` with the byte at ``at`` inverted."""
    b = bytearray(data)
    b[at] ^= 0xFF
    return bytes(b)


# --- zip ------------------------------------------------------------------------------

def zipped(files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as z:
        for name, data in files.items():
            if name.endswith("/"):
                z.writestr(zipfile.ZipInfo(name), b"")
            else:
                z.writestr(name, data)
    return buf.getvalue()


# offsets of the fields in a local file header and in a central directory header
_LOCAL = {"sig": b"PK\x03\x04", "version": 4, "flags": 6, "method": 8, "crc": 14, "name": 30}
_CENTRAL = {"sig": b"PK\x01\x02", "version": 6, "flags": 8, "method": 10, "crc": 16, "name": 46}


def patched(data: bytes, flags: int = 0, method: int | None = None, crc: bool = False,
            local_name: bytes | None = None, version: int | None = None) -> bytes:
    """A zip of one member with its headers changed as an encrypting or another
    zip program would write them: ``flags`` or-ed into the general purpose flags,
    the compression ``method`` or the ``version`` needed to extract set, the CRC-32
    spoiled, or the local header's name changed (of the same length), in the local
    and the central header alike."""
    b = bytearray(data)
    for h in (_LOCAL, _CENTRAL):
        i = b.find(h["sig"])
        assert i >= 0
        if flags:
            f = int.from_bytes(b[i + h["flags"]:i + h["flags"] + 2], "little") | flags
            b[i + h["flags"]:i + h["flags"] + 2] = f.to_bytes(2, "little")
        if method is not None:
            b[i + h["method"]:i + h["method"] + 2] = method.to_bytes(2, "little")
        if version is not None:
            b[i + h["version"]:i + h["version"] + 2] = version.to_bytes(2, "little")
        if crc:
            b[i + h["crc"]] ^= 0xFF
    if local_name is not None:
        i = b.find(_LOCAL["sig"]) + _LOCAL["name"]
        b[i:i + len(local_name)] = local_name
    return bytes(b)


def zip_with_bad_data() -> bytes:
    """A deflated member whose compressed bytes are a reserved block type."""
    data = bytearray(zipped({"a.csv": OK.encode()}))
    start = _LOCAL["name"] + len("a.csv")
    size = int.from_bytes(data[18:22], "little")  # compressed size in the local header
    data[start:start + size] = b"\xff" * size
    return bytes(data)


ZIP = zipped({"a.csv": OK.encode()})

# --- Parquet --------------------------------------------------------------------------


def parquet(table: pa.Table | pd.DataFrame, **kw) -> bytes:
    if isinstance(table, pd.DataFrame):
        buf = io.BytesIO()
        table.to_parquet(buf, **kw)
        return buf.getvalue()
    out = pa.BufferOutputStream()
    pq.write_table(table, out, **kw)
    return out.getvalue().to_pybytes()


def purchases_table(**columns) -> pa.Table:
    base = {"customer_id": pa.array(["A", "B"]), "order_date": pa.array([dt.date(2024, 1, 5), dt.date(2024, 2, 5)]),
            "amount": pa.array([10.0, 20.0])}
    return pa.table({**base, **columns})


PQ = parquet(purchases_table())
DF = pd.DataFrame({"customer_id": ["A", "B", "A"], "order_id": ["o1", "o2", "o3"], "product_id": ["x", "y", "x"],
                   "order_date": pd.to_datetime(["2024-01-05", "2024-02-05", "2024-03-05"]),
                   "amount": [10.0, 20.0, 5.0]})
CATEGORY_IDS = parquet(DF.astype({"customer_id": "category", "order_id": "category", "product_id": "category"}),
                       index=False)
CUSTOMERS_CATEGORY = parquet(pd.DataFrame({"customer_id": ["A", "B"], "segment": ["retail", "pro"]})
                             .astype({"customer_id": "category", "segment": "category"}), index=False)
PQ_TWO_TABLES = "inputs:\n  customers: {path: c.parquet}\n  purchases: {path: p.parquet}\n"

CASES: dict = {
    # --- gzip ---------------------------------------------------------------------------
    "gzip cut short": ({"p.csv.gz": GZ[:-8]}, inp("p.csv.gz"), ["validate"], 65,
                       "p.csv.gz: not a readable gzip file (cut short"),
    "gzip header only": ({"p.csv.gz": GZ[:10]}, inp("p.csv.gz"), ["churn"], 65, "p.csv.gz: not a readable gzip file (cut short"),
    "gzip with a wrong CRC": ({"p.csv.gz": flipped(GZ, -8)}, inp("p.csv.gz"), ["churn"], 65,
                              "p.csv.gz: not a readable gzip file (CRC check failed: the data is damaged)"),
    "gzip with a wrong length": ({"p.csv.gz": flipped(GZ, -4)}, inp("p.csv.gz"), ["validate"], 65,
                                 "p.csv.gz: not a readable gzip file (length check failed"),
    "gzip with damaged data": ({"p.csv.gz": GZ_BAD_BLOCK}, inp("p.csv.gz"), ["churn"], 65,
                               "p.csv.gz: not a readable gzip file (damaged compressed data: invalid block type)"),
    "gzip with bytes after its end": ({"p.csv.gz": GZ + b"garbage"}, inp("p.csv.gz"), ["churn"], 65,
                                      f"bytes that are not gzip after the end of the compressed data, at offset {len(GZ)}"),
    "gzip padded with zeros": ({"p.csv.gz": GZ + b"\x00" * 512}, inp("p.csv.gz"), ["validate"], 0, ""),
    "gzip of two members": ({"p.csv.gz": GZ + gzip.compress(b"C,2024-03-05,30\n")}, inp("p.csv.gz"), ["validate"], 0, ""),
    "gzip of nothing": ({"p.csv.gz": gzip.compress(b"")}, inp("p.csv.gz"), ["churn"], 65, "p.csv.gz: empty file: no header"),
    "gzip file of zero bytes": ({"p.csv.gz": b""}, inp("p.csv.gz"), ["validate"], 65, "p.csv.gz: empty file: no header"),
    "gzip of a Parquet file": ({"p.parquet.gz": gzip.compress(PQ)}, inp("p.parquet.gz"), ["validate"], 0, ""),
    # --- zip ----------------------------------------------------------------------------
    "zip with an encrypted member": ({"p.zip": patched(ZIP, flags=0x1)}, inp("p.zip"), ["churn"], 65,
                                     "p.zip: member a.csv is encrypted: export it without a password"),
    "zip with an AES member": ({"p.zip": patched(ZIP, flags=0x1, method=99)}, inp("p.zip"), ["validate"], 65,
                               "p.zip: member a.csv is encrypted (AES): export it without a password"),
    "zip with Deflate64": ({"p.zip": patched(ZIP, method=9)}, inp("p.zip"), ["churn"], 65,
                           "p.zip: member a.csv is compressed with Deflate64 (method 9), which this program cannot read"),
    "zip with an unknown method": ({"p.zip": patched(ZIP, method=77)}, inp("p.zip"), ["validate"], 65,
                                   "member a.csv is compressed with an unknown method (method 77)"),
    "zip with a wrong CRC": ({"p.zip": patched(ZIP, crc=True)}, inp("p.zip"), ["churn"], 65,
                             "p.zip: member a.csv is damaged (BadZipFile: Bad CRC-32 for file 'a.csv')"),
    "zip with damaged data": ({"p.zip": zip_with_bad_data()}, inp("p.zip"), ["churn"], 65,
                              "p.zip: member a.csv is damaged (error: Error -3 while decompressing data: invalid block type)"),
    "zip whose header and directory differ": ({"p.zip": patched(ZIP, local_name=b"b.csv")}, inp("p.zip"), ["validate"], 65,
                                              "p.zip: member a.csv is damaged (BadZipFile: File name in directory"),
    "zip of a version Python cannot read": ({"p.zip": patched(ZIP, version=221)}, inp("p.zip"), ["churn"], 65,
                                            "p.zip: not a readable zip file (zip file version 22.1)"),
    "zip cut short": ({"p.zip": ZIP[: len(ZIP) // 2]}, inp("p.zip"), ["churn"], 65,
                      "p.zip: not a readable zip file (File is not a zip file)"),
    "zip of nothing": ({"p.zip": zipped({})}, inp("p.zip"), ["validate"], 65, "exactly one file (found: none)"),
    "zip of an empty folder": ({"p.zip": zipped({"export/": b""})}, inp("p.zip"), ["churn"], 65, "exactly one file (found: none)"),
    "zip with a line break in a name": ({"p.zip": zipped({"a\nb.csv": OK.encode(), "c.csv": OK.encode()})}, inp("p.zip"),
                                        ["churn"], 65, "exactly one file (found: a\ufffdb.csv, c.csv)"),
    "zip from a Mac": ({"p.zip": zipped({"a.csv": OK.encode(), "__MACOSX/._a.csv": b"\x00\x05\x16\x07"})}, inp("p.zip"),
                       ["validate"], 0, ""),
    "zip with LZMA": ({"p.zip": zipped({"a.csv": OK.encode()}, zipfile.ZIP_LZMA)}, inp("p.zip"), ["validate"], 0, ""),
    "zip with bzip2": ({"p.zip": zipped({"a.csv": OK.encode()}, zipfile.ZIP_BZIP2)}, inp("p.zip"), ["validate"], 0, ""),
    "zip of a Parquet file": ({"p.zip": zipped({"export.parquet": PQ})}, inp("p.zip"), ["validate"], 0, ""),
    # --- Parquet ------------------------------------------------------------------------
    "Parquet cut short": ({"p.parquet": PQ[:-30]}, inp("p.parquet"), ["churn"], 65,
                          "p.parquet: not a readable Parquet file (ArrowInvalid: Parquet magic bytes not found in footer"),
    "Parquet footer longer than the file": ({"p.parquet": PQ[:-8] + (10**9).to_bytes(4, "little") + b"PAR1"},
                                            inp("p.parquet"), ["validate"], 65, "p.parquet: not a readable Parquet file"),
    "Parquet ids as category": ({"p.parquet": CATEGORY_IDS}, inp("p.parquet"), ["churn", "--period", "2024-02"], 0, ""),
    "Parquet customers as category": ({"c.parquet": CUSTOMERS_CATEGORY, "p.parquet": CATEGORY_IDS}, PQ_TWO_TABLES,
                                      ["validate", "--strict"], 0, ""),
    "Parquet list of ids": ({"p.parquet": parquet(purchases_table(customer_id=pa.array([["A"], ["B"]])))},
                            inp("p.parquet"), ["churn"], 65,
                            "p.parquet: column 'customer_id' is of Parquet type list<element: string>; "
                            "this column needs text or whole numbers"),
    "Parquet amounts as booleans": ({"p.parquet": parquet(purchases_table(amount=pa.array([True, False])))},
                                    inp("p.parquet"), ["validate"], 65,
                                    "p.parquet: column 'amount' is of Parquet type bool; this column needs numbers"),
    "Parquet time of day as a date": ({"p.parquet": parquet(purchases_table(order_date=pa.array([dt.time(9), dt.time(10)])))},
                                      inp("p.parquet"), ["churn"], 65, "column 'order_date' is of Parquet type time64[us]"),
    "Parquet ids in bytes that are not UTF-8": ({"p.parquet": parquet(purchases_table(customer_id=pa.array([b"A", b"caf\xe9"])))},
                                                inp("p.parquet"), ["churn"], 65,
                                                "p.parquet: column 'customer_id' holds bytes that are not UTF-8 text"),
    "Parquet amount inf": ({"p.parquet": parquet(purchases_table(amount=pa.array([10.0, float("inf")])))},
                           inp("p.parquet"), ["validate"], 65, "p.parquet: record 2: column 'amount': value 'inf': not a finite number"),
    "Parquet date in the year 1": ({"p.parquet": parquet(purchases_table(order_date=pa.array(
        [dt.datetime(2024, 1, 5), dt.datetime(1, 1, 1)], pa.timestamp("us"))))},
        inp("p.parquet"), ["churn"], 65, "p.parquet: record 2: column 'order_date': value '0001-01-01': implausible date"),
    "Parquet timestamps with a zone": ({"p.parquet": parquet(purchases_table(order_date=pa.array(
        [dt.datetime(2024, 1, 31, 23, 30), dt.datetime(2024, 2, 5, 12)], pa.timestamp("us", tz="UTC"))))},
        inp("p.parquet", extra="timezone: Europe/Paris\n"), ["validate"], 0, ""),
    "Parquet duplicate column names": ({"p.parquet": parquet(pa.Table.from_arrays(
        [pa.array(["A"]), pa.array(["2024-01-05"]), pa.array([1.0]), pa.array([2.0])],
        names=["customer_id", "order_date", "amount", "amount"]))},
        inp("p.parquet"), ["validate"], 65, "p.parquet: duplicate column name 'amount' (columns 3 and 4)"),
    "Parquet whole-number ids with a null": ({"p.parquet": parquet(purchases_table(customer_id=pa.array([7, None])))},
                                             inp("p.parquet"), ["churn"], 65, "p.parquet: record 2: column 'customer_id': value '': missing"),
    "Parquet NPS as text": ({"r.parquet": parquet(pa.table({"nps_score": pa.array(["9", "11"])}))},
                            inp("r.parquet", "responses"), ["validate"], 65, "r.parquet: record 2: column 'nps_score': value '11': score out of range"),
    "Parquet loyalty flags with a null": ({"c.parquet": parquet(pa.table({"customer_id": ["A", "B"],
                                                                          "loyalty_member": pa.array([True, None])}))},
                                          inp("c.parquet", "customers"), ["validate"], 0, ""),
    "Parquet with its pandas index": ({"p.parquet": parquet(DF.set_index("order_id"))}, inp("p.parquet"), ["validate"], 0, ""),
    # --- CSV beside the archives ---------------------------------------------------------
    "whitespace-separated, not UTF-8": ({"p.txt": b"customer_id order_date amount\nAndr\xe9 2024-01-05 10\n"},
                                        "inputs:\n  purchases: {path: p.txt, delimiter: whitespace}\n", ["churn"], 65,
                                        "p.txt:2: byte 0xe9 (offset 34) is not valid utf-8; set `encoding: cp1252`"),
    # --- names the system cannot open ---------------------------------------------------
    "file name too long": ({}, inp("x" * 300 + ".csv"), ["churn"], 66, "cannot read the purchases file: File name too long"),
    "NUL in the file name": ({}, 'inputs:\n  purchases: {path: "p\\0.csv"}\n', ["churn"], 66,
                             "p\ufffd.csv: cannot read the purchases file: its name holds a NUL character"),
    "path through a file": ({"p.csv": OK.encode()}, inp("p.csv/q.csv"), ["churn"], 66, "p.csv/q.csv: purchases file not found"),
    # a number too large to be money, in a typed Parquet column: the same rule as in CSV
    "Parquet amount 1e20": ({"p.parquet": parquet(purchases_table(amount=pa.array([10.0, 1e20])))},
                            inp("p.parquet"), ["validate"], 65, "value '1e+20': implausible number"),
}
