"""The output contract (issue: safe output): ``-o`` and ``output_dir`` replace only
what this tool wrote; a pipe or a device is written in place, a link is followed and
kept; ``-`` is stdout for every output option; temporary files never survive a run.

Each case builds its own folder in ``tmp_path`` (never under /dev), runs the CLI and
checks the exit code, the one-line message, that stdout holds no data on failure, and
that whatever was at the output path before is unchanged (or, on success, replaced
the documented way)."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from retention_cli.io import writers
from tests.conftest import ROOT, write

ORDERS = b"customer_id,order_date,amount\nA,2024-01-05,10\nB,2024-02-05,20\nA,2024-03-05,5\n"
REPORT = ("inputs:\n  purchases: {path: data/p.csv}\n"
          "report: {period: 2024-02, sections: [churn], formats: [csv], output_dir: out}\n")


def setup(cwd: Path, config: str = REPORT) -> None:
    (cwd / "data").mkdir()
    write(cwd / "data", "p.csv", ORDERS)
    write(cwd, "retention.yaml", config)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else b"<dir>")
            for p in sorted(folder.rglob("*"))}


def failed(r, code: int, fragment: str) -> None:
    assert r.exit_code == code, r.stderr[-600:]
    errors = [line for line in r.stderr.splitlines() if line.startswith("retention: error: ")]
    assert len(errors) == 1 and fragment in errors[0], r.stderr[-600:]
    assert r.stdout == ""
    assert "Traceback" not in r.stderr


# --- the report's folder ----------------------------------------------------------------------

def case_report_onto_the_inputs_folder(cli):
    setup(cli.cwd)
    before = snapshot(cli.cwd)
    failed(cli("report", "-o", "data"), 73, "data: holds files this tool did not write (p.csv); nothing was written or deleted")
    assert snapshot(cli.cwd) == before  # the input is still there, nothing beside it


def case_output_dir_is_the_config_folder(cli):
    setup(cli.cwd, REPORT.replace("output_dir: out", "output_dir: '.'"))
    before = snapshot(cli.cwd)
    failed(cli("report"), 73, "holds files this tool did not write (data, data/p.csv, retention.yaml)")
    assert snapshot(cli.cwd) == before


def case_report_onto_a_file(cli):
    setup(cli.cwd)
    write(cli.cwd, "existing.txt", b"keep me\n")
    before = snapshot(cli.cwd)
    failed(cli("report", "-o", "existing.txt"), 73, "existing.txt: is a file, not a report folder")
    assert snapshot(cli.cwd) == before  # no folder in its place, no hidden .existing.txt.tmp-*


def case_report_onto_a_folder_with_a_file_added_to_an_earlier_report(cli):
    setup(cli.cwd)
    assert cli("report", "-o", "r").exit_code == 0
    write(cli.cwd / "r", "notes.txt", b"my notes\n")
    before = snapshot(cli.cwd)
    failed(cli("report", "-o", "r", "--as-of", "2024-03-01"), 73, "holds files that are not part of the earlier report there (notes.txt)")
    assert snapshot(cli.cwd) == before


def case_report_replaces_its_own_earlier_report(cli):
    setup(cli.cwd)
    assert cli("report", "-o", "r").exit_code == 0
    first = (cli.cwd / "r" / "churn.csv").read_bytes()
    r = cli("report", "-o", "r", "--period", "2024-01")  # another period: other numbers
    assert r.exit_code == 0, r.stderr
    assert (cli.cwd / "r" / "churn.csv").read_bytes() != first
    assert (cli.cwd / "r" / writers.MARKER).read_text().splitlines()[1:] == ["churn.csv", "meta.json"]
    assert sorted(p.name for p in cli.cwd.iterdir()) == ["data", "r", "retention.yaml"]


def case_report_replaces_an_earlier_version_report_known_by_its_meta(cli):
    setup(cli.cwd)
    (cli.cwd / "r").mkdir()
    write(cli.cwd / "r", "churn.csv", b"old\n")
    write(cli.cwd / "r", "meta.json", b'{"meta": {"tool": "retention", "files": ["churn.csv", "meta.json"]}, "rows": []}\n')
    r = cli("report", "-o", "r")
    assert r.exit_code == 0, r.stderr
    assert (cli.cwd / "r" / "churn.csv").read_bytes().startswith(b"period,")


def case_report_onto_an_empty_folder(cli):
    setup(cli.cwd)
    (cli.cwd / "r").mkdir()
    assert cli("report", "-o", "r").exit_code == 0
    assert (cli.cwd / "r" / "churn.csv").exists()


def case_report_through_a_link_keeps_the_link(cli):
    setup(cli.cwd)
    assert cli("report", "-o", "2024-01", "--period", "2024-01").exit_code == 0
    os.symlink("2024-01", cli.cwd / "latest")
    r = cli("report", "-o", "latest", "--period", "2024-02")
    assert r.exit_code == 0, r.stderr
    assert os.readlink(cli.cwd / "latest") == "2024-01"  # still a link, to the same folder …
    assert b"2024-02" in (cli.cwd / "2024-01" / "churn.csv").read_bytes()  # … whose report was replaced
    assert sorted(p.name for p in cli.cwd.iterdir()) == ["2024-01", "data", "latest", "retention.yaml"]


def case_report_to_stdout(cli):
    setup(cli.cwd)
    failed(cli("report", "-o", "-"), 2, "report writes a folder of files: -o - (stdout) is not possible")
    assert not (cli.cwd / "-").exists()


# --- one file -----------------------------------------------------------------------------------

CHURN = "inputs:\n  purchases: {path: data/p.csv}\n"


def reader_of(path: Path) -> tuple[threading.Thread, list[bytes]]:
    """A reader on the other end of a named pipe, as `cat pipe` would be."""
    got: list[bytes] = []

    def read():
        with open(path, "rb") as f:
            got.append(f.read())

    t = threading.Thread(target=read, daemon=True)
    t.start()
    return t, got


def case_named_pipe_is_written_in_place(cli):
    setup(cli.cwd, CHURN)
    os.mkfifo(cli.cwd / "pipe")
    t, got = reader_of(cli.cwd / "pipe")
    r = cli("churn", "--period", "2024-02", "-o", "pipe", "-f", "csv")
    t.join(10)
    assert r.exit_code == 0, r.stderr
    assert got and got[0].startswith(b"period,complete,customers_start")
    assert stat.S_ISFIFO(os.lstat(cli.cwd / "pipe").st_mode)  # still a pipe, not a regular file
    assert sorted(p.name for p in cli.cwd.iterdir()) == ["data", "pipe", "retention.yaml"]


def case_link_to_a_pipe_like_dev_stdout(cli):
    setup(cli.cwd, CHURN)
    os.mkfifo(cli.cwd / "pipe")
    os.symlink("pipe", cli.cwd / "stdout")
    t, got = reader_of(cli.cwd / "pipe")
    r = cli("churn", "--period", "2024-02", "-o", "stdout", "-f", "csv")
    t.join(10)
    assert r.exit_code == 0, r.stderr
    assert got and got[0].startswith(b"period,")
    assert os.path.islink(cli.cwd / "stdout") and stat.S_ISFIFO(os.lstat(cli.cwd / "pipe").st_mode)


def case_character_device_is_written_in_place(cli):
    setup(cli.cwd, CHURN)
    try:  # a null device of our own, in the test's folder (root only)
        os.mknod(cli.cwd / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, AttributeError, OSError):
        pytest.skip("cannot make a device node here (needs root on Linux)")
    r = cli("churn", "--period", "2024-02", "-o", "null")
    assert r.exit_code == 0, r.stderr
    assert stat.S_ISCHR(os.lstat(cli.cwd / "null").st_mode)  # still the device
    assert sorted(p.name for p in cli.cwd.iterdir()) == ["data", "null", "retention.yaml"]


def case_link_to_a_file_keeps_the_link(cli):
    setup(cli.cwd, CHURN)
    write(cli.cwd, "target.csv", b"old\n")
    os.symlink("target.csv", cli.cwd / "link.csv")
    r = cli("churn", "--period", "2024-02", "-o", "link.csv")
    assert r.exit_code == 0, r.stderr
    assert os.readlink(cli.cwd / "link.csv") == "target.csv"
    assert (cli.cwd / "target.csv").read_bytes().startswith(b"period,")


def case_output_onto_a_folder(cli):
    setup(cli.cwd, CHURN)
    before = snapshot(cli.cwd)
    failed(cli("churn", "-o", "data"), 73, "data: cannot write: it is a folder; name a file (or - for stdout)")
    assert snapshot(cli.cwd) == before


def case_output_onto_a_socket(cli):
    setup(cli.cwd, CHURN)
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(cli.cwd / "sock"))
    except OSError:
        pytest.skip("no Unix sockets here")
    try:
        failed(cli("churn", "-o", "sock"), 73, "sock: cannot write: it is a socket")
        assert stat.S_ISSOCK(os.lstat(cli.cwd / "sock").st_mode)
    finally:
        s.close()


def case_customers_out_dash_is_stdout(cli):
    # the sample data: enough customers and repeat buyers for the model to be fitted
    r = cli("clv", "-c", str(ROOT / "config.example.yaml"), "--customers-out", "-", "-o", "summary.csv")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("customer_id,frequency,recency,T,p_alive")
    assert r.stdout.count("\n") > 1000  # the header and a line per customer
    assert sorted(p.name for p in cli.cwd.iterdir()) == ["summary.csv"]  # and no file named '-'


def case_customers_out_dash_and_summary_both_to_stdout(cli):
    setup(cli.cwd, CHURN)
    failed(cli("clv", "--customers-out", "-"), 2, "--customers-out - and the summary would both go to stdout")
    assert not (cli.cwd / "-").exists()


def case_init_to_stdout(cli):
    setup(cli.cwd, CHURN)
    r = cli("init", "data/p.csv", "-o", "-")
    assert r.exit_code == 0, r.stderr
    assert "purchases:" in r.stdout and 'path: "data/p.csv"' in r.stdout
    assert not (cli.cwd / "-").exists()


def case_rejects_never_beside_a_pipe(cli):
    setup(cli.cwd, CHURN + "on_bad_rows: skip\n")
    write(cli.cwd / "data", "p.csv", ORDERS + b"C,not a date,1\n")
    os.mkfifo(cli.cwd / "pipe")
    t, got = reader_of(cli.cwd / "pipe")
    r = cli("churn", "--period", "2024-02", "-o", "pipe", "-f", "csv")
    t.join(10)
    assert r.exit_code == 0, r.stderr
    assert "1 bad row" in r.stderr or "1 row" in r.stderr
    assert not (cli.cwd / "rejects").exists()  # no folder to keep them in: the count on stderr is all


def case_stale_temporary_of_a_killed_write_is_removed(cli):
    setup(cli.cwd, CHURN)
    # what a write killed by SIGKILL leaves (pid 999999999 does not exist)
    write(cli.cwd, ".out.csv.999999999.abcd1234.tmp", b"half")
    r = cli("churn", "--period", "2024-02", "-o", "out.csv")
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in cli.cwd.iterdir()) == ["data", "out.csv", "retention.yaml"]


CASES = {name[len("case_"):]: f for name, f in sorted(globals().items()) if name.startswith("case_")}


@pytest.mark.parametrize("name", list(CASES))
def test_output_contract(cli, name):
    CASES[name](cli)


# --- signals: no temporary survives, whenever one arrives ----------------------------------------

class Stop(BaseException):
    """What the CLI's handler turns SIGTERM into."""


