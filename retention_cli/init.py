"""`retention init`: recognise each export, or guess its table, dialect and column
mapping, and write a commented ``retention.yaml`` that runs as written.

Each file is first compared with the platform profiles (``retention_cli/profiles``
and the config's ``profiles:``); a recognised export gets the profile's mapping and
meaning (exclusions, order totals, refunds, subscriptions). Otherwise each column is
guessed by its header and its values, and every partial match is kept. The key the
files share (a customer id, or an e-mail address) is chosen by the values they have
in common. What could not be decided is written as a ``# CHECK:`` comment on the
line to edit, and printed with that line's number.
"""

from __future__ import annotations

import csv
import re
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from retention_cli.config import CANONICAL, REQUIRED, ProfileConfig, load_config, parse_config
from retention_cli.errors import ConfigError, InputMissingError, OutputError, UsageError
from retention_cli.io.readers import decode as _decode, read_bytes as _read_bytes, sniff_delimiter, unpack as _unpack
from retention_cli.io.writers import emit, shown
from retention_cli.profiles import absent_headers, all_profiles, recognise, resolve


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", text.lower())


# Header spellings seen in real exports (English and French), normalised.
SYNONYMS: dict[str, set[str]] = {
    "customer_id": {"customerid", "clientid", "idclient", "nclient", "noclient", "numeroclient", "codeclient",
                    "client", "customer", "custid", "customerno", "memberid", "userid", "accountid",
                    "requesterid", "contactid", "personid", "customernumber", "kundennummer"},
    "order_date": {"orderdate", "datecommande", "purchasedate", "invoicedate", "transactiondate", "dateachat", "date",
                   "createdat", "created", "createdutc", "paidat", "rechnungsdatum"},
    "amount": {"amount", "montant", "montantttc", "montantht", "total", "totalttc", "revenue", "sales", "dollarvalue",
               "value", "ordertotal", "ordertotalamount", "grandtotal", "betrag"},
    "quantity": {"quantity", "qty", "quantite", "qte", "lineitemquantity"},
    "unit_price": {"unitprice", "prixunitaire", "price", "prix", "lineitemprice", "itemcost"},
    "order_id": {"orderid", "invoiceno", "invoice", "ncommande", "nocommande", "numerocommande", "commande",
                 "transactionid", "ordernumber", "nfacture", "numerofacture", "invoicenumber", "rechnungsnummer"},
    "product_id": {"productid", "sku", "stockcode", "article", "reference", "refproduit", "ref", "produit",
                   "codeproduit", "product", "lineitemsku"},
    "signup_date": {"signupdate", "dateinscription", "createdat", "joined", "subscriptiondate", "datecreation",
                    "startdate", "startedat", "created", "createdutc"},
    "churn_date": {"churndate", "datedepart", "canceldate", "cancelleddate", "datedesabonnement", "enddate",
                   "endedat", "cancelledat", "canceledat"},
    "churn_reason": {"churnreason", "motifdepart", "raisondepart", "motif", "cancelreason"},
    "loyalty_member": {"loyaltymember", "loyalty", "fidelite", "cartefidelite", "membrefidelite"},
    "first_contact_date": {"firstcontactdate", "premiercontact", "datepremiercontact", "leaddate"},
    "opened_date": {"openeddate", "dateouverture", "datereclamation", "opened", "createddate", "datecreation",
                    "createdat", "createdtime"},
    "resolved_date": {"resolveddate", "dateresolution", "closeddate", "dateclotura", "datecloture", "resolved",
                      "closed", "solvedat", "resolvedtime", "closedtime"},
    "status": {"status", "statut", "etat"},
    "category": {"category", "categorie", "type", "motifreclamation", "tickettype"},
    "complaint_id": {"complaintid", "ticketid", "ticket", "nreclamation", "noreclamation", "reclamation"},
    "channel": {"channel", "canal", "via", "source"},
    "nps_score": {"npsscore", "nps", "recommandation", "noterecommandation", "likelytorecommend", "recommend"},
    "csat_score": {"csatscore", "csat", "satisfaction", "notesatisfaction"},
    "answered_date": {"answereddate", "datereponse", "responsedate", "surveydate", "dateenquete", "date",
                      "submitdate", "submitdateutc", "timestamp", "enddate", "recordeddate"},
    # invoices (accounts receivable): what tells them from a sales journal is a due or paid date
    "invoice_date": {"invoicedate", "datefacture", "datedefacture", "dateemission", "datedemission", "issuedate",
                     "issuedon", "issued", "billdate", "documentdate", "rechnungsdatum"},
    "due_date": {"duedate", "dueon", "due", "paymentdue", "paymentduedate", "echeance", "dateecheance",
                 "datedecheance", "datelimite", "datelimitedepaiement", "faelligkeitsdatum", "faelligam"},
    "paid_date": {"paiddate", "paidon", "paymentdate", "datepaiement", "datedepaiement", "datereglement",
                  "datedereglement", "settleddate", "settledon", "zahlungsdatum", "bezahltam"},
    "invoice_id": {"invoiceid", "invoiceno", "invoicenumber", "invoice", "nfacture", "nofacture", "numerofacture",
                   "facture", "billid", "billnumber", "rechnungsnummer"},
    "disputed": {"disputed", "dispute", "indispute", "contested", "litige", "enlitige", "conteste", "strittig"},
}
# A header holding an e-mail address (a customer key when ids are not shared).
EMAIL_HEADERS = {"email", "emailaddress", "mail", "courriel", "adresseemail", "customeremail", "requesteremail",
                 "emailbilling", "billingemail", "recipientemail", "useremail", "contactemail"}
