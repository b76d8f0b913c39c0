"""Bank receipts: reconcile a bank's statement lines to plans and post each matched line once.

Columns: value date, amount, reference (required); plan_number, payer, memo (optional). A line is
matched to one plan by its plan_number cell when it has one, else by the plan number
(PLN-YYYY-XXXXXX, also written without hyphens) quoted in its reference, payer or memo text.

What an import promises, as a finance team reconciles a statement:

- The file's structure first: text that is not CSV, a missing required column, or no lines at all
  refuses the whole file (PaymentImportError) and nothing is posted.
- Then line by line: well-formed matched lines post even when other lines do not; the others come
  back as exceptions with line number, reference, amount and why. `rejected` lines are malformed
  (bad amount, bad or future date, empty or duplicated reference) and name the column at fault;
  `unmatched` lines name no plan, more than one plan, a plan that takes no payments, or a plan that
  refused the payment.
- Never twice: a line posts through `payments.payment_record` with idempotency key
  `bank:<reference>`, and a reference posted before (to any plan, even if since reversed) counts as
  already posted, so importing the same file again posts nothing.
- Each line posts in its own short transaction (a plan is locked for one line, not for the file);
  an import cut off half way is finished by importing the same file again.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from collections_app.models import Payment
from collections_app.selectors import plans_actionable_by
from collections_app.servicing import payments, policy
from config.errors import DomainError
from customers.audit import audit_record
from installments.models import Plan

KEY_PREFIX = "bank:"
MAX_REFERENCE = 90  # the key "bank:<reference>" fits Payment.idempotency_key (100)
LOOKUP_BATCH = 500  # numbers or keys per IN (...) query
AUDITED_EXCEPTIONS = 200

# Bank exports name their columns differently; each header we know maps to one of ours.
_HEADERS = {
    "plan_number": "plan_number", "plan": "plan_number", "plan number": "plan_number", "plan no": "plan_number",
    "amount": "amount",
    "date": "received_on", "value date": "received_on", "value_date": "received_on", "received_on": "received_on",
    "reference": "reference", "ref": "reference", "bank reference": "reference",
    "payer": "payer", "payer name": "payer", "payer_name": "payer", "name": "payer",
    "memo": "memo", "narrative": "memo", "description": "memo", "details": "memo",
}
REQUIRED = ("received_on", "amount", "reference")
COLUMN_LABELS = {"received_on": "date", "amount": "amount", "reference": "reference", "plan_number": "plan_number"}

# A plan number as a customer quotes it on a transfer: PLN-2026-7F3K9Q, PLN 2026 7F3K9Q, PLN20267F3K9Q.
_PLAN_NUMBER = re.compile(r"(?<![A-Z0-9])PLN[-\s]?(\d{4})[-\s]?([0-9A-Z]{6})(?![A-Z0-9])", re.IGNORECASE)


class PaymentImportError(DomainError):
    """The file was refused as a whole and nothing was posted; `errors` lists why, with line numbers."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors[:20]) + (" ..." if len(errors) > 20 else ""), field="file",
                         code="import_refused")
        self.errors = errors


@dataclass(frozen=True)
class LineException:
    """A bank line that was not posted: its line number in the file, its reference and amount as
    written, the column at fault (`field`, for malformed lines) and why."""

    line: int
    reference: str
    amount: str
    reason: str
    field: str = ""

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", {self.field}" if self.field else "")
        return f"{where}: {self.reason}"


@dataclass
class ImportResult:
    """What one import did with each non-blank line of the file (`lines` of them): posted now,
    posted by an earlier import (the earlier payment), unmatched, or rejected (once per problem)."""

    lines: int = 0
    posted: list[Payment] = field(default_factory=list)
    already_posted: list[Payment] = field(default_factory=list)
    unmatched: list[LineException] = field(default_factory=list)
    rejected: list[LineException] = field(default_factory=list)

    @property
    def rejected_lines(self) -> int:
        return len({e.line for e in self.rejected})

    @property
    def exceptions(self) -> list[LineException]:
        """Unmatched and rejected lines in file order: the list finance works through."""
        return sorted([*self.unmatched, *self.rejected], key=lambda e: e.line)

    def summary(self) -> str:
        return (f"{self.lines} lines: {len(self.posted)} posted, {len(self.already_posted)} already posted before, "
                f"{len(self.unmatched)} unmatched, {self.rejected_lines} rejected.")


@dataclass
class _Line:
    number: int
    reference: str
    amount_text: str
    date_text: str
    plan_number: str
    text: str  # reference, payer and memo: where a customer quotes a plan number
    amount: Decimal | None = None
    received_on: date | None = None

    def exception(self, reason: str, field_name: str = "") -> LineException:
        return LineException(line=self.number, reference=self.reference, amount=self.amount_text, reason=reason,
                             field=field_name)


