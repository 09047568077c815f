"""`retention init`: guess which table each export is, its dialect and its column
mapping, and write a commented ``retention.yaml``. The guesses are shown as
comments so the analyst can check them; ``retention validate`` confirms them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from retention_cli.config import CANONICAL, REQUIRED, parse_config
from retention_cli.errors import InputMissingError, OutputError, UsageError
from retention_cli.io.readers import _decode, _read_bytes, _unpack, sniff_delimiter
from retention_cli.io.writers import emit, shown


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", text.lower())


# Header spellings seen in real exports (English and French), normalised.
SYNONYMS: dict[str, set[str]] = {
    "customer_id": {"customerid", "clientid", "idclient", "nclient", "noclient", "numeroclient", "codeclient",
                    "client", "customer", "custid", "customerno", "memberid", "userid", "accountid"},
    "order_date": {"orderdate", "datecommande", "purchasedate", "invoicedate", "transactiondate", "dateachat", "date"},
    "amount": {"amount", "montant", "montantttc", "montantht", "total", "totalttc", "revenue", "sales", "dollarvalue", "value"},
    "quantity": {"quantity", "qty", "quantite", "qte"},
    "unit_price": {"unitprice", "prixunitaire", "price", "prix"},
    "order_id": {"orderid", "invoiceno", "invoice", "ncommande", "nocommande", "numerocommande", "commande", "transactionid"},
    "product_id": {"productid", "sku", "stockcode", "article", "reference", "refproduit", "ref", "produit", "codeproduit", "product"},
    "signup_date": {"signupdate", "dateinscription", "createdat", "joined", "subscriptiondate", "datecreation"},
    "churn_date": {"churndate", "datedepart", "canceldate", "cancelleddate", "datedesabonnement", "enddate"},
    "churn_reason": {"churnreason", "motifdepart", "raisondepart", "motif", "cancelreason"},
    "loyalty_member": {"loyaltymember", "loyalty", "fidelite", "cartefidelite", "membrefidelite"},
    "first_contact_date": {"firstcontactdate", "premiercontact", "datepremiercontact", "leaddate"},
    "opened_date": {"openeddate", "dateouverture", "datereclamation", "opened", "createddate", "datecreation"},
    "resolved_date": {"resolveddate", "dateresolution", "closeddate", "dateclotura", "datecloture", "resolved", "closed"},
    "status": {"status", "statut", "etat"},
    "category": {"category", "categorie", "type", "motifreclamation"},
    "complaint_id": {"complaintid", "ticketid", "ticket", "nreclamation", "noreclamation", "reclamation"},
    "channel": {"channel", "canal"},
    "nps_score": {"npsscore", "nps", "recommandation", "noterecommandation", "likelytorecommend", "recommend"},
    "csat_score": {"csatscore", "csat", "satisfaction", "notesatisfaction"},
    "answered_date": {"answereddate", "datereponse", "responsedate", "surveydate", "dateenquete", "date"},
}
NAME_HINTS = {
    "customers": ("customer", "client"),
    "purchases": ("purchase", "order", "commande", "vente", "sale", "transaction", "achat"),
    "complaints": ("complaint", "reclamation", "ticket", "plainte"),
    "responses": ("response", "survey", "enquete", "nps", "csat", "reponse"),
}


@dataclass
class Guess:
    path: Path
    table: str
    encoding: str
    delimiter: str
    header: bool
    decimal: str
    date_format: str | None
    columns: dict[str, str | int] = field(default_factory=dict)
    headers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _match(headers: list[str], table: str) -> dict[str, str]:
    found: dict[str, str] = {}
    used: set[str] = set()
    for canon in CANONICAL[table]:
        for h in headers:
            n = _norm(h)
            if h not in used and (n == _norm(canon) or n in SYNONYMS.get(canon, ())):
                found[canon] = h
                used.add(h)
                break
    return found


_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}")
_SLASH = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_COMPACT = re.compile(r"^(19|20)\d{6}$")


def _date_format(values: list[str]) -> tuple[str | None, str | None]:
    vals = [v.strip() for v in values if v.strip()]
    if not vals or all(_ISO.match(v) for v in vals):
        return None, None
    if all(_COMPACT.match(v) for v in vals):
        return "%Y%m%d", None
    m = [_SLASH.match(v) for v in vals]
    if all(m):
        sep = re.search(r"[/.-]", vals[0]).group(0)
        first_big = any(int(x.group(1)) > 12 for x in m)
        second_big = any(int(x.group(2)) > 12 for x in m)
        if second_big and not first_big:
            return f"%m{sep}%d{sep}%Y", None
        note = None if first_big else "day/month order is ambiguous in the sample: assumed day first"
        return f"%d{sep}%m{sep}%Y", note
    return None, "dates are not ISO and their format was not recognised: set date_format"


def guess(path: Path) -> Guess:
    display = shown(str(path))
    raw, fmt = _unpack(_read_bytes(str(path), display, "input"), str(path), display)
    if fmt == "parquet":
        raise UsageError(f"{display}: init reads CSV exports; map Parquet files by hand (columns: …)")
    encoding = "utf-8"
    try:
        raw[:200_000].decode("utf-8-sig")
    except UnicodeDecodeError as e:
        if e.start < 199_990:  # not just a character cut at the sample's end
            encoding = "cp1252"
    text, _ = _decode(raw[:200_000], encoding, display)
    lines = [ln for ln in text.splitlines() if ln.strip()][:200]
    if not lines:
        raise UsageError(f"{display}: empty file; nothing to guess from")
    delimiter = sniff_delimiter(text)
    if delimiter not in lines[0]:
        if len(lines[0].split()) > 1 and len({len(ln.split()) for ln in lines[:50]}) == 1:
            delimiter = "whitespace"
    import csv

    if delimiter == "whitespace":
        rows = [ln.split() for ln in lines]
    else:
        rows = list(csv.reader(lines, delimiter=delimiter))
    first = rows[0]
    looks_like_data = sum(bool(re.fullmatch(r"[-+]?[\d.,/:\s-]+", c.strip())) for c in first) >= max(1, len(first) - 1)
    header = not looks_like_data
    headers = [c.strip() for c in first] if header else [f"column {i + 1}" for i in range(len(first))]
    body = rows[1:] if header else rows

    scores = {}
    for table in CANONICAL:
        found = _match(headers, table)
        if all(r in found for r in REQUIRED[table]) and (table != "responses" or {"nps_score", "csat_score"} & found.keys()):
            hint = any(k in _norm(path.name) for k in NAME_HINTS[table])
            scores[table] = (hint, len(found), found)
    notes: list[str] = []
    if header and scores:
        table = max(scores, key=lambda t: scores[t][:2])
        columns: dict[str, str | int] = dict(scores[table][2])
    else:
        hinted = [t for t, keys in NAME_HINTS.items() if any(k in _norm(path.name) for k in keys)]
        table = hinted[0] if hinted else "purchases"
        columns = {}
        if not header:
            notes.append("no header row: map each column to its 1-based position")
            columns = {c: i + 1 for i, c in enumerate(REQUIRED[table] or ("nps_score",))}
        else:
            notes.append(f"no column matched the {table} table: map them by hand")
    date_cols = [c for c in columns if c.endswith("_date")]
    date_format = None
    for c in date_cols:
        idx = headers.index(columns[c]) if isinstance(columns[c], str) else int(columns[c]) - 1
        fmt_, note = _date_format([r[idx] for r in body[:100] if idx < len(r)])
        date_format = date_format or fmt_
        if note:
            notes.append(f"{c}: {note}")
    decimal = "."
    for c in ("amount", "unit_price", "quantity"):
        if isinstance(columns.get(c), str):
            idx = headers.index(columns[c])
            vals = [r[idx].strip() for r in body[:100] if idx < len(r)]
            if any(re.fullmatch(r"-?\d+,\d+", v) for v in vals):
                decimal = ","
    g = Guess(path, table, encoding, delimiter, header, decimal, date_format, columns, headers, notes)
    return g


def _yaml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(guesses: list[Guess], base: Path) -> str:
    out = [
        "# retention.yaml, written by `retention init`. Check the guesses, then run",
        "# `retention validate`. Every key is documented in the README.",
        "",
        "inputs:",
    ]
    seen: set[str] = set()
    for g in guesses:
        if g.table in seen:
            out.append(f"  # {g.path.name}: also looks like {g.table}; only one file per table is read")
            continue
        seen.add(g.table)
        try:
            rel = g.path.resolve().relative_to(base.resolve())
        except ValueError:
            rel = g.path.resolve()
        out.append(f"  {g.table}:")
        out.append(f"    path: {_yaml_str(str(rel))}")
        out.append(f"    encoding: {g.encoding}" + ("   # not valid UTF-8: looks like Windows-1252" if g.encoding != "utf-8" else ""))
        d = {"\t": "tab"}.get(g.delimiter, g.delimiter)
        out.append(f"    delimiter: {_yaml_str(d)}")
        if not g.header:
            out.append("    header: false       # the first row is data")
        if g.decimal != ".":
            out.append(f"    decimal: {_yaml_str(g.decimal)}        # decimal comma")
        if g.date_format:
            out.append(f"    date_format: {_yaml_str(g.date_format)}")
        if g.columns:
            out.append("    columns:            # canonical name: the file's header")
            for canon, h in g.columns.items():
                out.append(f"      {canon}: {h if isinstance(h, int) else _yaml_str(h)}")
        others = [h for h in g.headers if h not in g.columns.values()]
        if others and g.header:
            out.append(f"    # other columns (usable with --by): {', '.join(others)}")
        for n in g.notes:
            out.append(f"    # CHECK: {n}")
    out += [
        "",
        "on_bad_rows: error       # or skip: leave bad rows out, count them, write them to rejects/",
        "periods: {freq: month}   # week | month | quarter | year",
        "churn:",
        "  model: inactivity      # or contract (needs customers.signup_date and churn_date)",
        "  inactivity_days: 180   # a customer with no purchase for this long is lost",
        "  denominator: start     # start | start_plus_new | average",
        "",
    ]
    return "\n".join(out)


def write_config(files: list[Path], output: Path, force: bool = False) -> Path:
    """The config for ``files`` to ``output`` (``-``: stdout), never over an existing
    file without ``force``."""
    to_stdout = str(output) == "-"
    if not to_stdout and output.exists() and not force:
        raise OutputError(f"{output} exists; use --force to overwrite it")
    if not files:
        raise UsageError("name at least one export: retention init customers.csv orders.csv …")
    for f in files:
        if not f.exists():
            raise InputMissingError(f"{shown(f)}: file not found")
        try:
            str(f).encode("utf-8")
        except UnicodeEncodeError:  # a config is UTF-8 text: it cannot hold this name
            raise UsageError(f"{shown(f)}: the file name is not UTF-8 text, so a config cannot name it; "
                             "rename the file (or give it as --purchases … on the command line)") from None
    guesses = [guess(f) for f in files]
    text = render(guesses, Path(".") if to_stdout else output.parent)
    parse_config(text, Path("retention.yaml") if to_stdout else output)  # what we write must load
    emit(text.encode("utf-8"), str(output))
    return output