@pytest.fixture
def sigterm_raises():
    def handler(signum, frame):
        raise Stop

    previous = signal.signal(signal.SIGTERM, handler)
    yield
    signal.signal(signal.SIGTERM, previous)


def test_a_signal_just_after_the_temporary_folder_is_made_removes_it(tmp_path, monkeypatch, sigterm_raises):
    real_mkdir = Path.mkdir

    def mkdir(self, *a, **k):
        real_mkdir(self, *a, **k)
        if ".tmp-" in self.name:
            os.kill(os.getpid(), signal.SIGTERM)  # arrives right after the folder exists

    monkeypatch.setattr(Path, "mkdir", mkdir)
    with pytest.raises(Stop):
        with writers.AtomicFolder(tmp_path / "r"):
            pytest.fail("the body must not run")
    assert list(tmp_path.iterdir()) == []


def test_a_signal_just_after_the_temporary_file_is_made_removes_it(tmp_path, monkeypatch, sigterm_raises):
    write(tmp_path, "out.csv", b"previous\n")
    real_open = os.open

    def open_(path, *a, **k):
        fd = real_open(path, *a, **k)
        if str(path).endswith(".tmp"):
            os.kill(os.getpid(), signal.SIGTERM)  # arrives right after the file exists
        return fd

    monkeypatch.setattr(writers.os, "open", open_)
    with pytest.raises(Stop):
        writers.atomic_write(tmp_path / "out.csv", b"new\n")
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]
    assert (tmp_path / "out.csv").read_bytes() == b"previous\n"


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_a_signal_once_the_temporary_folder_exists(tmp_path, sig, code):
    """A real run, stopped as soon as its temporary folder appears: the exit code of
    the shell's convention, the previous report unchanged, no temporary left."""
    setup(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = [sys.executable, "-m", "retention_cli", "report", "-q", "-o", "r"]
    subprocess.run(run, cwd=tmp_path, env=env, check=True, timeout=120)
    before = snapshot(tmp_path / "r")
    # a larger input so that the run lasts past the moment its temporary folder appears
    rows = b"".join(b"C%d,2024-01-%02d,1\n" % (i, 1 + i % 28) for i in range(200_000))
    write(tmp_path / "data", "p.csv", ORDERS + rows)
    proc = subprocess.Popen(run, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".r.tmp-*")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the run ended before the signal could be sent")
    assert proc.returncode == code, err
    assert f"stopped by {signal.Signals(sig).name}" in err and "Traceback" not in err
    assert snapshot(tmp_path / "r") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "r", "retention.yaml"]
