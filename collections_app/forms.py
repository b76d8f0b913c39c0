"""Forms of the servicing and collections pages. They parse input; the services decide."""

import uuid
from decimal import Decimal

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from collections_app.collections.buckets import buckets
from collections_app.models import ContactLog, Payment, ServicingRequest
from customers.models import User
from customers.roles import Role

DATE = forms.DateInput(attrs={"type": "date"})
MAX_IMPORT_BYTES = 5 * 1024 * 1024


class PaymentForm(forms.Form):
    amount = forms.DecimalField(label=_("Amount"), max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    overpayment = forms.ChoiceField(label=_("If you pay more than is due"), choices=Payment.Overpayment.choices,
                                    initial=Payment.Overpayment.CREDIT)
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=100)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            # A fresh key per rendered form: a double click or a resubmitted page posts once.
            self.initial.setdefault("idempotency_key", uuid.uuid4().hex)


class CustomerPaymentForm(PaymentForm):
    """The customer pays on the plan page through the payment provider (collections_app.servicing.intents)."""

    card_number = forms.CharField(
        label=_("Bank card number"), max_length=23,
        widget=forms.TextInput(attrs={"autocomplete": "cc-number", "inputmode": "numeric"}))
    field_order = ["amount", "card_number", "overpayment", "idempotency_key"]


def fresh_payment_form(form: forms.Form) -> forms.Form:
    """The same input under a new idempotency key and without the card number, for a pay form (here
    or the portal's): after a declined card the customer tries again (the declined key would only
    replay its answer), and a card number is never echoed back into the page."""
    data = form.data.copy()
    data["idempotency_key"], data["card_number"] = uuid.uuid4().hex, ""
    fresh = type(form)(data)
    fresh.is_valid()
    fresh.errors.pop("card_number", None)
    return fresh


class StaffPaymentForm(PaymentForm):
    received_on = forms.DateField(label=_("Value date (received on)"), widget=DATE, initial=timezone.localdate)
    reference = forms.CharField(label=_("Reference"), max_length=90,
                                help_text=_("The external reference of the money: receipt, transfer or slip number."))
    reason = forms.CharField(label=_("Why an earlier date"), required=False, max_length=500, help_text=_(
        "Back-dated postings above the money threshold wait for a second person; say why."))


class PayoffQuoteForm(forms.Form):
    on_date = forms.DateField(label=_("Pay off on"), widget=DATE)


class CustomerRequestForm(forms.Form):
    kind = forms.ChoiceField(label=_("Request"), choices=[
        (ServicingRequest.Kind.PAYMENT_HOLIDAY, _("Payment holiday")),
        (ServicingRequest.Kind.EARLY_PAYOFF, _("Early payoff")),
    ])
    periods = forms.IntegerField(label=_("Installments to pause (holiday)"), min_value=1, max_value=6,
                                 required=False, initial=1)
    interest = forms.ChoiceField(label=_("Interest during the holiday"), required=False, choices=[
        ("capitalise", _("Added to the balance")), ("waive", _("Waived (if we agree)"))])
    on_date = forms.DateField(label=_("Pay off on (early payoff)"), widget=DATE, required=False)
    reason = forms.CharField(label=_("Why"), widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)

    def __init__(self, *args, **kwargs):
        # Shown beside the payoff quote form on one page: ids of its own (id_request_on_date, ...).
        kwargs.setdefault("auto_id", "id_request_%s")
        super().__init__(*args, **kwargs)

    def params(self) -> dict:
        data = self.cleaned_data
        if data["kind"] == ServicingRequest.Kind.PAYMENT_HOLIDAY:
            return {"periods": data.get("periods") or 1, "interest": data.get("interest") or "capitalise"}
        return {"on_date": data["on_date"].isoformat() if data.get("on_date") else ""}


class ReversalForm(forms.Form):
    reason = forms.CharField(label=_("Reason for the reversal"), max_length=500)


class PaymentImportForm(forms.Form):
    file = forms.FileField(label=_("Bank receipts (CSV)"), help_text=_(
        "Columns: date (YYYY-MM-DD), amount, reference; optional plan_number, payer, memo. Lines that match one "
        "plan are posted; the others are listed for you to resolve."))

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError(_("The file is larger than 5 MB."))
        try:
            return upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise forms.ValidationError(_("Save the file as UTF-8 CSV."))


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", _("Confirm")), ("reject", _("Reject"))],
                                 widget=forms.RadioSelect, initial="approve")
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    counter_value = forms.IntegerField(label=_("Counter-offer (installments, months or days)"), required=False,
                                       min_value=1, help_text=_("Leave empty to confirm what was asked."))


