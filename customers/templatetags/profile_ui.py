"""Template helpers for the profile pages: ratios as percentages, month names, category labels."""

from decimal import Decimal, InvalidOperation

from django import template
from django.utils.dates import MONTHS

from customers.models import SpendingCategory

register = template.Library()


@register.filter
def percent(value, decimals: int = 1) -> str:
    """`Decimal('0.3512')` -> `35.1 %`; empty for None (no income: the ratio is undefined)."""
    if value in (None, ""):
        return ""
    try:
        share = Decimal(str(value)) * 100
    except InvalidOperation:
        return str(value)
    return f"{share.quantize(Decimal(1).scaleb(-int(decimals)))} %"


@register.filter
def month_name(number) -> str:
    """Calendar month number (1-12) -> its name in the active language."""
    try:
        return str(MONTHS[int(number)])
    except (KeyError, TypeError, ValueError):
        return str(number)


@register.filter
def spending_category(key: str) -> str:
    try:
        return str(SpendingCategory(key).label)
    except ValueError:
        return key


@register.filter
def as_percent_width(value) -> int:
    """A 0-1 share as a whole-number width for a Bootstrap progress bar."""
    try:
        return max(0, min(100, round(Decimal(str(value)) * 100)))
    except (InvalidOperation, TypeError, ValueError):
        return 0


@register.filter
def get_item(mapping, key):
    """`{{ mapping|get_item:key }}` for dicts keyed by variables."""
    return mapping.get(key) if mapping else None
