"""The one place where an app above installments plugs into it.

Installments never imports the apps above it (collections_app, the user interfaces; see the
import-linter contracts in pyproject.toml). Where origination needs an answer only such an app
has, it asks through a hook defined here, and that app provides the answer in its
`AppConfig.ready()`:

- `servicing_terms(product)`: the grace days before late charges and the order payments pay the
  components in, as the product's servicing policy sets them. Contracts disclose both. Provided by
  collections_app (its `ServicingPolicy`); without a provider the built-in defaults apply.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

DEFAULT_ALLOCATION_ORDER = ("penalty", "fee", "interest", "principal")


class ServicingTerms(NamedTuple):
    grace_days: int
    allocation_order: tuple[str, ...]


DEFAULT_SERVICING_TERMS = ServicingTerms(grace_days=0, allocation_order=DEFAULT_ALLOCATION_ORDER)

_servicing_terms_provider: Callable[[object], ServicingTerms] | None = None


def provide_servicing_terms(provider: Callable[[object], ServicingTerms]) -> None:
    """Called once by the servicing app's `ready()`."""
    global _servicing_terms_provider
    _servicing_terms_provider = provider


def servicing_terms(product) -> ServicingTerms:
    """The servicing terms for `product` (a LoanProduct), or the defaults without a provider."""
    if _servicing_terms_provider is None:
        return DEFAULT_SERVICING_TERMS
    return _servicing_terms_provider(product)
