"""The audit trail and the one way a state changes: check the allowed edge, save, record.

Audit data never holds a phone, ID or card number in clear: `audit_record` masks the values under
sensitive keys (`phone`, `mobile`, `id_number`, `card_number`, ... at any depth, e.g. a profile
history's `{"changes": {"phone": [old, new]}}`) and every ID, card or mobile number found in the
other strings, the reason and the target's label (`mask_audit_data`).
"""

from collections.abc import Mapping

from django.contrib.contenttypes.models import ContentType
from django.db import models

from config.errors import DomainError
from customers.models import AuditEvent
from customers.pii import mask_identifier, mask_phone, mask_text

_IDENTIFIER_KEYS = frozenset({"id_number", "card_number", "card", "pan", "bank_card", "account_number", "iban"})


def _sensitive(key) -> str | None:
    """"phone" / "identifier" for a key whose values are masked whatever they look like, else None."""
    key = str(key).lower()
    if "phone" in key or "mobile" in key:
        return "phone"
    if key in _IDENTIFIER_KEYS or key.endswith(("_id_number", "_card_number")):
        return "identifier"
    return None


def mask_audit_data(value, kind: str | None = None):
    """`value` (audit data: JSON-like) with phone, ID and card numbers masked (see the module doc)."""
    if isinstance(value, Mapping):
        return {key: mask_audit_data(item, _sensitive(key) or kind) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_audit_data(item, kind) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and kind is not None:
        value = str(value)
    if isinstance(value, str):
        if kind == "phone":
            return mask_phone(value)
        if kind == "identifier":
            return mask_identifier(value)
        return mask_text(value)
    return value


def audit_record(
    *,
    actor,
    action: str,
    target: models.Model | None = None,
    reason: str = "",
    from_state: str = "",
    to_state: str = "",
    data: dict | None = None,
    ip_address: str | None = None,
) -> AuditEvent:
    """Write one audit row. `actor` may be None for the system (COB, Celery jobs). Phone, ID and
    card numbers in `data`, `reason` and the target's label are masked (`mask_audit_data`)."""
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        target_type=ContentType.objects.get_for_model(target) if target is not None else None,
        target_id=str(target.pk) if target is not None else "",
        target_repr=mask_text(str(target))[:200] if target is not None else "",
        from_state=from_state,
        to_state=to_state,
        reason=mask_text(reason or ""),
        data=mask_audit_data(data or {}),
        ip_address=ip_address,
    )


def transition(
    obj: models.Model,
    *,
    to: str,
    by,
    reason: str = "",
    allowed: Mapping[str, set[str] | frozenset[str] | tuple[str, ...]],
    field: str = "state",
    data: dict | None = None,
    extra_update_fields: tuple[str, ...] = (),
) -> AuditEvent:
    """Move `obj.<field>` to `to` along an allowed edge, save it and record who, when and why.

    Raises DomainError naming the field when the edge is not in `allowed`. The caller holds the
    row lock (select_for_update) and the transaction.
    """
    current = getattr(obj, field)
    if to not in allowed.get(current, ()):
        raise DomainError(f"Cannot move from '{current}' to '{to}'.", field=field, code="invalid_transition")
    setattr(obj, field, to)
    obj.save(update_fields=[field, *extra_update_fields])
    return audit_record(
        actor=by, action=f"{obj._meta.model_name}.{field}", target=obj, reason=reason,
        from_state=current, to_state=to, data=data,
    )
