"""Servers and runtimes the database and engine tests need: PostgreSQL and Java.

``postgres_url()`` gives the URL of a PostgreSQL server for the tests, or None and why
not. ``.ci/run`` starts one (``ci/postgres``) and sets ``RETENTION_TEST_POSTGRES``;
elsewhere the first call starts a throwaway server in a temporary folder, once per
test process, and stops it when the process ends. The URL has the form

    postgresql://postgres@/retention_test?host=/tmp/retention-pg-XXXX

(superuser ``postgres``, no password, database ``retention_test``, the server's unix
socket folder in ``host``, no TCP), which libpq, psycopg 3 and SQLAlchemy all read
(``postgresql+psycopg://...`` for SQLAlchemy with an explicit driver).

``java_available()`` says whether PySpark can start a JVM: Java 17 or newer.

``need(ok, reason)`` turns a missing requirement into a skip, or under ``CI=true``
(where ``.ci/run`` installs PostgreSQL and Java) into a failure. A fixture:

    @pytest.fixture(scope="session")
    def pg_url():
        url, reason = postgres_url()
        need(url, reason)
        return url
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "ci" / "postgres"
ENV_URL = "RETENTION_TEST_POSTGRES"
NOT_INSTALLED = 3  # ci/postgres's exit status when there is no PostgreSQL

_postgres: tuple[str | None, str] | None = None  # the answer, once per process


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def need(ok: object, reason: str) -> None:
    """Skip the test (printing ``reason``) when ``ok`` is falsy; under CI=true fail instead:
    CI installs what the tests need, so a missing server there is a broken CI."""
    if ok:
        return
    if in_ci():
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def postgres_url() -> tuple[str | None, str]:
    """``(url, "")`` for a running PostgreSQL server, or ``(None, reason)``.

    ``RETENTION_TEST_POSTGRES`` when set (``.ci/run`` sets it); otherwise a server of
    our own, started with ``ci/postgres`` in a temporary folder on the first call and
    stopped (its folder removed) when the process exits. Later calls return the same
    answer, failure included."""
    global _postgres
    url = os.environ.get(ENV_URL, "").strip()
    if url:
        return url, ""
    if _postgres is None:
        _postgres = _start_postgres()
    return _postgres


def _start_postgres() -> tuple[str | None, str]:
    if shutil.which("bash") is None:
        return None, "PostgreSQL: bash is needed to run ci/postgres"
    # mkdtemp's own folder, short (a socket path holds 107 bytes) and under /tmp, whose
    # mode lets the `postgres` user reach it when we are root.
    base = "/tmp" if os.path.isdir("/tmp") else None
    folder = tempfile.mkdtemp(prefix="retention-pg-", dir=base)
    try:
        done = subprocess.run(["bash", str(SCRIPT), "start", folder], capture_output=True,
                              text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as error:
        _stop_postgres(folder)
        return None, f"PostgreSQL: ci/postgres start failed: {error}"
    if done.returncode != 0:
        _stop_postgres(folder)
        message = done.stderr.strip().splitlines()
        detail = " / ".join(line.removeprefix("ci/postgres: ") for line in message[-3:]) \
            or f"exit status {done.returncode}"
        if done.returncode == NOT_INSTALLED:
            return None, (f"{detail}: install the server (Debian: apt-get install "
                          f"postgresql) or set {ENV_URL}")
        return None, f"PostgreSQL: ci/postgres could not start a server: {detail}"
    atexit.register(_stop_postgres, folder)
    return done.stdout.strip().splitlines()[-1], ""


def _stop_postgres(folder: str) -> None:
    try:
        subprocess.run(["bash", str(SCRIPT), "stop", folder], capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        pass
    shutil.rmtree(folder, ignore_errors=True)


def java_home() -> str | None:
    """The folder JAVA_HOME should name: the one whose ``bin/java`` runs (``$JAVA_HOME``
    when set, else the real location of ``java`` on PATH, through Debian's
    alternatives symlinks, e.g. /usr/lib/jvm/java-17-openjdk-amd64)."""
    home = os.environ.get("JAVA_HOME", "").strip()
    if home:
        return home
    java = shutil.which("java")
    if java is None:
        return None
    return str(Path(java).resolve().parent.parent)


def java_available() -> tuple[bool, str]:
    """``(True, description)`` when Java 17 or newer runs, else ``(False, reason)``.

    PySpark runs ``$JAVA_HOME/bin/java`` when JAVA_HOME is set, else ``java`` on PATH;
    this checks the same one. JAVA_HOME must point at the JDK/JRE folder that holds
    ``bin/java`` (``java_home()``), not at ``bin`` or at the ``java`` file."""
    home = os.environ.get("JAVA_HOME", "").strip()
    if home:
        java = os.path.join(home, "bin", "java")
        if not os.access(java, os.X_OK):
            return False, (f"JAVA_HOME={home} has no bin/java: it must name the folder that "
                           f"holds bin/java (e.g. /usr/lib/jvm/java-17-openjdk-amd64)")
    else:
        java = shutil.which("java")
        if java is None:
            return False, ("Java is not installed (no java on PATH, no JAVA_HOME); Spark needs "
                           "Java 17 or newer (Debian: apt-get install openjdk-17-jre-headless)")
    try:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        return False, f"{java} -version failed: {error}"
    text = done.stderr + done.stdout
    found = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if done.returncode != 0 or not found:
        first = text.strip().splitlines()[:1]
        return False, f"{java} -version did not give a version: {first[0] if first else done.returncode}"
    major = int(found.group(1))
    if major == 1 and found.group(2):  # "1.8.0_392": Java 8
        major = int(found.group(2))
    if major < 17:
        return False, (f"Java {major} at {java}; Spark needs Java 17 or newer (set JAVA_HOME "
                       f"to a Java 17+ folder, e.g. /usr/lib/jvm/java-17-openjdk-amd64)")
    where = f"JAVA_HOME={home}" if home else f"{java} (JAVA_HOME would be {java_home()})"
    return True, f"Java {major}: {where}"
