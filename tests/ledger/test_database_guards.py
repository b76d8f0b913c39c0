"""On PostgreSQL the database itself keeps the books: lines and entries cannot be updated or deleted,
and an entry that does not balance (or has one line) fails at commit, whatever code wrote it."""

from datetime import date

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from collections_app.ledger import services
from collections_app.ledger.models import EventType, JournalEntry, JournalLine, LedgerAccount
from tests.ledger.conftest import ensure_chart

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the ledger triggers exist on PostgreSQL only"),
    pytest.mark.django_db(transaction=True),
]

DAY = date(2026, 3, 15)


@pytest.fixture
def posted_entry():
    ensure_chart()
    return services.journal_post(value_date=DAY, event_type=EventType.DISBURSEMENT,
                                 lines=[("1101", "100.00", 0, None), ("1001", 0, "100.00", None)])


@pytest.mark.parametrize("statement", [
    "UPDATE collections_app_journalline SET debit = debit + 1 WHERE entry_id = %s",
    "DELETE FROM collections_app_journalline WHERE entry_id = %s",
    "UPDATE collections_app_journalentry SET memo = 'edited' WHERE id = %s",
    "DELETE FROM collections_app_journalentry WHERE id = %s",
])
def test_raw_update_or_delete_is_refused_by_the_trigger(posted_entry, statement):
    with pytest.raises(DatabaseError, match="immutable"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [posted_entry.pk])
    assert JournalLine.objects.filter(entry=posted_entry).count() == 2
    assert JournalEntry.objects.get(pk=posted_entry.pk).memo == ""


def _raw_entry(cursor, lines: list[tuple[int, str, str]]) -> None:
    cursor.execute("INSERT INTO collections_app_journalentry (value_date, booked_at, event_type, source_type, "
                   "source_id, memo) VALUES (%s, now(), 'manual', '', '', '') RETURNING id", [DAY])
    entry_id = cursor.fetchone()[0]
    # An entry's lines go in with one INSERT statement: the line trigger checks per statement.
    if not lines:
        return
    values = ", ".join(["(%s, %s, %s, %s)"] * len(lines))
    cursor.execute(f"INSERT INTO collections_app_journalline (entry_id, account_id, debit, credit) VALUES {values}",
                   [value for account_id, debit, credit in lines for value in (entry_id, account_id, debit, credit)])


def test_raw_unbalanced_insert_fails_at_commit(posted_entry):
    loans, cash = (LedgerAccount.objects.get(code=c).pk for c in ("1101", "1001"))
    with pytest.raises(IntegrityError, match="unbalanced"):
        with transaction.atomic(), connection.cursor() as cursor:
            _raw_entry(cursor, [(loans, "100.00", "0"), (cash, "0", "99.00")])
    assert JournalEntry.objects.count() == 1


def test_raw_one_line_entry_fails_at_commit(posted_entry):
    loans = LedgerAccount.objects.get(code="1101").pk
    with pytest.raises(IntegrityError, match="1 line"):
        with transaction.atomic(), connection.cursor() as cursor:
            _raw_entry(cursor, [(loans, "100.00", "0")])
    assert JournalEntry.objects.count() == 1


def test_raw_entry_without_lines_fails_at_commit(posted_entry):
    with pytest.raises(IntegrityError, match="at least two"):
        with transaction.atomic(), connection.cursor() as cursor:
            _raw_entry(cursor, [])
    assert JournalEntry.objects.count() == 1


def test_raw_lines_one_statement_each_are_refused_at_the_first(posted_entry):
    """Balanced in the end, but the first statement leaves the entry with one line: refused at once."""
    loans, cash = (LedgerAccount.objects.get(code=c).pk for c in ("1101", "1001"))
    with pytest.raises(IntegrityError, match="unbalanced or short"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("INSERT INTO collections_app_journalentry (value_date, booked_at, event_type, "
                           "source_type, source_id, memo) VALUES (%s, now(), 'manual', '', '', '') RETURNING id",
                           [DAY])
            entry_id = cursor.fetchone()[0]
            for account_id, debit, credit in [(loans, "40.00", "0"), (cash, "0", "40.00")]:
                cursor.execute("INSERT INTO collections_app_journalline (entry_id, account_id, debit, credit) "
                               "VALUES (%s, %s, %s, %s)", [entry_id, account_id, debit, credit])
    assert JournalEntry.objects.count() == 1


def test_raw_balanced_insert_commits(posted_entry):
    loans, cash = (LedgerAccount.objects.get(code=c).pk for c in ("1101", "1001"))
    with transaction.atomic(), connection.cursor() as cursor:
        _raw_entry(cursor, [(loans, "40.00", "0"), (cash, "0", "40.00")])
    assert JournalEntry.objects.count() == 2


def test_line_with_both_sides_is_refused_by_the_check_constraint(posted_entry):
    loans = LedgerAccount.objects.get(code="1101").pk
    with pytest.raises(IntegrityError):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("INSERT INTO collections_app_journalline (entry_id, account_id, debit, credit) "
                           "VALUES (%s, %s, 5, 5)", [posted_entry.pk, loans])
