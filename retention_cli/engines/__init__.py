"""Engines: where the inputs are read (SPEC §10, docs/engines.md).

``local`` reads each file into memory with the readers of ``io/readers`` (the
default, and the fastest for what fits). ``duckdb`` reads through DuckDB, out of
core: a file larger than memory, a glob, a folder of CSV or Parquet files (hive
partitions), with ``memory_limit`` and ``temp_directory``. ``spark`` reads through
a Spark session (``master``: ``local[*]``, a cluster). ``auto`` takes duckdb for an
input that would not fit in memory and local otherwise. A database input
(``connection:``) is read by that database.

The boundary is one interface, ``io.readers.formats.Source``: an engine hands the
columns a command uses to the one conversion path of the readers, so every engine
gives the same values, the same bad rows and the same reasons. The engine-side
logic is written once with Ibis, which compiles it for DuckDB, Spark, PostgreSQL
and SQLite alike.
"""

from __future__ import annotations

from retention_cli.config import ENGINES, Config, EngineConfig, InputConfig
from retention_cli.errors import UsageError

__all__ = ["ENGINES", "cacheable", "needs_engine_reader", "settings", "uses_engine"]


def settings(cfg: Config, name: str | None = None) -> EngineConfig:
    """The engine of a run: ``--engine NAME`` (or RETENTION_ENGINE) over the config's."""
    if name is None or name == cfg.engine.name:
        return cfg.engine
    if name not in ENGINES:
        raise UsageError(f"--engine {name!r}: choose one of {', '.join(ENGINES)}")
    return cfg.engine.model_copy(update={"name": name})


def needs_engine_reader(inp: InputConfig, path: str) -> bool:
    """An input the local readers cannot read, whatever the engine: a database, or a
    path with a scheme (Spark's)."""
    from retention_cli.config import URL

    return inp.connection is not None or (path != "-" and bool(URL.match(path)))


def cacheable(inp: InputConfig, path: str) -> bool:
    """Whether the warm path may key this input on a file's identity: not a database,
    a glob or a folder, whose content changes without it."""
    from retention_cli.io.readers.source import is_many

    return not needs_engine_reader(inp, path) and not is_many(path)


def uses_engine(engine: EngineConfig, inp: InputConfig, path: str) -> str | None:
    """The engine that reads this input: None for the local readers, else the
    engine's name ("duckdb", "spark"). Standard input is always read locally;
    ``auto`` reads a file through DuckDB only when it would not fit in memory."""
    if path == "-" and inp.connection is None:
        return None
    if engine.name in ("duckdb", "spark"):
        return engine.name
    if needs_engine_reader(inp, path):
        return "duckdb"  # a database is read by itself (engines.sources), a scheme refused there
    if engine.name == "auto":
        from pathlib import Path

        from retention_cli.errors import InputMissingError, RetentionError
        from retention_cli.io.readers import source

        try:
            if source.is_many(path):  # the files together must fit
                files = source.files_of(path, path, "input")
                source.admit(sum(source.text_size(Path(f)) or 0 for f in files), path)
            else:
                source.check_memory(Path(path), path)
        except InputMissingError:
            return "duckdb"
        except (OSError, RetentionError):
            return None  # the local readers say what is wrong with the files
    return None
