"""Register the re-send of application notices left queued (the broker was down when they were
written) as a django-celery-beat PeriodicTask, editable in the admin."""

import json

from django.conf import settings
from django.db import migrations

RESEND = "Notices: re-send application notices left queued (every 15 minutes)"


def create_task(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    quarterly, _ = CrontabSchedule.objects.get_or_create(
        minute="*/15", hour="*", day_of_month="*", month_of_year="*", day_of_week="*",
        timezone=getattr(settings, "CELERY_TIMEZONE", None) or settings.TIME_ZONE,
    )
    PeriodicTask.objects.get_or_create(name=RESEND, defaults={
        "task": "installments.tasks.resend_queued_notices", "crontab": quarterly, "kwargs": json.dumps({}),
        "description": "Enqueues again every customer notice still queued after 10 minutes; each is sent once.",
    })


def remove_task(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=RESEND).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("installments", "0006_application_notices"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_task, remove_task)]
