"""Shared helpers: write small files, run the CLI and parse what it prints."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from retention_cli.cli import app

ROOT = Path(__file__).resolve().parent.parent


class Cli:
    def __init__(self, cwd: Path, monkeypatch: pytest.MonkeyPatch):
        self.cwd = cwd
        monkeypatch.chdir(cwd)
        monkeypatch.delenv("RETENTION_CONFIG", raising=False)
        monkeypatch.delenv("RETENTION_FORMAT", raising=False)
        monkeypatch.delenv("RETENTION_FREQ", raising=False)
        monkeypatch.delenv("RETENTION_AS_OF", raising=False)
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | bytes | None = None, env: dict | None = None):
        return self.runner.invoke(app, list(args), input=input, env=env, catch_exceptions=False)

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
