"""Regenerate the command reference, docs/commands.md, from --help (a test checks it is current).

    python scripts/readme_help.py          # rewrite the block in docs/commands.md
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "commands.md"
BEGIN, END = "<!-- help:begin -->", "<!-- help:end -->"


def help_text() -> str:
    from typer.main import get_command
    from typer.testing import CliRunner

    from retention_cli.cli import app

    runner = CliRunner()
    env = {"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}
    parts = []
    names = [None, *get_command(app).commands]
    for name in names:
        args = ([name] if name else []) + ["--help"]
        out = runner.invoke(app, args, env=env, terminal_width=100).stdout
        out = "\n".join(line.rstrip() for line in out.strip("\n").splitlines())
        title = f"retention {name} --help" if name else "retention --help"
        parts.append(f"## `{title}`\n\n```text\n{out}\n```\n")
    return "\n".join(parts)


def block() -> str:
    return f"{BEGIN}\n{help_text()}{END}"


def main() -> None:
    text = TARGET.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        sys.exit(f"{TARGET.relative_to(ROOT)} has no help block markers")
    new = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: block(), text, flags=re.S)
    TARGET.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    main()
