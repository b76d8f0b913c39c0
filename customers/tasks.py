"""Celery tasks of customers (queue `default`, see CELERY_TASK_ROUTES): the outbox dispatcher.

`customers.tasks.dispatch_outbox` runs every minute (django-celery-beat, migration 0006) and once
when a worker starts (`worker_ready`), so what could not be queued while Redis was down, or was
lost after queueing, is published again within minutes (customers/outbox.py).
"""

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.db import InterfaceError, OperationalError

from config.celery import RetryingTask
from customers import outbox
from customers.ocr import services as ocr_services

logger = logging.getLogger(__name__)

RETRY_ON = (OperationalError, InterfaceError)
DISPATCH_TASK = "customers.tasks.dispatch_outbox"
ID_CARD_READ_TASK = "customers.tasks.id_card_read"


@shared_task(base=RetryingTask, bind=True, acks_late=True, autoretry_for=RETRY_ON, ignore_result=True,
             name=DISPATCH_TASK)
def dispatch_outbox(self, limit: int = 500) -> dict:
    """Publish the outbox rows that are due (see customers.outbox.dispatch)."""
    return outbox.dispatch(limit=limit)


@shared_task(base=RetryingTask, bind=True, acks_late=True, autoretry_for=RETRY_ON, ignore_result=True,
             name=ID_CARD_READ_TASK, soft_time_limit=120, time_limit=180)
def id_card_read(self, reading_id: int) -> None:
    """Read one uploaded ID card photo (customers.ocr.services.id_card_read); the OCR engine is loaded
    once per worker process, on the first card it reads."""
    ocr_services.id_card_read(reading_id=reading_id)


@worker_ready.connect(dispatch_uid="customers.tasks.dispatch_on_worker_start")
def _dispatch_on_worker_start(sender=None, **_) -> None:
    """A worker that starts (after a crash, a deploy or Redis coming back) asks for a dispatch at once."""
    try:
        dispatch_outbox.apply_async(retry=False, ignore_result=True)
    except Exception:  # the broker went away again: the beat job will ask
        logger.warning("Outbox dispatch could not be queued at worker start.")
