"""Forms and the work-queue filter of the staff workbench (installments.workbench.views)."""

from datetime import timedelta
from decimal import Decimal

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers import national_id
from customers.models import DocumentKind, User
from customers.pii import search_hash
from installments.engine.offers import METHOD_NAMES
from installments.models import GRADES, Application, LoanProduct
from installments.origination.decisions import ASSIGNABLE_ROLES, COUNTER_OFFER_METHODS, DeclineReason

State = Application.State

# The queue's tabs: what officers and approvers work on, in the order they meet it.
QUEUE_TABS = {
    "new": (_("New (awaiting score)"), (State.SUBMITTED,)),
    "scored": (_("Scored"), (State.SCORED,)),
    "in_review": (_("In review"), (State.IN_REVIEW,)),
    "documents": (_("Awaiting documents"), (State.DOCUMENTS_REQUESTED,)),
    "awaiting_approval": (_("Awaiting second approval"), (State.AWAITING_APPROVAL,)),
    "approved": (_("Approved: contract and disbursement"), (State.APPROVED, State.CONTRACTED)),
    "open": (_("All open"), Application.OPEN_STATES),
}
DEFAULT_TAB = "scored"


def assignable_staff() -> QuerySet[User]:
    """Active loan officers and approvers, the people a case can be assigned to."""
    return (User.objects.filter(is_active=True, groups__name__in=[str(r) for r in ASSIGNABLE_ROLES])
            .distinct().order_by("full_name", "email"))


