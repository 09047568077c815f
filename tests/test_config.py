from pathlib import Path

import pytest

from retention_cli.config import find_config, load_config, parse_config
from retention_cli.errors import ConfigError

CFG = Path("/cfg/retention.yaml")


def problem(text: str) -> str:
    with pytest.raises(ConfigError) as e:
        parse_config(text, CFG)
    assert e.value.exit_code == 78
    return e.value.message


def test_defaults():
    cfg = parse_config("", CFG)
    assert cfg.churn.inactivity_days == 180 and cfg.churn.denominator == "start"
    assert cfg.periods.freq == "month" and cfg.on_bad_rows == "error"
    assert cfg.satisfaction.csat_scale == (1, 5) and cfg.concentration.top_share == 0.2


def test_unknown_key_has_line_and_suggestion():
    text = "inputs:\n  purchases:\n    path: a.csv\n    delimter: ';'\n"
    assert problem(text) == "retention.yaml:4: inputs.purchases.delimter: unknown key (did you mean 'delimiter'?)"


def test_unknown_top_key():
    assert problem("churn: {}\nrepot: {}\n") == "retention.yaml:2: repot: unknown key (did you mean 'report'?)"


def test_wrong_type_and_impossible_value():
    assert problem("churn:\n  inactivity_days: soon\n").startswith("retention.yaml:2: churn.inactivity_days: input should be a valid integer")
    assert problem("churn:\n  inactivity_days: 0\n").startswith("retention.yaml:2: churn.inactivity_days: input should be greater than or equal to 1")
    assert "complaint_share" in problem("wom:\n  complaint_share: 1.5\n")


def test_literal_choices_listed():
    assert problem("churn: {model: subscription}") == "retention.yaml:1: churn.model: input should be 'inactivity' or 'contract'"


def test_yaml_syntax_error_has_line():
    msg = problem("inputs:\n  purchases: {path: a.csv\nchurn: {}\n")
    assert msg.startswith("retention.yaml:3: YAML syntax error")


def test_config_that_is_a_list_or_scalar():
    assert "must be a mapping" in problem("- a\n- b\n")
    assert "must be a mapping" in problem("just text\n")


def test_alias_bomb_refused():
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        name = chr(ord("a") + i)
        lines.append(f"{name}: &{name} [{', '.join('*' + prev for _ in range(15))}]")
    assert "aliases" in problem("\n".join(lines))


def test_bad_delimiter_encoding_timezone():
    assert "one character" in problem("inputs: {purchases: {path: a, delimiter: ';;'}}")
    assert "unknown encoding" in problem("inputs: {purchases: {path: a, encoding: klingon}}")
    assert "unknown time zone" in problem("timezone: Mars/Olympus")


def test_relative_paths_are_relative_to_the_config(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    p = tmp_path / "conf" / "r.yaml"
    p.write_text("inputs:\n  purchases: {path: data/p.csv}\n")
    cfg = load_config(p)
    assert cfg.resolve_path(cfg.inputs.purchases.path) == str(tmp_path / "conf" / "data" / "p.csv")
    monkeypatch.setenv("DATA_DIR", "/srv/data")
    assert cfg.resolve_path("$DATA_DIR/x.csv") == "/srv/data/x.csv"


def test_binary_and_missing_config(tmp_path):
    b = tmp_path / "bin.yaml"
    b.write_bytes(b"\x00\x01\x02")
    with pytest.raises(ConfigError, match="not a text file"):
        load_config(b)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_discovery_precedence(tmp_path):
    (tmp_path / "retention.yaml").write_text("")
    assert find_config("x.yaml", {"RETENTION_CONFIG": "env.yaml"}, tmp_path) == Path("x.yaml")
    assert find_config(None, {"RETENTION_CONFIG": "env.yaml"}, tmp_path) == Path("env.yaml")
    assert find_config(None, {}, tmp_path) == tmp_path / "retention.yaml"
    assert find_config(None, {}, tmp_path / "nowhere") is None
