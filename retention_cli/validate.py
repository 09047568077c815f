"""`retention validate`: load every configured input, check it, report problems.

Each table is read with bad rows collected rather than fatal, so one run reports
every problem of every table. The exit code is 0 when clean, 65 for data problems
(and, with ``strict``, for warnings), 66 when a file is missing or unreadable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from retention_cli.config import Config, InputConfig
from retention_cli.errors import InputMissingError, RetentionError
from retention_cli.io.readers import EVENT_DATES, TABLE_ORDER, Table, format_bad, orphan_counts, read_table
from retention_cli.io.writers import shown

EXAMPLES = 3  # bad values shown per reason


@dataclass
class TableCheck:
    table: str
    file: str
    status: str = "ok"  # ok | warnings | bad rows | error
    rows: int | None = None
    bad_rows: int | None = 0          # None: the table could not be read (unknown)
    customers: int | None = None
    date_from: Any = None
    date_to: Any = None
    orphan_rows: int | None = 0
    mapping: dict[str, str] = field(default_factory=dict)   # file header -> canonical name(s), ', '-joined
    attributes: list[str] = field(default_factory=list)
    bad_by_reason: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    exit_code: int = 0

    def as_row(self) -> dict[str, Any]:
        return {
            "table": self.table, "file": self.file, "status": self.status, "rows": self.rows,
            "bad_rows": self.bad_rows, "customers": self.customers, "date_from": self.date_from,
            "date_to": self.date_to, "orphan_rows": self.orphan_rows,
            "mapping": "; ".join(f"{h} -> {c}" for h, c in self.mapping.items()),
            "problems": " | ".join(self.problems),
        }


def _check_one(name: str, inp: InputConfig, cfg: Config, path: str | None) -> tuple[TableCheck, Table | None]:
    chk = TableCheck(name, (shown(path) if path else inp.where if inp.connection else shown(inp.path)))
    try:
        t = read_table(name, inp, cfg, path=path, policy="skip")
    except RetentionError as e:
        chk.status, chk.exit_code = "error", e.exit_code
        chk.bad_rows = chk.orphan_rows = None  # not read: not known, rather than 0
        chk.problems = [e.message, *e.details]
        return chk, None
    chk.file = t.display
    chk.rows = t.rows_read
    # one header may feed several canonical names: all of them are shown
    for c, h in t.mapping.items():
        chk.mapping[h] = f"{chk.mapping[h]}, {c}" if h in chk.mapping else c
    chk.attributes = list(t.extras)
    if "customer_id" in t.df:
        chk.customers = int(t.df["customer_id"].nunique())
    dates = [t.df[c] for c in EVENT_DATES[name] if c in t.df and t.df[c].notna().any()]
    if dates:
        chk.date_from = min(d.min() for d in dates).date()
        chk.date_to = max(d.max() for d in dates).date()
    if t.bad is not None:
        chk.bad_rows = t.rejected_rows
        chk.status, chk.exit_code = "bad rows", 65
        for reason, grp in t.bad.groupby("reason", sort=True):
            chk.bad_by_reason[str(reason)] = {
                "count": len(grp),
                "examples": format_bad(grp, t.display, EXAMPLES)[:EXAMPLES],
            }
        chk.problems.append(f"{t.rejected_rows} bad rows")
    return chk, t


def validate(cfg: Config, overrides: dict[str, str | None], strict: bool = False) -> tuple[list[TableCheck], int]:
    checks: list[TableCheck] = []
    tables: dict[str, Table] = {}
    for name in TABLE_ORDER:
        inp = cfg.input(name)
        path = overrides.get(name)
        if inp is None and not path:
            continue
        if inp is None:
            inp = InputConfig(path=path)
        chk, t = _check_one(name, inp, cfg, path)
        checks.append(chk)
        if t is not None:
            tables[name] = t
    if not checks:
        raise InputMissingError("nothing to validate: the config has no inputs (and no --customers/--purchases/… given)")
    for name, (rows, ids, example) in orphan_counts(tables).items():
        chk = next(c for c in checks if c.table == name)
        chk.orphan_rows = rows
        chk.problems.append(f"{rows} rows ({ids} customer_id{'s' if ids != 1 else ''}, e.g. '{example}') are not in "
                            "the customers file")
        if chk.status == "ok":
            chk.status = "warnings"
            if strict:
                chk.exit_code = 65
    code = 0
    for c in checks:
        if c.exit_code and c.exit_code != 65:
            code = c.exit_code
            break
        code = code or c.exit_code
    return checks, code
