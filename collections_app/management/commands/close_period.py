"""Close a month of the books from the command line (the same checks as the periods page).

    manage.py close_period 2026-11 --by accountant@example.com

Refused, with nothing changed: a month not in the form YYYY-MM, an unknown user, a user who is not an
accountant or administrator, a month that has not ended, a month after an earlier open month with
entries, a month already closed.
"""

import re
from datetime import date

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from collections_app.ledger import reports
from config.errors import DomainError

MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def _month(value: str) -> date:
    match = MONTH.match(value.strip())
    try:
        if match is None:
            raise ValueError
        return date(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise CommandError(f"month: '{value}' is not a month in the form YYYY-MM (e.g. 2026-11).")


class Command(BaseCommand):
    help = "Close a month of the books: nothing is posted with a value date in it afterwards (audited)."

    def add_arguments(self, parser):
        parser.add_argument("month", help="The month to close, YYYY-MM.")
        parser.add_argument("--by", required=True, help="The username (e-mail) of the accountant or administrator.")

    def handle(self, *args, month: str, by: str, **options):
        first_day = _month(month)
        user = get_user_model().objects.filter(email__iexact=by.strip(), is_active=True).first()
        if user is None:
            raise CommandError(f"--by: no active user '{by}'.")
        try:
            period = reports.period_close_checked(month=first_day, by=user)
        except DomainError as error:
            name = {"by": "--by", "month": "month"}.get(error.field, error.field or "month")
            raise CommandError(f"{name}: {error.message}")
        self.stdout.write(f"Closed {period} (by {user.email} at {period.closed_at:%Y-%m-%d %H:%M:%S %Z}).")