# Questions whose answer is a score, when the header is the question's text.
SCORE_QUESTIONS = {"nps_score": re.compile(r"recommend", re.I), "csat_score": re.compile(r"satisf", re.I)}
NAME_HINTS = {
    "customers": ("customer", "client", "subscription", "abonn"),
    "purchases": ("purchase", "order", "commande", "vente", "sale", "transaction", "achat", "payment", "facture"),
    "complaints": ("complaint", "reclamation", "ticket", "plainte"),
    "responses": ("response", "survey", "enquete", "nps", "csat", "reponse", "form"),
    # "facture" names sales journals too (purchases, above): the columns decide between them
    "invoices": ("invoice", "facture", "receivable", "billing", "creance", "rechnung"),
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DIALECT = ("encoding", "delimiter", "decimal", "thousands", "date_format", "dayfirst", "header")


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
    profile: str | None = None         # the profile recognised (its name)
    title: str | None = None           # and what it is: "Shopify orders"
    options: dict = field(default_factory=dict)   # input keys the profile sets (exclude, …)
    about: list[str] = field(default_factory=list)  # what the profile assumes
    model: str | None = None           # the churn model the export calls for
    missing: list[str] = field(default_factory=list)  # required columns not found
    keys: dict[str, str] = field(default_factory=dict)  # "id" / "email" -> a header that can join files
    values: dict[str, set[str]] = field(default_factory=dict)  # sample values of those headers
    partial: bool = False              # the table was chosen without all its required columns
    thousands: str | None = None


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
_SLASH = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$")
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
        time = ""
        clock = re.search(r"[ T](\d{1,2}:\d{2}(?::\d{2})?)$", vals[0])
        if clock:
            time = " %H:%M:%S" if clock.group(1).count(":") == 2 else " %H:%M"
        if second_big and not first_big:
            return f"%m{sep}%d{sep}%Y{time}", None
        note = None if first_big else "day/month order is ambiguous in the sample: assumed day first"
        return f"%d{sep}%m{sep}%Y{time}", note
    return None, "dates are not ISO and their format was not recognised: set date_format"


def _fits(values: list[str], fmt: str | None) -> bool:
    """Whether every sample value reads with ``fmt`` (None: ISO 8601)."""
    from datetime import datetime

    for v in (x.strip() for x in values):
        if not v:
            continue
        try:
            if fmt:
                datetime.strptime(v, fmt)
            elif not _ISO.match(v):
                return False
        except ValueError:
            return False
    return True


def _sample(path: Path) -> tuple[str, str, list[list[str]]]:
    """The file's encoding, delimiter and first records (up to 200)."""
    display = shown(str(path))
    from retention_cli.io.readers.source import is_many

    if is_many(str(path)):  # a glob or a folder: one of its files says what they all are
        raise UsageError(f"{display}: init reads one file per table: pass one of the files, then set "
                         f"`path: {display}` in the config it writes (a glob or a folder is read as one table)")
    raw, fmt = _unpack(_read_bytes(str(path), display, "input"), str(path), display)
    if raw[:16] == b"SQLite format 3\x00":
        raise UsageError(f"{display}: a SQLite database, not an export: map its table in the config, "
                         f"`connection: \"sqlite:///{display}\"` with `table: NAME` (docs/engines.md)")
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
    if delimiter == "whitespace":
        rows = [ln.split() for ln in lines]
    else:
        rows = [r for r in csv.reader(text.splitlines()[:2000], delimiter=delimiter) if any(c.strip() for c in r)][:200]
    return encoding, delimiter, rows


def _column(rows: list[list[str]], headers: list[str], header: str | int) -> list[str]:
    idx = headers.index(header) if isinstance(header, str) else int(header) - 1
    return [r[idx] for r in rows if idx < len(r)]


def _key_candidates(g: Guess, body: list[list[str]]) -> None:
    """The headers of ``g`` that can join it to other files: its customer id, and a
    column of e-mail addresses."""
    if not g.header:
        return
    cid = g.columns.get("customer_id")
    for h in g.headers:
        vals = [v.strip().lower() for v in _column(body, g.headers, h) if v.strip()]
        emails = vals and sum(bool(_EMAIL.match(v)) for v in vals) >= 0.8 * len(vals)
        if emails and ("email" not in g.keys or _norm(h) in EMAIL_HEADERS):
            if "email" not in g.keys or g.keys["email"] != cid:
                g.keys["email"] = h
                g.values[h] = set(vals)
    if isinstance(cid, str) and g.keys.get("email") != cid:
        g.keys["id"] = cid
        g.values[cid] = {v.strip() for v in _column(body, g.headers, cid) if v.strip()}


def _apply_profile(g: Guess, name: str, profile: ProfileConfig, rows: list[list[str]]) -> None:
    start = profile.header_row - 1
    headers = [c.strip() for c in rows[start]]
    second = rows[start + 1:start + 1 + profile.skip_rows]
    body = rows[start + 1 + profile.skip_rows:]
    r = resolve(name, profile, headers, second)
    g.profile, g.title, g.table, g.headers = name, profile.title, profile.table, headers
    g.columns = dict(r.columns)
    g.about = list(profile.notes)
    g.model = profile.model
    options = dict(r.options)
    for key in ("encoding", "delimiter", "decimal", "thousands"):
        if key in options:
            setattr(g, key, options.pop(key))
    for gone in absent_headers(r, headers):
        g.notes.append(f"the profile expects a column '{gone}' that this export does not have: "
                       "the option naming it is left out")
        options = _without_header(options, gone)
    fmt = options.pop("date_format", None)
    g.date_format = fmt
    for canon, h in g.columns.items():
        if canon.endswith("_date") and isinstance(h, str):
            vals = _column(body, headers, h)
            if not _fits(vals, fmt):
                guessed, note = _date_format(vals)
                g.date_format = guessed
                g.notes.append(f"{canon}: the dates are not as {profile.title} usually writes them"
                               + (f"; {note}" if note else f": read as {guessed or 'ISO 8601'}"))
                break
    if g.date_format:
        options.pop("dayfirst", None)
    g.options = options
    for canon in r.missing:
        if canon in REQUIRED[g.table]:
            g.missing.append(canon)
        else:
            g.notes.append(f"{canon}: no column '{profile.columns[canon]}' in this export: left unmapped")
    if g.table == "responses" and not ({"nps_score", "csat_score"} & g.columns.keys()):
        g.missing.append("nps_score")
    _key_candidates(g, body)


def _without_header(options: dict, header: str) -> dict:
    o = dict(options)
    if header in o.get("exclude", {}):
        o["exclude"] = {k: v for k, v in o["exclude"].items() if k != header}
        if not o["exclude"]:
            del o["exclude"]
    if header in o.get("inherit", []):
        o["inherit"] = [n for n in o["inherit"] if n != header]
    for key in ("refund_amount", "refund_date"):
        if o.get(key) == header:
            del o[key]
    if o.get("subscriptions"):
        o["subscriptions"] = {k: v for k, v in o["subscriptions"].items() if v != header}
    return o


def _score_columns(headers: list[str], body: list[list[str]], taken: set[str]) -> dict[str, str]:
    """Scores whose header is the question's text (Typeform, Google Forms): the
    first column that asks it and holds whole numbers in the scale's range."""
    out: dict[str, str] = {}
    for canon, rx in SCORE_QUESTIONS.items():
        lo, hi = (0, 10) if canon == "nps_score" else (1, 10)
        for h in headers:
            if h in taken or not rx.search(h):
                continue
            vals = [v.strip() for v in _column(body, headers, h) if v.strip()]
            if vals and all(re.fullmatch(r"\d{1,2}", v) and lo <= int(v) <= hi for v in vals):
                out[canon] = h
                taken.add(h)
                break
    return out


def _generic(g: Guess, rows: list[list[str]]) -> None:
    """Column by column, by header and by content; every partial match is kept."""
    first = rows[0]
    looks_like_data = sum(bool(re.fullmatch(r"[-+]?[\d.,/:\s-]+", c.strip())) for c in first) >= max(1, len(first) - 1)
    g.header = not looks_like_data
    g.headers = [c.strip() for c in first] if g.header else [f"column {i + 1}" for i in range(len(first))]
    body = rows[1:] if g.header else rows
    path = g.path
    if not g.header:
        hinted = [t for t, keys in NAME_HINTS.items() if any(k in _norm(path.name) for k in keys)]
        g.table = hinted[0] if hinted else "purchases"
        g.notes.append("no header row: map each column to its 1-based position")
        g.columns = {c: i + 1 for i, c in enumerate(REQUIRED[g.table] or ("nps_score",))}
        return
    email = next((h for h in g.headers if _norm(h) in EMAIL_HEADERS), None)
    scores = {}
    for table in CANONICAL:
        if table not in NAME_HINTS:
            continue  # a table init does not guess (its columns are mapped by hand)
        found = _match(g.headers, table)
        if table == "responses":
            found.update(_score_columns(g.headers, body, set(found.values())))
        if "customer_id" not in found and email and email not in found.values() and "customer_id" in CANONICAL[table]:
            found["customer_id"] = email
        required = REQUIRED[table] or ("nps_score",)
        complete = all(r in found for r in required) and (table != "responses" or {"nps_score", "csat_score"} & found.keys())
        if table == "invoices" and not {"due_date", "paid_date"} & found.keys():
            # a list of invoices without a due or paid date is a sales journal: purchases
            complete, found = False, {}
        if table == "customers" and "customer_id" in found:
            ids = [v.strip() for v in _column(body, g.headers, found["customer_id"]) if v.strip()]
            if len(set(ids)) < len(ids):  # ids repeat: an event table, not a list of customers
                complete = False
                found = {}
        hint = any(k in _norm(path.name) for k in NAME_HINTS[table])
        # the table's own columns (dates, scores) weigh more than a shared customer column
        own = len([c for c in found if c != "customer_id"])
        scores[table] = (bool(complete), own > 0, hint, own, found)
    table = max(scores, key=lambda t: scores[t][:4])
    complete, _, _, _, found = scores[table]
    g.table, g.columns = table, dict(found)
    if not found:
        g.notes.append(f"no column matched the {table} table: map them by hand")
    if not complete:
        g.partial = True
        g.missing = [r for r in (REQUIRED[table] or ("nps_score",)) if r not in found]
        if table == "responses" and {"nps_score", "csat_score"} & found.keys():
            g.missing = []
    for c in [c for c in g.columns if c.endswith("_date")]:
        fmt_, note = _date_format(_column(body, g.headers, g.columns[c]))
        g.date_format = g.date_format or fmt_
        if note:
            g.notes.append(f"{c}: {note}")
    for c in ("amount", "unit_price", "quantity"):
        if isinstance(g.columns.get(c), str):
            vals = [v.strip() for v in _column(body, g.headers, g.columns[c])]
            if any(re.fullmatch(r"-?\d+,\d+", v) for v in vals):
                g.decimal = ","
    if g.columns.get("customer_id") == email and email:
        g.options["customer_key"] = "email"
    _key_candidates(g, body)


def guess(path: Path, profiles: dict[str, ProfileConfig] | None = None, profile: str | None = None) -> Guess:
    """What ``path`` is: a profile's export (``profile`` forces one), or a guess."""
    profiles = all_profiles() if profiles is None else profiles
    encoding, delimiter, rows = _sample(path)
    g = Guess(path, "purchases", encoding, delimiter, True, ".", None)
    if profile is not None:
        if profile not in profiles:
            raise UsageError(f"unknown profile {profile!r} (known: {', '.join(sorted(profiles))})")
        names = [profile]
    else:
        at = {n: [c.strip() for c in rows[n - 1]] for n in {p.header_row for p in profiles.values()} if n <= len(rows)}
        names = recognise(at, profiles)
    if names and profiles[names[0]].header_row <= len(rows):
        _apply_profile(g, names[0], profiles[names[0]], rows)
        if len(names) > 1:
            g.notes.append(f"also looks like: {', '.join(names[1:])} (retention init --profile NAME to choose)")
    else:
        _generic(g, rows)
    return g


# --- the key the files share ---------------------------------------------------------

def choose_key(guesses: list[Guess]) -> tuple[str | None, str | None]:
    """The kind of key that joins the files ("id" or "email"), and why. Each file
    offers its customer id and a column of e-mail addresses; the kind every file
    has wins, and between two such kinds the one whose values the files share most.
    Applied to the guesses: their customer_id column and customer_key."""
    files = [g for g in guesses if g.keys]
    if len(files) < 2:
        return None, None

    def shared(kind: str) -> tuple[int, int]:
        sets = [g.values[g.keys[kind]] for g in files if kind in g.keys]
        seen: dict[str, int] = {}
        for s in sets:
            for v in s:
                seen[v] = seen.get(v, 0) + 1
        return sum(1 for n in seen.values() if n > 1), len(seen)

    usable = [k for k in ("id", "email") if all(k in g.keys for g in files)]
    counts = {k: shared(k) for k in ("id", "email")}
    if usable:
        kind = max(usable, key=lambda k: (counts[k][0], k == "id"))
    else:
        kind = max(("id", "email"), key=lambda k: (sum(k in g.keys for g in files), counts[k][0]))
    word = "e-mail address" if kind == "email" else "customer id"
    where = ", ".join(f"'{g.keys[kind]}' ({g.path.name})" for g in files if kind in g.keys)
    n, total = counts[kind]
    why = f"the files share customers by {word}: {where}; {n} of {total} values appear in more than one file"
    other = "id" if kind == "email" else "email"
    lacking = [g.path.name for g in files if kind not in g.keys]
    if counts[other][1] and not lacking:
        o_where = [g.path.name for g in files if other in g.keys]
        if len(o_where) < len(files):
            why += f" (a {'customer id' if other == 'id' else 'e-mail'} column is only in {', '.join(o_where)})"
        else:
            why += f" ({counts[other][0]} of {counts[other][1]} by {'customer id' if other == 'id' else 'e-mail'})"
    for g in files:
        if kind not in g.keys:
            g.notes.append(f"customer_id: no {word} column to join this file to the others: map it by hand")
            continue
        if g.columns.get("customer_id") != g.keys[kind]:
            g.columns["customer_id"] = g.keys[kind]
            if "customer_id" in g.missing:
                g.missing.remove("customer_id")
        if kind == "email":
            g.options["customer_key"] = "email"
        else:
            g.options.pop("customer_key", None)
    return kind, why


# --- the config ------------------------------------------------------------------------

def _yaml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _options_yaml(options: dict) -> list[str]:
    order = ("header_row", "skip_rows", "customer_key", "normalise_ids", "exclude", "inherit", "amount_scope",
             "refund_amount", "refund_date", "subscriptions", "na_values", "on_bad_rows")
    out = []
    for key in sorted(options, key=lambda k: order.index(k) if k in order else len(order)):
        value = options[key]
        text = yaml.safe_dump({key: value}, default_flow_style=None if isinstance(value, (dict, list)) else False,
                              allow_unicode=True, width=10_000, sort_keys=False)
        out += ["    " + line for line in text.rstrip("\n").splitlines()]
    return out


def render(guesses: list[Guess], base: Path, key_note: str | None = None) -> str:
    out = [
        "# retention.yaml, written by `retention init`. Check the guesses (the CHECK lines),",
        "# then run `retention validate`. Every key is documented in the README and docs/exports.md.",
        "",
        "inputs:",
    ]
    if key_note:
        out.append(f"  # {key_note}")
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
        if g.profile:
            out.append(f"    # {g.title} (profile {g.profile})")
            out += [f"    # - {n}" for n in g.about]
        elif g.partial:
            out.append(f"    # guessed from the headers and values: {g.table} (not every required column was found)")
        out.append(f"    path: {_yaml_str(str(rel))}")
        out.append(f"    encoding: {g.encoding}" + ("   # not valid UTF-8: looks like Windows-1252" if g.encoding != "utf-8" else ""))
        d = {"\t": "tab"}.get(g.delimiter, g.delimiter)
        out.append(f"    delimiter: {_yaml_str(d)}")
        if not g.header:
            out.append("    header: false       # the first row is data")
        if g.decimal != ".":
            out.append(f"    decimal: {_yaml_str(g.decimal)}        # decimal comma")
        if g.thousands:
            out.append(f"    thousands: {_yaml_str(g.thousands)}")
        if g.date_format:
            out.append(f"    date_format: {_yaml_str(g.date_format)}")
        if g.columns or g.missing:
            out.append("    columns:            # canonical name: the file's header")
            for canon, h in g.columns.items():
                out.append(f"      {canon}: {h if isinstance(h, int) else _yaml_str(h)}")
            for canon in g.missing:
                out.append(f"      # {canon}: \"…\"   # CHECK: no column found for {canon} (required): "
                           "write its header here and remove the #")
        out += _options_yaml(g.options)
        others = [h for h in g.headers if h and h not in g.columns.values()]
        if others and g.header:
            out.append(f"    # other columns (usable with --by): {', '.join(others)}")
        for n in g.notes:
            out.append(f"    # CHECK: {n}")
    model = next((g.model for g in guesses if g.model and g.table == "customers"), None)
    out += [
        "",
        "on_bad_rows: error       # or skip: leave bad rows out, count them, write them to rejects/",
        "periods: {freq: month}   # week | month | quarter | year",
        "churn:",
    ]
    if model == "contract":
        out.append("  model: contract        # subscriptions: a customer is one while a subscription pays")
    else:
        out += ["  model: inactivity      # or contract (needs customers.signup_date and churn_date)",
                "  inactivity_days: 180   # a customer with no purchase for this long is lost"]
    out += ["  denominator: start     # start | start_plus_new | average", ""]
    return "\n".join(out)


def _user_profiles(source: Path | None) -> tuple[dict[str, ProfileConfig], str]:
    """The ``profiles:`` of an existing config, and their YAML to carry into the new one."""
    if source is None or not Path(source).is_file():
        return {}, ""
    cfg = load_config(source)
    if not cfg.profiles:
        return {}, ""
    data = {name: p.model_dump(exclude_unset=True) for name, p in cfg.profiles.items()}
    return dict(cfg.profiles), yaml.safe_dump({"profiles": data}, allow_unicode=True, sort_keys=False, width=10_000)


def write_config(files: list[Path], output: Path, force: bool = False, profile: str | None = None,
                 profiles_from: Path | None = None, echo: Callable[[str], None] | None = None) -> Path:
    """The config for ``files`` to ``output`` (``-``: stdout), never over an existing
    file without ``force``. ``profile``: the profile every file is read with
    (``--profile``); ``profiles_from``: a config whose ``profiles:`` are recognised
    too (default: the config being replaced, whose profiles are kept). ``echo``
    receives what init recognised and what it could not decide (default: stderr)."""
    echo = echo or (lambda line: print(line, file=sys.stderr))
    to_stdout = str(output) == "-"
    if not to_stdout and output.exists() and not force:
        raise OutputError(f"{output} exists; use --force to overwrite it")
    if not files:
        raise UsageError("name at least one export: retention init customers.csv orders.csv …")
    from retention_cli.io.readers.source import is_pattern

    for f in files:
        if is_pattern(str(f)):  # a glob the shell did not expand (quoted): one file says what they all are
            raise UsageError(f"{shown(f)}: init reads one file per table: pass one of the files, then set "
                             f"`path: {shown(f)}` in the config it writes (a glob is read as one table)")
        if not f.exists():
            raise InputMissingError(f"{shown(f)}: file not found")
        try:
            str(f).encode("utf-8")
        except UnicodeEncodeError:  # a config is UTF-8 text: it cannot hold this name
            raise UsageError(f"{shown(f)}: the file name is not UTF-8 text, so a config cannot name it; "
                             "rename the file (or give it as --purchases … on the command line)") from None
    source = profiles_from if profiles_from is not None else (None if to_stdout else output)
    try:
        user, user_yaml = _user_profiles(source)
    except ConfigError:
        if profiles_from is not None:
            raise
        user, user_yaml = {}, ""  # the config being replaced does not load: it is replaced
    profiles = all_profiles(user)
    guesses = [guess(f, profiles, profile) for f in files]
    # a subscriptions export says more about customers than a list of them: read it first
    guesses.sort(key=lambda g: not (g.table == "customers" and g.model == "contract"))
    kind, why = choose_key(guesses)
    text = render(guesses, Path(".") if to_stdout else output.parent, why)
    if user_yaml:
        text += "\n" + user_yaml
    name = Path("retention.yaml") if to_stdout else output
    parse_config(text, name)  # what we write must load
    emit(text.encode("utf-8"), str(output))
    for g in guesses:
        what = f"{g.title} (profile {g.profile})" if g.profile else f"{g.table} (guessed from headers and values)"
        echo(f"retention: {shown(g.path)}: {what}")
    if why:
        echo(f"retention: {why}")
    for i, line in enumerate(text.splitlines(), 1):
        if "# CHECK:" in line:
            echo(f"retention: {shown(name)}:{i}: {line.split('# CHECK:', 1)[1].strip()}")
    return output
