"""Questions about customers: who may open a file, profiles, finances, history, and the summary
that scoring and offers read (`profile_summary`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db.models import (
    Aggregate,
    Count,
    DecimalField,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    TextField,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from config.prepared import ID_MARKER, PreparedQuery
from customers.finances import FinancialPosition, financial_position
from customers.models import (
    CONSENT_TEXT_VERSION,
    AssetKind,
    AssetLine,
    AuditEvent,
    Consent,
    CustomerDocument,
    CustomerProfile,
    DebtLine,
    ExpenseLine,
    IncomeLine,
    ReviewState,
    StatementSummary,
    User,
)
from customers.roles import Role

# Staff roles that open a customer's file: the profile, documents, statements and, audited, the
# full ID number. Collectors work their assigned cases in collections and are not among them.
CUSTOMER_FILE_ROLES = (Role.LOAN_OFFICER, Role.APPROVER, Role.MANAGER, Role.ADMIN)


def can_open_customer_file(user: User) -> bool:
    return bool(user and user.is_authenticated and user.has_role(*CUSTOMER_FILE_ROLES))


def profile_for_user(user: User) -> CustomerProfile | None:
    """The signed-in customer's own profile, or None before they create it."""
    if not user.is_authenticated:
        return None
    return CustomerProfile.objects.filter(user=user).first()


def profile_get(pk: int) -> CustomerProfile | None:
    """A profile with its finance lines prefetched (for the detail page and API)."""
    return profile_queryset().filter(pk=pk).first()


def profile_queryset() -> QuerySet[CustomerProfile]:
    return CustomerProfile.objects.select_related("user").prefetch_related("incomes", "expenses", "debts", "assets")


@dataclass(frozen=True)
class ProfileForReview:
    """What the application's review step shows of the customer: the profile (carrying what the
    submission checks, as profile_for_submission reads it), its finance lines, its documents
    (latest first), the latest statement and the consents not withdrawn (latest first)."""

    profile: CustomerProfile
    lines: ProfileLines
    documents: list[CustomerDocument]
    statement: StatementSummary | None
    consents: list[Consent]


def profile_for_review(user: User) -> ProfileForReview | None:
    """The review step's read of the customer's file (config.prepared: eight small queries, none
    built again); None before the profile exists."""
    found = _profile_of_user.instances(user_id=user.pk)
    if not found:
        return None
    profile = found[0]
    profile.user = user
    incomes, expenses = _incomes.instances(profile_id=profile.pk), _expenses.instances(profile_id=profile.pk)
    documents = _documents.instances(profile_id=profile.pk)
    statement = _statements.instances(profile_id=profile.pk)
    consents = _consents_not_withdrawn.instances(user_id=user.pk)
    lines = ProfileLines(incomes=tuple(line.monthly_amount for line in incomes),
                         expenses=tuple(line.monthly_amount for line in expenses),
                         debts=tuple((line.kind, line.outstanding_balance, line.monthly_payment)
                                     for line in _debts.instances(profile_id=profile.pk)),
                         assets=tuple((line.kind, line.value) for line in _assets.instances(profile_id=profile.pk)))
    profile.has_incomes, profile.has_expenses, profile.has_statement = bool(incomes), bool(expenses), bool(statement)
    profile.document_kinds = {document.kind for document in documents}
    profile.consent_kinds = {c.kind for c in consents if c.text_version == CONSENT_TEXT_VERSION}
    return ProfileForReview(profile=profile, lines=lines, documents=documents,
                            statement=statement[0] if statement else None, consents=consents)


def profile_for_submission(user: User) -> CustomerProfile | None:
    """The customer's profile and, in the same query, what the submission checks beyond the profile's
    own fields (portal_services.application_missing reads these when present): `has_incomes`,
    `has_expenses`, `has_statement`, `document_kinds` (the kinds of the documents uploaded) and
    `consent_kinds` (granted for the current text version, not withdrawn); None before the profile
    exists."""
    found = _profile_for_submission.instances(user_id=user.pk)
    if not found:
        return None
    profile = found[0]
    profile.document_kinds = set(json_list(profile.document_kinds))
    profile.consent_kinds = set(json_list(profile.consent_kinds))
    return profile


