"""Verbs of customer self-service (the pages in portal.views).

- The online application wizard: the draft that remembers the customer's place, the request saved
  as a draft `installments.Application`, the completeness check and the submission.
- Satisfaction ratings after the contract is accepted and after the plan is paid off.
- The customer's hardship request. (Payments go through the payment provider in
  collections_app.servicing.intents, for the portal's pay page and the plan page alike.)

What the customer enters is stored by the services that own it (customers.services for the
profile, its lines, documents, statements and consents; installments.origination.applications for the
application; collections_app.servicing for payments and servicing requests), so every path gets
the same validation, audit record and transaction.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from collections_app.models import ServicingRequest
from collections_app.servicing.requests import request_create
from config.errors import DomainError
from config.prepared import ID_MARKER, PreparedQuery
from customers import selectors
from customers.audit import audit_record
from customers.models import (
    CONSENT_TEXT_VERSION,
    ApplicationDraft,
    AuditEvent,
    Consent,
    ConsentKind,
    CustomerProfile,
    DocumentKind,
    EmploymentType,
    SatisfactionMoment,
    SatisfactionRating,
    User,
)
from customers.selectors import READ_HERE
from installments.engine.offers import LABELS, METHOD_NAMES
from installments.merchants.services import basket_application_submitted
from installments.models import Application, ApplicationNotice, Contract, Decision, Offer, Plan
from installments.origination.applications import (
    application_create,
    application_submit,
    application_transition,
    application_update,
)
from installments.origination.reasons import DECLINE_REASON_TEXTS
from installments.origination.selectors import application_declined_by_policy, offer_final_payment
from scoring.models import ScoreResult
from scoring.registry import required_characteristics

# --- The application wizard -----------------------------------------------------------------------

# The steps in order; `ApplicationDraft.furthest_step` is an index into this tuple.
STEPS = ("personal", "work", "finances", "documents", "request", "consents", "review")
STEP_TITLES = {
    "personal": _("Personal details"),
    "work": _("Work and income"),
    "finances": _("Expenses, debts and assets"),
    "documents": _("Documents and bank statement"),
    "request": _("Amount and preferences"),
    "consents": _("Consents"),
    "review": _("Review and submit"),
}
# Background fields the wizard asks for (the profile allows them blank; an application needs them).
REQUIRED_BACKGROUND = ("employment_type", "occupation", "education", "marital_status", "housing")
# Employment types for which the time in the current job is asked.
EMPLOYED_TYPES = (EmploymentType.SALARIED, EmploymentType.SELF_EMPLOYED, EmploymentType.BUSINESS_OWNER)
REQUIRED_CONSENTS = (ConsentKind.CREDIT_CHECK, ConsentKind.DATA_PROCESSING)
# What the wizard offers as optional, by the scoring characteristics it feeds: when the credit policy
# requires one of these characteristics (SCORING_REQUIRED_CHARACTERISTICS), the wizard asks for the input
# and says so; otherwise leaving it out scores neutral (scoring.registry). input -> (step, characteristics).
OPTIONAL_INPUTS = {
    "statement": ("documents", frozenset({"checking_status", "income_volatility"})),
    "assets": ("finances", frozenset({"total_assets", "savings", "main_asset"})),
    "years_in_job": ("work", frozenset({"years_in_job"})),
    "dependants": ("work", frozenset({"dependants"})),
}
OPTIONAL_INPUT_LABELS = {
    "statement": _("a bank statement (CSV) of the last 6 to 12 months"),
    "assets": _("your savings and other assets"),
    "years_in_job": _("years in your current job"),
    "dependants": _("the number of people who depend on you"),
}


def required_inputs() -> frozenset[str]:
    """The wizard's optional inputs that the credit policy makes required (see OPTIONAL_INPUTS)."""
    required = required_characteristics()
    return frozenset(name for name, (_step, feeds) in OPTIONAL_INPUTS.items() if feeds & required)
# Raw input is kept for a step the customer left with errors, except secrets and personal numbers.
NEVER_KEPT = frozenset({"csrfmiddlewaretoken", "id_number", "action", "card_number"})


@dataclass(frozen=True)
class Missing:
    """One thing an application still needs: the wizard step that asks for it and what to tell the customer."""

    step: str
    code: str
    message: str


# Every wizard page reads the open draft (with its application and product): built once (config.prepared).
def _open_drafts(user_id: int, *, with_application: bool = True):
    drafts = ApplicationDraft.objects.filter(user_id=user_id, submitted_at__isnull=True, discarded_at__isnull=True)
    return (drafts.select_related("application", "application__product") if with_application else drafts)[:1]


