"""Every command and every option has help text; --help does not load pandas."""

import subprocess
import sys

import typer

from retention_cli.cli import app
from tests.conftest import ROOT


def test_every_command_and_option_has_help():
    group = typer.main.get_command(app)
    assert group.commands, "no commands registered"
    missing = []
    for name, cmd in group.commands.items():
        if not (cmd.help or "").strip():
            missing.append(name)
        for p in cmd.params:
            if not (getattr(p, "help", None) or "").strip():
                missing.append(f"{name} {p.name}")
    for p in group.params:
        if not (getattr(p, "help", None) or "").strip():
            missing.append(f"(global) {p.name}")
    assert missing == []


def test_help_and_version_do_not_import_pandas():
    code = ("import sys; from retention_cli.cli import app\n"
            "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_command_reference_is_current():
    """docs/commands.md holds the --help of every command, as scripts/readme_help.py makes it."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import readme_help
    finally:
        sys.path.pop(0)
    assert readme_help.TARGET == ROOT / "docs" / "commands.md"
    reference = readme_help.TARGET.read_text(encoding="utf-8")
    assert readme_help.block() in reference, "run: python scripts/readme_help.py"
