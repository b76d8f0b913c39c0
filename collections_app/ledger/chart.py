"""Changes to the chart of accounts and the account mappings under four eyes: one administrator asks
(`chart_change_request`), a different administrator approves or rejects (`chart_change_decide`), and
only an approval changes the chart, in one transaction with its audit record.

The details (`params`) of each kind of change:
- account_create: code (digits, unique), name, kind (AccountKind); optional name_zh, normal_side
  (NormalSide, blank follows the kind) and channel (a payment channel the account clears).
- account_update: code of an existing account and at least one of name, name_zh, is_active. An
  account with a non-zero balance, or one a mapping still names, is not deactivated.
- mapping_set: role (AccountRole), product (a product id, or null for the default) and account (the
  code of an existing active account).
Every refusal is a DomainError naming the detail at fault; nothing is stored then. The details are
checked again when the change is approved (the chart may have moved on meanwhile)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from collections_app.ledger.models import (
    AccountKind,
    AccountMapping,
    AccountRole,
    ChartChangeRequest,
    LedgerAccount,
    NormalSide,
)
from collections_app.ledger.selectors import account_balance
from config.errors import DomainError
from customers.audit import audit_record
from customers.roles import Role
from installments.models import LoanProduct

UPDATABLE_FIELDS = ("name", "name_zh", "is_active")


def is_chart_admin(user) -> bool:
    return bool(user is not None and user.is_active and (user.is_superuser or user.has_role(Role.ADMIN)))


def _text(params: dict, name: str, *, required: bool, max_length: int) -> str:
    value = params.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DomainError(_("This must be text."), field=name)
    value = value.strip()
    if required and not value:
        raise DomainError(_("This is required."), field=name)
    if len(value) > max_length:
        raise DomainError(_("At most %(count)d characters.") % {"count": max_length}, field=name)
    return value


def _account(code, *, field: str = "code") -> LedgerAccount:
    account = LedgerAccount.objects.filter(code=str(code or "").strip()).first() if code else None
    if account is None:
        raise DomainError(_("No account with code %(code)s in the chart of accounts.") % {"code": code or "-"},
                          field=field)
    return account


def _clean_account_create(params: dict) -> dict:
    code = _text(params, "code", required=True, max_length=12)
    if not code.isascii() or not code.isdigit():
        raise DomainError(_("An account code is digits only."), field="code")
    if LedgerAccount.objects.filter(code=code).exists():
        raise DomainError(_("An account with code %(code)s already exists.") % {"code": code}, field="code")
    kind = _text(params, "kind", required=True, max_length=12)
    if kind not in AccountKind.values:
        raise DomainError(_("Choose one of: %(choices)s.") % {"choices": ", ".join(AccountKind.values)},
                          field="kind")
    normal_side = _text(params, "normal_side", required=False, max_length=6)
    if normal_side and normal_side not in NormalSide.values:
        raise DomainError(_("Choose one of: %(choices)s.") % {"choices": ", ".join(NormalSide.values)},
                          field="normal_side")
    return {"code": code, "name": _text(params, "name", required=True, max_length=120),
            "name_zh": _text(params, "name_zh", required=False, max_length=120), "kind": kind,
            "normal_side": normal_side, "channel": _text(params, "channel", required=False, max_length=40)}


def _clean_account_update(params: dict) -> dict:
    account = _account(params.get("code"))
    cleaned = {"code": account.code}
    if "name" in params:
        cleaned["name"] = _text(params, "name", required=True, max_length=120)
    if "name_zh" in params:
        cleaned["name_zh"] = _text(params, "name_zh", required=False, max_length=120)
    if "is_active" in params:
        if not isinstance(params["is_active"], bool):
            raise DomainError(_("Use true or false."), field="is_active")
        cleaned["is_active"] = params["is_active"]
        if not params["is_active"] and account.is_active:
            if account_balance(account) != 0:
                raise DomainError(_("Account %(code)s has a balance; it cannot be deactivated.")
                                  % {"code": account.code}, field="is_active")
            if AccountMapping.objects.filter(account=account).exists():
                raise DomainError(_("Account %(code)s is still mapped to a role; map the role elsewhere first.")
                                  % {"code": account.code}, field="is_active")
    unknown = set(params) - {"code", *UPDATABLE_FIELDS}
    if unknown:
        raise DomainError(_("Only name, name_zh and is_active can be changed."), field=sorted(unknown)[0])
    if len(cleaned) == 1:
        raise DomainError(_("Name at least one of name, name_zh and is_active."), field="params")
    return cleaned


def _clean_mapping_set(params: dict) -> dict:
    role = params.get("role")
    if role not in AccountRole.values:
        raise DomainError(_("Choose one of: %(choices)s.") % {"choices": ", ".join(AccountRole.values)},
                          field="role")
    product_id = params.get("product")
    if product_id not in (None, ""):
        if isinstance(product_id, bool) or not str(product_id).isdigit() \
                or not LoanProduct.objects.filter(pk=int(product_id)).exists():
            raise DomainError(_("No product with this id."), field="product")
        product_id = int(product_id)
    else:
        product_id = None
    account = _account(params.get("account"), field="account")
    if not account.is_active:
        raise DomainError(_("Account %(code)s is inactive.") % {"code": account.code}, field="account")
    return {"role": role, "product": product_id, "account": account.code}


CLEANERS = {
    ChartChangeRequest.Kind.ACCOUNT_CREATE: _clean_account_create,
    ChartChangeRequest.Kind.ACCOUNT_UPDATE: _clean_account_update,
    ChartChangeRequest.Kind.MAPPING_SET: _clean_mapping_set,
}


def chart_change_validate(*, kind: str, params) -> dict:
    """The change's details checked and normalised (see the module docstring), or a DomainError."""
    if kind not in CLEANERS:
        raise DomainError(_("Unknown kind of change."), field="kind")
    if not isinstance(params, dict):
        raise DomainError(_("The details must be a JSON object."), field="params")
    return CLEANERS[kind](params)