def _application_locked_query(pk: int):
    return Application.objects.filter(pk=pk).select_for_update().order_by()[:1]


_open_draft = PreparedQuery(_open_drafts, {"user_id": ID_MARKER})
_open_draft_alone = PreparedQuery(lambda user_id: _open_drafts(user_id, with_application=False),
                                  {"user_id": ID_MARKER})
_open_draft_locked = PreparedQuery(lambda pk: ApplicationDraft.objects.filter(
    pk=pk, submitted_at__isnull=True, discarded_at__isnull=True).select_for_update().order_by()[:1], {"pk": ID_MARKER})
_application_locked = PreparedQuery(_application_locked_query, {"pk": ID_MARKER})


def draft_open(user: User, *, with_application: bool = True) -> ApplicationDraft | None:
    """The customer's open draft (not submitted, not discarded), if any; with its application and the
    application's product read too unless not `with_application`."""
    found = (_open_draft if with_application else _open_draft_alone).instances(user_id=user.pk)
    return found[0] if found else None


def draft_start(*, user: User, with_application: bool = True) -> ApplicationDraft:
    """The customer's open draft, started now if there is none (one open draft per customer)."""
    draft = draft_open(user, with_application=with_application)
    if draft is not None:
        return draft
    try:
        with transaction.atomic():
            draft = ApplicationDraft.objects.create(user=user)
    except IntegrityError:  # a second tab started it at the same moment
        return draft_open(user, with_application=with_application)
    audit_record(actor=user, action="application_draft.start", target=draft)
    return draft


def step_index(step: str) -> int:
    if step not in STEPS:
        raise DomainError(gettext("Unknown step."), field="step")
    return STEPS.index(step)


def draft_show_step(*, draft: ApplicationDraft, step: str) -> None:
    """Remember the step on screen, so the customer resumes there later."""
    step_index(step)
    if draft.current_step != step:
        ApplicationDraft.objects.filter(pk=draft.pk).update(current_step=step, updated_at=timezone.now())
        draft.current_step = step


def draft_step_done(*, draft: ApplicationDraft, step: str) -> str:
    """The step's input is saved: forget any kept input and move on. Returns the next step."""
    index = step_index(step)
    following = STEPS[min(index + 1, len(STEPS) - 1)]
    draft.pending_input.pop(step, None)
    draft.furthest_step = max(draft.furthest_step, index + 1)
    draft.current_step = following
    draft.save(update_fields=["pending_input", "furthest_step", "current_step", "updated_at"])
    return following


def draft_keep_input(*, draft: ApplicationDraft, step: str, data: Mapping[str, Any]) -> None:
    """Keep a step's input that could not be saved (the customer went back with errors on it), so
    it is shown again when they return. ID numbers and card numbers are never kept."""
    step_index(step)
    kept = {}
    for key in data:
        if key in NEVER_KEPT:
            continue
        values = data.getlist(key) if hasattr(data, "getlist") else [data[key]]
        kept[key] = [str(v)[:500] for v in values][:20]
    draft.pending_input[step] = kept
    draft.save(update_fields=["pending_input", "updated_at"])


def draft_kept_input(draft: ApplicationDraft, step: str) -> dict[str, list[str]] | None:
    return (draft.pending_input or {}).get(step)


def draft_request_save(*, draft: ApplicationDraft, by: User, product, amount: Decimal, **fields):
    """Create the draft's application, or change it, from the request step (installments' services
    validate the amount and term against the product). Returns the application."""
    if draft.application_id is None:
        with transaction.atomic():
            application = application_create(customer=by, product=product, amount=amount, by=by, **fields)
            draft.application = application
            draft.save(update_fields=["application", "updated_at"])
        return application
    return application_update(application=draft.application, by=by, product=product, amount=amount, **fields)


def draft_discard(*, draft: ApplicationDraft, by: User) -> None:
    """The customer abandons the draft; its application (if any) is withdrawn, recorded."""
    if draft.user_id != by.pk:
        raise PermissionDenied
    with transaction.atomic():
        draft = ApplicationDraft.objects.select_for_update().get(pk=draft.pk)
        if not draft.is_open:
            return
        if draft.application_id and draft.application.state == Application.State.DRAFT:
            application_transition(application=draft.application, to=Application.State.WITHDRAWN, by=by,
                                   reason="draft discarded by the customer")
        draft.discarded_at = timezone.now()
        draft.save(update_fields=["discarded_at", "updated_at"])
        audit_record(actor=by, action="application_draft.discard", target=draft)


