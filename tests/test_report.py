"""`retention report`: files, byte-identical re-runs, atomic replacement under SIGKILL,
the page in a real browser (headless Chromium)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, write

CONFIG = ROOT / "config.example.yaml"
ARTIFACTS = ROOT / "test-artifacts"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory):
    """One report of the sample data (written by a subprocess, as cron would)."""
    out = tmp_path_factory.mktemp("rep") / "r"
    proc = subprocess.run([sys.executable, "-m", "retention_cli", "report", "-c", str(CONFIG), "-o", str(out),
                           "--as-of", "2026-01-01"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_report_writes_every_section_and_lists_the_files(sample_report):
    out, proc = sample_report
    listed = proc.stdout.split()
    names = sorted(p.name for p in out.iterdir())
    for section in ("summary", "churn", "purchases", "cohorts", "satisfaction", "complaints", "wom"):
        assert f"{section}.csv" in names and f"{section}.json" in names
    assert {"index.html", "meta.json", "wom_assumptions.csv", "satisfaction_link.csv", "churn_reasons.csv"} <= set(names)
    assert sorted(Path(p).name for p in listed) == sorted(n for n in names if n != ".retention-report")
    # the marker lists every file the report wrote: the next run may replace them, and nothing else
    marker = (out / ".retention-report").read_text().splitlines()
    assert sorted(marker[1:]) == sorted(str(Path(p).relative_to(out)) for p in listed)
    meta = json.loads((out / "meta.json").read_text())["meta"]
    assert meta["timings"]["seconds"] > 0 and meta["inputs"]["purchases"]["rows"] > 1000
    churn = json.loads((out / "churn.json").read_text())
    assert "timings" not in churn["meta"] and churn["rows"][0]["segment"] == "(all)"
    # stderr is not a terminal: warnings only, no headline table
    assert all(line.startswith("retention: warning: ") for line in proc.stderr.splitlines())


def test_two_runs_give_byte_identical_csv_and_json(sample_report, tmp_path):
    out, _ = sample_report
    again = tmp_path / "again"
    proc = subprocess.run([sys.executable, "-m", "retention_cli", "report", "-c", str(CONFIG), "-o", str(again),
                           "--as-of", "2026-01-01", "--quiet"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == ""
    a, b = snapshot(out), snapshot(again)
    data = [k for k in a if k.endswith((".csv", ".json")) and k != "meta.json"]
    assert len(data) > 10 and all(a[k] == b[k] for k in data)


def copy_of(sample_report, tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """A copy of the sample report in ``tmp_path/r``, and its bytes."""
    target = tmp_path / "r"
    shutil.copytree(sample_report[0], target)
    return target, snapshot(target)


def start_report(target: Path) -> subprocess.Popen:
    """A new report into ``target`` (another --as-of: other bytes), as cron runs it."""
    return subprocess.Popen([sys.executable, "-m", "retention_cli", "report", "-c", str(CONFIG), "-o", str(target),
                             "--as-of", "2025-12-01"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True)


def test_sigkill_leaves_the_previous_report_byte_identical(sample_report, tmp_path):
    target, before = copy_of(sample_report, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # a new report into the same folder, killed at points spread over its run
    for delay in (0.3, 0.8, 1.3, 1.8, 2.4, 3.0):
        proc = start_report(target)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        now = snapshot(target)
        # either the kill came before the swap (previous report intact) or after it
        # (the new report complete): never a mixture
        assert now == before or set(now) == set(before) and now != before
        if now != before:
            before = now
    subprocess.run([sys.executable, "-m", "retention_cli", "report", "-c", str(CONFIG), "-o", str(target),
                    "-q"], check=True, env=env, timeout=300)
    assert [p.name for p in tmp_path.iterdir()] == ["r"]  # no temporary folder left behind


@pytest.mark.parametrize("sig, code, delays", [(signal.SIGTERM, 143, (0.5, 1.2, 2.0, 2.8)),
                                               (signal.SIGINT, 130, (1.2, 2.0, 2.8))])  # ^C
def test_a_signal_leaves_the_previous_report_and_no_temporary_folder(sample_report, tmp_path, sig, code, delays):
    target, before = copy_of(sample_report, tmp_path)
    codes = set()
    for delay in delays:
        proc = start_report(target)
        time.sleep(delay)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        codes.add(proc.returncode)
        now = snapshot(target)
        if proc.returncode in (code, -sig):
            # -15: on a loaded machine the signal can come before Python has set its
            # handler. The report is the previous one, or the complete new one when
            # the signal came just as it was put in place: never a mixture
            assert now == before or set(now) == set(before), sorted(set(now) ^ set(before))
            assert "Traceback" not in err
            assert proc.returncode != code or f"stopped by {sig.name}" in err
            before = now
        else:  # finished before the signal (or while it shut down: ignored then): the complete new report
            assert proc.returncode == 0 and set(now) == set(before), (proc.returncode, err)
            before = now
        # cleaned up at once, not only by the next run
        assert [p.name for p in tmp_path.iterdir()] == ["r"]
    assert codes & {code, -sig}


def test_a_signal_after_the_outcome_is_decided_is_ignored():
    """Once a run has its outcome (the output in place, or the error said), the
    interpreter's shutdown (default handlers back, the cache's writer awaited) must
    not turn it into a death by signal with no word: the signals are ignored then."""
    code = ("import signal, sys\nfrom retention_cli import cli\nsys.argv = ['retention', '--version']\n"
            "try:\n    cli.main()\nexcept SystemExit as e:\n"
            "    print(e.code, *(signal.getsignal(s) == signal.SIG_IGN for s in "
            "(signal.SIGTERM, signal.SIGHUP, signal.SIGINT)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split()[-4:] == ["0", "True", "True", "True"], out.stdout + out.stderr


def test_an_error_while_the_table_thread_computes_ends_with_its_code_and_the_exit_handlers_run(tmp_path):
    """A report that fails (a missing file: 66) while its table thread still
    computes ends without the interpreter's finalisation under that thread (which
    could abort the process: exit -6), with its own exit code, its message, and what
    finalisation would have done that matters (the exit handlers, the streams)."""
    code = ("import atexit, sys, threading, time\nfrom retention_cli import app, cli\n"
            "threading.Thread(target=time.sleep, args=(60,), name=app.TABLE_THREAD, daemon=True).start()\n"
            "atexit.register(lambda: sys.stderr.write('exit handlers ran\\n'))\n"
            "class Finalised:\n    def __del__(self):\n        sys.stderr.write('finalised\\n')\n"
            "kept = Finalised()\n"
            "print('out', end='')\n"
            "sys.argv = ['retention', 'churn', '--purchases', 'nowhere.csv']\ncli.main()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 66, out.stderr
    assert out.stdout == "out"
    assert "nowhere.csv" in out.stderr and out.stderr.endswith("exit handlers ran\n")  # not "finalised"


def _tiny_tmpfs(path: Path, size: str) -> bool:
    """A tmpfs of ``size`` at ``path`` (root on Linux); False where it cannot be mounted."""
    path.mkdir()
    if not sys.platform.startswith("linux") or os.geteuid() != 0 or not shutil.which("mount"):
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


@pytest.mark.parametrize("how", ["tmpfs", "simulated"])
def test_disk_full_exits_73_and_keeps_the_previous_report(cli, monkeypatch, how):
    write(cli.cwd, "p.csv", "customer_id,order_date,amount\nA,2024-01-05,10\nB,2024-02-05,20\n")
    disk = cli.cwd / "disk"
    mounted = how == "tmpfs" and _tiny_tmpfs(disk, "256k")
    if how == "tmpfs" and not mounted:
        pytest.skip("no tiny tmpfs here (needs root on Linux): the simulated case covers it")
    disk.mkdir(exist_ok=True)
    try:
        write(cli.cwd, "retention.yaml", "inputs:\n  purchases: {path: p.csv}\nreport:\n  sections: [churn]\n"
              "  formats: [csv, json, html]\n  output_dir: disk/out\n")
        assert cli("report", "--period", "2024-02").exit_code == 0
        before = snapshot(disk / "out")
        if mounted:  # fill the disk but for a few kilobytes: the next report cannot fit
            free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
            (disk / "filler").write_bytes(b"x" * (free - 8192))
        else:
            def full(fd):
                raise OSError(28, "No space left on device")

            monkeypatch.setattr(os, "fsync", full)
        r = cli("report", "--period", "2024-02")
        assert r.exit_code == 73, r.stderr
        assert "No space left on device" in r.stderr and "Traceback" not in r.stderr
        assert snapshot(disk / "out") == before
        assert sorted(p.name for p in disk.iterdir()) == (["filler", "out"] if mounted else ["out"])
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], check=True)


def test_rejects_folder_and_placeholders(cli):
    write(cli.cwd, "p.csv", "customer_id,order_date,amount\nA,2024-01-05,10\nB,2024-02-30,5\nA,2024-02-05,20\n")
    write(cli.cwd, "retention.yaml", "on_bad_rows: skip\ninputs:\n  purchases: {path: p.csv}\n"
          "report:\n  period: 2024-02\n  sections: [churn, satisfaction]\n  formats: [csv]\n"
          "  output_dir: out/{period}-{freq}\n")
    r = cli("report")
    assert r.exit_code == 0, r.stderr
    folder = cli.cwd / "out" / "2024-02-month"
    assert (folder / "rejects" / "purchases.csv").read_bytes() == b"customer_id,order_date,amount\nB,2024-02-30,5\n"
    assert sorted(p.name for p in folder.iterdir()) == [".retention-report", "churn.csv", "meta.json", "rejects"]
    assert "section satisfaction left out: no responses input" in r.stderr
    meta = json.loads((folder / "meta.json").read_text())["meta"]
    assert meta["rejected_rows"]["purchases"] == 1


def test_failed_report_leaves_the_previous_one(cli):
    write(cli.cwd, "p.csv", "customer_id,order_date,amount\nA,2024-01-05,10\n")
    write(cli.cwd, "retention.yaml", "inputs:\n  purchases: {path: p.csv}\nreport:\n  sections: [churn]\n"
          "  formats: [csv]\n  output_dir: out\n")
    assert cli("report", "--period", "2024-01").exit_code == 0
    before = snapshot(cli.cwd / "out")
    write(cli.cwd, "p.csv", "customer_id,order_date,amount\nA,2024-01-05,ten\n")
    r = cli("report", "--period", "2024-01")
    assert r.exit_code == 65
    assert snapshot(cli.cwd / "out") == before
    assert sorted(p.name for p in cli.cwd.iterdir()) == ["out", "p.csv", "retention.yaml"]


# --- the page in a browser -------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs Debian's chromium; "
                                              "it could not be installed here)")
def test_index_html_in_headless_chromium(tmp_path):
    # the sample data with one segment named like an attack: it must render as text
    shutil.copytree(ROOT / "sample_data", tmp_path / "sample_data")
    customers = (tmp_path / "sample_data" / "customers.csv")
    text = customers.read_bytes().replace(b",trade,", b",<script>alert(1)</script>,")
    customers.write_bytes(text)
    shutil.copy(CONFIG, tmp_path / "retention.yaml")
    out = tmp_path / "r"
    proc = subprocess.run([sys.executable, "-m", "retention_cli", "report", "-c", str(tmp_path / "retention.yaml"),
                           "-o", str(out), "-q"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    page = out / "index.html"
    dom = chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri())
    assert dom.returncode == 0
    console = [ln for ln in dom.stderr.splitlines() if "CONSOLE" in ln]
    assert console == [], console
    html = dom.stdout
    # every chart is present and has drawn lines or bars
    figures = html.split("<figure>")[1:]
    assert len(figures) >= 6
    for fig in figures:
        svg = fig.split("</figure>")[0]
        assert "<svg" in svg and svg.count("<path") >= 5, fig[-200:]
    for heading in ("Headline", "Customers and churn", "Purchasing", "Cohorts", "Satisfaction",
                    "Complaints and loyalty", "Word of mouth", "Data quality"):
        assert f">{heading}</h2>" in html
    assert 'class="heat"' in html
    # the segment named <script>…</script> is text, never an element
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    ARTIFACTS.mkdir(exist_ok=True)
    shot = chromium(tmp_path, "--window-size=1200,7000", f"--screenshot={ARTIFACTS / 'report.png'}", page.as_uri())
    assert shot.returncode == 0 and (ARTIFACTS / "report.png").stat().st_size > 50_000
    phone = chromium(tmp_path, "--window-size=390,4000", f"--screenshot={ARTIFACTS / 'report-phone.png'}", page.as_uri())
    assert phone.returncode == 0


def test_a_yearly_summary_compares_with_the_year_before_once(cli):
    """Of yearly periods the previous one is the one a year earlier: the summary asks
    for it once (the satisfaction table, made per question, had it twice)."""
    write(cli.cwd, "p.csv", "customer_id,order_date,amount\nA,2023-03-01,10\nB,2023-06-01,20\n"
          "A,2024-02-01,30\nC,2024-05-01,40\n")
    write(cli.cwd, "r.csv", "customer_id,answered_date,nps_score\nA,2023-04-01,10\nB,2023-07-01,3\n"
          "A,2024-03-01,9\nC,2024-06-01,9\n")
    write(cli.cwd, "retention.yaml", "inputs:\n  purchases: {path: p.csv}\n  responses: {path: r.csv}\n"
          "report:\n  sections: [summary]\n  formats: [csv]\n  output_dir: out\n")
    r = cli("report", "--period", "2024", "--as-of", "2025-01-01")
    assert r.exit_code == 0, r.stderr
    import csv

    rows = {row["kpi"]: row for row in csv.DictReader((cli.cwd / "out" / "summary.csv").open())}
    # 2024: A's 30 and C's 40; 2023: A's 10 and B's 20. NPS 2024: two 9s -> 100; 2023: a 10 and a 3 -> 0
    assert (rows["orders"]["value"], rows["orders"]["previous"], rows["orders"]["year_ago"]) == ("2", "2", "2")
    assert (rows["revenue"]["value"], rows["revenue"]["previous"]) == ("70.0", "30.0")
    assert (rows["nps"]["value"], rows["nps"]["previous"], rows["nps"]["year_ago"]) == ("100.0", "0.0", "0.0")
    assert rows["nps"]["previous_period"] == rows["nps"]["year_ago_period"] == "2023"


def test_a_report_over_all_the_data_says_why_the_satisfaction_link_is_left_out(cli):
    write(cli.cwd, "p.csv", "customer_id,order_date,amount\nA,2024-01-05,10\nB,2024-02-05,20\nA,2024-05-01,5\n")
    write(cli.cwd, "r.csv", "customer_id,answered_date,nps_score\nA,2024-01-10,10\nB,2024-02-10,3\n")
    write(cli.cwd, "retention.yaml", "inputs:\n  purchases: {path: p.csv}\n  responses: {path: r.csv}\n"
          "report:\n  sections: [satisfaction]\n  formats: [csv]\n  output_dir: out\n")
    r = cli("report", "--period", "all")
    assert r.exit_code == 0, r.stderr
    assert "satisfaction: the link to retention (satisfaction_link) is left out" in r.stderr
    assert not (cli.cwd / "out" / "satisfaction_link.csv").exists() and (cli.cwd / "out" / "satisfaction.csv").exists()
    r = cli("report", "--period", "2024-01", "-o", "monthly")
    assert r.exit_code == 0 and "satisfaction_link) is left out" not in r.stderr
    assert (cli.cwd / "monthly" / "satisfaction_link.csv").exists()


@pytest.mark.parametrize("sections, by, started", [
    (["summary", "cohorts"], ["channel"], False),  # the summary reads the table without segments: its own
    (["purchases"], ["channel"], True),
    (["summary", "cohorts"], ["segment"], True),   # segments of the customers: the summary reads their totals
    (["summary"], [], True),
    (["churn", "cohorts"], [], False),             # no section reads the purchase table
])
def test_the_purchase_table_is_computed_beside_only_when_a_section_reads_it(cli, monkeypatch, sections, by, started):
    from retention_cli import app, report
    from retention_cli.options import Options
    from retention_cli.session import Run

    write(cli.cwd, "c.csv", "customer_id,segment\nA,x\nB,y\n")
    write(cli.cwd, "p.csv", "customer_id,order_date,amount,channel\nA,2024-01-05,10,web\nB,2024-02-05,20,shop\n"
          "A,2024-03-01,5,web\n")
    write(cli.cwd, "retention.yaml", "inputs:\n  customers: {path: c.csv}\n  purchases: {path: p.csv}\n")
    asked = []
    real = app.Workspace.in_background
    monkeypatch.setattr(app.Workspace, "in_background", lambda self, f: (asked.append(1), real(self, f)))
    run = Run(Options(config=str(cli.cwd / "retention.yaml"), period="2024-03", by=by))
    built, _, _ = report.build(run, sections, by)
    assert [s.name for s in built] == sections and bool(asked) == started


@pytest.mark.parametrize("wrapper", ["ImportError('initialization failed')", "Panic('schema validator')"])
def test_a_signal_inside_an_extension_that_wraps_it_is_a_stop_not_an_internal_error(wrapper):
    """SIGTERM while an extension module works comes back wrapped ("ImportError:
    initialization failed"; pydantic-core's PanicException, a BaseException): the run
    was stopped, exit 143 and the stopped line, not a bug."""
    code = ("import os, signal, sys\nfrom retention_cli import cli, session\n"
            "class Panic(BaseException):\n    pass\n"
            f"sys.argv = ['retention', 'churn', '-c', {str(CONFIG)!r}]\n"
            "def load(self, *a, **k):\n    try:\n        os.kill(os.getpid(), signal.SIGTERM)\n"
            f"    except BaseException as e:\n        raise {wrapper} from e\n"
            "session.Run.load = load\ncli.main()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 143, out.stderr
    assert out.stderr == "retention: stopped by SIGTERM; nothing half-written is left\n"


def test_a_report_without_clv_does_not_import_the_model_s_optimiser(tmp_path):
    """SciPy (the clv fit's optimiser, about 0.6 s to import) is imported for the clv
    section only; a report without it shows the same progress otherwise."""
    write(tmp_path, "p.csv", "customer_id,order_date,amount\nA,2024-01-05,10\nB,2024-02-05,20\n")
    write(tmp_path, "retention.yaml", "inputs:\n  purchases: {path: p.csv}\nreport:\n  sections: [churn, purchases]\n"
                                      "  formats: [csv, html]\n")
    code = ("import sys\nfrom retention_cli import cli\nsys.argv = ['retention', 'report', '-q', '-o', 'out']\n"
            "try:\n    cli.main()\nexcept SystemExit as e:\n"
            "    print(e.code, 'scipy' in sys.modules, 'retention_cli.kpis.clv' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.stdout.split()[-3:] == ["0", "False", "False"], out.stdout + out.stderr
    assert (tmp_path / "out" / "churn.csv").exists()
