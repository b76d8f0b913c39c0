"""Forms of customer self-service. They parse and check input; the services apply the business rules.

Every form here is accessible: each widget carries Bootstrap's class, `aria-describedby` naming
its help text, its live inline check (when it has one) and its errors, and `aria-invalid` when it
has errors; the templates announce errors with role="alert".
"""

from decimal import Decimal

from django import forms
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _

from collections_app.models import Payment
from customers.forms import LINE_FORMS, BackgroundForm, DocumentUploadForm, IdentityForm, StatementUploadForm
from customers.models import CONSENT_TEXTS, ConsentKind, DocumentKind, SatisfactionMoment
from installments.forms import METHOD_LABELS
from installments.models import Application
from installments.origination.selectors import product_list_public
from portal.services import EMPLOYED_TYPES, REQUIRED_BACKGROUND, required_inputs

MONTHS = [(m, name) for m, name in enumerate(
    (_("January"), _("February"), _("March"), _("April"), _("May"), _("June"), _("July"), _("August"),
     _("September"), _("October"), _("November"), _("December")), start=1)]


class AccessibleFormMixin:
    """Bootstrap classes and ARIA wiring on every widget (see the module docstring).

    `inline_checks` maps a field to the URL name of its htmx check; the widget posts itself (and
    the fields named in `inline_check_include`) there when it changes or loses focus, and the
    answer goes into the field's `<div id="<id>_check">`.
    """

    inline_checks: dict[str, str] = {}
    inline_check_include: dict[str, str] = {}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            self._decorate(name, field)

    def _describedby(self, name: str, field, *, with_errors: bool) -> str:
        auto_id = self[name].auto_id
        ids = []
        if field.help_text:
            ids.append(f"{auto_id}_help")
        if name in self.inline_checks:
            ids.append(f"{auto_id}_check")
        if with_errors:
            ids.append(f"{auto_id}_errors")
        return " ".join(ids)

    def _decorate(self, name: str, field) -> None:
        widget = field.widget
        if isinstance(widget, forms.CheckboxInput):
            css = "form-check-input"
        elif isinstance(widget, (forms.CheckboxSelectMultiple, forms.RadioSelect)):
            css = "form-check-input"
        elif isinstance(widget, (forms.Select, forms.SelectMultiple)):
            css = "form-select"
        else:
            css = "form-control"
        classes = [c for c in widget.attrs.get("class", "").split() if c]
        if css not in classes:
            classes.append(css)
        widget.attrs["class"] = " ".join(classes)
        describedby = self._describedby(name, field, with_errors=False)
        if describedby:
            widget.attrs["aria-describedby"] = describedby
        if field.required and not isinstance(widget, (forms.CheckboxSelectMultiple, forms.RadioSelect)):
            widget.attrs.setdefault("aria-required", "true")
        if name in self.inline_checks:
            auto_id = self[name].auto_id
            widget.attrs.update({
                "hx-post": str(reverse_lazy(self.inline_checks[name])),
                "hx-trigger": "change, keyup changed delay:700ms, blur",
                "hx-target": f"#{auto_id}_check",
                "hx-swap": "innerHTML",
                "hx-sync": "this:replace",
            })
            include = self.inline_check_include.get(name)
            if include:
                widget.attrs["hx-include"] = include

    def add_error(self, field, error):
        super().add_error(field, error)
        for name in self.errors:
            if name in self.fields:
                widget = self.fields[name].widget
                if "is-invalid" not in widget.attrs.get("class", ""):
                    widget.attrs["class"] = (widget.attrs.get("class", "") + " is-invalid").strip()
                widget.attrs["aria-invalid"] = "true"
                widget.attrs["aria-describedby"] = self._describedby(name, self.fields[name], with_errors=True)


# --- The wizard's steps -------------------------------------------------------------------------------

