"""Files -> validated DataFrames (SPEC §1): dialect, column mapping, bad rows.

Every value is read as text first, so identifiers stay as written (``00042``,
``17850.0``), and each canonical column is then parsed vectorised by its kind
(``io/schemas.py``). Bad values are collected for the whole file (not only the
first) and reported as ``file:line: column 'x': value 'y': reason``, where line is
the physical line of the file (right with quoted multi-line fields).

One module per job: ``source`` (bytes, decompression, memory admission), ``text``
(decoding, record spans, delimiter sniffing), ``formats`` (the CSV, whitespace and
Parquet readers of cells), ``mapping`` (columns), ``cells`` (trimming),
``convert`` (typing, one entry point), ``ids`` (id encoding), ``semantics`` (the
export options), ``tables`` (``read_table``, ``load_inputs``). This package never
changes the process (no allocator setting, no hook): see docs/performance.md.
"""

from retention_cli.io.readers.ids import dictionary_parts, encode_ids
from retention_cli.io.readers.source import read_bytes, unpack
from retention_cli.io.readers.tables import (EVENT_DATES, TABLE_ORDER, Inputs, Table, format_bad, load_inputs,
                                             orphan_counts, read_table)
from retention_cli.io.readers.text import decode, record_spans, sniff_delimiter

__all__ = ["EVENT_DATES", "TABLE_ORDER", "Inputs", "Table", "decode", "dictionary_parts", "encode_ids", "format_bad",
           "load_inputs", "orphan_counts", "read_bytes", "read_table", "record_spans", "sniff_delimiter", "unpack"]
