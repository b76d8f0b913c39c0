"""Finding 9: the embedded default (SQLite, no DATABASE_URL) keeps every request under concurrent use.

`make run` answered 500 "database is locked" when an approval and a customer's holiday request were
written at the same time as other work. The app's writes are read-then-write transactions
(`select_for_update()` reads, which SQLite ignores, then updates): in SQLite's default DEFERRED mode a
transaction that read first and then wants to write while another connection writes is refused at
once, without waiting for the busy timeout. config/settings.py now gives SQLite IMMEDIATE transactions
(the write lock is taken at BEGIN, waiting up to SQLITE_TIMEOUT seconds), WAL (readers never wait for
the writer) and synchronous=NORMAL.

The proof runs real concurrent writers, each a thread with its own connection, against a file copy of
the migrated test database, through the app's own services (`profile_update`: a select_for_update read,
then an update and its history; `finance_line_add`: an update of the profile, an insert and its
history), all on one customer's profile: once with the settings as they are, once with the options
config/settings.py gave SQLite before (none: DEFERRED, rollback journal, 5 s timeout).
"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

REPO = Path(__file__).resolve().parents[2]
WRITERS = 8
ROUNDS = 10  # each round: one profile_update and one finance_line_add per writer

requires_sqlite = pytest.mark.skipif(connection.vendor != "sqlite",
                                     reason="the SQLite path (make run without DATABASE_URL); DATABASE_URL is set")

WORKLOAD = r"""
import json, os, sys, threading, time
from decimal import Decimal

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django
from django.conf import settings

mode, writers, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
django.setup()
if mode == "old":  # what config/settings.py gave SQLite before finding 9
    settings.DATABASES["default"]["OPTIONS"] = {}
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

from django.db import OperationalError, connection, connections

from customers import services
from customers.models import CustomerProfile, ExpenseLine
from tests.factories import CustomerProfileFactory

# A request does some work between its read and its write (validation, rules): a millisecond here.
apply_profile_data = services._apply_profile_data
def _apply_with_work(profile, data):
    time.sleep(0.001)
    apply_profile_data(profile, data)
services._apply_profile_data = _apply_with_work

profile_pk = CustomerProfileFactory().pk
with connection.cursor() as cursor:
    cursor.execute("PRAGMA journal_mode")
    journal_mode = cursor.fetchone()[0]
options = dict(settings.DATABASES["default"]["OPTIONS"])
connection.close()

barrier = threading.Barrier(writers)
lock = threading.Lock()
counts = {"committed": 0, "locked": 0}
errors = []

def writer(n):
    try:
        profile = CustomerProfile.objects.select_related("user").get(pk=profile_pk)
        barrier.wait()
        for i in range(rounds):
            steps = (
                lambda: services.profile_update(profile=profile, data={"employer": f"Employer {n}-{i}"}, by=profile.user),
                lambda: services.finance_line_add(profile=profile, line_type="expense",
                                                  data={"category": "food", "monthly_amount": Decimal("10.00")},
                                                  by=profile.user),
            )
            for step in steps:
                try:
                    step()
                    outcome = "committed"
                except OperationalError as error:
                    if "locked" not in str(error):
                        raise
                    outcome = "locked"
                    with lock:
                        errors.append(str(error))
                with lock:
                    counts[outcome] += 1
    except Exception as error:  # anything else fails the run
        with lock:
            errors.append(f"{type(error).__name__}: {error}")
            counts.setdefault("other", 0)
            counts["other"] += 1
    finally:
        connections.close_all()

started = time.monotonic()
threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps({
    "mode": mode, "writers": writers, "transactions": writers * rounds * 2, **counts,
    "lines": ExpenseLine.objects.filter(profile_id=profile_pk).count(),
    "journal_mode": journal_mode, "transaction_mode": options.get("transaction_mode"),
    "timeout": options.get("timeout"), "seconds": round(time.monotonic() - started, 2), "first_errors": errors[:3],
}))
"""


@pytest.fixture
def migrated_copy(tmp_path, transactional_db):
    """A file holding the migrated test database (SQLite's backup API), in the rollback-journal mode
    a fresh database file starts in."""
    assert "customers_user" in connection.introspection.table_names()  # the test database, migrated
    path = tmp_path / "migrated.sqlite3"
    target = sqlite3.connect(path)
    connection.connection.backup(target)
    target.execute("PRAGMA journal_mode=DELETE")
    target.close()
    return path


def _run_workload(database: Path, mode: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "DEBUG")}
    env.update(DEBUG="1", DATABASE_URL=f"sqlite:///{database}")
    result = subprocess.run([sys.executable, "-c", WORKLOAD, mode, str(WRITERS), str(ROUNDS)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@requires_sqlite
def test_concurrent_writers_never_meet_a_locked_database(migrated_copy, tmp_path):
    now, before = tmp_path / "now.sqlite3", tmp_path / "before.sqlite3"
    shutil.copy(migrated_copy, now)
    shutil.copy(migrated_copy, before)

    after_fix = _run_workload(now, "settings")
    print("with the settings:", after_fix)
    assert after_fix["journal_mode"] == "wal" and after_fix["transaction_mode"] == "IMMEDIATE"
    assert after_fix["locked"] == 0 and "other" not in after_fix, after_fix["first_errors"]
    assert after_fix["committed"] == after_fix["transactions"] == WRITERS * ROUNDS * 2
    assert after_fix["lines"] == WRITERS * ROUNDS  # every finance line written, none lost

    # The same workload with the old options: the test would catch the settings going back.
    old = _run_workload(before, "old")
    print("with the old options:", old)
    assert old["journal_mode"] == "delete" and old["transaction_mode"] is None
    assert old["locked"] > 0, old
    assert all("database is locked" in error for error in old["first_errors"])


SETTINGS_DUMP = """
import django, json, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
from django.conf import settings
print(json.dumps({"ENGINE": settings.DATABASES["default"]["ENGINE"], "OPTIONS": settings.DATABASES["default"]["OPTIONS"]}))
"""


@pytest.mark.parametrize("url, sqlite", [("", True), ("sqlite:////tmp/installments-settings-check.sqlite3", True),
                                          ("postgres://postgres@127.0.0.1:5432/installments_x", False)])
def test_sqlite_options_only_for_sqlite(url, sqlite):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "DEBUG")}
    env.update(DEBUG="1", **({"DATABASE_URL": url} if url else {}))
    result = subprocess.run([sys.executable, "-c", SETTINGS_DUMP], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    if sqlite:
        options = values["OPTIONS"]
        assert values["ENGINE"] == "django.db.backends.sqlite3"
        assert options["transaction_mode"] == "IMMEDIATE" and options["timeout"] >= 20
        assert "journal_mode=WAL" in options["init_command"].replace(" ", "")
        assert "synchronous=NORMAL" in options["init_command"].replace(" ", "")
    else:
        assert "transaction_mode" not in values["OPTIONS"] and "init_command" not in values["OPTIONS"]
