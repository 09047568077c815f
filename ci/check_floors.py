"""Check that ci/min-constraints.txt pins every direct dependency of pyproject.toml
(the core ones and the `test` extra) at exactly the floor that pyproject.toml declares,
so that `.ci/run`'s floors job tests the floors that are published.

Run from anywhere: python ci/check_floors.py (exit 1 and one line per mismatch)."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(.*?)\s*(?:;.*)?$")


def name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def release(version: str) -> tuple[int, ...]:
    parts = [int(p) for p in version.split(".")]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def floors() -> dict[str, str | None]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    found: dict[str, str | None] = {}
    for req in project["dependencies"] + project.get("optional-dependencies", {}).get("test", []):
        pkg, spec = REQ.match(req).groups()
        floor = re.search(r">=\s*([0-9][0-9.]*)", spec)
        found[name(pkg)] = floor.group(1) if floor else None
    return found


def pins() -> dict[str, str]:
    found = {}
    for line in (ROOT / "ci" / "min-constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            pkg, _, version = line.partition("==")
            found[name(pkg)] = version.strip()
    return found


def main() -> int:
    pinned = pins()
    problems = []
    for pkg, floor in floors().items():
        if floor is None:
            problems.append(f"{pkg}: no '>=' floor in pyproject.toml")
        elif pkg not in pinned:
            problems.append(f"{pkg}: floor {floor} is not pinned in ci/min-constraints.txt")
        elif release(pinned[pkg]) != release(floor):
            problems.append(f"{pkg}: pyproject.toml says >={floor}, ci/min-constraints.txt pins =={pinned[pkg]}")
    for problem in problems:
        print(f"check_floors: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