def _profile_with_evidence(user_id: int) -> QuerySet[CustomerProfile]:
    documents = CustomerDocument.objects.filter(profile=OuterRef("pk")).order_by().values("profile_id")
    consents = (Consent.objects.filter(user=OuterRef("user_id"), text_version=CONSENT_TEXT_VERSION,
                                       withdrawn_at__isnull=True).order_by().values("user_id"))
    return CustomerProfile.objects.filter(user_id=user_id).annotate(
        has_incomes=Exists(IncomeLine.objects.filter(profile=OuterRef("pk"))),
        has_expenses=Exists(ExpenseLine.objects.filter(profile=OuterRef("pk"))),
        has_statement=Exists(StatementSummary.objects.filter(profile=OuterRef("pk"))),
        document_kinds=Subquery(documents.annotate(kinds=JSONList("kind")).values("kinds")[:1]),
        consent_kinds=Subquery(consents.annotate(kinds=JSONList("kind")).values("kinds")[:1]),
    ).order_by()[:1]


@dataclass(frozen=True)
class ProfileLines:
    """A profile's declared finance lines as plain values: what the financial position and scoring
    read of them (scoring reads them in one query with other rows, `installments.assessment.online`)."""

    incomes: tuple[Decimal, ...] = ()  # monthly amounts
    expenses: tuple[Decimal, ...] = ()  # monthly amounts
    debts: tuple[tuple[str, Decimal, Decimal], ...] = ()  # (kind, outstanding balance, monthly payment)
    assets: tuple[tuple[str, Decimal], ...] = ()  # (kind, value)

    @classmethod
    def of(cls, profile: CustomerProfile) -> ProfileLines:
        """From the profile's related lines (prefetched ones when present)."""
        return cls(incomes=tuple(line.monthly_amount for line in profile.incomes.all()),
                   expenses=tuple(line.monthly_amount for line in profile.expenses.all()),
                   debts=tuple((line.kind, line.outstanding_balance, line.monthly_payment)
                               for line in profile.debts.all()),
                   assets=tuple((line.kind, line.value) for line in profile.assets.all()))

    def finances(self) -> FinancialPosition:
        """The financial position of these lines (definitions in `customers.finances`)."""
        return financial_position(
            incomes=self.incomes, expenses=self.expenses,
            debt_payments=(payment for _, _, payment in self.debts),
            debt_balances=(balance for _, balance, _ in self.debts),
            assets=(value for _, value in self.assets),
            savings=(value for kind, value in self.assets if kind == AssetKind.SAVINGS),
        )


def profile_finances(profile: CustomerProfile) -> FinancialPosition:
    """Totals and ratios computed from the profile's lines now (uses prefetched lines when present)."""
    return ProfileLines.of(profile).finances()


def statement_latest(profile: CustomerProfile) -> StatementSummary | None:
    """The statement covering the most recent period (latest import breaks ties)."""
    return profile.statements.order_by("-period_end", "-imported_at", "-pk").first()


def age_on(birth_date: date, on: date) -> int:
    """Whole years of age on `on` (someone born on 29 February turns a year older on 1 March)."""
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


class JSONList(Aggregate):
    """The values of a group as a JSON array (PostgreSQL json_agg, SQLite json_group_array); read
    it with json_list."""

    function = "JSON_AGG"
    output_field = TextField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, function="JSON_GROUP_ARRAY", **extra_context)


def json_list(value) -> list:
    """A JSONList read from the database: PostgreSQL's driver has parsed it, SQLite's gives the
    text; None (a subquery over no rows) is the empty list."""
    if isinstance(value, str):
        value = json.loads(value)
    return list(value or ())


# Read at every review and submission: their SQL is built once (config.prepared).
_profile_for_submission = PreparedQuery(_profile_with_evidence, {"user_id": ID_MARKER})
_profile_of_user = PreparedQuery(lambda user_id: CustomerProfile.objects.filter(user_id=user_id).order_by()[:1],
                                 {"user_id": ID_MARKER})
