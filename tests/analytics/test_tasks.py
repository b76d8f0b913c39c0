"""The beat job: registered hourly in django-celery-beat, refreshes the summaries (in-process and on a real worker)."""

import pytest
from django_celery_beat.models import PeriodicTask

from installments.models import KpiSnapshot, SummaryRange
from installments.tasks import refresh_management_summaries
from tests.analytics.books import build_book
from tests.conftest import requires_redis


@pytest.mark.django_db
def test_the_refresh_is_an_hourly_periodic_task_editable_in_the_admin():
    task = PeriodicTask.objects.get(task="installments.tasks.refresh_management_summaries")
    assert task.enabled and task.crontab is not None
    assert (task.crontab.minute, task.crontab.hour) == ("5", "*")


@pytest.mark.django_db
def test_the_beat_task_refreshes_the_summaries():
    build_book()
    result = refresh_management_summaries.apply(kwargs={"triggered_by": "test"}).get()
    assert result["plans"] == 4 and not result["skipped"]
    assert KpiSnapshot.objects.count() == result["snapshots"] == len(SummaryRange.values) * 2


def test_the_task_is_routed_to_the_batch_queue():
    from config.celery import app

    route = app.amqp.router.route({}, "installments.tasks.refresh_management_summaries")
    assert route["queue"].name == "batch"


@pytest.mark.integration
@requires_redis
def test_a_real_worker_refreshes_the_summaries(celery_live_worker):
    build_book()
    result = refresh_management_summaries.delay(triggered_by="live-test").get(timeout=120)
    assert result["plans"] == 4
    assert KpiSnapshot.objects.filter(product=None).count() == len(SummaryRange.values)
