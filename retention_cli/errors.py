"""Errors a user can cause, each carrying the exit code of SPEC §8.

Library code raises these; only ``cli.py`` catches them, prints
``retention: error: …`` on stderr and exits with ``exit_code``.
"""

from __future__ import annotations


class RetentionError(Exception):
    """Base class: a problem the user can fix. ``details`` are extra lines."""

    exit_code = 1

    def __init__(self, message: str, details: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.details = list(details or [])


class UsageError(RetentionError):
    exit_code = 2


class DataError(RetentionError):
    """Bad input data (SPEC §8: 65)."""

    exit_code = 65


class InputMissingError(RetentionError):
    """Input file missing or unreadable, or a needed table not configured (66)."""

    exit_code = 66


class OutputError(RetentionError):
    """Cannot write output (73)."""

    exit_code = 73


class ConfigError(RetentionError):
    """Bad config file (78)."""

    exit_code = 78
