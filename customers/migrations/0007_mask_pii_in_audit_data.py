"""Mask the phone, ID and card numbers that audit events recorded in clear before `audit_record`
masked them (e.g. a profile history's `{"changes": {"phone": [old, new]}}`). One-way: the clear
values are not kept anywhere to restore."""

from django.db import migrations


def mask_existing_events(apps, schema_editor):
    from customers.audit import mask_audit_data
    from customers.pii import mask_text

    AuditEvent = apps.get_model("customers", "AuditEvent")
    last_pk = 0
    while True:  # in batches by primary key (no open cursor while writing)
        batch = list(AuditEvent.objects.filter(pk__gt=last_pk).only("pk", "data", "reason", "target_repr")
                     .order_by("pk")[:1000])
        if not batch:
            return
        last_pk = batch[-1].pk
        changed = []
        for event in batch:
            masked = (mask_audit_data(event.data), mask_text(event.reason), mask_text(event.target_repr))
            if masked != (event.data, event.reason, event.target_repr):
                event.data, event.reason, event.target_repr = masked
                changed.append(event)
        if changed:
            AuditEvent.objects.bulk_update(changed, ["data", "reason", "target_repr"])


class Migration(migrations.Migration):

    dependencies = [
        ("customers", "0006_outbox"),
    ]

    operations = [migrations.RunPython(mask_existing_events, migrations.RunPython.noop)]
