"""Which account an event posts to: a product's mapping of each role (`AccountMapping`), falling back to
the default mapping (no product); a payment channel's clearing account (`LedgerAccount.channel`).

A role that maps to no account, or to an inactive one, is refused with a DomainError naming `account`,
so nothing is posted for an event whose accounts are not set up."""

from __future__ import annotations

from django.utils.translation import gettext as _

from collections_app.ledger.models import AccountMapping, AccountRole, LedgerAccount
from config.errors import DomainError
from installments.models import LoanProduct


def accounts_for(product: LoanProduct | int | None) -> dict[str, LedgerAccount]:
    """Every role's account for `product` (its own mapping over the default), all of them active."""
    product_id = getattr(product, "pk", product)
    mapped: dict[str, LedgerAccount] = {}
    for mapping in AccountMapping.objects.filter(product__isnull=True).select_related("account"):
        mapped[mapping.role] = mapping.account
    if product_id is not None:
        for mapping in AccountMapping.objects.filter(product_id=product_id).select_related("account"):
            mapped[mapping.role] = mapping.account
    for role in AccountRole:
        account = mapped.get(role.value)
        if account is None:
            raise DomainError(_("No account is mapped for %(role)s; set it in the chart of accounts.")
                              % {"role": role.label}, field="account")
        if not account.is_active:
            raise DomainError(_("Account %(code)s, mapped for %(role)s, is inactive.")
                              % {"code": account.code, "role": role.label}, field="account")
    return mapped


def clearing_account(channel: str, accounts: dict[str, LedgerAccount]) -> LedgerAccount:
    """The clearing account of a payment channel (the active account whose `channel` is it), else the
    product's disbursement account (cash at bank)."""
    account = LedgerAccount.objects.filter(channel=channel, is_active=True).order_by("code").first()
    return account or accounts[AccountRole.DISBURSEMENT]


def mapping_sql(roles: list[str], product_ids: list[int] | None = None) -> str:
    """A SELECT of one row per product: `product_id` and one column `<role>` (the account id) per role
    in `roles`, for joining the book in set-based SQL. Every product is resolved through accounts_for,
    so a missing or inactive account is refused here, before any SQL runs."""
    ids = product_ids if product_ids is not None else list(LoanProduct.objects.values_list("pk", flat=True))
    selects = []
    for product_id in ids:
        accounts = accounts_for(product_id)
        columns = ", ".join(f"{int(accounts[role].pk)} AS {role}" for role in roles)
        selects.append(f"SELECT {int(product_id)} AS product_id, {columns}")
    if not selects:  # no product yet: a query of no rows with the right columns
        columns = ", ".join(f"0 AS {role}" for role in roles)
        return f"SELECT 0 AS product_id, {columns} WHERE 1 = 0"
    return " UNION ALL ".join(selects)