def may_import(user) -> bool:
    """Whether `user` may import bank receipts: the staff roles that take payments."""
    return bool(user is not None and getattr(user, "is_authenticated", False)
                and user.has_role(*policy.STAFF_PAYMENT_ROLES))


def payments_import_csv(*, text: str, by) -> ImportResult:
    """Reconcile a bank's receipts CSV to plans and post each matched line once (see the module).

    Refuses the whole file (PaymentImportError, nothing posted) only for its structure; line
    problems come back in the result. Value dates are the file's; "future" is judged against the
    business date. The import, its counts and its exceptions are audited as `payment.import`.
    """
    if not may_import(by):
        raise DomainError("Your role cannot import payments.", field="file", code="forbidden")
    text = text.lstrip("\ufeff")
    lines = _read(text)
    result = ImportResult(lines=len(lines))
    well_formed = _well_formed(lines, today=policy.business_date(), result=result)
    earlier = _posted_before(line.reference for line in well_formed)
    plans = _plans_named(well_formed, by=by)
    to_post: list[tuple[_Line, Plan]] = []
    for line in well_formed:
        payment = earlier.get(line.reference)
        if payment is not None:
            if (payment.amount, payment.received_on) == (line.amount, line.received_on):
                result.already_posted.append(payment)
            else:
                result.rejected.append(line.exception(
                    f"reference '{line.reference}' was posted before to {payment.plan.number} as {payment.amount} "
                    f"on {payment.received_on:%Y-%m-%d}; this line differs", "reference"))
            continue
        plan, reason = _match(line, plans)
        if plan is None:
            result.unmatched.append(line.exception(reason))
        elif not policy.plan_takes_payment(plan, Payment.Channel.BANK_IMPORT):
            result.unmatched.append(line.exception(
                f"plan {plan.number} is {plan.get_state_display().lower()} and takes no payments"))
        else:
            to_post.append((line, plan))
    # One plan's receipts in value-date order, so each pays what was due when it arrived.
    for line, plan in sorted(to_post, key=lambda item: (item[1].pk, item[0].received_on, item[0].number)):
        try:
            payment = payments.payment_record(
                plan=plan, amount=line.amount, received_on=line.received_on, channel=Payment.Channel.BANK_IMPORT,
                idempotency_key=f"{KEY_PREFIX}{line.reference}", reference=line.reference, by=by)
        except DomainError as error:
            if error.field == "amount":  # e.g. more decimals than the plan's currency has
                result.rejected.append(line.exception(error.message, "amount"))
            else:
                result.unmatched.append(line.exception(f"plan {plan.number} refused it: {error.message}"))
            continue
        (result.already_posted if payment.replayed else result.posted).append(payment)
    result.rejected.sort(key=lambda e: e.line)
    result.unmatched.sort(key=lambda e: e.line)
    audit_record(actor=by, action="payment.import", data={
        "file_sha256": hashlib.sha256(text.encode()).hexdigest(), "lines": result.lines,
        "posted": len(result.posted), "already_posted": len(result.already_posted),
        "unmatched": [str(e) for e in result.unmatched[:AUDITED_EXCEPTIONS]],
        "rejected": [str(e) for e in result.rejected[:AUDITED_EXCEPTIONS]],
    })
    return result


# --- Reading the file ------------------------------------------------------------------------------

def _malformed_csv(error: csv.Error, reader: csv.DictReader) -> PaymentImportError:
    line = max(reader.reader.line_num, 1)
    if "field limit" in str(error):
        return PaymentImportError([f"line {line}: a cell is longer than {csv.field_size_limit():,} characters; "
                                   "this is not a bank receipts CSV"])
    return PaymentImportError([f"line {line}: not valid CSV ({error})"])


def _csv_rows(reader: csv.DictReader) -> Iterator[dict]:
    """The rows of `reader`; a csv.Error (a cell over csv's field limit, in practice) refuses the file."""
    try:
        yield from reader
    except csv.Error as error:
        raise _malformed_csv(error, reader)


def _read(text: str) -> list[_Line]:
    """Every non-blank line of the file, as written; refuses a file without the required columns."""
    reader = csv.DictReader(io.StringIO(text))
    try:
        fieldnames = reader.fieldnames or []
    except csv.Error as error:
        raise _malformed_csv(error, reader)
    columns: dict[str, str] = {}
    for header in fieldnames:
        columns.setdefault(_HEADERS.get((header or "").strip().lower(), ""), header)
    missing = [COLUMN_LABELS[c] for c in REQUIRED if c not in columns]
    if missing:
        raise PaymentImportError([f"line 1: missing column(s): {', '.join(missing)} "
                                  "(expected date, amount, reference; optional plan_number, payer, memo)"])
    lines = []
    for number, raw in enumerate(_csv_rows(reader), start=2):
        if not any((v or "").strip() for v in raw.values() if isinstance(v, str)):
            continue
        value = {key: (raw.get(header) or "").strip() for key, header in columns.items() if key}
        lines.append(_Line(
            number=number, reference=value["reference"], amount_text=value["amount"],
            date_text=value["received_on"], plan_number=value.get("plan_number", "").upper(),
            text=" ".join(value.get(k, "") for k in ("reference", "payer", "memo"))))
    if not lines:
        raise PaymentImportError(["the file has no payment lines"])
    return lines


