"""The transactional outbox (customers/outbox.py) and its dispatcher's beat job (every minute)."""

import json

import django.utils.timezone
from django.db import migrations, models

DISPATCH = "Outbox: publish queued tasks"


def create_beat(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(name=DISPATCH, defaults={
        "task": "customers.tasks.dispatch_outbox", "interval": every_minute, "kwargs": json.dumps({}),
        "description": "Publishes tasks that could not be queued when their transaction committed (Redis down) "
                       "and resends those published but not done (a message lost with Redis or a worker).",
    })


def remove_beat(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=DISPATCH).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0005_applicationdraft_satisfactionrating'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
    ]

    operations = [
        migrations.CreateModel(
            name='OutboxTask',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('task_name', models.CharField(max_length=200, verbose_name='task')),
                ('args', models.JSONField(blank=True, default=list, verbose_name='arguments')),
                ('kwargs', models.JSONField(blank=True, default=dict, verbose_name='keyword arguments')),
                ('created_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now, verbose_name='queued')),
                ('not_before', models.DateTimeField(blank=True, null=True, verbose_name='not before')),
                ('due_at', models.DateTimeField(blank=True, help_text='When the dispatcher publishes it (again) unless it is done; empty once done or given up.', null=True, verbose_name='next publish')),
                ('dispatched_at', models.DateTimeField(blank=True, null=True, verbose_name='last published')),
                ('done_at', models.DateTimeField(blank=True, null=True, verbose_name='done')),
                ('attempts', models.PositiveIntegerField(default=0, verbose_name='publications')),
                ('last_error', models.TextField(blank=True, verbose_name='last error')),
            ],
            options={
                'verbose_name': 'outbox task',
                'verbose_name_plural': 'outbox tasks',
                'ordering': ['-created_at', '-pk'],
                'indexes': [models.Index(condition=models.Q(('done_at__isnull', True)), fields=['due_at'], name='outbox_due_not_done')],
            },
        ),
        migrations.RunPython(create_beat, remove_beat),
    ]