@transaction.atomic
def chart_change_request(*, kind: str, params: dict, reason: str, by) -> ChartChangeRequest:
    """Propose a change (an administrator only, field `by`): stored pending with its checked details,
    audited; nothing in the chart changes until another administrator approves it."""
    if not is_chart_admin(by):
        raise DomainError(_("Only an administrator proposes changes to the chart of accounts."), field="by")
    cleaned = chart_change_validate(kind=kind, params=params)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Give a reason for the change."), field="reason")
    change = ChartChangeRequest.objects.create(kind=kind, params=cleaned, reason=reason[:255], requested_by=by)
    audit_record(actor=by, action="ledger.chart_change_request", target=change, reason=change.reason,
                 to_state=change.status, data={"kind": kind, "params": cleaned})
    return change


def _apply(change: ChartChangeRequest, params: dict) -> dict:
    """Make the change; returns what was there before (for the audit record)."""
    if change.kind == ChartChangeRequest.Kind.ACCOUNT_CREATE:
        LedgerAccount.objects.create(**params)
        return {}
    if change.kind == ChartChangeRequest.Kind.ACCOUNT_UPDATE:
        account = LedgerAccount.objects.select_for_update().get(code=params["code"])
        fields = [name for name in UPDATABLE_FIELDS if name in params]
        before = {name: getattr(account, name) for name in fields}
        for name in fields:
            setattr(account, name, params[name])
        account.save(update_fields=[*fields, "updated_at"])
        return before
    account = LedgerAccount.objects.get(code=params["account"])
    mapping = AccountMapping.objects.select_for_update().filter(
        product_id=params["product"], role=params["role"]).select_related("account").first()
    before = {"account": mapping.account.code if mapping else None}
    if mapping is None:
        AccountMapping.objects.create(product_id=params["product"], role=params["role"], account=account)
    else:
        mapping.account = account
        mapping.save(update_fields=["account"])
    return before


@transaction.atomic
def chart_change_decide(*, change: ChartChangeRequest, by, approve: bool, note: str = "") -> ChartChangeRequest:
    """Approve (apply) or reject a pending change: an administrator other than the one who asked
    (field `by`); a change is decided once (field `change`). Approval checks the details again and
    applies them in this transaction; a refusal leaves the request pending and the chart unchanged."""
    if not is_chart_admin(by):
        raise DomainError(_("Only an administrator decides changes to the chart of accounts."), field="by")
    change = ChartChangeRequest.objects.select_for_update().get(pk=change.pk)
    if change.status != ChartChangeRequest.Status.PENDING:
        raise DomainError(_("This change has already been decided."), field="change")
    if change.requested_by_id == by.pk:
        raise DomainError(_("A second administrator decides a change, not the one who asked for it."),
                          field="by")
    before = {}
    if approve:
        params = chart_change_validate(kind=change.kind, params=change.params)
        before = _apply(change, params)
        change.status = ChartChangeRequest.Status.APPLIED
    else:
        change.status = ChartChangeRequest.Status.REJECTED
    change.decided_by = by
    change.decided_at = timezone.now()
    change.decision_note = (note or "").strip()[:255]
    change.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    audit_record(actor=by, action="ledger.chart_change_decide", target=change, reason=change.decision_note,
                 from_state=ChartChangeRequest.Status.PENDING, to_state=change.status,
                 data={"kind": change.kind, "params": change.params, "before": before,
                       "requested_by": change.requested_by_id})
    return change
