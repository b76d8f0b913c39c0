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

from collections_app.buckets import buckets
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


# --- Plans -----------------------------------------------------------------------------------------

def plans_for_customer(user) -> QuerySet[Plan]:
    return Plan.objects.filter(customer=user).select_related("product").order_by("-created_at", "-id")


def plan_for_customer(user, pk: int) -> Plan:
    """The customer's own plan; anyone else's is a 404 (its existence is not revealed)."""
    plan = plans_for_customer(user).select_related("application").filter(pk=pk).first()
    if plan is None:
        raise Http404
    return plan


def plan_for_staff(user, pk: int) -> Plan:
    """Staff see every plan, except collectors, who see the plans of cases assigned to them."""
    plans = Plan.objects.select_related("product", "customer", "application")
    if not user.has_role(*PLAN_STAFF_ROLES):
        raise Http404
    if not user.has_role(Role.LOAN_OFFICER, *CASE_ALL_ROLES):
        plans = plans.filter(collection_cases__assigned_to=user).distinct()
    plan = plans.filter(pk=pk).first()
    if plan is None:
        raise Http404
    return plan


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
        installments_paid=sum(1 for r in rows if r.status == Installment.Status.PAID), installments_total=len(rows),
    )


def plan_requests(plan: Plan) -> QuerySet[ServicingRequest]:
    return plan.servicing_requests.select_related("requested_by", "decided_by").order_by("-requested_at")


def with_previews(requests) -> list[ServicingRequest]:
    """The requests, each pending schedule change carrying `preview` (services.request_preview): what
    confirming it would do, shown to the approver and the customer before anyone confirms."""
    from collections_app.services import request_preview

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

def cases_visible_to(user) -> QuerySet[CollectionCase]:
    """Collectors see the cases assigned to them; approvers, managers and admins see all."""
    cases = CollectionCase.objects.select_related("plan", "plan__product", "plan__customer", "assigned_to")
    if user.has_role(*CASE_ALL_ROLES):
        return cases
    if user.has_role(Role.COLLECTOR):
        return cases.filter(assigned_to=user)
    return cases.none()


def case_for_user(user, pk: int) -> CollectionCase:
    case = cases_visible_to(user).filter(pk=pk).first()
    if case is None:
        raise Http404
    return case


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
    """A payment intent with its payment: the customer's own, or one on a plan the staff member sees
    (plan_for_staff); 404 otherwise."""
    intent = (PaymentIntent.objects.select_related("plan", "payment", "payment__plan")
              .prefetch_related("payment__allocations__installment").filter(pk=pk).first())
    if intent is None:
        raise Http404
    if intent.customer_id == user.pk:
        return intent
    plan_for_staff(user, intent.plan_id)
    return intent


def payment_for_receipt(user, pk: int, *, staff: bool) -> Payment:
    """A payment whose receipt `user` may download: on their own plan, or (`staff`) on a plan they see."""
    payment = Payment.objects.select_related("plan", "plan__product", "plan__customer").filter(pk=pk).first()
    if payment is None or payment.channel == Payment.Channel.CREDIT:
        raise Http404
    if staff:
        plan_for_staff(user, payment.plan_id)
    elif payment.plan.customer_id != user.pk:
        raise Http404
    return payment
