"""Reconcile a bank's receipts CSV to plans and post each matched line once (collections_app.servicing.bank_import).

    manage.py import_bank_payments receipts.csv --user officer@example.com

Exit status: 0 every line posted (now or before); 1 refused (bad arguments or file structure,
nothing posted); 2 the matched lines posted and the unmatched or rejected ones are listed.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from collections_app.servicing import bank_import
from config.errors import DomainError
from customers.models import User


class Command(BaseCommand):
    help = ("Import bank receipts: matched lines post once; unmatched and malformed lines are listed, not posted. "
            "A file that is not a receipts CSV is refused whole.")

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="The bank's receipts CSV (UTF-8).")
        parser.add_argument("--user", required=True, help="E-mail of the staff member the import is recorded for.")

    def handle(self, *args, **options):
        path, email = options["file"], options["user"]
        if not path.is_file():
            raise CommandError(f"file: no such file {path}")
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise CommandError(f"--user: no user with the e-mail {email}")
        if not bank_import.may_import(user):
            raise CommandError(f"--user: {email} has no staff role that may import payments")
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"file: cannot read {path} as UTF-8: {error}")
        try:
            result = bank_import.payments_import_csv(text=text, by=user)
        except bank_import.PaymentImportError as error:
            for line in error.errors:
                self.stderr.write(line)
            raise CommandError(f"file: {path} refused; nothing was posted.")
        except DomainError as error:
            raise CommandError(error.message)
        self.stdout.write(result.summary())
        for exception in result.exceptions:
            kind = "rejected" if exception.field else "unmatched"
            self.stdout.write(f"  {kind} {exception} (reference '{exception.reference}', amount "
                              f"'{exception.amount}')")
        if result.exceptions:
            raise CommandError(f"{len({e.line for e in result.exceptions})} line(s) were not posted; see above.",
                               returncode=2)
        self.stdout.write(self.style.SUCCESS("Every line is posted."))
