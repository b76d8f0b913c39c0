"""The audit trail and the one way a state changes: check the allowed edge, save, record."""

from collections.abc import Mapping

from django.contrib.contenttypes.models import ContentType
from django.db import models

from config.errors import DomainError
from customers.models import AuditEvent


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
    """Write one audit row. `actor` may be None for the system (COB, Celery jobs)."""
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        target_type=ContentType.objects.get_for_model(target) if target is not None else None,
        target_id=str(target.pk) if target is not None else "",
        target_repr=str(target)[:200] if target is not None else "",
        from_state=from_state,
        to_state=to_state,
        reason=reason,
        data=data or {},
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
