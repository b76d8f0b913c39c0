"""Faults with real services: a Celery worker process killed with SIGKILL in the middle of a task (acks_late
+ reject_on_worker_lost deliver it again and the idempotent service makes its effect happen once), and the database connection dropped in the middle of
a payment (nothing half-posted).

Redis down at submit time is proven by the scoring area (tests/scoring/test_celery_integration.py::
test_broker_down_at_submit_leaves_it_submitted_and_the_sweep_scores_it) and not repeated here.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import OperationalError, connection

from collections_app.models import Payment, PaymentAllocation
from collections_app.servicing import payments
from customers.models import AuditEvent
from customers.roles import Role
from installments.models import Installment
from tests.hardening.conftest import ensure_servicing_defaults

REPO = Path(__file__).resolve().parents[2]
IS_POSTGRES = connection.vendor == "postgresql"
requires_postgres = pytest.mark.skipif(not IS_POSTGRES, reason="needs PostgreSQL (CI sets DATABASE_URL)")
requires_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis (CI sets REDIS_URL)")
FAULT_QUEUE = "hardening-faults"


def _active_plan(officer):
    from tests.collections_app.factories import days_ago, plan_active

    ensure_servicing_defaults()
    return plan_active(disbursed=days_ago(10), amount="6000", term=6, by=officer)


def _book_state(plan):
    return (Payment.objects.filter(plan=plan).count(), PaymentAllocation.objects.filter(payment__plan=plan).count(),
            sorted(Installment.objects.filter(plan=plan).values_list("pk", "principal_paid", "interest_paid",
                                                                     "fee_paid")),
            AuditEvent.objects.filter(action="payment.post").count())


# --- Database connection dropped in the middle of a payment --------------------------------------------

def _fail_inside_the_payment(monkeypatch, kill):
    """Run `kill()` at the last step inside payment_record's transaction (after the payment row and its
    allocations were written, just before the audit row)."""
    real_audit = payments.audit_record

    def audit_then_fail(**kwargs):
        if kwargs.get("action") == "payment.post":
            kill()
        return real_audit(**kwargs)

    monkeypatch.setattr(payments, "audit_record", audit_then_fail)


@pytest.mark.django_db(transaction=True)
def test_an_error_in_the_middle_of_a_payment_posts_nothing(make_user, monkeypatch):
    officer = make_user(Role.LOAN_OFFICER)
    plan = _active_plan(officer)
    before = _book_state(plan)

    def kill():
        raise OperationalError("server closed the connection unexpectedly")

    _fail_inside_the_payment(monkeypatch, kill)
    with pytest.raises(OperationalError):
        payments.payment_record(plan=plan, amount=Decimal("300.00"), channel="officer", idempotency_key="k1",
                                 by=officer)
    monkeypatch.undo()
    assert _book_state(plan) == before
    # The same key posts normally afterwards (nothing half-stored blocks it).
    payment = payments.payment_record(plan=plan, amount=Decimal("300.00"), channel="officer",
                                       idempotency_key="k1", by=officer)
    assert not payment.replayed and Payment.objects.filter(plan=plan).count() == 1


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_the_database_connection_terminated_in_the_middle_of_a_payment_posts_nothing(make_user, monkeypatch):
    import psycopg2

    officer = make_user(Role.LOAN_OFFICER)
    plan = _active_plan(officer)
    before = _book_state(plan)
    connection.ensure_connection()
    backend_pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()

    def kill():
        killer = psycopg2.connect(**{k: v for k, v in params.items() if k in ("dbname", "user", "host", "port",
                                                                              "password")})
        killer.autocommit = True
        with killer.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [backend_pid])
            assert cursor.fetchone()[0]
        killer.close()

    _fail_inside_the_payment(monkeypatch, kill)
    with pytest.raises(Exception) as raised:
        payments.payment_record(plan=plan, amount=Decimal("300.00"), channel="officer", idempotency_key="k2",
                                 by=officer)
    assert "terminat" in str(raised.value).lower() or "closed" in str(raised.value).lower()
    monkeypatch.undo()
    connection.close()  # the next query opens a new connection, as the next request would
    assert _book_state(plan) == before
    payment = payments.payment_record(plan=plan, amount=Decimal("300.00"), channel="officer",
                                       idempotency_key="k2", by=officer)
    assert not payment.replayed and Payment.objects.filter(plan=plan).count() == 1


# --- A worker killed in the middle of a task --------------------------------------------------------------

WORKER = """
import sys
from config.celery import app
app.conf.task_always_eager = False
queue, name = sys.argv[1], sys.argv[2]
app.worker_main(["worker", "-Q", queue, "-P", "prefork", "-c", "1", "-l", "WARNING", "--without-heartbeat",
                 "--without-gossip", "--without-mingle", "--include", "tests.hardening.fault_tasks",
                 "-n", f"hardening-{name}@localhost"])
"""


def _start_worker(env, name: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WORKER, FAULT_QUEUE, name], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@requires_postgres
@requires_redis
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_task_redelivers_it_and_the_payment_happens_once(make_user, tmp_path):
    from celery import Celery

    officer = make_user(Role.LOAN_OFFICER)
    plan = _active_plan(officer)
    broker = settings.REDIS_URL.rsplit("/", 1)[0] + "/14"  # a Redis database of its own
    import redis

    redis.Redis.from_url(broker).flushdb()
    db = settings.DATABASES["default"]
    env = {**os.environ, "DEBUG": "1", "REDIS_URL": broker, "CELERY_TASK_ALWAYS_EAGER": "0",
           "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
           "MEDIA_ROOT": str(tmp_path)}
    attempts = tmp_path / "attempts.txt"
    key = f"kill-{uuid.uuid4().hex}"
    sender = Celery(broker=broker)
    workers = []
    try:
        workers.append(_start_worker(env, "first"))
        sender.send_task("hardening.record_payment_then_hang", args=[plan.pk, officer.pk, key, str(attempts), 60],
                         queue=FAULT_QUEUE)
        assert _wait_for(lambda: attempts.exists() and attempts.read_text().count("\n") >= 1, 60), \
            workers[0].stderr.read1().decode() if workers[0].poll() is not None else "no attempt"
        # SIGKILL the process running the task: after its effect, before the acknowledgement (acks_late).
        child_pid = int(attempts.read_text().split()[2])
        os.kill(child_pid, signal.SIGKILL)
        # reject_on_worker_lost puts the message back; the worker's new child runs it again.
        assert _wait_for(lambda: attempts.read_text().count("\n") >= 2, 60), "the task was not delivered again"
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(10)
        redis.Redis.from_url(broker).flushdb()
    first, second = (line.split() for line in attempts.read_text().splitlines()[:2])
    assert (first[1], second[1]) == ("posted", "replayed") and first[0] == second[0] and first[2] != second[2]
    assert Payment.objects.filter(plan=plan, idempotency_key=key).count() == 1
    assert Payment.objects.get(idempotency_key=key).amount == Decimal("25.00")
