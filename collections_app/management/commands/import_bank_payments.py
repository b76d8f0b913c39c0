"""Post a bank's receipts CSV (plan_number, amount, date, reference), all lines or none.

    manage.py import_bank_payments receipts.csv --user officer@example.com
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from collections_app import services
from config.errors import DomainError
from customers.models import User


class Command(BaseCommand):
    help = "Import bank receipts; every line is checked first and nothing is posted if any line is wrong."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--user", required=True, help="E-mail of the staff member the import is recorded for.")

    def handle(self, *args, **options):
        user = User.objects.filter(email__iexact=options["user"]).first()
        if user is None:
            raise CommandError(f"No user {options['user']}.")
        try:
            text = options["file"].read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"Cannot read {options['file']}: {error}")
        try:
            result = services.payments_import_csv(text=text, by=user)
        except services.PaymentImportError as error:
            for line in error.errors:
                self.stderr.write(line)
            raise CommandError("Nothing was posted.")
        except DomainError as error:
            raise CommandError(error.message)
        self.stdout.write(self.style.SUCCESS(
            f"{result.lines} lines: {len(result.posted)} posted, {result.replayed} already posted before."))
