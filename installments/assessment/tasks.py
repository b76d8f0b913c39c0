"""Celery tasks of the credit assessment (queue `scoring`, see CELERY_TASK_ROUTES): thin wrappers
around the verbs of `installments.assessment.online` and `installments.assessment.monitoring`.
Imported by the worker through CELERY_IMPORTS. Their names stay `scoring.tasks.*`: the beat rows
(scoring migration 0002) and the queue route use them, and origination queues the scoring by name.

They take ids, are idempotent (scoring twice returns the stored result) and are acknowledged late,
so a worker lost mid-task leaves the message to be redelivered. Database and broker hiccups are
retried with backoff (RetryingTask); business refusals (not submitted, no active model) are not:
the periodic sweep scores what is left in `submitted` once the cause is gone.
"""

import logging
from datetime import timedelta

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from config.celery import RetryingTask
from config.errors import DomainError
from installments.assessment import monitoring, online

logger = logging.getLogger(__name__)

RETRY_ON = (ConnectionError, TimeoutError, OSError, OperationalError, InterfaceError)


@shared_task(base=RetryingTask, bind=True, acks_late=True, autoretry_for=RETRY_ON, name="scoring.tasks.score_application")
def score_application(self, application_id: int) -> dict | None:
    """Score one submitted application (see online.application_score)."""
    try:
        result = online.application_score(application_id=application_id)
    except DomainError as error:
        logger.warning("Application %s not scored: %s", application_id, error.message)
        return None
    return {"application": application_id, "score": result.score, "grade": result.grade,
            "outcome": result.outcome}


@shared_task(base=RetryingTask, bind=True, acks_late=True, autoretry_for=RETRY_ON,
             name="scoring.tasks.score_pending_applications")
def score_pending_applications(self, older_than_seconds: int = 120, limit: int = 500) -> dict:
    """The sweep (every 5 minutes, django-celery-beat): score applications stuck in `submitted`."""
    report = online.applications_score_pending(older_than=timedelta(seconds=older_than_seconds), limit=limit)
    return {"scored": report.scored, "failed": {str(k): v for k, v in report.failed.items()}}


@shared_task(base=RetryingTask, bind=True, acks_late=True, autoretry_for=RETRY_ON,
             name="scoring.tasks.record_monitoring_snapshot")
def record_monitoring_snapshot(self) -> dict | None:
    """Daily: PSI of the month to date (up to yesterday, so the 1st closes the previous month)
    against the active model's training sample."""
    yesterday = timezone.localdate() - timedelta(days=1)
    try:
        snapshot = monitoring.monitoring_snapshot_record(period_start=yesterday.replace(day=1), period_end=yesterday)
    except DomainError as error:
        logger.warning("No monitoring snapshot recorded: %s", error.message)
        return None
    return {"snapshot": snapshot.pk, "applications": snapshot.applications, "score_psi": snapshot.score_psi,
            "worst_status": snapshot.worst_status}
