"""Anomaly flags for officers (pure: no Django import). A flag never declines an application.

`installments.assessment.policy` gathers the evidence from the database and calls these checks; each returns
an `AnomalyFlag` or None. Thresholds (`AnomalyThresholds`) come from settings
(`SCORING_ANOMALY_*`, see `installments.assessment.policy.anomaly_thresholds`):

- same_id_different_names: one ID number (by its keyed hash) appears under more than one name
  (compared case- and space-insensitively) across our applications.
- application_burst_phone / application_burst_email: at least `burst_count` applications were
  submitted with one phone number / e-mail address within `burst_window_hours`.
- income_outside_occupation_range: declared income above `income_multiple` x the median income of
  customers in the same occupation, or a robust z-score of log income above `income_robust_z`
  (z = 0.6745 x (x - median) / MAD on log incomes); needs `income_min_peers` peers to judge.
  Only incomes far *above* the peers are flagged: an inflated income is what misleads a decision.
  The peers can be prepared once (`PeerIncomes`: sorted, logs taken) and reused for every
  applicant of the occupation; the figures are the same as from a plain list.
- inflow_contradicts_income: declared monthly income above `inflow_multiple` x the average monthly
  inflow of the latest imported bank statement.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

import numpy as np

SAME_ID_DIFFERENT_NAMES = "same_id_different_names"
APPLICATION_BURST_PHONE = "application_burst_phone"
APPLICATION_BURST_EMAIL = "application_burst_email"
INCOME_OUTSIDE_OCCUPATION_RANGE = "income_outside_occupation_range"
INFLOW_CONTRADICTS_INCOME = "inflow_contradicts_income"


@dataclass(frozen=True)
class AnomalyThresholds:
    burst_window_hours: float = 24.0
    burst_count: int = 3
    income_multiple: float = 5.0
    income_robust_z: float = 3.5
    income_min_peers: int = 5
    inflow_multiple: float = 2.0


@dataclass(frozen=True)
class AnomalyFlag:
    code: str
    text_en: str
    text_zh: str
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def normalised_name(name: str) -> str:
    """Case- and whitespace-insensitive form of a person's name ("Li  Na" == "li na" == "LiNa")."""
    return "".join((name or "").split()).casefold()


def same_id_different_names(names: Iterable[str]) -> AnomalyFlag | None:
    """Flag when the names seen with one ID number are not all the same person's name."""
    distinct = {normalised_name(n) for n in names if n and n.strip()}
    if len(distinct) <= 1:
        return None
    return AnomalyFlag(
        code=SAME_ID_DIFFERENT_NAMES,
        text_en=f"The same ID number appears under {len(distinct)} different names.",
        text_zh=f"同一证件号码出现在{len(distinct)}个不同的姓名下。",
        detail={"names": len(distinct)},
    )


def application_burst(*, channel: str, count: int, distinct_customers: int,
                      thresholds: AnomalyThresholds) -> AnomalyFlag | None:
    """Flag `count` applications from one phone or e-mail (`channel`) within the window."""
    if count < thresholds.burst_count:
        return None
    hours = f"{thresholds.burst_window_hours:g}"
    if channel == "phone":
        code, what_en, what_zh = APPLICATION_BURST_PHONE, "phone number", "手机号码"
    else:
        code, what_en, what_zh = APPLICATION_BURST_EMAIL, "e-mail address", "电子邮箱"
    return AnomalyFlag(
        code=code,
        text_en=f"{count} applications from one {what_en} in {hours} hours ({distinct_customers} customers).",
        text_zh=f"{hours}小时内同一{what_zh}提交了{count}笔申请（涉及{distinct_customers}位客户）。",
        detail={"count": count, "customers": distinct_customers, "window_hours": thresholds.burst_window_hours},
    )


