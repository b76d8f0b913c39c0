"""The customer's repayment record on their profile (the reward / penalty feed for the offer engine):
installments paid on time / late, the worst days past due, the amount overdue now.
"""

from __future__ import annotations

from django.apps import apps
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Max, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Greatest

from collections_app.collections.buckets import buckets
from collections_app.models import InstallmentCharge
from collections_app.servicing.policy import PAYABLE_STATES, ZERO
from installments.models import Installment, Plan

RECORD_FIELDS = ("on_time_payments", "late_payments", "max_days_past_due", "current_overdue")


def _profile_model():
    try:
        model = apps.get_model("customers", "CustomerProfile")
    except LookupError:
        return None, ()
    names = {f.name for f in model._meta.get_fields()}
    return model, tuple(f for f in RECORD_FIELDS if f in names)


def repayment_record_refresh(*, customer_ids=None, delinquent_only: bool = False) -> int:
    """Recompute customers' repayment record on their profile in one UPDATE: installments paid on
    time / late, the worst days past due ever, the amount overdue now. Only the fields the profile
    has are written. `customer_ids` (user ids, or a queryset of them) limits it; `delinquent_only`
    (the close of business) limits it to customers with an overdue plan or an amount overdue on
    record; neither means every customer with a plan. Returns the number of profiles updated."""
    model, present = _profile_model()
    if model is None or not present:
        return 0
    per_customer = Installment.objects.filter(plan__customer=OuterRef("user_id")).order_by().values("plan__customer")
    outstanding = ExpressionWrapper(
        F("principal_due") - F("principal_paid") + F("interest_due") - F("interest_paid") + F("fee_due")
        - F("fee_paid") + F("penalty_due") - F("penalty_paid"), output_field=DecimalField(max_digits=14,
                                                                                         decimal_places=2))
    values = {}
    if "on_time_payments" in present:
        values["on_time_payments"] = Coalesce(Subquery(per_customer.filter(
            status=Installment.Status.PAID, days_past_due=0).annotate(n=Count("pk")).values("n")), 0)
    if "late_payments" in present:
        values["late_payments"] = Coalesce(Subquery(per_customer.filter(
            status=Installment.Status.PAID, days_past_due__gt=0).annotate(n=Count("pk")).values("n")), 0)
    if "max_days_past_due" in present:
        values["max_days_past_due"] = Greatest(F("max_days_past_due"), Coalesce(Subquery(per_customer.filter(
            status__in=[Installment.Status.PAID, Installment.Status.OVERDUE]).annotate(
            m=Max("days_past_due")).values("m")), 0))
    if "current_overdue" in present:
        values["current_overdue"] = Coalesce(Subquery(per_customer.filter(
            status=Installment.Status.OVERDUE).annotate(s=Sum(outstanding)).values("s")),
            Value(ZERO), output_field=DecimalField(max_digits=14, decimal_places=2))
    profiles = model.objects.all()
    if customer_ids is not None:
        profiles = profiles.filter(user_id__in=customer_ids)
    elif delinquent_only:
        overdue = Q(user_id__in=Plan.objects.filter(state__in=PAYABLE_STATES, days_past_due__gt=0).values(
            "customer_id"))
        profiles = profiles.filter(overdue | Q(current_overdue__gt=0) if "current_overdue" in present else overdue)
    else:
        profiles = profiles.filter(user_id__in=Plan.objects.values("customer_id"))
    return profiles.update(**values)


def charges_ledger_for(installment: Installment) -> InstallmentCharge | None:
    return InstallmentCharge.objects.filter(installment=installment).first()


def default_buckets():
    return buckets()
