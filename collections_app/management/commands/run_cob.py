"""Close of business from the command line.

    manage.py run_cob                      # yesterday (and any missed day before it, in order)
    manage.py run_cob --date 2026-05-31    # through that day
    manage.py run_cob --from 2026-05-01 --to 2026-05-31
    manage.py run_cob --date 2026-05-31 --force   # re-run the last closed day (changes nothing)
"""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from collections_app.collections import cob
from config.errors import DomainError


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"'{value}' is not a date (YYYY-MM-DD)")


class Command(BaseCommand):
    help = "Run the close of business for a day or a range of days (missed days are caught up in order)."

    def add_arguments(self, parser):
        parser.add_argument("--date", type=_day, help="Close through this day (default: yesterday).")
        parser.add_argument("--from", dest="start", type=_day, help="First day of a range.")
        parser.add_argument("--to", dest="end", type=_day, help="Last day of a range.")
        parser.add_argument("--force", action="store_true", help="Re-run the last closed day.")

    def handle(self, *args, **options):
        if options["date"] and (options["start"] or options["end"]):
            raise CommandError("Give --date or --from/--to, not both.")
        if options["start"] and not options["end"]:
            raise CommandError("--from needs --to.")
        target = options["end"] or options["date"]
        try:
            runs = cob.run_cob(target, start=options["start"], triggered_by="command", force=options["force"])
        except DomainError as error:
            raise CommandError(error.message)
        if not runs:
            self.stdout.write("Nothing to close.")
        for run in runs:
            if getattr(run, "skipped", False):
                self.stdout.write(f"{run.business_date}: already closed")
            else:
                changed = ", ".join(f"{k} {v}" for k, v in run.counts.items() if v) or "no changes"
                self.stdout.write(self.style.SUCCESS(f"{run.business_date}: done in {run.duration_ms} ms ({changed})"))
