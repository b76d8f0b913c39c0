"""Celery tasks of installments (queue `batch`, see CELERY_TASK_ROUTES): thin wrappers around services.

Idempotent and acknowledged late: a refresh recomputes every summary from the book, so running it
twice (a redelivered message, the button and the beat job together) gives the same rows.
"""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from config.celery import RetryingTask
from installments.analytics import services as dashboard_services

RETRY_ON = (ConnectionError, TimeoutError, OSError, OperationalError, InterfaceError)


@shared_task(base=RetryingTask, bind=True, acks_late=True, autoretry_for=RETRY_ON,
             name="installments.tasks.refresh_management_summaries")
def refresh_management_summaries(self, triggered_by: str = "beat") -> dict:
    """Hourly (django-celery-beat, migration 0005) and on demand: recompute the dashboard's summaries."""
    report = dashboard_services.summaries_refresh(triggered_by=triggered_by)
    return {"snapshots": report.snapshots, "segments": report.segments, "plans": report.plans,
            "duration_ms": report.duration_ms, "skipped": report.skipped}


@shared_task(base=RetryingTask, bind=True, acks_late=True, autoretry_for=RETRY_ON,
             name="installments.tasks.send_application_notice")
def send_application_notice(self, notice_id: int) -> str:
    """Send one customer notice about their application, exactly once (notices.notice_send)."""
    from installments.origination import notices

    notice = notices.notice_send(notice_id=notice_id)
    return notice.status if notice is not None else "missing"


@shared_task(base=RetryingTask, bind=True, acks_late=True, autoretry_for=RETRY_ON,
             name="installments.tasks.resend_queued_notices")
def resend_queued_notices(self) -> dict:
    """Every 15 minutes (django-celery-beat, migration 0007): re-enqueue notices left queued."""
    from installments.origination import notices

    return {"requeued": notices.notices_resend_queued()}