def consents_missing(user: User, *, active: list[Consent] | None = None,
                     granted: set[str] | None = None) -> list[str]:
    """Required consent kinds the user has not granted for the current text version. When the caller
    has read them already: `active`, the user's consents that are not withdrawn, or `granted`, the
    kinds granted for the current text version and not withdrawn."""
    if granted is None and active is None:
        granted = set(Consent.objects.filter(user=user, text_version=CONSENT_TEXT_VERSION, withdrawn_at__isnull=True)
                      .values_list("kind", flat=True))
    elif granted is None:
        granted = {c.kind for c in active if c.text_version == CONSENT_TEXT_VERSION and c.withdrawn_at is None}
    return [kind for kind in REQUIRED_CONSENTS if kind not in granted]


def _has_rows(profile: CustomerProfile, relation: str) -> bool:
    """Whether the profile has any `relation` rows: its has_<relation> when it was read by
    selectors.profile_for_submission or profile_for_review, else its (prefetched) rows."""
    read = getattr(profile, f"has_{relation}", None)
    return bool(getattr(profile, relation).all()) if read is None else read


def application_missing(*, user: User, draft: ApplicationDraft | None = None, steps: tuple[str, ...] = STEPS,
                        profile: CustomerProfile | None = READ_HERE, has_statement: bool | None = None,
                        active_consents: list[Consent] | None = None) -> list[Missing]:
    """Everything the application still needs before it can be submitted, in step order (only
    `steps` are checked). The wizard's steps use the same checks, so the review page and the
    submission never disagree with what a step accepted.

    A caller that has read them already passes the user's `profile` (None when there is none;
    incomes, expenses and documents prefetched, or read by selectors.profile_for_submission or
    profile_for_review, which bring the statement and consents too), whether it `has_statement`
    and the `active_consents`, so each is read once."""
    missing: list[Missing] = []
    if profile is READ_HERE:
        profile = (CustomerProfile.objects.filter(user=user).prefetch_related("incomes", "expenses", "documents")
                   .first())
    if has_statement is None and profile is not None:
        has_statement = getattr(profile, "has_statement", None)
    if "personal" in steps and profile is None:
        missing.append(Missing("personal", "profile", gettext("your personal details")))
    if profile is not None and "work" in steps:
        labels = {f: str(CustomerProfile._meta.get_field(f).verbose_name) for f in REQUIRED_BACKGROUND}
        for field in REQUIRED_BACKGROUND:
            if not getattr(profile, field):
                missing.append(Missing("work", field, labels[field]))
        if profile.employment_type in EMPLOYED_TYPES and profile.years_in_job is None:
            missing.append(Missing("work", "years_in_job", gettext("years in your current job")))
        if not _has_rows(profile, "incomes"):
            missing.append(Missing("work", "income", gettext("at least one source of income")))
    elif profile is None and "work" in steps:
        missing.append(Missing("work", "background", gettext("your work and income")))
    if "finances" in steps and (profile is None or not _has_rows(profile, "expenses")):
        missing.append(Missing("finances", "expenses", gettext("your monthly expenses")))
    if "documents" in steps:
        kinds = getattr(profile, "document_kinds", None)  # read by profile_for_submission / _for_review
        if kinds is None:
            kinds = {d.kind for d in profile.documents.all()} if profile else set()
        if DocumentKind.ID_FRONT not in kinds:
            missing.append(Missing("documents", "id_document", gettext("a photo or scan of your ID (front)")))
        if has_statement is None:
            has_statement = profile is not None and profile.statements.exists()
        if not has_statement and DocumentKind.INCOME_PROOF not in kinds:
            missing.append(Missing("documents", "income_evidence",
                                   gettext("a bank statement (CSV) or a proof of income")))
    policy_inputs = required_inputs()
    if profile is not None and policy_inputs:
        provided = {
            "statement": lambda: bool(has_statement if has_statement is not None else profile.statements.exists()),
            "assets": lambda: profile.assets.exists(),
            "years_in_job": lambda: profile.years_in_job is not None,
            "dependants": lambda: profile.dependants is not None,
        }
        for name in sorted(policy_inputs):
            step = OPTIONAL_INPUTS[name][0]
            if step in steps and not any(m.code == name for m in missing) and not provided[name]():
                missing.append(Missing(step, name, str(OPTIONAL_INPUT_LABELS[name])))
        order = {step: i for i, step in enumerate(STEPS)}
        missing.sort(key=lambda m: order.get(m.step, len(STEPS)))
    if "request" in steps and (draft is None or draft.application_id is None):
        missing.append(Missing("request", "request", gettext("the amount and plan you would like")))
    if "consents" in steps:
        labels = dict(ConsentKind.choices)
        for kind in consents_missing(user, active=active_consents, granted=getattr(profile, "consent_kinds", None)):
            missing.append(Missing("consents", kind, gettext("your consent: %(kind)s") % {"kind": labels[kind]}))
    return missing


