"""Shared helpers: write small files, run the CLI and parse what it prints."""

from __future__ import annotations

import contextlib
import csv
import os
import io
import json
from pathlib import Path

import pytest
from hypothesis import settings
from typer.testing import CliRunner

from retention_cli.cli import app

ROOT = Path(__file__).resolve().parent.parent

# Hypothesis: a default run that keeps the suite quick (and repeatable in CI), and
# `--hypothesis-profile=long` for a deeper search.
settings.register_profile("retention", max_examples=40, deadline=None,
                          derandomize=bool(os.environ.get("CI")), database=None if os.environ.get("CI") else
                          settings.default.database)
settings.register_profile("long", max_examples=2000, deadline=None)
settings.load_profile("retention")


ENV = ("RETENTION_CONFIG", "RETENTION_FORMAT", "RETENTION_FREQ", "RETENTION_AS_OF", "RETENTION_ENGINE")

# The warm-path cache (retention_cli/cache.py) is off in the tests, subprocesses
# included, unless a test turns it on: a test that reads one file twice under two
# monkeypatched readers must read it twice. tests/test_cache.py tests the cache.
os.environ["RETENTION_CACHE"] = "off"


class Cli:
    def __init__(self, cwd: Path, monkeypatch: pytest.MonkeyPatch | None):
        self.cwd = cwd
        self.runner = CliRunner()
        self.own_cwd = monkeypatch is None
        if monkeypatch is not None:
            monkeypatch.chdir(cwd)
            for name in ENV:
                monkeypatch.delenv(name, raising=False)

    @classmethod
    def fresh(cls, cwd: Path) -> "Cli":
        """For hypothesis, where function-scoped fixtures do not fit: each call runs
        in ``cwd`` and without RETENTION_* variables."""
        return cls(cwd, None)

    def __call__(self, *args: str, input: str | bytes | None = None, env: dict | None = None):
        if not self.own_cwd:
            return self.runner.invoke(app, list(args), input=input, env=env, catch_exceptions=False)
        with contextlib.chdir(self.cwd):
            return self.runner.invoke(app, list(args), input=input, env={**dict.fromkeys(ENV), **(env or {})},
                                      catch_exceptions=False)

    @staticmethod
    def csv_rows(result) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO(result.stdout)))

    @staticmethod
    def json(result) -> dict:
        return json.loads(result.stdout)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(tmp_path, monkeypatch)


def write(folder: Path, name: str, text: str | bytes, encoding: str = "utf-8") -> Path:
    p = folder / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode(encoding))
    return p


def workspace(base, data_end, *, model: str = "inactivity", window: int = 180, denominator: str = "start",
              top_share: float = 0.2, gross_margin: float = 1.0, sla_days: float = 2, wom: dict | None = None,
              customer_value: float | None = None, reason_map: dict | None = None, complaints=None, responses=None):
    """An application workspace (``app.Workspace``) over tables made in a test, with
    the settings a test names (the rest at their defaults)."""
    from retention_cli.app import Workspace
    from retention_cli.config import Config

    cfg = Config.model_validate({
        "churn": {"model": model, "inactivity_days": window, "denominator": denominator},
        "concentration": {"top_share": top_share},
        "economics": {"gross_margin": gross_margin, "customer_value": customer_value},
        "complaints": {"sla_days": sla_days}, "wom": {k: v for k, v in (wom or {}).items() if v is not None},
        "churn_reasons": {"map": reason_map or {}}})
    return Workspace(cfg, data_end, base=base, complaints=complaints, responses=responses)
