"""Hostile inputs that a catalogue case cannot set up: a pipe that never ends, a
lowered memory limit (gzip bombs, multi-member gzip files), file names that are
not UTF-8. Each ends in correct output or a documented exit code and one line
naming the file; the limit is lowered by replacing ``readers.text_limit`` (or
``readers.memory_available``, which it derives from) for the one test."""

from __future__ import annotations

import errno
import gzip
import io
import os
import threading
import time
import zipfile

import pytest

from retention_cli.io.readers import source as readers
from tests.conftest import write

H = "customer_id,order_date,amount\n"
CONFIG = "inputs:\n  purchases: {path: p.csv}\n"


def feed(path, data: bytes | None, wait: float = 10.0) -> threading.Thread:
    """A thread that writes ``data`` into the FIFO at ``path`` once a reader has
    opened it (None: zeros without end), and ends when all is written or when the
    reader closes its end (broken pipe), or after ``wait`` seconds without a reader."""

    def run() -> None:
        deadline = time.monotonic() + wait
        while True:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as e:  # ENXIO: no reader yet
                if e.errno != errno.ENXIO or time.monotonic() > deadline:
                    return
                time.sleep(0.01)
        os.set_blocking(fd, True)
        try:
            if data is None:
                zeros = bytes(1 << 16)
                while True:
                    os.write(fd, zeros)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except BrokenPipeError:
            pass
        finally:
            os.close(fd)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def fifo(folder, name: str):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this system")
    p = folder / name
    os.mkfifo(p)
    return p


# --- pipes, devices and standard input ----------------------------------------------------

def test_a_pipe_that_never_ends_is_refused_at_the_limit(cli, monkeypatch):
    # /dev/zero, `<(yes)` or a FIFO fed without end: read up to the limit, then 66
    monkeypatch.setattr(readers, "text_limit", lambda: 100_000)
    write(cli.cwd, "retention.yaml", CONFIG)
    writer = feed(fifo(cli.cwd, "p.csv"), None)
    r = cli("churn")
    assert r.exit_code == 66, r.stderr
    assert r.stderr.startswith("retention: error: p.csv: is not a regular file and gave more than 100,000 bytes: "
                               "more than the memory available can read"), r.stderr
    assert r.stderr.count("\n") == 1 and r.stdout == ""
    writer.join(5)
    assert not writer.is_alive()  # the reader closed its end: the writer met a broken pipe


def test_a_pipe_is_read_whole_within_the_limit(cli, monkeypatch):
    # 3 rows of 2 customers (A twice), read through the pipe to its end
    text = (H + "A,2024-01-05,10\nB,2024-01-20,20\nA,2024-03-10,5\n").encode()
    monkeypatch.setattr(readers, "text_limit", lambda: len(text))  # exactly at the limit: read
    write(cli.cwd, "retention.yaml", CONFIG)
    feed(fifo(cli.cwd, "p.csv"), text)
    r = cli("validate")
    assert r.exit_code == 0, r.stderr
    row = cli.csv_rows(r)[0]
    assert (row["file"], row["rows"], row["customers"]) == ("p.csv", "3", "2")


def test_standard_input_is_read_up_to_the_limit(cli, monkeypatch):
    text = (H + "A,2024-01-05,10\n" * 1000).encode()   # 30 + 16,000 bytes
    write(cli.cwd, "retention.yaml", "inputs:\n  purchases: {path: '-'}\n")
    monkeypatch.setattr(readers, "text_limit", lambda: 16_029)
    r = cli("churn", input=text)
    assert r.exit_code == 66, r.stderr
    assert "retention: error: <stdin>: standard input gave more than 16,029 bytes" in r.stderr
    monkeypatch.setattr(readers, "text_limit", lambda: 16_030)
    r = cli("validate", input=text)
    assert r.exit_code == 0, r.stderr
    assert cli.csv_rows(r)[0]["rows"] == "1000"


# --- gzip: every member, and no more text than the memory can read ---------------------------

FIRST = H + "A,2024-01-05,10\nB,2024-01-20,20\n"
SECOND = "C,2024-01-25,30\nA,2024-02-10,5\n"