def missing_message(missing: list[Missing]) -> str:
    return gettext("Before you submit, please add: %(items)s.") % {"items": "; ".join(m.message for m in missing)}


def draft_submit(*, draft: ApplicationDraft, by: User, profile: CustomerProfile | None = READ_HERE):
    """Submit the draft's application: refused (DomainError naming everything missing) unless the
    profile is complete, the documents are in and the required consents are given. Scoring is
    queued after commit (installments.origination.applications.application_submit). Returns the application.

    The draft and then its application are locked, the profile read with what the check needs beyond
    it in one query (selectors.profile_for_submission) unless the caller passes the `profile` it has
    read (incomes, expenses and documents prefetched)."""
    if draft.user_id != by.pk:
        raise PermissionDenied
    with transaction.atomic():
        # The draft locked first, then its application (every path locks them in that order).
        locked = _open_draft_locked.instances(pk=draft.pk)
        if not locked:
            raise DomainError(gettext("This application was already submitted."), code="already_submitted")
        draft = locked[0]
        application = _application_locked.instances(pk=draft.application_id)[0] if draft.application_id else None
        if application is not None and application.state != Application.State.DRAFT:
            raise DomainError(gettext("This application was already submitted."), code="already_submitted")
        missing = application_missing(user=by, draft=draft,
                                      profile=selectors.profile_for_submission(by) if profile is READ_HERE else profile)
        if missing:
            raise DomainError(missing_message(missing), code="incomplete")
        application = application_submit(application=application, by=by, locked=True)  # moved as read
        basket_application_submitted(draft=draft, application=application)  # a merchant's basket, if any
        draft.submitted_at = timezone.now()
        draft.pending_input = {}
        draft.save(update_fields=["submitted_at", "pending_input", "updated_at"])
    return application


# --- Satisfaction -----------------------------------------------------------------------------------

def _contract_accepted(application) -> bool:
    return application.contracts.filter(accepted_at__isnull=False).exists()


def _paid_off_plan(application):
    return Plan.objects.filter(application=application, state=Plan.State.PAID_OFF).first()


def satisfaction_due(user: User) -> list[dict]:
    """The moments the customer may rate now and has not: after each accepted contract and after
    each paid-off plan. Each item: application, moment, plan (or None)."""
    rated = set(SatisfactionRating.objects.filter(user=user).values_list("application_id", "moment"))
    due = []
    accepted = (Application.objects.filter(customer=user, contracts__accepted_at__isnull=False)
                .select_related("product").distinct().order_by("-created_at"))
    for application in accepted:
        if (application.pk, SatisfactionMoment.AFTER_CONTRACT) not in rated:
            due.append({"application": application, "moment": SatisfactionMoment.AFTER_CONTRACT, "plan": None})
    for plan in Plan.objects.filter(customer=user, state=Plan.State.PAID_OFF).select_related("application"):
        if (plan.application_id, SatisfactionMoment.AFTER_PAYOFF) not in rated:
            due.append({"application": plan.application, "moment": SatisfactionMoment.AFTER_PAYOFF, "plan": plan})
    return due


def satisfaction_record(*, user: User, application, moment: str, rating: int, comment: str = "") -> SatisfactionRating:
    """Record the customer's 1-5 rating and comment for one moment of their application: after the
    contract is accepted, or after the plan is paid off. Once per application and moment (the
    database enforces it too). PermissionDenied for someone else's application."""
    if application.customer_id != user.pk:
        raise PermissionDenied
    if moment not in SatisfactionMoment.values:
        raise DomainError(gettext("Unknown moment."), field="moment")
    try:
        rating = int(rating)
    except (TypeError, ValueError):
        rating = 0
    if not 1 <= rating <= 5:
        raise DomainError(gettext("Choose a rating from 1 to 5."), field="rating")
    comment = (comment or "").strip()
    if len(comment) > 2000:
        raise DomainError(gettext("Please keep the comment under 2,000 characters."), field="comment")
    plan = None
    if moment == SatisfactionMoment.AFTER_CONTRACT and not _contract_accepted(application):
        raise DomainError(gettext("You can rate this once you have accepted the contract."), field="moment",
                          code="too_early")
    if moment == SatisfactionMoment.AFTER_PAYOFF:
        plan = _paid_off_plan(application)
        if plan is None:
            raise DomainError(gettext("You can rate this once the plan is paid off."), field="moment",
                              code="too_early")
    try:
        with transaction.atomic():
            row = SatisfactionRating.objects.create(user=user, application=application, plan=plan, moment=moment,
                                                    rating=rating, comment=comment)
            audit_record(actor=user, action="satisfaction.rate", target=application,
                         data={"moment": moment, "rating": rating, "rating_id": row.pk})
    except IntegrityError:
        raise DomainError(gettext("You have already rated this. Thank you!"), field="moment", code="already_rated")
    return row