_incomes, _expenses, _debts, _assets = (
    PreparedQuery(lambda profile_id, model=model: model.objects.filter(profile_id=profile_id), {"profile_id": ID_MARKER})
    for model in (IncomeLine, ExpenseLine, DebtLine, AssetLine))
_documents = PreparedQuery(lambda profile_id: CustomerDocument.objects.filter(profile_id=profile_id)
                           .order_by("-uploaded_at", "-pk"), {"profile_id": ID_MARKER})
_statements = PreparedQuery(lambda profile_id: StatementSummary.objects.filter(profile_id=profile_id)
                            .order_by("-period_end", "-imported_at", "-pk")[:1], {"profile_id": ID_MARKER})
_consents_not_withdrawn = PreparedQuery(lambda user_id: Consent.objects.filter(user_id=user_id, withdrawn_at__isnull=True)
                                        .order_by("-granted_at", "-pk"), {"user_id": ID_MARKER})


# A default meaning "not read by the caller: read it here" (None is a real answer, e.g. no statement).
READ_HERE: Any = object()


def profile_summary(profile: CustomerProfile, *, on: date | None = None, finances: FinancialPosition | None = None,
                    statement: StatementSummary | None = READ_HERE) -> dict[str, Any]:
    """Plain values describing the customer, for scoring features, knock-out rules and offers.

    Every key is always present. Money is Decimal (2 places) in settings.DEFAULT_CURRENCY (also
    under `currency`); ratios are Decimal fractions with 4 places (0.3500 = 35 %); None means
    unknown / not declared. Computed now from the current lines; never stale.

    Person and background
    - age (int): whole years on `on` (default: today in TIME_ZONE)
    - employment_type, housing, marital_status, education, occupation (str | None): the model's
      choice values (`salaried`, `mortgage`, `married`, `bachelor`, `office_worker`, ...)
    - years_in_job (Decimal | None), dependants (int)
    Declared finances (monthly unless stated; see customers.finances for the definitions)
    - monthly_income, monthly_expenses, disposable_income (income - expenses - debt payments,
      may be negative)
    - existing_debt_balance (total outstanding), existing_debt_monthly_payment
    - total_assets, savings (assets of kind savings)
    - debt_to_income = debt payments / income; debt_service_ratio = (debt payments + expenses)
      / income; both None when there is no income
    Credit history as reported: number_of_existing_credits, past_delinquencies (int)
    Repayment record with us (kept by servicing): on_time_payments, late_payments,
      max_days_past_due (int), current_overdue (Decimal amount overdue now)
    From the latest bank statement (all None when none was imported; see customers.statements)
    - average_monthly_inflow (Decimal), income_volatility (Decimal coefficient of variation |
      None), income_regularity (Decimal share of months with a salary-like inflow)
    - seasonal_high_months, seasonal_low_months (list[int] of calendar months 1-12 whose
      inflow is 25 % above / below average), overdraft_days (int)

    `sex` is deliberately absent: it is kept for fairness reporting only and never scored.

    `finances` (`profile_finances(profile)`) and `statement` (`statement_latest(profile)`, None:
    no statement) when the caller has read them already (online scoring reads them with other rows).
    """
    on = on or timezone.localdate()
    position = finances or profile_finances(profile)
    if statement is READ_HERE:
        statement = statement_latest(profile)
    stored = statement.summary if statement else {}
    return {
        "currency": settings.DEFAULT_CURRENCY,
        "age": age_on(profile.date_of_birth, on),
        "employment_type": profile.employment_type or None,
        "years_in_job": profile.years_in_job,
        "housing": profile.housing or None,
        "marital_status": profile.marital_status or None,
        "dependants": profile.dependants,
        "education": profile.education or None,
        "occupation": profile.occupation or None,
        "monthly_income": position.total_monthly_income,
        "monthly_expenses": position.total_monthly_expenses,
        "existing_debt_balance": position.debt_balance,
        "existing_debt_monthly_payment": position.debt_monthly_payment,
        "total_assets": position.total_assets,
        "savings": position.savings,
        "debt_to_income": position.debt_to_income,
        "debt_service_ratio": position.debt_service_ratio,
        "disposable_income": position.disposable_income,
        "number_of_existing_credits": profile.number_of_existing_credits,
        "past_delinquencies": profile.past_delinquencies,
        "on_time_payments": profile.on_time_payments,
        "late_payments": profile.late_payments,
        "max_days_past_due": profile.max_days_past_due,
        "current_overdue": profile.current_overdue,
        "average_monthly_inflow": statement.average_monthly_inflow if statement else None,
        "income_volatility": statement.income_volatility if statement else None,
        "income_regularity": statement.income_regularity if statement else None,
        "seasonal_high_months": [int(m) for m in stored["seasonal_high_months"]] if statement else None,
        "seasonal_low_months": [int(m) for m in stored["seasonal_low_months"]] if statement else None,
        "overdraft_days": statement.overdraft_days if statement else None,
    }