def test_a_gzip_of_two_members_is_read_whole(cli):
    # `cat a.gz b.gz`: 4 rows, customers A, B, C; January: 3 new customers (A, B, C),
    # and 3 active at its end (no one has been inactive for the 180-day window)
    write(cli.cwd, "p.csv.gz", gzip.compress(FIRST.encode()) + gzip.compress(SECOND.encode()))
    write(cli.cwd, "retention.yaml", "inputs:\n  purchases: {path: p.csv.gz}\n")
    r = cli("validate")
    assert r.exit_code == 0, r.stderr
    row = cli.csv_rows(r)[0]
    assert (row["rows"], row["customers"], row["date_to"]) == ("4", "3", "2024-02-10")
    r = cli("churn", "--period", "2024-01")
    assert r.exit_code == 0, r.stderr
    jan = cli.csv_rows(r)[0]
    assert (jan["new_customers"], jan["customers_end"]) == ("3", "3")
    r = cli("purchases", "--period", "2024-01")
    assert r.exit_code == 0, r.stderr
    jan = cli.csv_rows(r)[0]
    assert (jan["orders"], jan["buyers"], jan["revenue"]) == ("3", "3", "60.0")  # 10 + 20 + 30 in January


def test_the_members_the_trailer_does_not_count_are_capped(cli, monkeypatch):
    # The trailer gives the size of the last member only (31 bytes): the check before
    # reading lets the file in; the decompression stops once the text passes the limit.
    first = (H + "A,2024-01-05,10\n" * 2000).encode()   # 32,030 bytes
    write(cli.cwd, "p.csv.gz", gzip.compress(first) + gzip.compress(SECOND.encode()))
    write(cli.cwd, "retention.yaml", "inputs:\n  purchases: {path: p.csv.gz}\n")
    monkeypatch.setattr(readers, "memory_available", lambda: 3 * 32_000)  # a limit of 32,000 bytes of text
    r = cli("churn")
    assert r.exit_code == 66, r.stderr
    assert ("retention: error: p.csv.gz: its decompressed text passes 32,000 bytes: more than the memory "
            "available can read (3 bytes of memory per byte of text)") in r.stderr
    assert r.stderr.count("retention: error:") == 1 and r.stdout == ""
    monkeypatch.setattr(readers, "memory_available", lambda: 3 * (len(first) + len(SECOND)))
    r = cli("validate")
    assert r.exit_code == 0 and cli.csv_rows(r)[0]["rows"] == "2002", r.stderr


def test_a_damaged_gzip_is_not_taken_for_a_large_one(cli, monkeypatch):
    # The last 4 bytes of a damaged file are no trailer: "2 GiB of text" from 60 bytes is
    # more than deflate can give (1032:1), so the check before reading ignores them
    # and the decompression says what is wrong, on a machine of little memory too.
    cut = gzip.compress(FIRST.encode())[:-8] + b"\xff\xff\xff\x7f"
    write(cli.cwd, "p.csv.gz", cut)
    write(cli.cwd, "retention.yaml", "inputs:\n  purchases: {path: p.csv.gz}\n")
    monkeypatch.setattr(readers, "memory_available", lambda: 300_000)
    r = cli("churn")
    assert r.exit_code == 65, r.stderr
    assert "retention: error: p.csv.gz: not a readable gzip file (" in r.stderr


def test_a_gzip_bomb_stops_at_the_limit(tmp_path, monkeypatch):
    bomb = gzip.compress(b"0" * 50_000_000, compresslevel=9)   # 50 MB of text in ~50 KB
    assert len(bomb) < 100_000
    monkeypatch.setattr(readers, "text_limit", lambda: 1_000_000)
    with pytest.raises(readers.InputMissingError, match=r"^p\.csv\.gz: its decompressed text passes 1,000,000 bytes"):
        readers.unpack(bomb, "p.csv.gz", "p.csv.gz")


def test_a_zip_member_larger_than_the_limit_is_not_unpacked(cli, monkeypatch):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.csv", H + "A,2024-01-05,10\n" * 1000)   # 16,030 bytes
    write(cli.cwd, "p.zip", buf.getvalue())
    write(cli.cwd, "retention.yaml", "inputs:\n  purchases: {path: '-'}\n")  # from a pipe: no check before
    monkeypatch.setattr(readers, "text_limit", lambda: 16_000)
    r = cli("churn", input=buf.getvalue())
    assert r.exit_code == 66, r.stderr
    assert "<stdin>: member a.csv holds 16,030 bytes of text, more than 16,000" in r.stderr


