"""Register scoring's beat jobs as django-celery-beat PeriodicTasks, so they are editable in the admin.

- every 5 minutes: score applications left in `submitted` (broker or worker was down);
- daily at 02:30: record population stability (PSI) of the month to date.
"""

import json

from django.conf import settings
from django.db import migrations

SWEEP = "Scoring: score applications awaiting a score"
MONITOR = "Scoring: record population stability (daily)"


def create_tasks(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_five, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="2", day_of_month="*", month_of_year="*", day_of_week="*",
        timezone=getattr(settings, "CELERY_TIMEZONE", None) or settings.TIME_ZONE,
    )
    PeriodicTask.objects.get_or_create(name=SWEEP, defaults={
        "task": "scoring.tasks.score_pending_applications", "interval": every_five, "kwargs": json.dumps({}),
        "description": "Scores applications submitted more than 2 minutes ago that still have no score.",
    })
    PeriodicTask.objects.get_or_create(name=MONITOR, defaults={
        "task": "scoring.tasks.record_monitoring_snapshot", "crontab": nightly, "kwargs": json.dumps({}),
        "description": "PSI of the score and each characteristic, month to date (yesterday), vs the training sample.",
    })


def remove_tasks(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[SWEEP, MONITOR]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_tasks, remove_tasks)]
