"""Queue and send today's reminders now (what the 09:00 beat job does).

    manage.py queue_reminders [--date 2026-05-31]
"""

from datetime import date

from django.core.management.base import BaseCommand

from collections_app import tasks


class Command(BaseCommand):
    help = "Claim today's reminders by the active rules and send each once."

    def add_arguments(self, parser):
        parser.add_argument("--date", type=date.fromisoformat, help="The day (default today).")

    def handle(self, *args, **options):
        day = options["date"]
        result = tasks.queue_reminders.apply(kwargs={"on_date": day.isoformat() if day else None}).get()
        self.stdout.write(self.style.SUCCESS(f"{result['queued']} reminders queued."))
