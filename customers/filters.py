"""Filters for the staff customer list (the page and the API use the same FilterSet).

Finding a customer by ID number never puts the number in a URL (nor, so, in an access log): the
list filters on `id_hash`, the keyed search hash of the exact number, which only the server can
compute. The page's "Find by ID number" form POSTs the number and is redirected to the list with
`id_hash`; API clients POST it to `/api/v1/customers/find-by-id/` (see customers.api).
"""

import django_filters
from django import forms
from django.core.validators import RegexValidator
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from customers.models import (
    CustomerDocument,
    CustomerProfile,
    Education,
    EmploymentType,
    Housing,
    IdType,
    MaritalStatus,
    Occupation,
    ReviewState,
)
from customers.national_id import normalise
from customers.pii import search_hash

# What `id_hash` accepts: the 64 hex digits of the keyed hash (an ID number there is refused).
SEARCH_HASH_REGEX = r"\A[0-9a-f]{64}\Z"


class CustomerProfileFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label=_("Search"), method="search",
        help_text=_("Part of the name or phone, or the exact e-mail. For an ID number use the ID number search."),
    )
    id_hash = django_filters.CharFilter(
        label=_("ID number (search hash)"), method="filter_id_hash", widget=forms.HiddenInput,
        validators=[RegexValidator(SEARCH_HASH_REGEX, _("Not a search hash: find by ID number instead."))],
        help_text=_("The keyed search hash of the exact ID number (from POST /api/v1/customers/find-by-id/), "
                    "never the number itself."),
    )
    employment_type = django_filters.ChoiceFilter(label=_("Employment type"), choices=EmploymentType.choices)
    housing = django_filters.ChoiceFilter(label=_("Housing"), choices=Housing.choices)
    marital_status = django_filters.ChoiceFilter(label=_("Marital status"), choices=MaritalStatus.choices)
    education = django_filters.ChoiceFilter(label=_("Education"), choices=Education.choices)
    occupation = django_filters.ChoiceFilter(label=_("Occupation"), choices=Occupation.choices)
    id_type = django_filters.ChoiceFilter(label=_("ID type"), choices=IdType.choices)
    city = django_filters.CharFilter(label=_("City"), lookup_expr="icontains")
    documents_pending = django_filters.BooleanFilter(
        label=_("Documents awaiting review"), method="filter_documents_pending",
    )

    class Meta:
        model = CustomerProfile
        fields = ["q", "id_hash", "employment_type", "housing", "marital_status", "education", "occupation",
                  "id_type", "city"]

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """Name or phone fragments and the exact e-mail; never the ID number (it would be in the URL)."""
        value = value.strip()
        if not value:
            return queryset
        condition = Q(full_name__icontains=value) | Q(user__email__iexact=value)
        digits = "".join(c for c in value if c.isdigit() or c == "+")
        if len(digits) >= 4:
            condition |= Q(phone__contains=digits)
        return queryset.filter(condition)

    def filter_id_hash(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        return queryset.filter(id_number_hash=value) if value else queryset

    def filter_documents_pending(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        if value is None:
            return queryset
        pending = Exists(CustomerDocument.objects.filter(profile=OuterRef("pk"), review_state=ReviewState.PENDING))
        return queryset.filter(pending if value else ~pending)


def id_number_search_hash(number: str) -> str:
    """The `id_hash` for an ID number as typed (spaces and hyphens dropped, upper case), as stored."""
    return search_hash(normalise(number))
