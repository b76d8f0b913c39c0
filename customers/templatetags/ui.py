"""Template helpers shared by every page: Bootstrap form fields and money formatting."""

from decimal import Decimal, InvalidOperation

from django import template
from django.forms import CheckboxInput, CheckboxSelectMultiple, RadioSelect, Select, SelectMultiple

register = template.Library()


@register.filter
def bs(field):
    """Render a bound field's widget with Bootstrap classes and `is-invalid` when it has errors."""
    widget = field.field.widget
    if isinstance(widget, CheckboxInput):
        css = "form-check-input"
    elif isinstance(widget, (CheckboxSelectMultiple, RadioSelect)):
        css = ""
    elif isinstance(widget, (Select, SelectMultiple)):
        css = "form-select"
    else:
        css = "form-control"
    if field.errors:
        css += " is-invalid"
    attrs = {"class": (widget.attrs.get("class", "") + " " + css).strip()}
    if field.errors:
        attrs["aria-describedby"] = f"{field.auto_id}_errors"
    return field.as_widget(attrs=attrs)


@register.filter
def money(value, decimals: int = 2) -> str:
    """`Decimal('1234.5')` -> `1,234.50`; never goes through float."""
    if value in (None, ""):
        return ""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    quantum = Decimal(1).scaleb(-int(decimals))
    return f"{amount.quantize(quantum):,}"