def test_running_out_of_memory_while_reading_is_66(cli, monkeypatch):
    def no_memory(*args, **kwargs):
        raise MemoryError

    write(cli.cwd, "p.csv.gz", gzip.compress(FIRST.encode()))
    write(cli.cwd, "retention.yaml", "inputs:\n  purchases: {path: p.csv.gz}\n")
    monkeypatch.setattr(readers, "_gunzip", no_memory)
    r = cli("churn")
    assert r.exit_code == 66, r.stderr
    assert "retention: error: p.csv.gz: not enough memory to read this file" in r.stderr


# --- names -------------------------------------------------------------------------------------

def non_utf8(folder, text: str) -> str:
    """A file named b'caf\\xe9.csv' (Latin-1 bytes), as the system gives the name to Python."""
    name = os.fsdecode(b"caf\xe9.csv")
    try:
        (folder / name).write_bytes(text.encode())
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system refuses names that are not UTF-8")
    return name


def test_a_file_name_that_is_not_utf8_is_read(cli):
    # A 10 and 5 in January, B 20: revenue 35 from 2 customers
    name = non_utf8(cli.cwd, H + "A,2024-01-05,10\nB,2024-01-06,20\nA,2024-01-07,5\n")
    write(cli.cwd, "retention.yaml", "inputs: {}\n")
    r = cli("churn", "--purchases", name, "--period", "2024-01")
    assert r.exit_code == 0, r.stderr
    assert cli.csv_rows(r)[0]["new_customers"] == "2"


def test_messages_show_a_name_that_is_not_utf8_with_replacement_characters(cli, monkeypatch):
    name = non_utf8(cli.cwd, H + "A,2024-01-05,10\nB,2024-01-06,ten\n")
    write(cli.cwd, "retention.yaml", "inputs: {}\n")
    r = cli("churn", "--purchases", name)
    assert r.exit_code == 65, r.stderr
    assert "caf\ufffd.csv:3: column 'amount': value 'ten': not a number" in r.stderr
    r = cli("churn", "--purchases", os.fsdecode(b"\xe9t\xe9.csv"))  # not there
    assert r.exit_code == 66, r.stderr
    assert "retention: error: \ufffdt\ufffd.csv: purchases file not found" in r.stderr
    # through the environment ($VARS in the config): messages name it as the config does
    monkeypatch.setenv("EXPORT", name)
    write(cli.cwd, "retention.yaml", "inputs:\n  purchases: {path: $EXPORT}\n")
    r = cli("churn")
    assert r.exit_code == 65 and "$EXPORT:3: column 'amount'" in r.stderr, r.stderr


def test_shown_names_are_one_printable_line():
    assert readers.shown(os.fsdecode(b"caf\xe9.csv")) == "caf\ufffd.csv"
    assert readers.shown("a\nb\tc.csv") == "a\ufffdb\ufffdc.csv"
    lone = readers.shown("\ud800.csv")   # a lone surrogate that is no escaped byte
    assert lone.endswith(".csv") and set(lone[:-4]) == {"\ufffd"}
    assert readers.shown("café.csv") == "café.csv"


def test_a_symlink_loop_is_66(cli):
    os.symlink("b.csv", cli.cwd / "p.csv")
    os.symlink("p.csv", cli.cwd / "b.csv")
    write(cli.cwd, "retention.yaml", CONFIG)
    r = cli("churn")
    assert r.exit_code == 66, r.stderr
    assert "retention: error: p.csv: cannot read the purchases file: " in r.stderr


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads every file")
def test_a_file_without_permission_is_66(cli):
    p = write(cli.cwd, "p.csv", H + "A,2024-01-05,10\n")
    p.chmod(0)
    write(cli.cwd, "retention.yaml", CONFIG)
    r = cli("churn")
    assert r.exit_code == 66 and "p.csv: cannot read the purchases file: Permission denied" in r.stderr
