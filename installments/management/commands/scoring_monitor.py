"""Record population stability (PSI) of the scored applicants against the training sample.

    manage.py scoring_monitor [--month YYYY-MM]

Default: this month to date. Prints the score PSI and each characteristic's with its status.
"""

import calendar
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from config.errors import DomainError
from installments.assessment import monitoring


class Command(BaseCommand):
    help = "Record a monitoring snapshot: PSI of the score and of each characteristic vs the training sample."

    def add_arguments(self, parser):
        parser.add_argument("--month", help="Calendar month YYYY-MM (default: this month to date).")

    def handle(self, *args, **options):
        start = end = None
        if options["month"]:
            try:
                year, month = (int(part) for part in options["month"].split("-"))
                start = date(year, month, 1)
            except ValueError:
                raise CommandError("--month: use YYYY-MM, e.g. 2026-11")
            end = min(date(year, month, calendar.monthrange(year, month)[1]), timezone.localdate())
        try:
            snapshot = monitoring.monitoring_snapshot_record(period_start=start, period_end=end)
        except DomainError as error:
            raise CommandError(error.message)
        self.stdout.write(f"Model {snapshot.model_version.label}, {snapshot.period_start} to {snapshot.period_end}: "
                          f"{snapshot.applications} applications scored.")
        if snapshot.score_psi is None:
            self.stdout.write("No scored applications in the period: nothing to compare.")
            return
        self.stdout.write(f"{'score':32}{snapshot.score_psi:8.3f}  {snapshot.score_status}")
        for name, data in sorted(snapshot.characteristics.items(), key=lambda item: -item[1]["psi"]):
            self.stdout.write(f"{name:32}{data['psi']:8.3f}  {data['status']}")
        self.stdout.write(self.style.SUCCESS(f"Worst status: {snapshot.worst_status}."))
