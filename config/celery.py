"""The Celery application: one broker (Redis), queues for scoring, notifications and batch work.

Tasks are thin wrappers around services, take ids, are idempotent and acknowledged late so a
worker killed mid-task leaves the message to be redelivered.
"""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("installments_product")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in ("default", "scoring", "notifications", "batch")]
app.autodiscover_tasks()

# Bounded retries with exponential backoff, shared by every task that opts in via `base=RetryingTask`.
RETRY_POLICY = {"max_retries": 5, "retry_backoff": 2, "retry_backoff_max": 300, "retry_jitter": True}


class RetryingTask(app.Task):
    autoretry_for = (ConnectionError, TimeoutError, OSError)
    max_retries = RETRY_POLICY["max_retries"]
    retry_backoff = RETRY_POLICY["retry_backoff"]
    retry_backoff_max = RETRY_POLICY["retry_backoff_max"]
    retry_jitter = RETRY_POLICY["retry_jitter"]
    acks_late = True


@app.task(bind=True, name="config.ping")
def ping(self, value: int = 1) -> int:
    """Round-trip check for the broker and a worker: returns value + 1."""
    return value + 1
