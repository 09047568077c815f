"""The differential check of an engine (SPEC §10): every command's output from
the engine equals the local engine's on the same generated inputs."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Cli
from tests.engines.gen import config, write_inputs

COMMANDS = [
    ("churn", "--by", "segment"), ("cohorts",), ("purchases", "--by", "channel"), ("purchases", "--by", "segment"),
    ("purchases",), ("cohorts", "--revenue", "--by", "segment"), ("complaints",),
    ("satisfaction",), ("wom",), ("collections",), ("summary", "--period", "2024-06"), ("clv",),
    ("survival",), ("validate",), ("suggest-window",), ("complaints", "--reasons"), ("satisfaction", "--link"),
    ("collections", "--churn"),
]
REPORT = """report:
  period: 2023-07..2024-12
  sections: [summary, churn, purchases, cohorts, satisfaction, complaints, wom, collections, clv]
  by: [segment]
  formats: [csv, json]
"""


def inputs(folder: Path, policy: str = "error", bad: bool = False) -> Path:
    """The generated inputs and their config (no engine in it: commands say --engine)."""
    write_inputs(folder, bad=bad)
    config(folder, policy=policy, extra=REPORT)
    return folder


def outputs(folder: Path, engine: str) -> dict[str, object]:
    """Every command's exit code and stdout, and the report's files, with ``--engine``."""
    cli = Cli.fresh(folder)
    out: dict[str, object] = {}
    for cmd in COMMANDS:
        r = cli(*cmd, "-f", "csv", "-q", "--engine", engine)
        out[" ".join(cmd)] = (r.exit_code, r.stdout)
    r = cli("report", "-o", str(folder / f"report-{engine}"), "-q", "--engine", engine)
    out["report"] = r.exit_code
    for f in sorted((folder / f"report-{engine}").rglob("*")):
        if f.suffix == ".csv" and "rejects" not in f.parts:
            out[f.name] = f.read_text()
        elif f.suffix == ".json":
            out[f.name] = _without_engine(json.loads(f.read_text()))
    return out


def _without_engine(data):
    """JSON less what differs by design: the engine's settings, which engine read each
    input, and the run's timings."""
    if isinstance(data, dict):
        return {k: (_without_engine({x: y for x, y in v.items() if x != "engine"}) if k == "settings"
                    and isinstance(v, dict) else _without_engine(v)) for k, v in data.items()
                if k not in ("timings", "read_by")}
    if isinstance(data, list):
        return [_without_engine(v) for v in data]
    return data


# outputs whose sums an engine makes itself (``EngineOrders.purchase_sums``; by a
# customers attribute too; the summary's purchase lines, the word-of-mouth estimate's
# customer value from them): counts and text exact, the other numbers within 1e-9
# (SPEC §10), as it adds in an order of its own; every other output is the very
# bytes of local's
SUMMED_IN_ENGINE = ("purchases", "purchases --by segment", "summary --period 2024-06", "wom",
                    "cohorts --revenue --by segment")
# the report's files of those sections (the report keeps the orders in the engine too)
SUMMED_FILES = ("purchases.", "summary.", "cohorts.", "wom.", "wom_assumptions.")


def assert_same(local: dict, other: dict) -> None:
    from tests.engines.facts_lines import close_csv

    assert local.keys() == other.keys()
    for k in local:
        if k in SUMMED_IN_ENGINE:
            assert other[k][0] == local[k][0], k
            close_csv(local[k][1], other[k][1])
        elif k.startswith(SUMMED_FILES) and k.endswith(".csv"):
            close_csv(local[k], other[k])
        elif k.startswith(SUMMED_FILES):
            _close_json(local[k], other[k], k)
        else:
            assert other[k] == local[k], k


def _close_json(local, other, where: str) -> None:
    """JSON of the same shape, text and whole numbers equal, other numbers within
    1e-9 relative (as ``close_csv``)."""
    import math

    if isinstance(local, dict):
        assert isinstance(other, dict) and local.keys() == other.keys(), where
        for key in local:
            _close_json(local[key], other[key], f"{where}.{key}")
    elif isinstance(local, list):
        assert isinstance(other, list) and len(local) == len(other), where
        for i, (a, b) in enumerate(zip(local, other)):
            _close_json(a, b, f"{where}[{i}]")
    elif isinstance(local, float) and isinstance(other, float):
        # money in cents: two sums within 1e-9 on either side of a half cent are a cent apart
        cents = round(local, 2) == local and round(other, 2) == other
        assert math.isclose(local, other, rel_tol=1e-9, abs_tol=1e-9) or (math.isnan(local) and math.isnan(other)) \
            or cents and abs(local - other) <= 0.01 + 1e-9 * abs(local), (where, local, other)
    else:
        assert local == other, (where, local, other)