# --- Hardship help on a plan (payments go through collections_app.servicing.intents) --------------

def hardship_request(*, plan, by, months: int, reason: str):
    """The customer asks for hardship restructuring: the balance re-spread over `months` more
    months, for staff to decide (collections_app.servicing.requests.request_create, kind re-installment)."""
    if plan.customer_id != getattr(by, "pk", None):
        raise PermissionDenied
    return request_create(plan=plan, kind=ServicingRequest.Kind.REINSTALLMENT, by=by, reason=reason,
                          params={"months": months})


# --- Questions the pages ask (reads only) -----------------------------------------------------------

def is_chinese(language: str | None) -> bool:
    return (language or "").lower().startswith("zh")


def applications_for_customer(user: User):
    """The customer's applications, newest first (withdrawn drafts left out)."""
    return (Application.objects.filter(customer=user).select_related("product")
            .exclude(state=Application.State.WITHDRAWN, submitted_at__isnull=True)
            .order_by("-created_at", "-pk"))


def application_for_customer(user: User, pk: int):
    """The customer's own application, or None (the page answers 404: another's is never revealed)."""
    return Application.objects.select_related("product").filter(customer=user, pk=pk).first()


TIMELINE_STATES = {
    "submitted": _("Submitted"),
    "scored": _("Assessed: your plans are ready"),
    "in_review": _("Under review by a loan officer"),
    "documents_requested": _("More documents requested"),
    "awaiting_approval": _("Waiting for a second approval"),
    "approved": _("Approved"),
    "declined": _("Declined"),
    "contracted": _("Contract accepted"),
    "active": _("Plan active: the money is paid out"),
    "closed": _("Closed"),
    "withdrawn": _("Withdrawn"),
    "expired": _("Expired"),
}
# The stages a customer sees at the top of an application (a declined one stops at "Decision").
STAGES = (
    ("submitted", _("Submitted")), ("assessed", _("Assessed")), ("decision", _("Decision")),
    ("contract", _("Contract")), ("active", _("Active")), ("closed", _("Closed")),
)
STAGE_OF_STATE = {
    "draft": -1, "submitted": 0, "scored": 1, "in_review": 1, "documents_requested": 1, "awaiting_approval": 1,
    "approved": 2, "declined": 2, "contracted": 3, "active": 4, "closed": 5, "withdrawn": 0, "expired": 2,
}


def application_timeline(application) -> list[dict]:
    """What happened to the application, oldest first, in the customer's words, from the audit trail
    (the application's state changes, plan choice, contract versions, and the plan's payoff).
    Staff names and internal reasons are left out. Each entry: when, code, label, detail."""
    types = ContentType.objects.get_for_models(Application, Contract, Plan)
    condition = Q(target_type=types[Application], target_id=str(application.pk))
    contract_ids = [str(pk) for pk in Contract.objects.filter(application=application).values_list("pk", flat=True)]
    if contract_ids:
        condition |= Q(target_type=types[Contract], target_id__in=contract_ids, action="contract.generate")
    plan_ids = [str(pk) for pk in Plan.objects.filter(application=application).values_list("pk", flat=True)]
    if plan_ids:
        condition |= Q(target_type=types[Plan], target_id__in=plan_ids, action="plan.state")
    entries = []
    requests = list(application.document_requests.order_by("requested_at", "pk"))
    for event in AuditEvent.objects.filter(condition).order_by("created_at", "pk"):
        entry = {"when": event.created_at, "code": event.action, "label": None, "detail": ""}
        if event.action == "application.create":
            entry["label"] = _("Application started")
        elif event.action == "application.state":
            entry["code"] = event.to_state
            entry["label"] = TIMELINE_STATES.get(event.to_state)
            if event.to_state == "approved" and (event.data or {}).get("kind") == "counter_offer":
                entry["label"] = _("Approved with changes (counter-offer)")
                entry["code"] = "counter_offer"
            if event.to_state == "documents_requested":
                request_id = (event.data or {}).get("document_request")
                match = next((r for r in requests if r.pk == request_id), None)
                entry["detail"] = match.message if match else ""
            if event.to_state == "in_review" and event.from_state == "documents_requested":
                entry["label"] = _("Review resumed")
        elif event.action == "offer.choose":
            entry["label"] = _("Plan chosen")
        elif event.action == "contract.generate":
            entry["label"] = _("Contract ready to read and accept (version %(version)s)") % {
                "version": (event.data or {}).get("version", "")}
        elif event.action == "plan.state" and event.to_state == "paid_off":
            entry["label"] = _("Paid off")
        if entry["label"]:
            entries.append(entry)
    return entries


