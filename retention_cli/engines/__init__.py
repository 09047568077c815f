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

__all__ = ["ENGINES", "settings", "uses_engine", "needs_engine_reader"]


def settings(cfg: Config, name: str | None = None) -> EngineConfig:
    """The engine of a run: ``--engine NAME`` (or RETENTION_ENGINE) over the config's."""
    if name is None or name == cfg.engine.name:
        return cfg.engine
    if name not in ENGINES:
        raise UsageError(f"--engine {name!r}: choose one of {', '.join(ENGINES)}")
    return cfg.engine.model_copy(update={"name": name})


GLOB_CHARS = frozenset("*?[")


def is_glob(path: str) -> bool:
    return any(c in GLOB_CHARS for c in path)


def needs_engine_reader(inp: InputConfig, path: str) -> bool:
    """An input only an engine reads, whatever the engine: a database, a glob, a folder."""
    import os

    from retention_cli.config import URL

    return inp.connection is not None or (path != "-" and (is_glob(path) or os.path.isdir(path) or bool(URL.match(path))))


def uses_engine(engine: EngineConfig, inp: InputConfig, path: str) -> str | None:
    """The engine that reads this input: None for the local readers, else the
    engine's name ("duckdb", "spark"). Standard input is always read locally;
    ``auto`` reads a file through DuckDB only when it would not fit in memory."""
    if path == "-" and inp.connection is None:
        return None
    if engine.name in ("duckdb", "spark"):
        return engine.name
    if needs_engine_reader(inp, path):
        return "duckdb"
    if engine.name == "auto":
        from pathlib import Path

        from retention_cli.errors import InputMissingError
        from retention_cli.io.readers import source

        try:
            source.check_memory(Path(path), path)
        except InputMissingError:
            return "duckdb"
        except OSError:
            return None  # the local reader says what is wrong with the file
    return None
