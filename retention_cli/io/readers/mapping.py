"""Column mapping: which column of the file feeds each canonical column, by the
config (a header or a position) or by name, with the closest header in messages."""

from __future__ import annotations

import difflib

from retention_cli.config import InputConfig
from retention_cli.errors import ConfigError, DataError
from retention_cli.io.schemas import KIND_WORDS, SCHEMAS, compatible_kinds, normalise_header


def closest(name: str, headers: list[str]) -> str:
    norm = {normalise_header(h): h for h in headers if h}
    close = difflib.get_close_matches(normalise_header(name), list(norm), n=1, cutoff=0.5)
    return f"; closest: '{norm[close[0]]}'" if close else ""


def resolve_mapping(
    table: str, inp: InputConfig, headers: list[str], display: str, extra: tuple[str, ...] = ()
) -> tuple[dict[str, int], dict[str, int]]:
    """Canonical name -> 0-based column position, and extra column -> position.

    One column may feed several canonical names when the config maps it to each
    (an export without customer ids: customer_id and complaint_id both from
    "Complaint ID"); it is read once. Matching by name never takes a column the
    config mapped. Names of kinds one column cannot hold at once (an id and a date)
    are refused."""
    shown = ", ".join(f"'{h}'" for h in headers if h) or "(none)"
    taken: dict[int, str] = {}
    found: dict[str, int] = {}
    kinds = {c.name: c.kind for c in SCHEMAS[table]}

    def take(canon: str, pos: int) -> None:
        if pos in taken and not compatible_kinds(kinds[taken[pos]], kinds[canon]):
            raise DataError(f"{display}: column '{headers[pos]}' is mapped to both {taken[pos]} and {canon}: "
                            f"one column cannot be {KIND_WORDS[kinds[taken[pos]]]} and {KIND_WORDS[kinds[canon]]}")
        taken.setdefault(pos, canon)
        found[canon] = pos

    for canon, target in inp.columns.items():
        if canon not in kinds:  # a config read without its checks (a profile, a library caller)
            raise ConfigError(f"inputs.{table}.columns.{canon}: not a column of {table} "
                              f"(its columns: {', '.join(kinds)})")
        if isinstance(target, int):
            if target > len(headers):
                raise DataError(f"{display}: {canon} is mapped to column {target}, but the file has {len(headers)} columns")
            take(canon, target - 1)
            continue
        exact = [i for i, h in enumerate(headers) if h == target.strip()]
        loose = [i for i, h in enumerate(headers) if normalise_header(h) == normalise_header(target)]
        hits = exact or loose
        if not hits:
            raise DataError(
                f"{display}: column '{target}' (mapped to {canon} in the config) is not in the file; "
                f"headers found: {shown}{closest(target, headers)}"
            )
        take(canon, hits[0])
    if inp.header:
        by_norm: dict[str, int] = {}
        for i, h in enumerate(headers):
            by_norm.setdefault(normalise_header(h), i)
        for col in SCHEMAS[table]:
            if col.name in found:
                continue
            pos = by_norm.get(normalise_header(col.name))
            if pos is not None and pos not in taken:
                take(col.name, pos)
    for col in SCHEMAS[table]:
        if col.required and col.name not in found:
            if not inp.header:
                raise DataError(f"{display}: the file has no header; map {col.name} to its position: `columns: {{{col.name}: 1}}`")
            raise DataError(
                f"{display}: no column for {col.name} (required); headers found: {shown}"
                f"{closest(col.name, headers)}; map it in the config: `columns: {{{col.name}: \"…\"}}`"
            )
    if table == "responses" and not ({"nps_score", "csat_score"} & found.keys()):
        raise DataError(
            f"{display}: a responses file needs nps_score or csat_score; headers found: {shown}"
            f"{closest('nps_score', headers)}"
        )
    extras: dict[str, int] = {}
    for name in extra:
        exact = [i for i, h in enumerate(headers) if h == name]
        loose = [i for i, h in enumerate(headers) if normalise_header(h) == normalise_header(name)]
        if exact or loose:
            extras[name] = (exact or loose)[0]
    return found, extras