class ContactForm(forms.Form):
    channel = forms.ChoiceField(label=_("Channel"), choices=ContactLog.ContactChannel.choices)
    outcome = forms.ChoiceField(label=_("Outcome"), choices=ContactLog.Outcome.choices)
    reason_category = forms.ChoiceField(label=_("Cause of the arrears"), choices=ContactLog.Reason.choices,
                                        initial=ContactLog.Reason.UNKNOWN)
    employed = forms.TypedChoiceField(label=_("Employed"), required=False, coerce=lambda v: {"yes": True,
                                      "no": False}.get(v), empty_value=None,
                                      choices=[("", _("Not known")), ("yes", _("Yes")), ("no", _("No"))])
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class PromiseForm(forms.Form):
    amount = forms.DecimalField(label=_("Amount"), max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    promised_date = forms.DateField(label=_("Pay by"), widget=DATE)


class NoteForm(forms.Form):
    text = forms.CharField(label=_("Note"), widget=forms.Textarea(attrs={"rows": 2}))


STAFF_MEASURES = [(k, label) for k, label in ServicingRequest.Kind.choices
                  if k not in (ServicingRequest.Kind.PAYMENT_HOLIDAY, ServicingRequest.Kind.EARLY_PAYOFF,
                               ServicingRequest.Kind.PAYMENT_REVERSAL, ServicingRequest.Kind.BACKDATED_POST,
                               ServicingRequest.Kind.CREDIT_REFUND)]


class MeasureForm(forms.Form):
    kind = forms.ChoiceField(label=_("Measure"), choices=STAFF_MEASURES)
    days = forms.IntegerField(label=_("Extension (days)"), required=False, min_value=1)
    months = forms.IntegerField(label=_("Re-installment over (months)"), required=False, min_value=1)
    starts_on = forms.DateField(label=_("Freeze from"), required=False, widget=DATE)
    ends_on = forms.DateField(label=_("Freeze to"), required=False, widget=DATE)
    on_date = forms.DateField(label=_("Settle on"), required=False, widget=DATE)
    discount = forms.DecimalField(label=_("Settlement discount"), required=False, max_digits=14, decimal_places=2)
    legal_reference = forms.CharField(label=_("Legal file reference"), required=False, max_length=100)
    waiver_amount = forms.DecimalField(label=_("Late charges to waive (empty: all unpaid)"), required=False,
                                       max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    reason = forms.CharField(label=_("Why"), widget=forms.Textarea(attrs={"rows": 2}))

    def params(self) -> dict:
        data = self.cleaned_data
        kinds = ServicingRequest.Kind
        kind = data["kind"]
        if kind == kinds.EXTENSION:
            return {"days": data.get("days")}
        if kind == kinds.REINSTALLMENT:
            return {"months": data.get("months")}
        if kind == kinds.INTEREST_FREEZE:
            return {"starts_on": _iso(data.get("starts_on")), "ends_on": _iso(data.get("ends_on"))}
        if kind == kinds.SETTLEMENT:
            return {"on_date": _iso(data.get("on_date")), "discount": str(data.get("discount") or "")}
        if kind == kinds.LEGAL:
            return {"legal_reference": data.get("legal_reference", "")}
        if kind == kinds.CHARGE_WAIVER:
            return {"amount": str(data.get("waiver_amount") or "")}
        return {}


class CreditRefundForm(forms.Form):
    """Refund (part of) a plan's credit balance to the customer; a second person confirms it."""

    amount = forms.DecimalField(label=_("Amount to refund (empty: the whole credit balance)"), required=False,
                                max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    reference = forms.CharField(label=_("Bank reference of the refund"), max_length=100)
    reason = forms.CharField(label=_("Why"), widget=forms.Textarea(attrs={"rows": 2}))

    def params(self) -> dict:
        amount = self.cleaned_data.get("amount")
        return {"amount": str(amount) if amount else "", "reference": self.cleaned_data["reference"]}


def _iso(value) -> str:
    return value.isoformat() if value else ""


class AssignForm(forms.Form):
    collector = forms.ModelChoiceField(label=_("Collector"), required=False, queryset=User.objects.none(),
                                       empty_label=_("Nobody (back to the rules)"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["collector"].queryset = User.objects.filter(groups__name=Role.COLLECTOR, is_active=True)


class PlanListFilterForm(forms.Form):
    """The staff plan list's search box and state filter: hostile input (a NUL byte, an unknown
    state) is a 400 naming the field, never a database error."""

    q = forms.CharField(label=_("Search"), required=False, max_length=200)
    state = forms.ChoiceField(label=_("State"), required=False)

    def __init__(self, *args, states=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["state"].choices = [("", _("Any state")), *states]


class QueueFilterForm(forms.Form):
    bucket = forms.ChoiceField(label=_("Bucket"), required=False)
    product = forms.ChoiceField(label=_("Product"), required=False)
    collector = forms.ChoiceField(label=_("Collector"), required=False)

    def __init__(self, *args, products=(), collectors=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["bucket"].choices = [("", _("All"))] + [(b.code, b.label) for b in buckets() if b.min_days > 0]
        self.fields["product"].choices = [("", _("All"))] + [(p.code, p.name) for p in products]
        self.fields["collector"].choices = [("", _("All")), ("none", _("Unassigned"))] + [
            (str(u.pk), str(u)) for u in collectors]
        for field in self.fields.values():
            field.widget.attrs["class"] = "js-autosubmit"


LANGUAGE_CHOICES = settings.LANGUAGES