class PersonalForm(AccessibleFormMixin, IdentityForm):
    """Step 1: identity and contact (customers.forms.IdentityForm), the ID number checked as it is typed."""

    inline_checks = {"id_number": "portal:check_id_number"}
    inline_check_include = {"id_number": "[name='id_type']"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["phone"].widget.attrs.update({"autocomplete": "tel", "inputmode": "tel"})
        self.fields["email"].widget.attrs["autocomplete"] = "email"
        self.fields["full_name"].widget.attrs["autocomplete"] = "name"
        self.fields["postcode"].widget.attrs["inputmode"] = "numeric"


class WorkForm(AccessibleFormMixin, BackgroundForm):
    """Step 2: work and background; what scoring needs is required here (the profile allows blanks)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in REQUIRED_BACKGROUND:
            self.fields[name].required = True
            self.fields[name].widget.attrs["aria-required"] = "true"
        self.fields["years_in_job"].help_text = _("Required if you are employed or run a business.")
        for name in ("years_in_job", "dependants"):  # optional inputs the credit policy may require
            if name in required_inputs():
                self.fields[name].required = True
                self.fields[name].widget.attrs["aria-required"] = "true"
                self.fields[name].help_text = _("Required by our credit policy.")
        self._decorate("years_in_job", self.fields["years_in_job"])

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("employment_type") in EMPLOYED_TYPES and cleaned.get("years_in_job") is None \
                and "years_in_job" not in self.errors:
            self.add_error("years_in_job", _("Enter how long you have been in your current job (0 if it is new)."))
        if cleaned.get("employment_type") == "salaried" and not (cleaned.get("employer") or "").strip() \
                and "employer" not in self.errors:
            self.add_error("employer", _("Enter the name of your employer."))
        return cleaned


def line_form(line_type: str) -> type[forms.ModelForm]:
    """The profile's finance-line form for `line_type`, made accessible."""
    return _LINE_FORMS[line_type]


_LINE_FORMS = {
    line_type: type(f"Portal{line_type.title()}LineForm", (AccessibleFormMixin, form), {})
    for line_type, form in LINE_FORMS.items()
}


class PortalDocumentForm(AccessibleFormMixin, DocumentUploadForm):
    def __init__(self, *args, kinds: list[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if kinds:
            labels = dict(DocumentKind.choices)
            self.fields["kind"].choices = [(k, labels[k]) for k in kinds if k in labels]


class PortalStatementForm(AccessibleFormMixin, StatementUploadForm):
    pass


PREFERENCE_PAYMENT, PREFERENCE_TERM, PREFERENCE_NONE = "payment", "term", "none"


class RequestForm(AccessibleFormMixin, forms.Form):
    """Step 5: what the customer would like to borrow and how they would like to repay."""

    inline_checks = {"amount": "portal:check_amount"}
    inline_check_include = {"amount": "[name='product']"}

    product = forms.ModelChoiceField(label=_("Product"), queryset=None, empty_label=None)
    amount = forms.DecimalField(label=_("Amount you would like to borrow"), max_digits=14, decimal_places=2,
                                min_value=Decimal("0.01"), widget=forms.NumberInput(attrs={"inputmode": "decimal",
                                                                                           "step": "0.01"}))
    purpose = forms.ChoiceField(label=_("What is it for?"))
    preference = forms.ChoiceField(
        label=_("What matters most to you?"), widget=forms.RadioSelect, initial=PREFERENCE_PAYMENT,
        choices=[(PREFERENCE_PAYMENT, _("A monthly payment I can afford")),
                 (PREFERENCE_TERM, _("Paying it back over a set number of months")),
                 (PREFERENCE_NONE, _("No preference: show me the best plans"))],
    )
    target_monthly_payment = forms.DecimalField(
        label=_("Monthly payment you can afford"), required=False, max_digits=14, decimal_places=2,
        min_value=Decimal("0.01"), widget=forms.NumberInput(attrs={"inputmode": "decimal", "step": "0.01"}))
    term_months = forms.IntegerField(label=_("Term (months)"), required=False, min_value=1, max_value=360)
    preferred_method = forms.ChoiceField(label=_("Preferred plan type"), required=False,
                                         help_text=_("Optional. We will also show you other plans that fit."))
    income_pattern = forms.ChoiceField(label=_("How does your income come in?"))
    low_income_months = forms.TypedMultipleChoiceField(
        label=_("Months when your income is lower"), required=False, coerce=int, choices=MONTHS,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("For seasonal income: we can offer lower payments in these months."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = product_list_public()
        self.fields["purpose"].choices = Application.Purpose.choices
        self.fields["income_pattern"].choices = Application.IncomePattern.choices
        self.fields["preferred_method"].choices = [("", _("No preference"))] + list(METHOD_LABELS.items())

    @staticmethod
    def initial_from(application) -> dict:
        if application is None:
            return {}
        preference = (PREFERENCE_PAYMENT if application.target_monthly_payment else
                      PREFERENCE_TERM if application.term_months else PREFERENCE_NONE)
        return {
            "product": application.product_id, "amount": application.amount, "purpose": application.purpose,
            "preference": preference, "target_monthly_payment": application.target_monthly_payment,
            "term_months": application.term_months, "preferred_method": application.preferred_method,
            "income_pattern": application.income_pattern, "low_income_months": application.low_income_months,
        }

    def clean(self):
        cleaned = super().clean()
        product, amount = cleaned.get("product"), cleaned.get("amount")
        if product is not None and amount is not None and not product.min_amount <= amount <= product.max_amount:
            self.add_error("amount", _("For %(product)s the amount must be between %(low)s and %(high)s %(currency)s.")
                           % {"product": product.name, "low": f"{product.min_amount:,}",
                              "high": f"{product.max_amount:,}", "currency": product.currency})
        preference = cleaned.get("preference")
        if preference == PREFERENCE_PAYMENT:
            target = cleaned.get("target_monthly_payment")
            if target is None and "target_monthly_payment" not in self.errors:
                self.add_error("target_monthly_payment", _("Enter the monthly payment you can afford."))
            elif target is not None and amount is not None and target > amount:
                self.add_error("target_monthly_payment", _("The monthly payment cannot be more than the amount."))
            cleaned["term_months"] = None
        elif preference == PREFERENCE_TERM:
            term = cleaned.get("term_months")
            if term is None and "term_months" not in self.errors:
                self.add_error("term_months", _("Enter the number of months."))
            elif term is not None and product is not None and not product.min_term_months <= term <= product.max_term_months:
                self.add_error("term_months", _("For %(product)s the term must be between %(low)s and %(high)s months.")
                               % {"product": product.name, "low": product.min_term_months,
                                  "high": product.max_term_months})
            cleaned["target_monthly_payment"] = None
        else:
            cleaned["term_months"] = cleaned["target_monthly_payment"] = None
        method = cleaned.get("preferred_method")
        if method and product is not None and method not in product.methods():
            self.add_error("preferred_method", _("%(product)s does not offer this plan type.")
                           % {"product": product.name})
        pattern = cleaned.get("income_pattern")
        months = cleaned.get("low_income_months") or []
        if pattern == "seasonal" and not months:
            self.add_error("low_income_months", _("Tick the months when your income is lower."))
        elif pattern == "seasonal" and len(months) > 6:
            self.add_error("low_income_months", _("Tick at most six months."))
        elif pattern != "seasonal":
            cleaned["low_income_months"] = []
        return cleaned

    def application_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "product": data["product"], "amount": data["amount"], "purpose": data["purpose"],
            "term_months": data.get("term_months"), "target_monthly_payment": data.get("target_monthly_payment"),
            "preferred_method": data.get("preferred_method") or "", "income_pattern": data["income_pattern"],
            "low_income_months": sorted(set(data.get("low_income_months") or [])),
        }


class ConsentsForm(AccessibleFormMixin, forms.Form):
    """Step 6: the consents an application needs (and marketing, optional)."""

    credit_check = forms.BooleanField(
        label=CONSENT_TEXTS[ConsentKind.CREDIT_CHECK],
        error_messages={"required": _("We need this consent to assess your application.")})
    data_processing = forms.BooleanField(
        label=CONSENT_TEXTS[ConsentKind.DATA_PROCESSING],
        error_messages={"required": _("We need this consent to assess your application.")})
    marketing = forms.BooleanField(label=CONSENT_TEXTS[ConsentKind.MARKETING], required=False,
                                   help_text=_("Optional. You can withdraw it at any time in your profile."))


class ReviewForm(AccessibleFormMixin, forms.Form):
    confirm = forms.BooleanField(
        label=_("I confirm that the information I gave is true and complete."),
        error_messages={"required": _("Please confirm that the information is true and complete.")})


class IdCheckForm(forms.Form):
    id_type = forms.CharField(required=False)
    id_number = forms.CharField(required=False)


# --- After submission ------------------------------------------------------------------------------

class ContractAcceptForm(AccessibleFormMixin, forms.Form):
    """Accepts one exact contract version: the version and fingerprint shown are posted back."""

    version = forms.IntegerField(widget=forms.HiddenInput)
    fingerprint = forms.CharField(widget=forms.HiddenInput, max_length=64)
    read = forms.BooleanField(
        label=_("I have read the whole contract, including the schedule, the APR, every fee and the early payoff "
                "and late payment terms, and I accept it."),
        error_messages={"required": _("Please confirm that you have read and accept the contract.")})


class SatisfactionForm(AccessibleFormMixin, forms.Form):
    rating = forms.TypedChoiceField(
        label=_("How satisfied are you?"), coerce=int, widget=forms.RadioSelect,
        choices=[(5, _("5 – very satisfied")), (4, "4"), (3, "3"), (2, "2"), (1, _("1 – very dissatisfied"))],
        error_messages={"required": _("Choose a rating from 1 to 5.")})
    comment = forms.CharField(label=_("Anything you would like to tell us?"), required=False, max_length=2000,
                              widget=forms.Textarea(attrs={"rows": 2}))
    moment = forms.ChoiceField(choices=SatisfactionMoment.choices, widget=forms.HiddenInput)


class CheckoutForm(AccessibleFormMixin, forms.Form):
    """A self-service payment through the payment provider."""

    amount = forms.DecimalField(label=_("Amount to pay"), max_digits=14, decimal_places=2, min_value=Decimal("0.01"),
                                widget=forms.NumberInput(attrs={"inputmode": "decimal", "step": "0.01"}))
    overpayment = forms.ChoiceField(
        label=_("If you pay more than is due"), widget=forms.RadioSelect,
        help_text=_("Paying more than is due is a partial prepayment: choose whether it shortens the plan or "
                    "lowers your installments, or keep it as credit for the next installment."))
    card_number = forms.CharField(
        label=_("Bank card number"), max_length=23,
        widget=forms.TextInput(attrs={"autocomplete": "cc-number", "inputmode": "numeric"}),
        help_text=_("Sent to the payment provider; we never store it."))
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=100)

    def __init__(self, *args, **kwargs):
        import uuid


        super().__init__(*args, **kwargs)
        self.fields["overpayment"].choices = Payment.Overpayment.choices
        self.fields["overpayment"].initial = Payment.Overpayment.CREDIT
        if not self.is_bound:
            self.initial.setdefault("idempotency_key", uuid.uuid4().hex)


class HardshipForm(AccessibleFormMixin, forms.Form):
    months = forms.IntegerField(label=_("Extra months you need"), min_value=1, max_value=24, initial=6,
                                help_text=_("The balance is spread over more months, so each installment is lower."))
    reason = forms.CharField(label=_("What has changed?"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3}),
                             help_text=_("For example: lost job, illness, lower income. We treat this in confidence."))