def _sorted_median(ordered: np.ndarray) -> float:
    """The middle of an ascending array (the mean of the two middle values when the count is even)."""
    n = len(ordered)
    middle = n // 2
    return float(ordered[middle]) if n % 2 else (float(ordered[middle - 1]) + float(ordered[middle])) / 2


@dataclass(frozen=True, eq=False)
class PeerIncomes:
    """The positive incomes of an occupation's peers, sorted ascending, with their natural logs.

    Prepared once per occupation (`from_values`) so that judging one applicant costs a few numpy
    passes, not sorting and taking logs of up to thousands of Decimals."""

    incomes: np.ndarray
    logs: np.ndarray

    @classmethod
    def from_values(cls, values: Iterable[Decimal | float | None]) -> PeerIncomes:
        incomes = sorted(float(v) for v in values if v is not None and float(v) > 0)
        return cls(np.asarray(incomes, dtype="float64"), np.asarray([math.log(v) for v in incomes], dtype="float64"))

    def __len__(self) -> int:
        return len(self.incomes)

    def without(self, income: Decimal | float | None) -> PeerIncomes:
        """The same peers less one with this income (the applicant's own, when it is among them)."""
        if income is None:
            return self
        value = float(income)
        i = int(np.searchsorted(self.incomes, value))
        if i == len(self.incomes) or self.incomes[i] != value:
            return self
        return PeerIncomes(np.delete(self.incomes, i), np.delete(self.logs, i))


def income_outlier(income: Decimal | float | None, peer_incomes: PeerIncomes | Sequence[Decimal | float], *,
                   occupation: str, thresholds: AnomalyThresholds) -> AnomalyFlag | None:
    """Flag an income far above its occupation's peers (see the module docstring)."""
    peers = peer_incomes if isinstance(peer_incomes, PeerIncomes) else PeerIncomes.from_values(peer_incomes)
    if income is None or float(income) <= 0 or len(peers) < thresholds.income_min_peers:
        return None
    x = float(income)
    median = _sorted_median(peers.incomes)
    multiple = x / median
    log_median = _sorted_median(peers.logs)
    # Absolute differences and the middle of them are exact in floats: the same MAD as in plain Python.
    mad = _sorted_median(np.sort(np.abs(peers.logs - log_median)))
    robust_z = 0.6745 * (math.log(x) - log_median) / mad if mad > 0 else (math.inf if x > median else 0.0)
    if multiple <= thresholds.income_multiple and robust_z <= thresholds.income_robust_z:
        return None
    return AnomalyFlag(
        code=INCOME_OUTSIDE_OCCUPATION_RANGE,
        text_en=f"Declared income is {multiple:.1f} times the median of {len(peers)} customers in the same occupation.",
        text_zh=f"申报收入为同职业{len(peers)}位客户收入中位数的{multiple:.1f}倍。",
        detail={
            "occupation": occupation,
            "peers": len(peers),
            "median": round(median, 2),
            "multiple": round(multiple, 2),
            "robust_z": None if math.isinf(robust_z) else round(robust_z, 2),
        },
    )


def inflow_contradicts_income(declared_income: Decimal | float | None, average_inflow: Decimal | float | None, *,
                              thresholds: AnomalyThresholds) -> AnomalyFlag | None:
    """Flag a declared income above `inflow_multiple` x the statement's average monthly inflow."""
    if declared_income is None or average_inflow is None or float(declared_income) <= 0:
        return None
    declared, inflow = float(declared_income), float(average_inflow)
    if declared <= thresholds.inflow_multiple * inflow:
        return None
    share = inflow / declared
    return AnomalyFlag(
        code=INFLOW_CONTRADICTS_INCOME,
        text_en=f"Bank statement inflows average {inflow:,.2f} a month, {share:.0%} of the declared income.",
        text_zh=f"银行流水月均入账{inflow:,.2f}，仅为申报收入的{share:.0%}。",
        detail={"declared_income": round(declared, 2), "average_inflow": round(inflow, 2)},
    )
