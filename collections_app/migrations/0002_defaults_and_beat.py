"""Default servicing configuration and the beat jobs, all editable in the admin afterwards.

- the default servicing policy (allocation penalties -> fees -> interest -> principal, oldest first);
- delinquency buckets: current, 1-30, 31-60, 61-90, 90+ (short / medium / long term);
- reminder rules: 3 days before (e-mail), on the due date (SMS), 1 day after (SMS), 7 days after
  (e-mail), 15 days after (SMS, second notice), 30 days after (e-mail, final notice);
- django-celery-beat PeriodicTasks: close of business daily at 00:30 (closes yesterday), reminders
  queued daily at 09:00 (local time, settings.CELERY_TIMEZONE).
"""

import json

from django.conf import settings
from django.db import migrations

COB = "Collections: close of business (daily)"
REMINDERS = "Collections: queue payment reminders (daily)"

BUCKETS = [
    ("current", "Current", "正常", 0, 0, "current"),
    ("1-30", "1-30 days", "逾期1-30天", 1, 30, "short"),
    ("31-60", "31-60 days", "逾期31-60天", 31, 60, "medium"),
    ("61-90", "61-90 days", "逾期61-90天", 61, 90, "medium"),
    ("90+", "Over 90 days", "逾期90天以上", 91, None, "long"),
]
RULES = [
    ("3 days before: e-mail", -3, "email", "upcoming", 0),
    ("Due date: SMS", 0, "sms", "due_today", 0),
    ("1 day overdue: SMS", 1, "sms", "overdue", 1),
    ("7 days overdue: e-mail", 7, "email", "overdue", 1),
    ("15 days overdue: SMS", 15, "sms", "overdue_escalated", 2),
    ("30 days overdue: e-mail", 30, "email", "final_notice", 3),
]


def create_defaults(apps, schema_editor):
    ServicingPolicy = apps.get_model("collections_app", "ServicingPolicy")
    DelinquencyBucket = apps.get_model("collections_app", "DelinquencyBucket")
    ReminderRule = apps.get_model("collections_app", "ReminderRule")
    if not ServicingPolicy.objects.filter(product__isnull=True).exists():
        ServicingPolicy.objects.create(product=None)
    for code, label, label_zh, low, high, term_class in BUCKETS:
        DelinquencyBucket.objects.get_or_create(code=code, defaults={
            "label": label, "label_zh": label_zh, "min_days": low, "max_days": high, "term_class": term_class})
    for name, offset, channel, template, level in RULES:
        ReminderRule.objects.get_or_create(name=name, defaults={
            "offset_days": offset, "channel": channel, "template_key": template, "escalation_level": level})

    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    tz = getattr(settings, "CELERY_TIMEZONE", None) or settings.TIME_ZONE
    after_midnight, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="0", day_of_month="*", month_of_year="*", day_of_week="*", timezone=tz)
    morning, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="9", day_of_month="*", month_of_year="*", day_of_week="*", timezone=tz)
    PeriodicTask.objects.get_or_create(name=COB, defaults={
        "task": "collections_app.tasks.run_close_of_business", "crontab": after_midnight, "kwargs": json.dumps({}),
        "description": "Closes yesterday (and any missed day before it, in order): overdue marks, days past due, "
                       "buckets, late charges within the cap, plan states, promises, cases, snapshots.",
    })
    PeriodicTask.objects.get_or_create(name=REMINDERS, defaults={
        "task": "collections_app.tasks.queue_reminders", "crontab": morning, "kwargs": json.dumps({}),
        "description": "Claims today's reminders by the active rules and sends each once on the notifications "
                       "queue (quiet hours defer).",
    })


def remove_defaults(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[COB, REMINDERS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("collections_app", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_defaults, remove_defaults)]
