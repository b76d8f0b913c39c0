"""Reads for the servicing and collections pages and API: who may see which plan or case, the live
schedule, summaries, the collector queue and the overdue analysis."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Prefetch, Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from collections_app.collections.buckets import buckets
from collections_app.models import (
    CollectionCase,
    ContactLog,
    DelinquencyBucket,
    Payment,
    PaymentAllocation,
    PaymentIntent,
    PromiseToPay,
    Reminder,
    ServicingRequest,
)
from customers.roles import Role
from installments.models import Application, Installment, Plan, ScheduleVersion

ZERO = Decimal("0")
CASE_ALL_ROLES = (Role.APPROVER, Role.MANAGER, Role.ADMIN)
CASE_ROLES = (Role.COLLECTOR, *CASE_ALL_ROLES)
PLAN_STAFF_ROLES = (Role.LOAN_OFFICER, Role.COLLECTOR, Role.APPROVER, Role.MANAGER, Role.ADMIN)
ANALYSIS_ROLES = (Role.MANAGER, Role.COLLECTOR, Role.APPROVER, Role.ADMIN)
AGE_BANDS = ((0, 24, "18-24"), (25, 34, "25-34"), (35, 44, "35-44"), (45, 54, "45-54"), (55, 200, "55+"))


# --- Who may see and act on what: the one rule, for every page and API route ----------------------------
#
# A customer sees and acts on their own plans. Loan officers, approvers, managers and admins see and
# act on every plan. A collector sees the plans of the cases assigned to them (closed ones too: their
# history stays readable) and acts only where such a case is still open. Requests, payments and
# payment intents follow their plan; cases follow the collector's assignment. Whether the user's role
# may do the action at all (take a payment, reverse one, decide) is the view's role check on top.

PLAN_ALL_ROLES = (Role.LOAN_OFFICER, *CASE_ALL_ROLES)


def _plans_reached(user, *, cases: QuerySet[CollectionCase]) -> QuerySet[Plan]:
    if not getattr(user, "is_authenticated", False):
        return Plan.objects.none()
    if user.has_role(*PLAN_ALL_ROLES):
        return Plan.objects.all()
    reach = Q(pk__in=[])
    if user.has_role(Role.CUSTOMER):
        reach |= Q(customer=user)
    if user.has_role(Role.COLLECTOR):
        reach |= Q(pk__in=cases.filter(assigned_to=user).values("plan_id"))
    return Plan.objects.filter(reach)


def plans_visible_to(user) -> QuerySet[Plan]:
    """The plans `user` may see (read pages and API answers about)."""
    return _plans_reached(user, cases=CollectionCase.objects.all())


def plans_actionable_by(user) -> QuerySet[Plan]:
    """The plans `user` may act on (pay, ask for a request or measure, reverse a payment on)."""
    return _plans_reached(user, cases=CollectionCase.objects.filter(status=CollectionCase.Status.OPEN))


def _one(queryset, pk):
    found = queryset.filter(pk=pk).first()
    if found is None:  # another's object and a missing one answer alike: existence is not revealed
        raise Http404
    return found


def plan_visible(user, pk: int) -> Plan:
    return _one(plans_visible_to(user).select_related("product", "customer", "application"), pk)


def plan_actionable(user, pk: int) -> Plan:
    return _one(plans_actionable_by(user).select_related("product", "customer", "application"), pk)


def cases_visible_to(user) -> QuerySet[CollectionCase]:
    """Collectors see the cases assigned to them; approvers, managers and admins see all."""
    cases = CollectionCase.objects.select_related("plan", "plan__product", "plan__customer", "assigned_to")
    if not getattr(user, "is_authenticated", False):
        return cases.none()
    if user.has_role(*CASE_ALL_ROLES):
        return cases
    if user.has_role(Role.COLLECTOR):
        return cases.filter(assigned_to=user)
    return cases.none()


def cases_actionable_by(user) -> QuerySet[CollectionCase]:
    """Cases `user` may work (contacts, promises, notes, measures, assignment): visible, and for a
    collector still open."""
    cases = cases_visible_to(user)
    if user.has_role(*CASE_ALL_ROLES):
        return cases
    return cases.filter(status=CollectionCase.Status.OPEN)


def requests_visible_to(user) -> QuerySet[ServicingRequest]:
    return ServicingRequest.objects.filter(plan__in=plans_visible_to(user))


def requests_actionable_by(user) -> QuerySet[ServicingRequest]:
    """Requests on plans `user` may act on (deciding them also needs a decider's role)."""
    return ServicingRequest.objects.filter(plan__in=plans_actionable_by(user))


def payments_visible_to(user) -> QuerySet[Payment]:
    return Payment.objects.filter(plan__in=plans_visible_to(user))


def payments_actionable_by(user) -> QuerySet[Payment]:
    """Payments on plans `user` may act on (reversing one also needs a reversal role)."""
    return Payment.objects.filter(plan__in=plans_actionable_by(user))


def payment_intents_visible_to(user) -> QuerySet[PaymentIntent]:
    return PaymentIntent.objects.filter(plan__in=plans_visible_to(user))


# --- Plans -----------------------------------------------------------------------------------------

def plans_for_customer(user) -> QuerySet[Plan]:
    """The customer's own plans (the customer pages list only these, even for a customer on staff)."""
    return plans_visible_to(user).filter(customer=user).select_related("product").order_by("-created_at", "-id")


def plan_for_customer(user, pk: int, *, act: bool = False) -> Plan:
    """The customer's own plan; anyone else's is a 404 (its existence is not revealed)."""
    plans = plans_actionable_by(user) if act else plans_visible_to(user)
    return _one(plans.filter(customer=user).select_related("product", "application"), pk)


def plan_for_staff(user, pk: int, *, act: bool = False) -> Plan:
    """A plan on the staff pages: one the staff member sees (or, with `act`, may act on)."""
    if not user.has_role(*PLAN_STAFF_ROLES):
        raise Http404
    return plan_actionable(user, pk) if act else plan_visible(user, pk)


def plan_schedule(plan: Plan) -> list[Installment]:
    """The installments in force (every version's rows not superseded), in due order."""
    return list(plan.installments.exclude(status=Installment.Status.SUPERSEDED).select_related("version")
                .order_by("due_date", "number", "pk"))


def plan_versions(plan: Plan) -> list[ScheduleVersion]:
    return list(plan.schedule_versions.select_related("created_by").prefetch_related(
        Prefetch("installments", queryset=Installment.objects.order_by("number", "pk"))).order_by("-version"))


def plan_payments(plan: Plan) -> list[Payment]:
    return list(plan.payments.select_related("created_by", "reversed_by").prefetch_related(
        Prefetch("allocations", queryset=PaymentAllocation.objects.select_related("installment"))))


def plan_reminders(plan: Plan) -> QuerySet[Reminder]:
    return plan.reminders.select_related("rule", "installment").order_by("-scheduled_for", "-id")


def reminders_for_customer(user) -> QuerySet[Reminder]:
    return Reminder.objects.filter(customer=user).exclude(status__in=[Reminder.Status.QUEUED]).select_related(
        "plan", "installment", "rule").order_by("-scheduled_for", "-id")


@dataclass(frozen=True)
class PlanSummary:
    currency: str
    paid: Decimal
    outstanding: Decimal
    principal_outstanding: Decimal
    overdue: Decimal
    late_charges: Decimal
    next_due_date: date | None
    next_due_amount: Decimal
    installments_paid: int
    installments_total: int


def plan_summary(plan: Plan, schedule: list[Installment] | None = None) -> PlanSummary:
    rows = schedule if schedule is not None else plan_schedule(plan)
    today = timezone.localdate()
    open_rows = [r for r in rows if r.status != Installment.Status.PAID]
    upcoming = [r for r in open_rows if r.due_date >= today]
    next_date = min((r.due_date for r in upcoming), default=None)
    overdue = sum((r.amount_outstanding for r in open_rows if r.due_date < today), ZERO)
    paid = plan.payments.filter(state=Payment.State.POSTED).exclude(channel=Payment.Channel.CREDIT).aggregate(
        s=Sum("amount"))["s"] or ZERO
    return PlanSummary(
        currency=plan.currency, paid=paid, outstanding=sum((r.amount_outstanding for r in open_rows), ZERO),
        principal_outstanding=sum((r.principal_due - r.principal_paid for r in open_rows), ZERO), overdue=overdue,
        late_charges=sum((r.penalty_due - r.penalty_paid for r in open_rows), ZERO), next_due_date=next_date,
        next_due_amount=overdue + sum((r.amount_outstanding for r in upcoming if r.due_date == next_date), ZERO),
        # A paused month of a payment holiday owes nothing: it is neither paid nor counted as an installment.
        installments_paid=sum(1 for r in rows if r.status == Installment.Status.PAID and r.amount_due > 0),
        installments_total=sum(1 for r in rows if r.amount_due > 0),
    )


def plan_requests(plan: Plan) -> QuerySet[ServicingRequest]:
    return plan.servicing_requests.select_related("requested_by", "decided_by").order_by("-requested_at")


def with_previews(requests) -> list[ServicingRequest]:
    """The requests, each pending schedule change carrying `preview` (servicing.requests.request_preview): what
    confirming it would do, shown to the approver and the customer before anyone confirms."""
    from collections_app.servicing.requests import request_preview

    rows = list(requests)
    for row in rows:
        row.preview = request_preview(request=row) if row.status == ServicingRequest.Status.PENDING else None
    return rows


def plan_waivers(plan: Plan) -> QuerySet:
    """The explicit waiver lines of late charges on a plan, newest first."""
    from collections_app.models import ChargeWaiver

    return ChargeWaiver.objects.filter(plan=plan).select_related("installment").order_by("-created_at", "-id")


def requests_pending_for(user) -> QuerySet[ServicingRequest]:
    """Requests this user may decide: customer requests for officers and approvers, staff measures
    above the threshold for approvers; never their own."""
    pending = ServicingRequest.objects.filter(status=ServicingRequest.Status.PENDING).select_related(
        "plan", "plan__customer", "requested_by", "case")
    mine = Q(requested_by=user)
    if user.has_role(*CASE_ALL_ROLES):
        return pending.exclude(mine)
    if user.has_role(Role.LOAN_OFFICER):
        return pending.filter(origin=ServicingRequest.Origin.CUSTOMER).exclude(mine)
    return pending.none()


# --- Cases -----------------------------------------------------------------------------------------

def case_for_user(user, pk: int, *, act: bool = False) -> CollectionCase:
    return _one(cases_actionable_by(user) if act else cases_visible_to(user), pk)


def case_queue(user, *, bucket: str = "", product: str = "", collector: str = "", status: str = "open"):
    """The open cases this user may work, highest priority first, filtered."""
    cases = cases_visible_to(user)
    if status:
        cases = cases.filter(status=status)
    if bucket:
        cases = cases.filter(bucket=bucket)
    if product:
        cases = cases.filter(plan__product__code=product)
    if collector == "none":
        cases = cases.filter(assigned_to__isnull=True)
    elif collector:
        cases = cases.filter(assigned_to_id=collector)
    return cases.order_by("-priority", "id")


def case_detail(case: CollectionCase) -> dict:
    plan = case.plan
    schedule = plan_schedule(plan)
    customer = plan.customer
    profile = getattr(customer, "profile", None)
    return {
        "case": case, "plan": plan, "customer": customer, "profile": profile, "schedule": schedule,
        "summary": plan_summary(plan, schedule),
        "contacts": case.contacts.select_related("by")[:50],
        "promises": case.promises.select_related("created_by"),
        "notes": case.notes.select_related("author")[:50],
        "requests": plan_requests(plan),
        "reminders": plan_reminders(plan)[:30],
        "payments": plan_payments(plan)[:20],
        "score": getattr(plan.application, "score_result", None) if hasattr(plan.application, "score_result") else None,
        "other_plans": Plan.objects.filter(customer=customer).exclude(pk=plan.pk).select_related("product"),
        "today": timezone.localdate(),
    }


# --- Overdue analysis --------------------------------------------------------------------------------

def _age_band(born: date | None, today: date) -> str:
    if not born:
        return _("unknown")
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    for low, high, label in AGE_BANDS:
        if low <= age <= high:
            return label
    return _("unknown")


def overdue_analysis() -> dict:
    """Open collection cases (overdue plans) by bucket, purpose, employment type, age band and cause:
    count and amount overdue in each group. Cause is the latest contact's reason."""
    today = timezone.localdate()
    cases = list(CollectionCase.objects.filter(status=CollectionCase.Status.OPEN).select_related(
        "plan__application", "plan__customer__profile"))
    latest_reason = {}
    for case_id, reason in ContactLog.objects.filter(case__in=[c.pk for c in cases]).order_by(
            "case_id", "contacted_at", "id").values_list("case_id", "reason_category"):
        latest_reason[case_id] = reason
    purposes = dict(Application.Purpose.choices)
    reasons = dict(ContactLog.Reason.choices)
    bucket_labels = {b.code: b.label for b in buckets()}
    groups: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(lambda: [0, ZERO]))
    for case in cases:
        profile = getattr(case.plan.customer, "profile", None)
        employment = getattr(profile, "get_employment_type_display", lambda: "")() or _("unknown")
        keys = {
            "bucket": bucket_labels.get(case.bucket, case.bucket),
            "purpose": purposes.get(case.plan.application.purpose, case.plan.application.purpose),
            "employment": str(employment),
            "age_band": _age_band(getattr(profile, "date_of_birth", None), today),
            "cause": str(reasons.get(latest_reason.get(case.pk, ContactLog.Reason.UNKNOWN))),
        }
        for dimension, key in keys.items():
            cell = groups[dimension][str(key)]
            cell[0] += 1
            cell[1] += case.amount_overdue
    order = [b.label for b in buckets()]
    result = {}
    for dimension in ("bucket", "purpose", "employment", "age_band", "cause"):
        rows = groups.get(dimension, {})
        keys = sorted(rows, key=(lambda k: order.index(k) if k in order else 99) if dimension == "bucket" else str)
        result[dimension] = [{"group": k, "count": rows[k][0], "amount": rows[k][1]} for k in keys]
    result["totals"] = {"count": len(cases), "amount": sum((c.amount_overdue for c in cases), ZERO)}
    labels = dict(DelinquencyBucket.TermClass.choices)
    classes = Counter(next((b.term_class for b in buckets() if b.code == c.bucket), "current") for c in cases)
    result["term_classes"] = {str(labels.get(k, k)): n for k, n in sorted(classes.items())}
    return result


def promises_open(case: CollectionCase) -> QuerySet[PromiseToPay]:
    return case.promises.filter(state=PromiseToPay.State.OPEN)


# --- Payment intents and receipts --------------------------------------------------------------------

def payment_intent_for(user, pk: int) -> PaymentIntent:
    """A payment intent with its payment, on a plan `user` sees (plans_visible_to); 404 otherwise."""
    return _one(payment_intents_visible_to(user).select_related("plan", "payment", "payment__plan")
                .prefetch_related("payment__allocations__installment"), pk)


def payment_for_receipt(user, pk: int, *, staff: bool) -> Payment:
    """A payment whose receipt `user` may download: on their own plan, or (`staff`) on a plan they see."""
    payments = payments_visible_to(user).exclude(channel=Payment.Channel.CREDIT).select_related(
        "plan", "plan__product", "plan__customer")
    if not staff:
        payments = payments.filter(plan__customer=user)
    elif not user.has_role(*PLAN_STAFF_ROLES):
        raise Http404
    return _one(payments, pk)


def payment_for_reversal(user, pk: int) -> Payment:
    """A payment on a plan `user` may act on (the reversal role is the caller's check)."""
    return _one(payments_actionable_by(user).select_related("plan"), pk)
