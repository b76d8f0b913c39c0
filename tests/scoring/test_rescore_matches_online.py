"""Batch rescoring writes what online scoring stores: rescoring a small book with the model that
scored it online leaves every open result's score, PD, grade, points and reason codes as they were,
appends the earlier result to `history` as a re-scoring does, and skips decided applications. Runs
the database's own write path (PostgreSQL: one UPDATE from arrays; SQLite: executemany), in several
chunks, and on PostgreSQL outside a transaction the writer thread."""

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection

from installments.assessment import online, rescoring
from installments.models import Application
from scoring.models import ScoreResult
from tests.scoring.conftest import add_statement

RESCORED = ("score", "pd", "grade", "reason_codes", "points_by_feature", "model_version_id")
UNTOUCHED = ("outcome", "features", "context", "rule_hits", "anomaly_flags", "id_number_hash", "name_hash",
             "scored_at", "duration_ms")


@pytest.fixture
def book(model_version, make_customer, make_application):
    """Open applications scored online across incomes, debts, assets and statements (some values
    missing), one of them re-scored online before (a history already), and one declined later."""
    results = []
    shapes = [
        {"lines": {"income": "8000", "expenses": "2000"}},
        {"lines": {"income": "15000", "expenses": "9000", "debts": [("consumer_loan", "30000", "2500")]}},
        {"lines": {"income": "30000", "expenses": "3000", "assets": [("savings", "200000")]}, "statement": True},
        {"lines": {"income": "5000", "expenses": "4500", "debts": [("credit_card", "9000", "900")]},
         "statement": True, "fields": {"housing": "rent"}},
        {"lines": {"income": "12000", "expenses": None}, "fields": {"years_in_job": None}},
        {"lines": {"income": "22000", "expenses": "5000", "assets": [("property", "900000")]}},
        {"lines": {"income": "9000", "expenses": "1000"}},
    ]
    for i, shape in enumerate(shapes):
        customer = make_customer(lines=shape["lines"], **shape.get("fields", {}))
        if shape.get("statement"):
            add_statement(customer.profile, overdraft_days=i % 2)
        application = make_application(customer, amount=str(5000 + 3000 * i), term_months=6 + 3 * (i % 4))
        results.append(online.application_score(application_id=application.pk))
    # A result scored at a whole second (isoformat without microseconds) and carrying a history.
    first = results[0]
    first.scored_at = datetime(2026, 5, 1, 8, 30, tzinfo=UTC)
    first.history = [{"score": 1, "pd": "0.500000", "grade": "G", "outcome": "scored", "model_version": None,
                      "scored_at": "2026-04-01T00:00:00+00:00", "rule_hits": ["older_rule"]}]
    first.save(update_fields=["scored_at", "history"])
    Application.objects.filter(pk=results[-1].application_id).update(state=Application.State.DECLINED)
    return [ScoreResult.objects.get(pk=r.pk) for r in results]


@pytest.mark.parametrize("batch_size", [3, rescoring.BATCH_SIZE])
def test_rescoring_with_the_same_model_writes_what_online_scoring_stored(book, batch_size):
    open_results = [r for r in book if r.application.state in Application.OPEN_STATES]
    assert len(open_results) == len(book) - 1
    codes = [c["code"] for r in open_results for c in r.reason_codes]
    assert any(code.endswith("_MISSING") for code in codes) and any(not code.endswith("_MISSING") for code in codes)
    assert len({tuple(r.points_by_feature.values()) for r in open_results}) > 2

    report = rescoring.book_rescore(batch_size=batch_size)

    assert report.rows == len(open_results) and report.written == len(open_results)
    for before in open_results:
        after = ScoreResult.objects.get(pk=before.pk)
        assert {f: getattr(after, f) for f in RESCORED} == {f: getattr(before, f) for f in RESCORED}
        assert {f: getattr(after, f) for f in UNTOUCHED} == {f: getattr(before, f) for f in UNTOUCHED}
        assert after.history == [*before.history, online._previous(before)]
        assert after.rescored_at is not None
    declined = ScoreResult.objects.get(pk=book[-1].pk)
    assert declined.history == book[-1].history and declined.rescored_at is None
    assert list(report.frame["score"]) == [r.score for r in open_results]


def test_the_earlier_result_in_history_is_written_as_online_rescoring_writes_it(book):
    first = book[0]
    assert first.scored_at.microsecond == 0
    rescoring.book_rescore()
    entry = ScoreResult.objects.get(pk=first.pk).history[-1]
    assert entry == online._previous(first)
    assert entry["scored_at"] == "2026-05-01T08:30:00+00:00" and entry["pd"] == str(first.pd)
    assert isinstance(entry["pd"], str) and Decimal(entry["pd"]) == first.pd


def test_a_result_whose_application_was_decided_meanwhile_is_not_written(book, monkeypatch):
    target = book[1]
    real = rescoring._write_rescores

    def decided_first(*args, **kwargs):
        Application.objects.filter(pk=target.application_id).update(state=Application.State.APPROVED)
        return real(*args, **kwargs)

    monkeypatch.setattr(rescoring, "_write_rescores", decided_first)
    report = rescoring.book_rescore()
    assert report.written == report.rows - 1
    assert ScoreResult.objects.get(pk=target.pk).rescored_at is None


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_postgresql_writes_on_a_thread_of_its_own_with_the_same_results(book, monkeypatch):
    open_results = [r for r in book if r.application.state in Application.OPEN_STATES]
    threads = []
    real = rescoring._write_rescores

    def recorded(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(rescoring, "_write_rescores", recorded)
    report = rescoring.book_rescore(batch_size=2)

    assert report.written == len(open_results) and len(threads) == 3
    on_postgresql = connection.vendor == "postgresql"
    assert all(name.startswith("book-rescore-writer") == on_postgresql for name in threads)
    for before in open_results:
        after = ScoreResult.objects.get(pk=before.pk)
        assert {f: getattr(after, f) for f in RESCORED} == {f: getattr(before, f) for f in RESCORED}
        assert after.history == [*before.history, online._previous(before)]


@pytest.mark.django_db(transaction=True)
def test_a_chunk_that_fails_to_be_written_fails_the_run(book, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(rescoring, "_write_rescores", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        rescoring.book_rescore(batch_size=2)
    assert not ScoreResult.objects.filter(rescored_at__isnull=False).exists()
