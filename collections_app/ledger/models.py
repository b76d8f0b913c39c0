"""The general ledger's tables. Imported by `collections_app.models` so Django registers them.

Entries and lines are immutable: the code never updates or deletes them, and on PostgreSQL
triggers (migration 0005) refuse UPDATE/DELETE and check at commit that every entry balances.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

MONEY = {"max_digits": 14, "decimal_places": 2}


class AccountKind(models.TextChoices):
    ASSET = "asset", _("Asset")
    LIABILITY = "liability", _("Liability")
    EQUITY = "equity", _("Equity")
    INCOME = "income", _("Income")
    EXPENSE = "expense", _("Expense")


class NormalSide(models.TextChoices):
    DEBIT = "debit", _("Debit")
    CREDIT = "credit", _("Credit")


NORMAL_SIDE_OF_KIND = {
    AccountKind.ASSET: NormalSide.DEBIT,
    AccountKind.EXPENSE: NormalSide.DEBIT,
    AccountKind.LIABILITY: NormalSide.CREDIT,
    AccountKind.EQUITY: NormalSide.CREDIT,
    AccountKind.INCOME: NormalSide.CREDIT,
}


class LedgerAccount(models.Model):
    """One account of the chart. `normal_side` follows `kind` unless set for a contra account
    (the allowance for loan losses is an asset account with a credit normal side)."""

    code = models.CharField(_("code"), max_length=12, unique=True)
    name = models.CharField(_("name"), max_length=120)
    name_zh = models.CharField(_("name (Chinese)"), max_length=120, blank=True)
    kind = models.CharField(_("kind"), max_length=12, choices=AccountKind.choices)
    normal_side = models.CharField(_("normal side"), max_length=6, choices=NormalSide.choices, blank=True,
                                   help_text=_("Leave blank to follow the kind; set it for a contra account."))
    channel = models.CharField(_("payment channel"), max_length=40, blank=True,
                               help_text=_("For a clearing account: the payment channel or provider it clears."))
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("ledger account")
        verbose_name_plural = _("chart of accounts")
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=AccountKind.values), name="ledger_account_kind_valid"),
            models.CheckConstraint(condition=Q(normal_side__in=["", *NormalSide.values]),
                                   name="ledger_account_normal_side_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def save(self, *args, **kwargs):
        if not self.normal_side:
            self.normal_side = NORMAL_SIDE_OF_KIND[AccountKind(self.kind)]
        super().save(*args, **kwargs)

    @property
    def is_debit_normal(self) -> bool:
        return (self.normal_side or NORMAL_SIDE_OF_KIND[AccountKind(self.kind)]) == NormalSide.DEBIT


class AccountingPeriod(models.Model):
    """A calendar month of the books; once closed, nothing is posted with a value date inside it."""

    month = models.DateField(_("month"), unique=True, help_text=_("The first day of the month."))
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("closed by"), null=True, blank=True,
                                  on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-month"]
        verbose_name = _("accounting period")
        verbose_name_plural = _("accounting periods")

    def __str__(self) -> str:
        return self.month.strftime("%Y-%m")

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None


class EventType(models.TextChoices):
    DISBURSEMENT = "disbursement", _("Disbursement")
    UPFRONT_FEE = "upfront_fee", _("Upfront fee")
    REPAYMENT = "repayment", _("Repayment")
    REVERSAL = "reversal", _("Reversal")
    INTEREST_ACCRUAL = "interest_accrual", _("Interest accrual")
    LATE_CHARGE_ACCRUAL = "late_charge_accrual", _("Late-charge accrual")
    WAIVER = "waiver", _("Waiver")
    INTEREST_FREEZE = "interest_freeze", _("Interest freeze")
    SETTLEMENT_DISCOUNT = "settlement_discount", _("Settlement discount")
    WRITE_OFF = "write_off", _("Write-off")
    RECOVERY = "recovery", _("Recovery")
    CREDIT_REFUND = "credit_refund", _("Credit balance refund")
    PROVISION = "provision", _("Provision")
    MANUAL = "manual", _("Manual entry")


class JournalEntry(models.Model):
    """One balanced posting: what happened (`event_type`, `source_*`), to which plan, on which value
    date, booked when and by whom. Never edited; a mistake is undone by a contra entry (`reverses`)."""

    value_date = models.DateField(_("value date"), db_index=True)
    booked_at = models.DateTimeField(_("booked at"), default=timezone.now)
    event_type = models.CharField(_("event"), max_length=24, choices=EventType.choices)
    plan = models.ForeignKey("installments.Plan", verbose_name=_("plan"), null=True, blank=True,
                             on_delete=models.PROTECT, related_name="journal_entries")
    source_type = models.CharField(_("source type"), max_length=60, blank=True)
    source_id = models.CharField(_("source id"), max_length=60, blank=True)
    reverses = models.OneToOneField("self", verbose_name=_("reverses"), null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="reversed_by")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("actor"), null=True, blank=True,
                              on_delete=models.PROTECT, related_name="+")
    memo = models.CharField(_("memo"), max_length=255, blank=True)

    class Meta:
        ordering = ["value_date", "pk"]
        verbose_name = _("journal entry")
        verbose_name_plural = _("journal entries")
        constraints = [models.CheckConstraint(condition=Q(event_type__in=EventType.values),
                                              name="ledger_entry_event_type_valid")]
        indexes = [models.Index(fields=["source_type", "source_id"], name="ledger_entry_source_idx")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.value_date} {self.event_type}"


class JournalLine(models.Model):
    """One side of an entry on one account: exactly one of `debit` and `credit` is positive."""

    entry = models.ForeignKey(JournalEntry, verbose_name=_("entry"), on_delete=models.PROTECT, related_name="lines")
    account = models.ForeignKey(LedgerAccount, verbose_name=_("account"), on_delete=models.PROTECT,
                                related_name="lines")
    debit = models.DecimalField(_("debit"), default=0, **MONEY)
    credit = models.DecimalField(_("credit"), default=0, **MONEY)
    plan = models.ForeignKey("installments.Plan", verbose_name=_("plan"), null=True, blank=True,
                             on_delete=models.PROTECT, related_name="journal_lines")

    class Meta:
        ordering = ["entry_id", "pk"]
        verbose_name = _("journal line")
        verbose_name_plural = _("journal lines")
        constraints = [
            models.CheckConstraint(
                condition=(Q(debit__gt=0, credit=0) | Q(debit=0, credit__gt=0)),
                name="ledger_line_one_side_positive"),
        ]
        indexes = [models.Index(fields=["account", "entry"], name="ledger_line_account_idx")]

    def __str__(self) -> str:
        return f"{self.account.code} Dr {self.debit} Cr {self.credit}"