def application_stage(application) -> int:
    return STAGE_OF_STATE.get(application.state, 0)


def document_requests_for(application) -> list[dict]:
    """The officer's requests for more documents, newest first, each with its checklist: per kind,
    whether a document of that kind arrived after the request."""
    requests = list(application.document_requests.order_by("-requested_at", "-pk"))
    profile = CustomerProfile.objects.filter(user_id=application.customer_id).first()
    documents = list(profile.documents.all()) if profile else []
    labels = dict(DocumentKind.choices)
    rows = []
    for request in requests:
        checklist = [{"kind": kind, "label": labels.get(kind, kind),
                      "received": any(d.kind == kind and d.uploaded_at >= request.requested_at for d in documents)}
                     for kind in request.kinds]
        rows.append({"request": request, "checklist": checklist, "open": request.resolved_at is None,
                     "kinds_missing": [c["kind"] for c in checklist if not c["received"]]})
    return rows


# Plain advice for a declined customer, by the score's reason feature, the rule kind or the
# officer's decline reason: what could change the outcome next time.
ADVICE_BY_FEATURE = {
    "payment_to_income": _("A smaller amount or a longer term lowers the monthly payment."),
    "debt_to_income": _("Paying down existing debts first lowers the share of your income that goes to repayments."),
    "existing_debt_monthly_payment": _("Paying down existing debts first lowers the share of your income that "
                                       "goes to repayments."),
    "existing_debt_balance": _("Paying down existing debts improves your assessment."),
    "monthly_income": _("Declare every regular income (for example rental income or a pension) and show it with a "
                        "bank statement or payslip."),
    "income_volatility": _("A longer bank statement showing regular income helps us see that your income is steady."),
    "checking_status": _("Keeping a positive balance on your current account for a few months helps."),
    "savings": _("Savings, declared and shown with a statement, help your assessment."),
    "total_assets": _("Declaring assets such as savings or property, with proof, helps your assessment."),
    "main_asset": _("Declaring assets such as savings or property, with proof, helps your assessment."),
    "requested_amount": _("Applying for a smaller amount improves the assessment."),
    "term_months": _("A shorter term lowers the risk and the interest you pay."),
    "past_delinquencies": _("A record of on-time payments over the coming months improves your credit history."),
    "credit_history": _("A record of on-time payments over the coming months improves your credit history."),
    "number_of_existing_credits": _("Closing some existing credit lines or installment plans first helps."),
    "other_installment_plans": _("Closing some existing credit lines or installment plans first helps."),
    "years_in_job": _("More time in your current job improves the assessment; you are welcome to apply again later."),
}
ADVICE_BY_RULE = {
    "min_income": _("Declare every regular income and show it with a bank statement or payslip."),
    "max_debt_to_income": _("Paying down existing debts, or a smaller amount, lowers your repayments."),
    "max_payment_to_income": _("A smaller amount or a longer term lowers the monthly payment."),
    "max_debt_service_ratio": _("Lower fixed outgoings, or a smaller amount, leave more of your income free."),
    "max_past_delinquencies": _("A record of on-time payments over the coming months improves your credit history."),
    "invalid_id": _("Check your ID number in your profile."),
    "duplicate_id": _("Please contact us so we can sort out your ID number."),
    "open_delinquency_with_us": _("Bring your current plan up to date, then apply again."),
}
ADVICE_BY_DECISION = {
    "affordability": _("A smaller amount or a longer term lowers the monthly payment."),
    "documents": _("Upload clear, complete documents: your ID, proof of income and a recent bank statement."),
    "incomplete": _("Complete every step of the application, including your finances and documents."),
    "identity": _("Check that your name and ID number match your ID card exactly."),
    "inconsistent": _("Check that your income and expenses match your bank statement and payslips."),
    "credit_history": _("A record of on-time payments over the coming months improves your credit history."),
}
MISSING_FEATURE_ADVICE = _("Complete the missing details in your profile; an empty answer counts against you.")