class QueueFilter(django_filters.FilterSet):
    """Filters, search and sort of the work queue (the tab's states are applied by the view)."""

    AGE_CHOICES = (
        ("overdue", _("Over the review time limit")),
        ("1d", _("Older than 1 day")),
        ("3d", _("Older than 3 days")),
        ("7d", _("Older than 7 days")),
    )
    AGE_DAYS = {"1d": 1, "3d": 3, "7d": 7}

    q = django_filters.CharFilter(
        label=_("Search"), method="search",
        help_text=_("Name, application number, phone, masked ID as shown, or the exact ID number."))
    grade = django_filters.MultipleChoiceFilter(label=_("Grade"), field_name="score_result__grade", choices=GRADES,
                                                widget=forms.CheckboxSelectMultiple)
    amount_min = django_filters.NumberFilter(label=_("Amount from"), field_name="amount", lookup_expr="gte")
    amount_max = django_filters.NumberFilter(label=_("Amount to"), field_name="amount", lookup_expr="lte")
    product = django_filters.ModelChoiceFilter(label=_("Product"), queryset=LoanProduct.objects.order_by("code"),
                                               empty_label=_("Any product"))
    age = django_filters.ChoiceFilter(label=_("Age"), choices=AGE_CHOICES, method="filter_age",
                                      empty_label=_("Any age"))
    officer = django_filters.ChoiceFilter(label=_("Assigned officer"), method="filter_officer",
                                          empty_label=_("Anyone"))
    sort = django_filters.OrderingFilter(
        label=_("Sort"),
        fields=(("submitted_at", "submitted"), ("amount", "amount"), ("score_result__grade", "grade"),
                ("updated_at", "updated")),
        field_labels={"submitted": _("Oldest first"), "-submitted": _("Newest first"), "amount": _("Smallest amount"),
                      "-amount": _("Largest amount"), "grade": _("Best grade"), "-grade": _("Worst grade"),
                      "updated": _("Least recently updated"), "-updated": _("Most recently updated")},
        empty_label=_("Oldest first"),
    )

    class Meta:
        model = Application
        fields = ["q", "grade", "amount_min", "amount_max", "product", "age", "officer"]

    def __init__(self, *args, request_user=None, sla_hours: int = 48, **kwargs):
        super().__init__(*args, **kwargs)
        self.request_user = request_user
        self.sla_hours = sla_hours
        choices = [("me", _("Me")), ("none", _("Unassigned"))]
        choices += [(str(u.pk), u.get_full_name()) for u in assignable_staff()]
        self.filters["officer"].extra["choices"] = choices

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = (value or "").strip()
        if not value:
            return queryset
        condition = (Q(number__iexact=value) | Q(number__icontains=value)
                     | Q(customer__profile__full_name__icontains=value) | Q(customer__full_name__icontains=value)
                     | Q(customer__email__iexact=value))
        if "*" in value:
            condition |= Q(customer__profile__id_number_masked__iexact=value)
        digits = "".join(c for c in value if c.isdigit())
        if len(digits) >= 4 and "*" not in value:
            condition |= Q(customer__profile__phone__contains=digits)
        number = national_id.normalise(value)
        if len(number) >= 6 and "*" not in value:
            # ID numbers are encrypted at rest: an exact number is found through its keyed hash only.
            condition |= Q(customer__profile__id_number_hash=search_hash(number))
        return queryset.filter(condition)

    def filter_age(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        now = timezone.now()
        if value == "overdue":
            return queryset.filter(submitted_at__lte=now - timedelta(hours=self.sla_hours))
        if value in self.AGE_DAYS:
            return queryset.filter(submitted_at__lte=now - timedelta(days=self.AGE_DAYS[value]))
        return queryset

    def filter_officer(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == "me" and self.request_user is not None:
            return queryset.filter(assigned_officer=self.request_user)
        if value == "none":
            return queryset.filter(assigned_officer__isnull=True)
        if value and value.isdigit():
            return queryset.filter(assigned_officer_id=int(value))
        return queryset


class AssignForm(forms.Form):
    officer = forms.ModelChoiceField(label=_("Assign to"), queryset=User.objects.none(), required=False,
                                     empty_label=_("Nobody (unassign)"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["officer"].queryset = assignable_staff()
        self.fields["officer"].label_from_instance = lambda user: user.get_full_name()


class NoteOverrideForm(forms.Form):
    """A decision's note and, when it goes against the model's recommendation, the override reason."""

    note = forms.CharField(label=_("Note for the file"), required=False, max_length=2000,
                           widget=forms.Textarea(attrs={"rows": 2}))
    override_reason = forms.CharField(
        label=_("Override reason"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Required when the decision goes against the model's recommendation, when the installment "
                    "is more than the customer can afford, or when the customer is in arrears with us."))


class ApproveForm(NoteOverrideForm):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "approve_%s")
        super().__init__(*args, **kwargs)


class CounterOfferForm(NoteOverrideForm):
    amount = forms.DecimalField(label=_("Amount"), max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    term_months = forms.IntegerField(label=_("Term (months)"), min_value=1, max_value=600)
    annual_rate = forms.DecimalField(label=_("Annual interest rate (%)"), max_digits=7, decimal_places=4,
                                     min_value=Decimal("0"))
    method = forms.ChoiceField(label=_("Plan type"), choices=[(m, METHOD_NAMES[m][0]) for m in COUNTER_OFFER_METHODS])

    field_order = ["amount", "term_months", "annual_rate", "method", "note", "override_reason"]

    def __init__(self, *args, methods=None, **kwargs):
        kwargs.setdefault("auto_id", "counter_%s")
        super().__init__(*args, **kwargs)
        if methods:
            self.fields["method"].choices = [(m, METHOD_NAMES[m][0]) for m in methods]


class DeclineForm(NoteOverrideForm):
    reason_codes = forms.MultipleChoiceField(label=_("Reasons"), choices=DeclineReason.choices,
                                             widget=forms.CheckboxSelectMultiple)

    field_order = ["reason_codes", "note", "override_reason"]

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "decline_%s")
        super().__init__(*args, **kwargs)


class DocumentRequestForm(forms.Form):
    kinds = forms.MultipleChoiceField(label=_("Documents needed"), choices=DocumentKind.choices,
                                      widget=forms.CheckboxSelectMultiple)
    message = forms.CharField(label=_("Message to the customer"), max_length=2000,
                              widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "documents_%s")
        super().__init__(*args, **kwargs)


class ConfirmForm(forms.Form):
    CONFIRM, RETURN = "confirm", "return"
    action = forms.ChoiceField(choices=[(CONFIRM, _("Confirm")), (RETURN, _("Return to review"))])
    note = forms.CharField(label=_("Note"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}),
                           help_text=_("Required to return the application to review."))

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "confirm_%s")
        super().__init__(*args, **kwargs)


class ActivationForm(forms.Form):
    disbursement_date = forms.DateField(label=_("Disbursed on"), widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["disbursement_date"].initial = timezone.localdate()


class ContractLanguageForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"), choices=[("en", "English"), ("zh-hans", "简体中文")],
                                 widget=forms.Select(attrs={"class": "form-select form-select-sm w-auto"}))
