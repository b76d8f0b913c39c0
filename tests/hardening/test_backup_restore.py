"""Backup and restore: a pg_dump / pg_restore round trip of a seeded book gives identical balances.

The restore goes into a throwaway database, `installments_backup_test`, dropped afterwards; the
development and test databases are only read. The procedure is the one SECURITY.md documents.
"""

import shutil
import subprocess
from decimal import Decimal

import pytest
from django.db import connection

from collections_app.models import Payment
from collections_app.servicing import payments
from customers.models import CustomerProfile
from customers.roles import Role
from installments.models import Installment, Plan
from tests.hardening.conftest import build_customer_book, ensure_servicing_defaults

RESTORE_DB = "installments_backup_test"
pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (CI sets DATABASE_URL)"),
    pytest.mark.skipif(not shutil.which("pg_dump"), reason="pg_dump is not installed"),
]


def _balances_sql() -> list[tuple[str, str]]:
    installment, payment, plan = Installment._meta.db_table, Payment._meta.db_table, Plan._meta.db_table
    profile = CustomerProfile._meta.db_table
    return [
        ("installments", f"SELECT plan_id, SUM(principal_due), SUM(principal_paid), SUM(interest_due), "
                         f"SUM(interest_paid), SUM(fee_due), SUM(fee_paid), COUNT(*) FROM {installment} "
                         f"GROUP BY plan_id ORDER BY plan_id"),
        ("payments", f"SELECT plan_id, state, SUM(amount), COUNT(*) FROM {payment} GROUP BY plan_id, state "
                     f"ORDER BY plan_id, state"),
        ("plans", f"SELECT id, number, state, principal, credit_balance FROM {plan} ORDER BY id"),
        ("profiles", f"SELECT id, id_number_encrypted, id_number_hash FROM {profile} ORDER BY id"),
    ]


def _read(cursor) -> dict:
    result = {}
    for name, sql in _balances_sql():
        cursor.execute(sql)
        result[name] = cursor.fetchall()
    return result


def _pg_args(settings_dict) -> list[str]:
    return ["-h", settings_dict["HOST"] or "127.0.0.1", "-p", str(settings_dict["PORT"] or 5432),
            "-U", settings_dict["USER"] or "postgres"]


@pytest.mark.django_db(transaction=True)
def test_dump_and_restore_give_identical_balances(make_user, tmp_path):
    import psycopg2

    officer = make_user(Role.LOAN_OFFICER)
    ensure_servicing_defaults()
    books = [build_customer_book(letter, n, officer=officer) for n, letter in enumerate("RS", start=31)]
    plan = books[0].objects["plan"][0]
    payments.payment_record(plan=plan, amount=Decimal("777.77"), channel="officer", idempotency_key="backup-1",
                             by=officer)
    with connection.cursor() as cursor:
        before = _read(cursor)
    assert len(before["plans"]) == 2 and before["payments"]

    settings_dict = connection.settings_dict
    dump = tmp_path / "book.dump"
    args = _pg_args(settings_dict)
    subprocess.run(["pg_dump", *args, "-Fc", "--no-owner", "-f", str(dump), settings_dict["NAME"]], check=True,
                   timeout=120)
    subprocess.run(["dropdb", *args, "--if-exists", RESTORE_DB], check=True, timeout=60)
    subprocess.run(["createdb", *args, RESTORE_DB], check=True, timeout=60)
    try:
        subprocess.run(["pg_restore", *args, "--no-owner", "--exit-on-error", "-d", RESTORE_DB, str(dump)],
                       check=True, timeout=300)
        restored = psycopg2.connect(dbname=RESTORE_DB, user=settings_dict["USER"] or "postgres",
                                    host=settings_dict["HOST"] or "127.0.0.1", port=settings_dict["PORT"] or 5432,
                                    password=settings_dict.get("PASSWORD") or None)
        try:
            with restored.cursor() as cursor:
                after = _read(cursor)
        finally:
            restored.close()
    finally:
        subprocess.run(["dropdb", *args, "--if-exists", RESTORE_DB], check=False, timeout=60)
    assert after == before
