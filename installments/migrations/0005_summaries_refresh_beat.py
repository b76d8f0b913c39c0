"""Register the hourly refresh of the manager's dashboard summaries as a django-celery-beat
PeriodicTask, so its schedule is editable (or it can be disabled) in the admin."""

import json

from django.conf import settings
from django.db import migrations

REFRESH = "Dashboard: refresh management summaries (hourly)"


def create_task(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    hourly, _ = CrontabSchedule.objects.get_or_create(
        minute="5", hour="*", day_of_month="*", month_of_year="*", day_of_week="*",
        timezone=getattr(settings, "CELERY_TIMEZONE", None) or settings.TIME_ZONE,
    )
    PeriodicTask.objects.get_or_create(name=REFRESH, defaults={
        "task": "installments.tasks.refresh_management_summaries", "crontab": hourly, "kwargs": json.dumps({}),
        "description": "Recomputes KPI snapshots and segment summaries for every date range and product "
                       "(the dashboard reads only these).",
    })


def remove_task(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=REFRESH).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("installments", "0004_management_analytics"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_task, remove_task)]
