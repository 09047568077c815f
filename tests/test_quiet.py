"""`--quiet` means nothing on stderr but errors (issue: credible numbers): no
warning of ours, no progress, and no raw warning of numpy or pandas, which only a
real process shows (pytest captures Python warnings), so each command runs as one."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

COMMANDS = [["churn"], ["purchases"], ["cohorts"], ["summary"], ["satisfaction"], ["complaints"], ["wom"],
            ["clv"], ["suggest-window"], ["validate"], ["satisfaction", "--link"], ["complaints", "--reasons"]]


def run(args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "default"}  # every warning shown once
    env.pop("RETENTION_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "retention_cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_quiet_prints_nothing_on_stderr(args, tmp_path):
    r = run([*args, "-c", str(ROOT / "config.example.yaml"), "-q", "-f", "csv"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert r.stdout  # the data is still there


def test_quiet_report_prints_nothing_at_all(tmp_path):
    r = run(["report", "-c", str(ROOT / "config.example.yaml"), "-q", "-o", str(tmp_path / "r")], tmp_path)
    assert r.returncode == 0, r.stderr
    assert (r.stdout, r.stderr) == ("", "")


def test_quiet_still_prints_the_error(tmp_path):
    """A model that cannot be fitted on three customers: the one line, even with -q."""
    (tmp_path / "p.csv").write_text("customer_id,order_date,amount\nA,2024-01-05,10\nA,2024-02-05,20\nB,2024-01-09,5\n"
                                    "C,2024-03-01,7\n")
    r = run(["clv", "--purchases", "p.csv", "-q"], tmp_path)
    assert r.returncode == 65
    assert r.stderr.startswith("retention: error: clv: BG/NBD: too few customers to fit: 3 customers")
    assert r.stderr.count("\n") == 1 and "Warning" not in r.stderr


@pytest.mark.parametrize("args,message", [
    (["churn", "--nope"], "retention: error: No such option: --nope"),
    (["churn", "--freq", "fortnight"], "retention: error: Invalid value for '--freq'"),
    (["report", "-f", "json"], "retention: error: No such option: -f"),  # a report's formats are its config's
])
def test_usage_errors_are_one_line_with_exit_2(args, message, tmp_path):
    r = run(args, tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith(message) and r.stderr.count("\n") == 1, r.stderr
    assert r.stdout == ""
