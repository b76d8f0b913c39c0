"""End to end with a real Celery worker on Redis: a submitted application is scored by the worker,
exactly once; with the broker down at submit time it stays `submitted` and the sweep scores it."""

import importlib
import time
from datetime import timedelta

import pytest
from django.apps import apps as django_apps
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from config.celery import app as celery_app
from installments.assessment.tasks import score_application, score_pending_applications
from installments.models import Application
from installments.origination.applications import application_submit
from scoring.models import ScoreResult
from tests.conftest import requires_redis

pytestmark = pytest.mark.integration


def wait_for_state(application, *, leave: str, seconds: float = 30.0) -> Application:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        application.refresh_from_db()
        if application.state != leave:
            return application
        time.sleep(0.1)
    return application


@pytest.fixture
def submitted_by_customer(make_customer, make_application):
    def _submit():
        customer = make_customer(lines={"income": "15000", "expenses": "3000"})
        draft = make_application(customer, submit=False)
        return application_submit(application=draft, by=customer)

    return _submit


def test_the_beat_jobs_migration_registers_editable_periodic_tasks(db):
    # Run the data migration's function (idempotent) rather than trusting rows that a
    # transactional test elsewhere in the run may have flushed.
    migration = importlib.import_module("scoring.migrations.0002_periodic_tasks")
    migration.create_tasks(django_apps, None)
    migration.create_tasks(django_apps, None)
    sweep = PeriodicTask.objects.get(task="scoring.tasks.score_pending_applications")
    assert (sweep.interval.every, sweep.interval.period) == (5, "minutes") and sweep.enabled
    monitor = PeriodicTask.objects.get(task="scoring.tasks.record_monitoring_snapshot")
    assert (monitor.crontab.minute, monitor.crontab.hour) == ("30", "2")


def test_tasks_are_routed_to_the_scoring_queue():
    for task in (score_application, score_pending_applications):
        assert celery_app.amqp.router.route({}, task.name)["queue"].name == "scoring"
    assert score_application.acks_late and score_application.max_retries == 5


@requires_redis
def test_a_real_worker_scores_a_submitted_application_once(celery_live_worker, model_version,
                                                           submitted_by_customer):
    application = submitted_by_customer()
    # A duplicate delivery of the same job must not create a second result.
    score_application.delay(application.pk)
    application = wait_for_state(application, leave=Application.State.SUBMITTED)
    assert application.state == Application.State.SCORED
    duplicate = score_application.delay(application.pk).get(timeout=30)
    assert duplicate["score"] == application.score_result.score
    assert ScoreResult.objects.filter(application=application).count() == 1


@requires_redis
def test_broker_down_at_submit_leaves_it_submitted_and_the_sweep_scores_it(celery_live_worker, model_version,
                                                                          submitted_by_customer, caplog):
    # Producers point at a closed port while the customer submits; the worker keeps its own connection.
    celery_app.conf.broker_write_url = "redis://127.0.0.1:1/0"
    celery_app.amqp._producer_pool = None
    celery_app._pool = None
    try:
        application = submitted_by_customer()
    finally:
        celery_app.conf.broker_write_url = None
        celery_app.amqp._producer_pool = None
        celery_app._pool = None
    assert "could not be queued" in caplog.text
    time.sleep(1.0)
    application.refresh_from_db()
    assert application.state == Application.State.SUBMITTED
    assert not ScoreResult.objects.filter(application=application).exists()

    # Later: the broker is back and the periodic sweep runs on the real worker.
    Application.objects.filter(pk=application.pk).update(updated_at=timezone.now() - timedelta(minutes=3))
    report = score_pending_applications.delay().get(timeout=60)
    assert report["scored"] == [application.pk]
    application.refresh_from_db()
    assert application.state == Application.State.SCORED
    assert ScoreResult.objects.filter(application=application).count() == 1
