"""Platform profiles: what a platform's export looks like and what it means, as data.

A profile (``retention_cli/profiles/NAME.yaml``, or the config's ``profiles:``) names
the headers that recognise the export, the table it feeds, the column mapping, the
dialect, and the options of its input (``exclude``, ``inherit``, ``amount_scope``,
refunds, ``customer_key``, ``subscriptions``). `retention init` writes those keys
into the config it writes; nothing here is code per platform.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from retention_cli.config import InputConfig, ProfileConfig
from retention_cli.errors import ConfigError
from retention_cli.io.schemas import normalise_header

BUILTIN = Path(__file__).with_name("profiles")

# The keys of a profile that are not keys of an input.
# `table` is the table a profile feeds (an input's `table` is a database's table: never written)
_PROFILE_ONLY = frozenset(ProfileConfig.model_fields) - frozenset(InputConfig.model_fields) | {"table"}


@cache
def builtin_profiles() -> dict[str, ProfileConfig]:
    """The profiles shipped with the package, by file name."""
    out: dict[str, ProfileConfig] = {}
    for p in sorted(BUILTIN.glob("*.yaml")):
        try:
            out[p.stem] = ProfileConfig.model_validate(yaml.safe_load(p.read_text(encoding="utf-8")))
        except (yaml.YAMLError, ValidationError) as e:  # a broken installation, not the user's doing
            raise ConfigError(f"built-in profile {p.name} is broken: {e}") from None
    return out


def all_profiles(user: dict[str, ProfileConfig] | None = None) -> dict[str, ProfileConfig]:
    """The built-in profiles and the user's (a user profile of the same name wins)."""
    return {**builtin_profiles(), **(user or {})}


@dataclass
class Resolved:
    """A profile applied to one file's headers."""

    name: str
    profile: ProfileConfig
    columns: dict[str, str] = field(default_factory=dict)   # canonical name -> the file's header
    missing: list[str] = field(default_factory=list)        # canonical names the file does not have
    options: dict = field(default_factory=dict)             # the input keys the profile sets


def _find(name: str, headers: list[str]) -> str | None:
    if name in headers:
        return name
    norm = normalise_header(name)
    return next((h for h in headers if h and normalise_header(h) == norm), None)


def matches(profile: ProfileConfig, headers: list[str]) -> bool:
    return all(_find(h, headers) is not None for h in profile.match)


def recognise(headers_at: dict[int, list[str]], profiles: dict[str, ProfileConfig]) -> list[str]:
    """Names of the profiles whose headers are all in the file, the most specific
    (most headers matched) first. ``headers_at``: the file's header at a line
    number (a profile may say its header is not on the first line)."""
    hits = [(len(p.match), name) for name, p in profiles.items()
            if p.header_row in headers_at and matches(p, headers_at[p.header_row])]
    return [name for _, name in sorted(hits, key=lambda x: (-x[0], x[1]))]


def resolve(name: str, profile: ProfileConfig, headers: list[str],
            second_rows: list[list[str]] = ()) -> Resolved:
    """The profile's mapping as this file spells its headers; a pattern is searched
    in each header, then in the rows under it that ``skip_rows`` leaves out (the
    question texts of a survey export)."""
    out = Resolved(name, profile)
    used: set[str] = set()
    for canon, header in profile.columns.items():
        if isinstance(header, int):
            out.columns[canon] = header
            continue
        found = _find(header, headers)
        if found is None:
            out.missing.append(canon)
        else:
            out.columns[canon] = found
            used.add(found)
    for canon, patterns in profile.patterns.items():
        if canon in out.columns:
            continue
        hit = None
        for pattern in patterns:
            rx = re.compile(pattern, re.IGNORECASE)
            for i, h in enumerate(headers):
                texts = [h] + [row[i] for row in second_rows if i < len(row)]
                if h and h not in used and any(rx.search(t) for t in texts):
                    hit = h
                    break
            if hit:
                break
        if hit:
            out.columns[canon] = hit
            used.add(hit)
    options = profile.model_dump(exclude_unset=True, exclude=set(_PROFILE_ONLY) | {"columns", "path"})
    # names the options give as headers are written as this file spells them
    spelled = lambda n: _find(n, headers) or n  # noqa: E731
    if "exclude" in options:
        options["exclude"] = {spelled(k): v for k, v in options["exclude"].items()}
    if "inherit" in options:
        options["inherit"] = [spelled(n) for n in options["inherit"]]
    for key in ("refund_amount", "refund_date"):
        if key in options:
            options[key] = spelled(options[key])
    if options.get("subscriptions"):
        options["subscriptions"] = {k: spelled(v) if isinstance(v, str) else v  # headers; amount_in_cents a switch
                                    for k, v in options["subscriptions"].items() if v}
    out.options = options
    return out


def absent_headers(resolved: Resolved, headers: list[str]) -> list[str]:
    """Headers the profile's options name that this file does not have (a column
    left out of the export): those options are dropped, and init says so."""
    o = resolved.options
    names = list(o.get("exclude", {})) + list(o.get("inherit", []))
    names += [o[k] for k in ("refund_amount", "refund_date") if k in o]
    names += [v for v in (o.get("subscriptions") or {}).values() if isinstance(v, str)]
    return [n for n in names if _find(n, headers) is None]
