"""Delinquency buckets: days past due -> bucket code and short / medium / long classification.

Buckets are rows of `DelinquencyBucket` (admin-editable); without rows the defaults below apply:
current, 1-30, 31-60, 61-90, 90+. Classification follows seed 004: overdue within a month is
short-term, one to three months medium-term, over three months long-term.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bucket:
    code: str
    min_days: int
    max_days: int | None
    term_class: str
    label: str = ""
    label_zh: str = ""

    def contains(self, days: int) -> bool:
        return days >= self.min_days and (self.max_days is None or days <= self.max_days)


DEFAULT_BUCKETS = (
    Bucket("current", 0, 0, "current", "Current", "正常"),
    Bucket("1-30", 1, 30, "short", "1-30 days", "逾期1-30天"),
    Bucket("31-60", 31, 60, "medium", "31-60 days", "逾期31-60天"),
    Bucket("61-90", 61, 90, "medium", "61-90 days", "逾期61-90天"),
    Bucket("90+", 91, None, "long", "Over 90 days", "逾期90天以上"),
)


def buckets() -> tuple[Bucket, ...]:
    """The configured buckets in ascending order (the defaults when none are configured)."""
    from collections_app.models import DelinquencyBucket

    rows = tuple(
        Bucket(b.code, b.min_days, b.max_days, b.term_class, b.label, b.label_zh)
        for b in DelinquencyBucket.objects.order_by("min_days")
    )
    return rows or DEFAULT_BUCKETS


def bucket_for(days: int, configured: tuple[Bucket, ...] | None = None) -> Bucket:
    """The bucket `days` past due falls in; a gap in the configuration falls to the bucket below."""
    configured = configured or buckets()
    chosen = configured[0]
    for bucket in configured:
        if bucket.contains(days):
            return bucket
        if bucket.min_days <= days:
            chosen = bucket
    return chosen


def term_class_of(code: str, configured: tuple[Bucket, ...] | None = None) -> str:
    for bucket in configured or buckets():
        if bucket.code == code:
            return bucket.term_class
    return "current"
