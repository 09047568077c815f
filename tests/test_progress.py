"""Progress on stderr after reading: a fit's model, start and iteration; the report's
sections. Shown only on a terminal (a pseudo-terminal here), never in a pipe."""

import os
import re
import pty
import subprocess
import sys

from retention_cli.kpis import clv
from tests.conftest import ROOT, write
from tests.test_cli_clv import CDNOW, config, needs_cdnow


@needs_cdnow
def test_a_fit_tells_its_model_start_and_iterations():
    from retention_cli.kpis.clv import summaries

    import pandas as pd

    rows = [line.split() for line in (CDNOW / "CDNOW_sample.txt").read_text().splitlines()]
    purchases = pd.DataFrame({"customer_id": [r[1] for r in rows],
                              "order_date": pd.to_datetime([r[2] for r in rows], format="%Y%m%d"),
                              "amount": [float(r[4]) for r in rows]})
    s = summaries(purchases, pd.Timestamp("1997-09-30").date())
    heard = []
    with clv.fit_progress(lambda *a: heard.append(a)):
        clv.fit_bgnbd(s["frequency"], s["recency"], s["T"])
    clv.fit_bgnbd(s["frequency"], s["recency"], s["T"])  # outside the block: nobody hears
    models = {h[0] for h in heard}
    assert models == {"BG/NBD"}
    starts = sorted({(h[1], h[2]) for h in heard})
    assert starts[0] == (1, starts[0][1]) and len(starts) == starts[0][1]  # every start, 1 to n
    first = [h[3] for h in heard if h[1] == 1]
    assert first == list(range(1, len(first) + 1)) and len(first) > 3  # iterations counted from 1


def on_a_terminal(args, cwd):
    """Run retention with stderr on a pseudo-terminal (stdout a pipe); its stderr text."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "retention_cli", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=slave, env={**os.environ, "COLUMNS": "120", "TERM": "xterm"})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait()
    os.close(master)
    return proc.returncode, b"".join(chunks).decode("utf-8", "replace")


@needs_cdnow
def test_clv_shows_its_fit_on_a_terminal_and_nothing_in_a_pipe(cli):
    config(cli)
    code, err = on_a_terminal(["clv", "--calibration-end", "1997-09-30", "-f", "csv"], cli.cwd)
    assert code == 0
    # the bar redraws ten times a second: some model's start and iteration is on it
    assert re.search(r"fitting (BG/NBD|Gamma-Gamma): start \d of \d, iteration \d+", err), err[-500:]
    piped = subprocess.run([sys.executable, "-m", "retention_cli", "clv", "--calibration-end", "1997-09-30",
                            "-f", "csv"], cwd=cli.cwd, capture_output=True, text=True)
    assert piped.returncode == 0 and "fitting" not in piped.stderr


def test_the_report_tells_each_section_as_it_starts(cli):
    from retention_cli import report
    from retention_cli.options import Options
    from retention_cli.session import Run

    write(cli.cwd, "p.csv", "customer_id,order_date,amount\nA,2024-01-05,10\nB,2024-02-05,20\nA,2024-03-01,5\n")
    write(cli.cwd, "retention.yaml", "inputs:\n  purchases: {path: p.csv}\n")
    told = []
    run = Run(Options(config=str(cli.cwd / "retention.yaml"), period="2024-03"))
    built, _, _ = report.build(run, ["summary", "churn", "purchases"], [], on_section=told.append)
    # the sections that read the purchases table are made last (it is computed in a
    # second thread meanwhile), and put in the order asked
    assert told == ["reading the customer base", "churn", "purchases", "summary"]
    assert [s.name for s in built] == ["summary", "churn", "purchases"]
    code, err = on_a_terminal(["report", "-o", "out"], cli.cwd)
    assert code == 0 and "report: " in err
