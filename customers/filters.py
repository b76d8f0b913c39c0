"""Filters for the staff customer list (the page and the API use the same FilterSet)."""

import django_filters
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from customers import national_id
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
from customers.pii import search_hash


class CustomerProfileFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label=_("Search"), method="search",
        help_text=_("Part of the name or phone, the exact e-mail, or the exact ID number."),
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
        fields = ["q", "employment_type", "housing", "marital_status", "education", "occupation", "id_type", "city"]

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        condition = Q(full_name__icontains=value) | Q(user__email__iexact=value)
        digits = "".join(c for c in value if c.isdigit() or c == "+")
        if len(digits) >= 4:
            condition |= Q(phone__contains=digits)
        number = national_id.normalise(value)
        if len(number) >= 6:
            # ID numbers are stored encrypted: only an exact match is possible, through the keyed hash.
            condition |= Q(id_number_hash=search_hash(number))
        return queryset.filter(condition)

    def filter_documents_pending(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        if value is None:
            return queryset
        pending = Exists(CustomerDocument.objects.filter(profile=OuterRef("pk"), review_state=ReviewState.PENDING))
        return queryset.filter(pending if value else ~pending)