def decline_explanation(application, *, language: str) -> dict:
    """Why the application was declined, in plain words in `language`, and what could change the
    outcome: {"reasons": [...], "advice": [...]}. Reasons: the officer's decline reasons, the
    lending rules that declined it, then the main factors of the credit score. An application a
    knock-out rule declines is explained the same way before its state says so."""
    chinese = is_chinese(language)
    reasons: list[str] = []
    advice: list[str] = []

    def add(target: list, text) -> None:
        text = str(text)
        if text and text not in target:
            target.append(text)

    if not application_declined_by_policy(application):
        return {"reasons": [], "advice": []}

    decision = (Decision.objects.filter(application=application, kind=Decision.Kind.DECLINE)
                .exclude(status=Decision.Status.RETURNED).order_by("-decided_at", "-pk").first())
    if decision is not None:
        for code in decision.reason_codes:
            texts = DECLINE_REASON_TEXTS.get(code)
            if texts:
                add(reasons, texts[1] if chinese else texts[0])
            if code in ADVICE_BY_DECISION:
                add(advice, ADVICE_BY_DECISION[code])
    result = getattr(application, "score_result", None) if _has_score(application) else None
    if result is not None:
        key = "text_zh" if chinese else "text_en"
        hits = result.knock_out_hits
        for hit in hits:
            add(reasons, hit.get(key) or "")
            if hit.get("kind") in ADVICE_BY_RULE:
                add(advice, ADVICE_BY_RULE[hit["kind"]])
        for reason in result.reason_codes[:4]:
            add(reasons, reason.get(key) or "")
            feature = reason.get("feature", "")
            if str(reason.get("code", "")).endswith("_MISSING"):
                add(advice, MISSING_FEATURE_ADVICE)
            elif feature in ADVICE_BY_FEATURE:
                add(advice, ADVICE_BY_FEATURE[feature])
    suggestion = (application.offer_summary or {}).get("suggestion")
    if isinstance(suggestion, dict):
        add(advice, suggestion.get("zh" if chinese else "en") or "")
    if not advice:
        add(advice, _("Your situation may change: you are welcome to apply again in three months."))
    return {"reasons": reasons, "advice": advice}


def _has_score(application) -> bool:
    return ScoreResult.objects.filter(application_id=application.pk).exists()


def offer_comparison(application, *, language: str) -> dict:
    """The application's personalised offers side by side, in `language`: per offer its key figures,
    labels and plain-language trade-off, plus the data of the "paid over time" chart (cumulative
    amount paid after each installment, per offer, as strings). Counter-offers are shown on the
    contract page instead."""
    chinese = is_chinese(language)
    offers = list(Offer.objects.filter(application=application, is_counter_offer=False).order_by("rank", "pk"))
    cards = []
    longest = max((len((o.schedule or {}).get("installments") or []) for o in offers), default=0)
    series = []
    for offer in offers:
        rows = (offer.schedule or {}).get("installments") or []
        payments = [Decimal(r["payment"]) for r in rows]
        letter = chr(ord("A") + (max(offer.rank, 1) - 1) % 26)
        names = METHOD_NAMES.get(offer.method, (offer.method, offer.method))
        # Fees not in the installments (an upfront fee deducted from the payout) count as paid at payout,
        # so each line ends at the offer's total payable.
        running = max(offer.total_payable - sum(payments, Decimal(0)), Decimal(0))
        cumulative = [str(running)]
        for payment in payments:
            running += payment
            cumulative.append(str(running))
        cumulative += [str(running)] * (longest + 1 - len(cumulative))
        cards.append({
            "offer": offer,
            "letter": letter,
            "method_name": names[1] if chinese else names[0],
            "labels": [LABELS[code][1 if chinese else 0] for code in offer.labels if code in LABELS],
            "explanation": offer.explanation_zh if chinese else offer.explanation_en,
            "first_payment": payments[0] if payments else None,
            "last_payment": payments[-1] if payments else None,
            "highest_payment": max(payments) if payments else None,
            "lowest_payment": min(payments) if payments else None,
            "level": len(set(payments[:-1])) <= 1,
            "count": len(rows),
            "first_due_date": rows[0]["due_date"] if rows else "",
            "final_payment": offer_final_payment(offer),
        })
        series.append({"label": f"{letter} · {names[1] if chinese else names[0]}", "data": cumulative})
    summary = application.offer_summary or {}
    key = "zh" if chinese else "en"
    suggestion = summary.get("suggestion")
    return {
        "cards": cards,
        "chart": {"labels": [str(_("Payout"))] + [str(n) for n in range(1, longest + 1)], "series": series,
                  "currency": offers[0].currency if offers else "",
                  "names": {"x": str(_("Installment")), "y": str(_("Paid so far")),
                            "title": str(_("What you pay over time"))}},
        "notes": [m.get(key, "") for m in summary.get("notes") or [] if isinstance(m, dict)],
        "reasons": [m.get(key, "") for m in summary.get("reasons") or [] if isinstance(m, dict)],
        "suggestion": suggestion.get(key) if isinstance(suggestion, dict) else None,
        "chosen": next((o for o in offers if o.chosen_at), None),
    }


