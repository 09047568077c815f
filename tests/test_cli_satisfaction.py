"""satisfaction and complaints through the CLI."""

from tests.conftest import ROOT, write

SURVEY = ("customer_id,answered_date,nps_score\n"
          "a,2024-01-03,10\n"        # line 2
          "b,2024-01-04,#ERROR!\n"   # line 3: spreadsheet debris
          "c,2024-01-05,9\n"         # line 4
          "d,2024-01-06,N/A\n"       # line 5
          "e,2024-01-07,9.5\n"       # line 6
          "f,2024-01-08,3\n")        # line 7


def test_spreadsheet_debris_fails_naming_exactly_those_lines(cli):
    write(cli.cwd, "s.csv", SURVEY)
    write(cli.cwd, "retention.yaml", "inputs:\n  responses: {path: s.csv}\n")
    r = cli("satisfaction", "--period", "2024-01", "--format", "csv", "-o", "out.csv")
    assert r.exit_code == 65
    lines = [ln.strip() for ln in r.stderr.splitlines()[1:]]
    assert lines == ["s.csv:3: column 'nps_score': value '#ERROR!': not a score (0 to 10)",
                     "s.csv:5: column 'nps_score': value 'N/A': not a score (0 to 10)",
                     "s.csv:6: column 'nps_score': value '9.5': score out of range (whole numbers 0 to 10)"]
    assert not (cli.cwd / "out.csv").exists()


def test_skip_gives_the_nps_of_the_rest_and_says_how_many(cli):
    write(cli.cwd, "s.csv", SURVEY)
    write(cli.cwd, "retention.yaml", "on_bad_rows: skip\ninputs:\n  responses: {path: s.csv}\n")
    r = cli("satisfaction", "--period", "2024-01", "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = cli.json(r)
    (row,) = doc["rows"]
    # kept: 10, 9, 3 -> 2 promoters, 1 detractor: NPS 100 × (2/3 − 1/3) = 33.3
    assert row["nps_responses"] == 3 and abs(row["nps"] - 100 / 3) < 1e-9
    assert row["low_sample"] is True
    assert "s.csv: skipped 3 bad rows (on_bad_rows: skip)" in r.stderr
    assert doc["meta"]["rejected_rows"]["responses"] == 3


def test_satisfaction_link_on_sample_data(cli):
    # answers of 2024, still a customer at the end of 2025 (one yearly period later)
    text = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    text = text.replace("path: sample_data/", f"path: {ROOT / 'sample_data'}/").replace("horizon_periods: 6", "horizon_periods: 1")
    write(cli.cwd, "retention.yaml", text)
    r = cli("satisfaction", "--link", "--period", "2024", "--format", "csv")
    assert r.exit_code == 0, r.stderr
    rows = {(x["dimension"], x["group"]): x for x in cli.csv_rows(r)}
    promoters, detractors = rows[("nps", "promoter")], rows[("nps", "detractor")]
    assert int(promoters["respondents"]) > 30 and int(detractors["respondents"]) > 30
    assert float(promoters["retention"]) > float(detractors["retention"]) + 0.2
    assert float(rows[("csat", "5")]["retention"]) > float(rows[("csat", "4")]["retention"]) + 0.15


def test_complaints_on_sample_data(cli):
    r = cli("complaints", "-c", str(ROOT / "config.example.yaml"), "--period", "2024", "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = cli.json(r)
    (row,) = doc["rows"]
    resolved = row["customers_resolved_fast"] + row["customers_resolved_slow"]
    resolved_rate = (row["return_rate_resolved_fast"] * row["customers_resolved_fast"]
                     + row["return_rate_resolved_slow"] * row["customers_resolved_slow"]) / resolved
    assert row["customers_unresolved"] >= 5 and row["return_rate_unresolved"] < resolved_rate
    assert doc["meta"]["benchmarks"]["return_rate_resolved_fast"] == "0.95"


def test_complaints_reasons_on_sample_data(cli):
    r = cli("complaints", "--reasons", "-c", str(ROOT / "config.example.yaml"), "--period", "2024", "--format", "csv")
    assert r.exit_code == 0, r.stderr
    rows = {x["reason"]: x for x in cli.csv_rows(r)}
    assert float(rows["treatment"]["share_of_known"]) > 0.5 and rows["treatment"]["benchmark_share"] == "0.68"
    assert "not mapped" not in r.stderr  # config.example.yaml maps every reason of the sample


def test_complaints_need_a_complaints_file(cli):
    write(cli.cwd, "p.csv", "customer_id,order_date,amount\na,2024-01-01,1\n")
    write(cli.cwd, "retention.yaml", "inputs:\n  purchases: {path: p.csv}\n")
    r = cli("complaints")
    assert r.exit_code == 66 and "no complaints input" in r.stderr
