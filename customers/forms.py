import hashlib

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.core.cache import cache
from django.db import models
from django.forms.models import fields_for_model, model_to_dict
from django.utils.translation import gettext_lazy as _

from customers.models import CustomerProfile, DocumentKind, InterviewNote, ReviewState, User
from customers.services import LINE_FIELDS, LINE_MODELS


class EmailAuthenticationForm(AuthenticationForm):
    username = forms.EmailField(label=_("E-mail"), widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}))


class ThrottledPasswordResetForm(PasswordResetForm):
    """Django's reset form, sending at most PASSWORD_RESET_PER_EMAIL mails an hour to one address and
    PASSWORD_RESET_PER_IP an hour for one client. Over the limit nothing is sent, and the page is the
    same "check your inbox" as always, so it tells nobody whether the address has an account."""

    def save(self, *args, request=None, **kwargs):
        email = self.cleaned_data["email"].strip().lower()
        client = request.META.get("REMOTE_ADDR", "") if request is not None else ""
        hashed = hashlib.sha256(email.encode()).hexdigest()  # no address in the cache keys
        if (within_hourly_limit(f"password-reset:email:{hashed}", settings.PASSWORD_RESET_PER_EMAIL)
                and within_hourly_limit(f"password-reset:ip:{client}", settings.PASSWORD_RESET_PER_IP)):
            super().save(*args, request=request, **kwargs)


def within_hourly_limit(key: str, limit: int) -> bool:
    """Count one more use of `key` in the cache (the count lives an hour from its first use); whether
    it is still within `limit`."""
    cache.add(key, 0, timeout=60 * 60)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=60 * 60)
        count = 1
    return count <= limit


class SignUpForm(forms.Form):
    """The sign-up form. It never says whether the e-mail has an account (the page after it is the same
    either way, customers.services.sign_up_request); the checks here are about the input alone."""

    full_name = forms.CharField(label=_("Full name"), max_length=150)
    email = forms.EmailField(label=_("E-mail"))
    password1 = forms.CharField(label=_("Password"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password2 = forms.CharField(label=_("Password again"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    preferred_language = forms.ChoiceField(label=_("Language"), choices=User._meta.get_field("preferred_language").choices)

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()

    def clean(self):
        cleaned = super().clean()
        p1, p2 = cleaned.get("password1"), cleaned.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", _("The two passwords do not match."))
        elif p1:
            candidate = User(email=cleaned.get("email", ""), full_name=cleaned.get("full_name", ""))
            try:
                password_validation.validate_password(p1, candidate)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned


# --- The customer profile -------------------------------------------------------------------------
# Plain forms whose fields come from the models (labels, choices, validators); the services apply
# the business rules and the views put a DomainError next to the field it names.

IDENTITY_FIELDS = (
    "full_name", "id_type", "id_number", "date_of_birth", "sex", "phone", "email",
    "province", "city", "district", "street", "postcode",
)
BACKGROUND_FIELDS = (
    "occupation", "occupation_other", "employer", "employment_type", "years_in_job", "education",
    "marital_status", "dependants", "housing", "number_of_existing_credits", "past_delinquencies",
)


class _ModelFieldsForm(forms.Form):
    """A form with `model`'s fields `field_names`, in that order, initialised from `instance`."""

    model: type[models.Model]
    field_names: tuple[str, ...] = ()
    widgets: dict = {}

    def __init__(self, *args, instance: models.Model | None = None, **kwargs):
        if instance is not None and instance.pk:
            kwargs.setdefault("initial", model_to_dict(instance, fields=self.field_names))
        super().__init__(*args, **kwargs)
        model_fields = fields_for_model(self.model, fields=self.field_names, widgets=self.widgets)
        self.fields = {name: self.fields.get(name) or model_fields[name] for name in self.field_names}


class IdentityForm(_ModelFieldsForm):
    model = CustomerProfile
    field_names = IDENTITY_FIELDS
    widgets = {"date_of_birth": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}

    id_number = forms.CharField(label=_("ID number"), max_length=32, strip=True,
                                widget=forms.TextInput(attrs={"autocomplete": "off"}))

    def __init__(self, *args, instance: CustomerProfile | None = None, **kwargs):
        super().__init__(*args, instance=instance, **kwargs)
        self.fields["date_of_birth"].required = False
        self.fields["date_of_birth"].help_text = _("For a PRC resident ID it is read from the number.")
        self.fields["sex"].help_text = CustomerProfile._meta.get_field("sex").help_text
        if instance is not None and instance.pk:
            self.fields["id_number"].required = False
            self.fields["id_number"].help_text = _("On file: %(masked)s. Leave blank to keep it.") % {
                "masked": instance.id_number_masked}


class BackgroundForm(_ModelFieldsForm):
    model = CustomerProfile
    field_names = BACKGROUND_FIELDS


LINE_FORMS = {
    line_type: forms.modelform_factory(model, fields=LINE_FIELDS[line_type])
    for line_type, model in LINE_MODELS.items()
}


class DocumentUploadForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind of document"), choices=DocumentKind.choices)
    file = forms.FileField(
        label=_("File"), help_text=_("PDF, JPEG or PNG."),
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png"}),
    )


class StatementUploadForm(forms.Form):
    file = forms.FileField(
        label=_("Bank statement (CSV)"),
        help_text=_("Columns date, description, amount, balance (or 日期, 摘要, 金额, 余额); UTF-8 or GBK; "
                    "comma or semicolon separated. Money in is positive, money out negative."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )


class DocumentReviewForm(forms.Form):
    to = forms.ChoiceField(choices=[(ReviewState.VERIFIED, _("Verify")), (ReviewState.REJECTED, _("Reject"))])
    reason = forms.CharField(label=_("Reason"), required=False, max_length=1000)


class RevealIdForm(forms.Form):
    reason = forms.CharField(label=_("Why do you need the full number?"), required=False, max_length=200)


class InterviewNoteForm(forms.ModelForm):
    class Meta:
        model = InterviewNote
        fields = ["text", "stability_rating", "willingness_rating"]
        widgets = {
            "text": forms.Textarea(attrs={"rows": 3}),
            "stability_rating": forms.Select(choices=[(i, i) for i in range(1, 6)]),
            "willingness_rating": forms.Select(choices=[(i, i) for i in range(1, 6)]),
        }