def profile_history(profile: CustomerProfile) -> QuerySet[AuditEvent]:
    """Every recorded change to the profile, its finance lines, statements and documents, newest first.

    Each event's `data["changes"]` maps a field to `[old, new]` (ID numbers masked).
    """
    profile_type = ContentType.objects.get_for_model(CustomerProfile)
    document_type = ContentType.objects.get_for_model(CustomerDocument)
    document_ids = [str(pk) for pk in profile.documents.values_list("pk", flat=True)]
    return (
        AuditEvent.objects.filter(
            Q(target_type=profile_type, target_id=str(profile.pk))
            | Q(target_type=document_type, target_id__in=document_ids)
        )
        .select_related("actor")
        .order_by("-created_at", "-pk")
    )


def customer_list() -> QuerySet[CustomerProfile]:
    """All profiles for the staff list, with monthly income and the number of documents awaiting review.

    Filtering and search: `customers.filters.CustomerProfileFilter`.
    """
    income = (
        IncomeLine.objects.filter(profile=OuterRef("pk")).order_by().values("profile")
        .annotate(total=Sum("monthly_amount")).values("total")
    )
    pending = (
        CustomerDocument.objects.filter(profile=OuterRef("pk"), review_state=ReviewState.PENDING).order_by()
        .values("profile").annotate(n=Count("pk")).values("n")
    )
    money = DecimalField(max_digits=14, decimal_places=2)
    return CustomerProfile.objects.select_related("user").annotate(
        monthly_income=Coalesce(Subquery(income, output_field=money), Value(Decimal("0.00")), output_field=money),
        pending_documents=Coalesce(Subquery(pending, output_field=IntegerField()), Value(0)),
    )


def _documents_listed(documents: QuerySet[CustomerDocument]) -> QuerySet[CustomerDocument]:
    return documents.select_related("reviewed_by").order_by("-uploaded_at", "-pk")


def documents_for_profile(profile: CustomerProfile) -> QuerySet[CustomerDocument]:
    return _documents_listed(profile.documents.all())


def document_get_for_download(*, user: User, pk: int) -> CustomerDocument | None:
    """The document if `user` owns it or may open customer files; None otherwise (the caller answers 404)."""
    document = CustomerDocument.objects.select_related("profile").filter(pk=pk).first()
    if document is None or not user.is_authenticated:
        return None
    if document.profile.user_id == user.pk or can_open_customer_file(user):
        return document
    return None


def consents_for_user(user: User) -> QuerySet[Consent]:
    return Consent.objects.filter(user=user).order_by("-granted_at", "-pk")


def consents_not_withdrawn(user: User) -> list[Consent]:
    """The user's consents that are not withdrawn, latest granted first."""
    return list(consents_for_user(user).filter(withdrawn_at__isnull=True))


def consents_active(user: User, *, not_withdrawn: list[Consent] | None = None) -> dict[str, Consent]:
    """The active consent per kind (the latest granted, not withdrawn); `not_withdrawn` when the
    caller has read consents_not_withdrawn already."""
    active: dict[str, Consent] = {}
    for consent in consents_not_withdrawn(user) if not_withdrawn is None else not_withdrawn:
        active.setdefault(consent.kind, consent)
    return active
