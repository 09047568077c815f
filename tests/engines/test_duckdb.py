"""The duckdb engine gives the local engine's numbers, bad rows and messages."""

from __future__ import annotations

import pytest

pytest.importorskip("ibis")
pytest.importorskip("duckdb")

from tests.engines.differential import assert_same, inputs, outputs  # noqa: E402


def test_every_command_equals_local(tmp_path):
    folder = inputs(tmp_path)
    local = outputs(folder, "local")
    assert local["report"] == 0 and local["churn --by segment"][0] == 0 and local["cohorts"][0] == 0
    assert_same(local, outputs(folder, "duckdb"))


def test_bad_rows_skipped_equal_local(tmp_path):
    folder = inputs(tmp_path, policy="skip", bad=True)
    local = outputs(folder, "local")
    assert local["report"] == 0
    assert local["validate"][0] == 65  # the bad rows are there, and found
    assert_same(local, outputs(folder, "duckdb"))