def schedule_rows(offer) -> tuple[list[dict], dict]:
    """An offer's schedule rows (strings as stored) and their column totals (Decimal); `upfront` is
    what the customer pays besides the installments (a fee deducted from the payout)."""
    rows = (offer.schedule or {}).get("installments") or []
    totals = {key: sum((Decimal(str(r[key])) for r in rows), Decimal(0))
              for key in ("payment", "principal", "interest", "fee")}
    totals["upfront"] = max(offer.total_payable - totals["payment"], Decimal(0))
    return rows, totals


def plans_overview(user: User) -> list[dict]:
    """The customer's plans with what matters now: next due date, amount due, paid and remaining
    (collections_app.selectors.plan_summary)."""
    try:
        from collections_app.selectors import plan_summary
    except ImportError:
        plan_summary = None
    rows = []
    for plan in Plan.objects.filter(customer=user).select_related("product", "application").order_by("-created_at"):
        rows.append({"plan": plan, "summary": plan_summary(plan) if plan_summary else None})
    return rows


def notifications_for(user: User, *, language: str) -> list[dict]:
    """Every message we sent the customer, newest first: reminders (the servicing message log),
    the officers' requests for documents and the e-mails about decisions on their applications. Each: when, kind, channel, subject, body, status, link."""
    from django.urls import reverse

    items: list[dict] = []
    try:
        from collections_app.selectors import reminders_for_customer
    except ImportError:
        reminders_for_customer = None
    if reminders_for_customer is not None:
        for reminder in reminders_for_customer(user)[:200]:
            items.append({
                "when": reminder.sent_at or reminder.created_at, "kind": "reminder",
                "channel": reminder.get_channel_display(), "subject": reminder.subject or str(reminder.rule),
                "body": reminder.body, "status": reminder.get_status_display(), "sent": reminder.status == "sent",
                "link": reverse("collections:my_plan", args=[reminder.plan_id]),
                "reference": reminder.plan.number,
            })
    for application in Application.objects.filter(customer=user).order_by("-created_at")[:100]:
        for row in document_requests_for(application):
            request = row["request"]
            items.append({
                "when": request.requested_at, "kind": "document_request", "channel": _("Message"),
                "subject": _("More documents needed for application %(number)s") % {"number": application.number},
                "body": request.message, "status": _("Open") if row["open"] else _("Resolved"), "sent": True,
                "link": reverse("portal:application", args=[application.pk]) + "#requests",
                "reference": application.number, "checklist": row["checklist"],
            })
    for notice in ApplicationNotice.objects.filter(application__customer=user).exclude(
            kind=ApplicationNotice.Kind.DOCUMENTS_REQUESTED).select_related("application")[:200]:
        receipt = notice.kind == ApplicationNotice.Kind.PAYMENT_RECEIPT  # key "payment-receipt-<payment id>"
        items.append({
            "when": notice.created_at, "kind": "receipt" if receipt else "notice", "channel": _("E-mail"),
            "subject": notice.subject, "body": notice.body, "status": notice.get_status_display(),
            "sent": notice.status == ApplicationNotice.Status.SENT,
            "link": reverse("collections:my_payment_receipt", args=[int(notice.key.rsplit("-", 1)[1])]) if receipt
            else reverse("portal:application", args=[notice.application_id]),
            "link_label": _("Receipt (PDF)") if receipt else "",
            "reference": notice.application.number,
        })
    items.sort(key=lambda item: item["when"], reverse=True)
    return items
