"""The warm path (retention_cli/cache.py): a second command on unchanged inputs
reuses what the first read and built; any change to an input, or an input that is
not a regular file, reads again; the cache can be off, damaged or deleted."""

import os

import pytest

import retention_cli.session as session
from retention_cli import cache
from tests.conftest import write

PURCHASES = ("customer_id,order_id,order_date,amount\n"
             "A,a1,2024-01-05,10\nA,a2,2024-02-05,20\nB,b1,2024-01-20,5\nC,c1,2024-02-10,7\n")


@pytest.fixture
def cached(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("RETENTION_CACHE", "on")
    monkeypatch.setenv("RETENTION_CACHE_DIR", str(tmp_path / "cache"))
    write(cli.cwd, "p.csv", PURCHASES)
    write(cli.cwd, "retention.yaml", "inputs:\n  purchases: {path: p.csv}\nchurn: {inactivity_days: 30}\n")
    return cli


def purchases(cli):
    r = cli("purchases", "--from", "2024-01", "--to", "2024-02", "-f", "csv")
    assert r.exit_code == 0, r.stderr
    cache.wait()  # the entry is stored in a thread while the run goes on
    return {row["period"]: row for row in cli.csv_rows(r)}


def no_reading(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("the inputs were read again")
    monkeypatch.setattr(session, "load_inputs", refuse)


def test_a_second_run_reads_nothing_and_says_the_same(cached, tmp_path, monkeypatch):
    first = purchases(cached)
    assert first["2024-02"]["orders"] == "2" and first["2024-02"]["revenue"] == "27.0"
    assert len(list((tmp_path / "cache").glob("*.pickle"))) == 1
    no_reading(monkeypatch)
    assert purchases(cached) == first


def test_a_changed_input_is_read_again(cached, monkeypatch):
    assert purchases(cached)["2024-02"]["revenue"] == "27.0"
    p = cached.cwd / "p.csv"
    st = os.stat(p)
    # the same size and modification time, other content: still not the same file
    p.write_text(PURCHASES.replace("C,c1,2024-02-10,7", "C,c1,2024-02-10,8"))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(p).st_size == st.st_size
    assert purchases(cached)["2024-02"]["revenue"] == "28.0"


def test_other_options_are_other_entries(cached, tmp_path):
    purchases(cached)
    r = cached("churn", "--from", "2024-01", "--to", "2024-02", "-f", "csv")
    assert r.exit_code == 0
    cache.wait()
    assert len(list((tmp_path / "cache").glob("*.pickle"))) == 2


def test_off_damaged_and_standard_input(cached, tmp_path, monkeypatch):
    purchases(cached)
    entry, = (tmp_path / "cache").glob("*.pickle")
    entry.write_bytes(b"not a pickle")  # a damaged entry: read again, and replaced
    assert purchases(cached)["2024-01"]["orders"] == "2"
    assert entry.read_bytes() != b"not a pickle"
    monkeypatch.setenv("RETENTION_CACHE", "off")
    for f in (tmp_path / "cache").glob("*"):
        f.unlink()
    purchases(cached)
    assert not list((tmp_path / "cache").glob("*"))
    monkeypatch.setenv("RETENTION_CACHE", "on")
    r = cached("purchases", "--purchases", "-", "--from", "2024-01", "--to", "2024-02", "-f", "csv",
               input=PURCHASES)
    cache.wait()
    assert r.exit_code == 0 and not list((tmp_path / "cache").glob("*"))


def test_a_truncated_entry_is_read_again(cached, tmp_path):
    first = purchases(cached)
    entry, = (tmp_path / "cache").glob("*.pickle")
    whole = entry.read_bytes()
    entry.write_bytes(whole[:-8])  # cut inside its last array
    assert purchases(cached) == first
    assert entry.read_bytes() == whole  # replaced by a whole one


def test_the_layout_keeps_arrays_and_dates_and_writes_nothing_back(tmp_path):
    import numpy as np
    import pandas as pd

    days = np.array(["2024-01-05", "2024-02-29"], dtype="datetime64[s]")
    obj = {"codes": np.arange(5, dtype=np.int64), "frame": pd.DataFrame({"d": days, "x": [1.5, -2.0]}),
           "days": days, "text": "A", "strided": np.arange(10)[::3]}
    p = tmp_path / "e.pickle"
    with open(p, "wb") as f:
        cache._dump(obj, f)
    before = p.read_bytes()
    back = cache._load(p)
    assert back["codes"].tolist() == [0, 1, 2, 3, 4] and back["days"].dtype == days.dtype
    assert back["days"].tolist() == days.tolist() and back["frame"].equals(obj["frame"])
    assert back["strided"].tolist() == [0, 3, 6, 9] and back["text"] == "A"
    back["codes"][0] = 99  # the arrays are writable, as unpickled ones are; the file is not changed
    assert p.read_bytes() == before and cache._load(p)["codes"][0] == 0
    # the arrays (dates too) out of band, at aligned offsets: the pickle itself holds none
    import struct

    meta_len, n = struct.unpack_from("<2Q", before, len(cache.MAGIC))
    assert n >= 4 and meta_len < 1_500
    offsets = [a.__array_interface__["data"][0] for a in (back["codes"], back["days"])]
    assert all(o % cache.ALIGN == 0 for o in offsets)