def _well_formed(lines: list[_Line], *, today: date, result: ImportResult) -> list[_Line]:
    """The lines whose amount, value date and reference are sound; the rest go to `result.rejected`,
    one entry per problem. Every line of a reference that appears twice in the file is rejected: the
    file cannot say which of them the bank meant."""
    on_lines: dict[str, list[int]] = defaultdict(list)
    for line in lines:
        if line.reference:
            on_lines[line.reference].append(line.number)
    sound = []
    for line in lines:
        problems = []
        try:
            line.amount = _amount(line.amount_text)
        except ValueError as error:
            problems.append(("amount", str(error)))
        try:
            line.received_on = date.fromisoformat(line.date_text)
        except ValueError:
            problems.append(("date", f"'{line.date_text}' is not a date YYYY-MM-DD"))
        else:
            if line.received_on > today:
                problems.append(("date", f"{line.received_on:%Y-%m-%d} is in the future"))
        if not line.reference:
            problems.append(("reference", "the reference is empty"))
        elif len(line.reference) > MAX_REFERENCE or not line.reference.isprintable():
            problems.append(("reference", f"the reference is longer than {MAX_REFERENCE} characters or not "
                                          "printable"))
        elif len(on_lines[line.reference]) > 1:
            others = ", ".join(str(n) for n in on_lines[line.reference] if n != line.number)
            problems.append(("reference", f"reference '{line.reference}' is also on line {others}"))
        result.rejected.extend(line.exception(reason, column) for column, reason in problems)
        if not problems:
            sound.append(line)
    return sound


def _amount(text: str) -> Decimal:
    try:
        value = Decimal(text.replace(",", ""))
    except (InvalidOperation, ValueError):
        raise ValueError(f"'{text}' is not an amount such as 530.73")
    if not value.is_finite() or value <= 0:
        raise ValueError(f"'{text}' is not a receipt: the amount must be greater than zero")
    if value >= Decimal("1e12"):
        raise ValueError(f"'{text}' is too large")
    return value


# --- Reconciling -----------------------------------------------------------------------------------

def _batches(values: Iterable[str]) -> Iterator[list[str]]:
    values = sorted(set(values))
    for start in range(0, len(values), LOOKUP_BATCH):
        yield values[start:start + LOOKUP_BATCH]


def _posted_before(references: Iterable[str]) -> dict[str, Payment]:
    """The bank-import payment already recorded for each reference, on whichever plan."""
    found = {}
    for batch in _batches(f"{KEY_PREFIX}{r}" for r in references):
        for payment in Payment.objects.filter(channel=Payment.Channel.BANK_IMPORT,
                                              idempotency_key__in=batch).select_related("plan"):
            found[payment.idempotency_key.removeprefix(KEY_PREFIX)] = payment
    return found


def quoted_plan_numbers(text: str) -> list[str]:
    """The plan numbers quoted in free text, normalised to PLN-YYYY-XXXXXX, in order, each once."""
    numbers = (f"PLN-{year}-{code.upper()}" for year, code in _PLAN_NUMBER.findall(text))
    return list(dict.fromkeys(numbers))


def _plans_named(lines: list[_Line], *, by) -> dict[str, Plan]:
    """The plans the lines name that `by` may act on (selectors.plans_actionable_by, the rule of every
    page and API route); any other plan reads as not found."""
    numbers = set()
    for line in lines:
        numbers.update([line.plan_number] if line.plan_number else quoted_plan_numbers(line.text))
    plans = {}
    for batch in _batches(numbers):
        plans.update((p.number, p) for p in plans_actionable_by(by).filter(number__in=batch).select_related("product"))
    return plans


def _match(line: _Line, plans: dict[str, Plan]) -> tuple[Plan | None, str]:
    """The one plan `line` pays, else None and why."""
    if line.plan_number:
        plan = plans.get(line.plan_number)
        return (plan, "") if plan else (None, f"no plan numbered '{line.plan_number}'")
    quoted = quoted_plan_numbers(line.text)
    if not quoted:
        return None, "no plan number in the reference, payer or memo"
    named = [plans[n] for n in quoted if n in plans]
    if not named:
        return None, f"no plan numbered {', '.join(quoted)}"
    if len(named) > 1:
        return None, f"names more than one plan: {', '.join(p.number for p in named)}"
    return named[0], ""
