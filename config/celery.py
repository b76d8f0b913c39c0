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


def enqueue(task_name: str, *, args: tuple | list = (), kwargs: dict | None = None, **options):
    """Publish the task registered as `task_name` now (in-process when tasks run eagerly).

    Services enqueue the task that wraps them by name, so an app's `tasks.py` imports its services
    and never the other way round (no import cycle; see the import-linter contracts). They go through
    the transactional outbox (`customers.outbox.enqueue`), which calls this after commit with one
    bounded attempt (settings: broker timeouts) and publishes again what the broker did not take.
    """
    if task_name not in app.tasks:  # a web process imports the apps' tasks modules on first use
        app.loader.import_default_modules()
    return app.signature(task_name, args=list(args), kwargs=kwargs or {}).apply_async(**options)


@app.task(bind=True, name="config.ping")
def ping(self, value: int = 1) -> int:
    """Round-trip check for the broker and a worker: returns value + 1."""
    return value + 1
