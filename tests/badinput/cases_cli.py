"""Bad-input catalogue, continued: the command line (dates and periods outside the
supported range, series too long to compute, text from the data that a terminal
would read as markup or control codes, file names that are not UTF-8). Same form as
test_catalogue.CASES: name -> (files, config, args, exit code, message fragment)."""

H = "customer_id,order_date,amount\n"
OK = (H + "A,2024-01-05,10\nB,2024-02-05,20\nA,2024-03-05,5\n").encode()
P = "inputs:\n  purchases: {path: p.csv}\n"
F = {"p.csv": OK}
RANGE = "(1900-01-01 to 2199-12-31)"
SEGMENTS = {"p.csv": OK, "c.csv": "customer_id,seg\nA,[/]\nB,\"\x1b[2J[bold]x\"\n".encode()}
PC = "inputs:\n  purchases: {path: p.csv}\n  customers: {path: c.csv}\n"
NOT_UTF8 = "caf\udce9.csv"  # the bytes b"caf\xe9.csv": a Latin-1 file name on a UTF-8 system

CASES = {
    # --- dates and labels outside the supported range: 2, with the range ----------------------
    "--as-of 9999-12-31": (F, P, ["churn", "--as-of", "9999-12-31"], 2, f"--as-of 9999-12-31 is outside the supported dates {RANGE}"),
    "--as-of 0001-01-01": (F, P, ["churn", "--as-of", "0001-01-01"], 2, f"--as-of 0001-01-01 is outside the supported dates {RANGE}"),
    "--as-of 1899-12-31": (F, P, ["churn", "--as-of", "1899-12-31"], 2, "is outside the supported dates"),
    "--as-of 2200-01-01": (F, P, ["churn", "--as-of", "2200-01-01"], 2, "is outside the supported dates"),
    "--as-of at the first supported day": (F, P, ["churn", "--as-of", "1900-01-01", "--period", "1900-01"], 0, ""),
    "--period 0000-01": (F, P, ["churn", "--period", "0000-01"], 2, "period '0000-01': the year must be 1900 to 2199"),
    "--period 9999-12": (F, P, ["churn", "--period", "9999-12"], 2, "period '9999-12': the year must be 1900 to 2199"),
    "--period 0000-W01": (F, P, ["churn", "--period", "0000-W01"], 2, "the year must be 1900 to 2199"),
    "--period 9999-Q4": (F, P, ["churn", "--period", "9999-Q4"], 2, "the year must be 1900 to 2199"),
    "--period 0000": (F, P, ["churn", "--period", "0000"], 2, "the year must be 1900 to 2199"),
    "--from 1899-12": (F, P, ["churn", "--from", "1899-12", "--to", "1900-02"], 2, "the year must be 1900 to 2199"),
    "--to 2200-01": (F, P, ["purchases", "--from", "2199-11", "--to", "2200-01"], 2, "the year must be 1900 to 2199"),
    "--period 2199-12 (the last month)": (F, P, ["churn", "--period", "2199-12"], 0, ""),
    "--calibration-end 0001-01-01": (F, P, ["clv", "--calibration-end", "0001-01-01"], 2, "--calibration-end 0001-01-01 is outside"),
    # --- series too long: 2 before anything is allocated ---------------------------------------
    "15,611 weeks": (F, P, ["churn", "--from", "1900-W01", "--to", "2199-W10", "--freq", "week"], 2,
                     "1900-W01 to 2199-W10 is 15,611 periods of a week; at most 10,000"),
    "10,001 weeks of cohorts": (F, P, ["cohorts", "--from", "1905-W01", "--to", "2096-W35"], 2, "is 10,001 periods of a week"),
    "10,000 weeks, the most in one series": (F, P, ["churn", "--from", "1905-W01", "--to", "2096-W34", "-q"], 0, ""),
    "a year split into weeks": (F, P, ["churn", "--period", "2024", "--freq", "week"], 0, ""),
    "190 years of weeks of cohorts": (F, P, ["cohorts", "--from", "2000-W01", "--to", "2190-W10"], 0, ""),
    "300 years of months": (F, P, ["purchases", "--from", "1900-01", "--to", "2199-12"], 0, ""),
    # --- text from the data in a terminal table: never markup, never control codes -------------
    "segment [/] in a table": (SEGMENTS, PC, ["churn", "--by", "seg", "-f", "table", "--period", "2024-02"], 0, ""),
    "segment [/] in validate's table": (SEGMENTS, PC, ["validate", "-f", "table"], 0, ""),
    "segment [/] in cohorts' heat map": (SEGMENTS, PC, ["cohorts", "--by", "seg", "-f", "table"], 0, ""),
    "escape codes in a bad value": ({"p.csv": (H + "A,2024-01-05,\x1b[2J\n").encode()}, P, ["churn"], 65,
                                    "value '\\x1b[2J': not a number"),
    # --- file names that are not UTF-8 --------------------------------------------------------
    "a file name not in UTF-8, json": ({NOT_UTF8: OK}, "", ["churn", "--purchases", NOT_UTF8, "-f", "json"], 0, ""),
    "a file name not in UTF-8, validate": ({NOT_UTF8: OK}, "", ["validate", "--purchases", NOT_UTF8, "-f", "json"], 0, ""),
    "a file name not in UTF-8, missing": ({}, "", ["churn", "--purchases", NOT_UTF8], 66, "caf\ufffd.csv"),
    "a file name not in UTF-8, missing, validate": ({}, "", ["validate", "--purchases", NOT_UTF8], 66, "caf\ufffd.csv"),
    "a file name not in UTF-8, init": ({NOT_UTF8: OK}, "", ["init", NOT_UTF8, "-o", "-"], 2,
                                       "caf\ufffd.csv: the file name is not UTF-8 text, so a config cannot name it"),
    # --- the config is no config ----------------------------------------------------------------
    "config of 2 MiB of zeros": ({}, b"\0" * (2 << 20), ["validate"], 78, "larger than 1 MiB: not a config file"),
    "config of 2 MiB of text": ({}, b"# " + b"x" * (2 << 20) + b"\n", ["validate"], 78, "larger than 1 MiB"),
    # a value typed on the command line is a usage error (2); the same in the config is 78
    "--complaint-share 0": ({}, "", ["wom", "--unhappy", "5", "--complaint-share", "0"], 2,
                            "--complaint-share 0: input should be greater than 0"),
}
