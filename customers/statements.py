"""Bank-statement CSV import and the spending summary (pure: pandas, no Django).

`read_transactions(raw)` turns the bytes of a CSV export into a DataFrame or raises
StatementError naming the line and column at fault; `summarise(frame, rules=...)` computes the
spending summary; `summarise_csv` does both. Scoring can call these directly on its own data.

The file
- columns `date`, `description`, `amount`, `balance` (any order, case-insensitive; Chinese
  headers 日期, 摘要, 金额, 余额 and a few common variants are accepted; extra columns ignored;
  bank preamble lines above the header are skipped; at most MAX_COLUMNS columns);
- separator comma, semicolon or tab, detected from the header line;
- encoding UTF-8 (with or without BOM) or GBK/GB18030, detected;
- `amount` is signed: positive money in, negative money out; `balance` is the balance after
  the transaction. Amounts may carry thousands separators and a currency sign; a decimal comma
  is accepted in semicolon-separated files (`-12,50`);
- dates as YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD, YYYYMMDD or YYYY年MM月DD日, optionally with a time;
- at most MAX_ROWS transactions; rows may be newest-first or oldest-first.

Money is handled as integer cents inside the DataFrame and returned as Decimal (2 places);
ratios are Decimal rounded half-up to 4 places.

Messages are English msgids marked with `gettext_noop`; the caller translates
`error.template % error.params` for display.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd

MAX_ROWS = 20_000
MAX_COLUMNS = 200
# The largest amount a money field holds (max_digits=14, decimal_places=2), in cents; 20,000 rows
# of it still sum inside int64.
MAX_AMOUNT_CENTS = 10**14 - 1
SEASONAL_THRESHOLD = Decimal("0.25")
INCOME_CATEGORY = "income"
OTHER_CATEGORY = "other"
REQUIRED_COLUMNS = ("date", "description", "amount", "balance")
COLUMN_ALIASES = {
    "date": ("date", "transaction date", "trans date", "日期", "交易日期", "记账日期", "交易时间"),
    "description": ("description", "details", "memo", "narrative", "摘要", "交易摘要", "备注", "交易说明", "用途"),
    "amount": ("amount", "transaction amount", "金额", "交易金额", "发生额"),
    "balance": ("balance", "余额", "账户余额", "本次余额"),
}
_ALIAS_TO_COLUMN = {alias: column for column, aliases in COLUMN_ALIASES.items() for alias in aliases}
_HEADER_SCAN_LINES = 30
_RATIO = Decimal("0.0001")

_DATE_SEPARATED = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?")
_DATE_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})(?:[ T]?\d{2}:?\d{2}(?::?\d{2})?)?")
_CURRENCY_MARKS = re.compile(r"[¥￥\s]|RMB|CNY|元", re.IGNORECASE)
_PLAIN_AMOUNT = re.compile(r"[+-]?\d+(?:\.\d{1,2})?")
_GROUPED_AMOUNT = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?")
_DECIMAL_COMMA_AMOUNT = re.compile(r"[+-]?\d{1,3}(?:\.\d{3})*,\d{1,2}|[+-]?\d+,\d{1,2}")


def gettext_noop(message: str) -> str:
    """Mark a message for translation without translating it here (the caller translates)."""
    return message


class StatementError(ValueError):
    """The file cannot be imported. `line` (1-based, in the file) and `column` name the culprit."""

    def __init__(self, code: str, template: str, params: dict | None = None, *, line: int | None = None,
                 column: str | None = None):
        self.code = code
        self.template = template
        self.params = {**(params or {}), "line": line, "column": column}
        self.line = line
        self.column = column
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return self.template % self.params


def _cell_error(code: str, line: int, column: str, header: str, value: str) -> StatementError:
    templates = {
        "bad_date": gettext_noop("Line %(line)s, column “%(header)s”: “%(value)s” is not a valid date (use YYYY-MM-DD)."),
        "bad_amount": gettext_noop("Line %(line)s, column “%(header)s”: “%(value)s” is not an amount (use -1234.56)."),
    }
    return StatementError(code, templates[code], {"header": header, "value": value[:40]}, line=line, column=column)


# --- Reading -----------------------------------------------------------------------------------

def _malformed(error: csv.Error, line: int) -> StatementError:
    """A csv.Error (a cell over the csv module's field limit, in practice) as a StatementError."""
    if "field limit" in str(error):
        return StatementError(
            "malformed",
            gettext_noop("Line %(line)s: a cell is longer than %(limit)s characters, so this is not a bank "
                         "statement CSV; export the statement as CSV again."),
            {"limit": f"{csv.field_size_limit():,}"}, line=line,
        )
    return StatementError(
        "malformed", gettext_noop("Line %(line)s is not valid CSV; export the statement as CSV again."), line=line,
    )


def decode(raw: bytes) -> str:
    """Bytes -> text: UTF-8 (BOM optional) first, then GBK (as its superset GB18030)."""
    if not raw.strip(b" \t\r\n\xef\xbb\xbf"):
        raise StatementError("empty_file", gettext_noop("The file is empty."))
    encodings = ("utf-8-sig",) if raw.startswith(codecs.BOM_UTF8) else ("utf-8", "gb18030")
    for encoding in encodings:
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return text
        break
    raise StatementError(
        "encoding", gettext_noop("The file is not a text CSV in UTF-8 or GBK; export the statement as CSV again."),
    )


def _canonical_column(header: str) -> str | None:
    name = re.sub(r"\s*[（(][^)）]*[)）]\s*$", "", header.strip().strip("\ufeff")).strip().lower()
    return _ALIAS_TO_COLUMN.get(name)


def _rows(reader) -> Iterator[list[str]]:
    """The rows of a csv.reader, its csv.Error raised as StatementError('malformed') naming the line."""
    try:
        yield from reader
    except csv.Error as error:
        raise _malformed(error, reader.line_num)


def _find_header(lines: list[str]) -> tuple[int, str]:
    """(1-based line number, separator) of the header: the first line naming two known columns."""
    first_nonblank = None
    for number, line in enumerate(lines[:_HEADER_SCAN_LINES], start=1):
        if not line.strip():
            continue
        first_nonblank = first_nonblank or number
        for separator in (",", ";", "\t"):
            try:
                cells = next(csv.reader([line], delimiter=separator))
            except csv.Error:  # e.g. one cell over the field limit when split on the wrong separator
                continue
            if len(cells) <= MAX_COLUMNS and len({_canonical_column(c) for c in cells} - {None}) >= 2:
                return number, separator
    if first_nonblank is None:
        raise StatementError("empty_file", gettext_noop("The file is empty."))
    line = lines[first_nonblank - 1]
    return first_nonblank, max((",", ";", "\t"), key=line.count)


def _column_positions(header: list[str], line: int) -> dict[str, int]:
    if len(header) > MAX_COLUMNS:
        raise StatementError(
            "too_many_columns",
            gettext_noop("Line %(line)s: the header has %(found)s columns, more than %(limit)s; this is not a bank "
                         "statement CSV."),
            {"found": f"{len(header):,}", "limit": MAX_COLUMNS}, line=line,
        )
    positions: dict[str, int] = {}
    for index, cell in enumerate(header):
        column = _canonical_column(cell)
        if column is None:
            continue
        if column in positions:
            raise StatementError(
                "duplicate_column", gettext_noop("Line %(line)s: the column “%(column)s” appears twice."),
                line=line, column=column,
            )
        positions[column] = index
    for column in REQUIRED_COLUMNS:
        if column not in positions:
            raise StatementError(
                "missing_column",
                gettext_noop("Line %(line)s: the column “%(column)s” is missing. The header needs date, description, "
                             "amount and balance (or 日期, 摘要, 金额, 余额)."),
                line=line, column=column,
            )
    return positions


def parse_date(text: str) -> date:
    """A statement date -> date; raises ValueError for anything else."""
    value = text.strip()
    match = _DATE_SEPARATED.fullmatch(value) or _DATE_COMPACT.fullmatch(value)
    if not match:
        raise ValueError(value)
    return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))


def parse_cents(text: str, *, decimal_comma: bool = False) -> int:
    """A signed amount -> integer cents (`-1,234.5` -> -123450); raises ValueError for anything else."""
    value = _CURRENCY_MARKS.sub("", text)
    if _PLAIN_AMOUNT.fullmatch(value):
        pass
    elif _GROUPED_AMOUNT.fullmatch(value):
        value = value.replace(",", "")
    elif decimal_comma and _DECIMAL_COMMA_AMOUNT.fullmatch(value):
        value = value.replace(".", "").replace(",", ".")
    else:
        raise ValueError(text)
    cents = int(Decimal(value).scaleb(2))
    if abs(cents) > MAX_AMOUNT_CENTS:  # beyond what the money fields (and int64 sums) hold
        raise ValueError(text)
    return cents


def read_transactions(raw: bytes, *, max_rows: int = MAX_ROWS) -> pd.DataFrame:
    """Parse a statement CSV into a DataFrame, oldest first.

    Columns: `line` (in the file), `date` (datetime64), `description` (str), `amount` and
    `balance` (int64 cents). Raises StatementError for the first problem found.
    """
    text = decode(raw)
    lines = text.splitlines()
    header_line, separator = _find_header(lines)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    header: list[str] | None = None
    records: list[tuple[int, date, str, int, int]] = []
    for row in _rows(reader):
        line = reader.line_num
        if header is None:
            if line >= header_line:
                header = row
                positions = _column_positions(header, line)
            continue
        if not any(cell.strip() for cell in row):
            continue
        if len(records) >= max_rows:
            raise StatementError(
                "too_many_rows",
                gettext_noop("Line %(line)s: the file has more than %(limit)s transactions; split it into smaller files."),
                {"limit": f"{max_rows:,}"}, line=line,
            )
        records.append(_parse_row(row, line, header, positions, decimal_comma=separator == ";"))
    if not records:
        raise StatementError(
            "no_rows", gettext_noop("Line %(line)s: the file has a header but no transactions."),
            line=(header_line + 1),
        )
    frame = pd.DataFrame.from_records(records, columns=["line", "date", "description", "amount", "balance"])
    frame["date"] = pd.to_datetime(frame["date"])
    frame = frame.astype({"amount": "int64", "balance": "int64", "description": "str"})
    if frame["date"].iloc[0] > frame["date"].iloc[-1]:  # newest first: keep same-day order chronological
        frame = frame.iloc[::-1]
    return frame.sort_values("date", kind="stable").reset_index(drop=True)


def _parse_row(row: list[str], line: int, header: list[str], positions: dict[str, int], *,
               decimal_comma: bool) -> tuple[int, date, str, int, int]:
    needed = max(positions.values()) + 1
    if len(row) < needed or any(cell.strip() for cell in row[len(header):]):
        raise StatementError(
            "field_count", gettext_noop("Line %(line)s: expected %(expected)s columns, found %(found)s."),
            {"expected": len(header), "found": len(row)}, line=line,
        )

    def cell(column: str) -> str:
        return row[positions[column]].strip()

    try:
        when = parse_date(cell("date"))
    except ValueError:
        raise _cell_error("bad_date", line, "date", header[positions["date"]].strip(), cell("date"))
    amounts = []
    for column in ("amount", "balance"):
        try:
            amounts.append(parse_cents(cell(column), decimal_comma=decimal_comma))
        except (ValueError, ArithmeticError):
            raise _cell_error("bad_amount", line, column, header[positions[column]].strip(), cell(column))
    return line, when, cell("description"), amounts[0], amounts[1]


# --- Summarising -------------------------------------------------------------------------------

def _money(cents: int) -> Decimal:
    return Decimal(int(cents)).scaleb(-2)


def _share(part: Decimal, whole: Decimal) -> Decimal:
    return (part / whole).quantize(_RATIO, rounding=ROUND_HALF_UP) if whole else Decimal("0.0000")


@dataclass(frozen=True)
class MonthlyFlow:
    month: str  # "2026-01"
    inflow: Decimal
    outflow: Decimal  # positive: money out
    salary_like: bool  # at least one inflow matched an income keyword


@dataclass(frozen=True)
class StatementSummaryData:
    """The spending summary of one statement.

    - `months_covered`: calendar months from the first to the last transaction, inclusive
      (months without transactions count, with zero flows).
    - `average_monthly_inflow` / `_outflow`: totals / months_covered.
    - `income_regularity`: share of covered months with a salary-like inflow (an inflow whose
      description matches an `income` keyword rule).
    - `income_volatility`: coefficient of variation of monthly inflow (population standard
      deviation / mean); None with fewer than 2 months or no inflow.
    - `seasonal_high_months` / `seasonal_low_months`: calendar months (1-12) whose average inflow
      is above / below the average monthly inflow by more than SEASONAL_THRESHOLD (25 %). Needs
      12 months or more to describe a year; with less it describes the months seen.
    - `category_outflow` / `category_shares`: money out by spending category (keyword rules;
      unmatched -> `other`) and each category's share of all money out, largest first.
    - `overdraft_days`: calendar days whose end-of-day balance was negative (the balance carries
      over days without transactions).
    """

    period_start: date
    period_end: date
    transaction_count: int
    months_covered: int
    monthly: tuple[MonthlyFlow, ...]
    total_inflow: Decimal
    total_outflow: Decimal
    average_monthly_inflow: Decimal
    average_monthly_outflow: Decimal
    income_regularity: Decimal
    income_volatility: Decimal | None
    seasonal_high_months: tuple[int, ...]
    seasonal_low_months: tuple[int, ...]
    category_outflow: dict[str, Decimal]
    category_shares: dict[str, Decimal]
    overdraft_days: int

    def as_json(self) -> dict:
        """JSON-ready dict: Decimal as string, dates ISO, tuples as lists."""
        return _jsonable(asdict(self))


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _keyword_pattern(keyword: str) -> tuple[str, bool]:
    """(pattern, is_regex): Latin keywords match whole words (`rent` not in `current`), others anywhere."""
    if keyword.isascii():
        return rf"(?<![a-z0-9]){re.escape(keyword)}(?![a-z0-9])", True
    return keyword, False


def categorise(descriptions: pd.Series, rules: Iterable[tuple[str, str]]) -> pd.Series:
    """Category per description by case-insensitive keyword; the longest matching keyword wins.

    Keywords in Latin letters and digits match whole words; Chinese keywords match anywhere.
    Descriptions no rule matches get `other`.
    """
    # Each distinct description is matched once; the first hit in longest-keyword order wins.
    codes, distinct = pd.factorize(descriptions.fillna("").astype("str").str.lower())
    text = pd.Series(distinct, dtype="str")
    hits, categories = [], []
    for keyword, category in sorted(rules, key=lambda rule: -len(rule[0].strip())):
        keyword = keyword.strip().lower()
        if not keyword:
            continue
        pattern, is_regex = _keyword_pattern(keyword)
        hits.append(text.str.contains(pattern, regex=is_regex).to_numpy(dtype=bool))
        categories.append(category)
    if not hits:
        return pd.Series(OTHER_CATEGORY, index=descriptions.index, dtype="object")
    labels = np.select(hits, categories, default=OTHER_CATEGORY).astype(object)
    return pd.Series(labels[codes], index=descriptions.index, dtype="object")


def _seasonal_months(inflow_by_month: pd.Series, average: Decimal, threshold: Decimal) -> tuple[list[int], list[int]]:
    if average <= 0:
        return [], []
    high, low = [], []
    for month, values in inflow_by_month.groupby(inflow_by_month.index.month):
        month_average = _money(int(values.sum())) / len(values)
        if month_average > average * (1 + threshold):
            high.append(int(month))
        elif month_average < average * (1 - threshold):
            low.append(int(month))
    return high, low


def _coefficient_of_variation(values: Sequence[Decimal]) -> Decimal | None:
    if len(values) < 2:
        return None
    mean = sum(values, Decimal(0)) / len(values)
    if mean <= 0:
        return None
    variance = sum(((v - mean) ** 2 for v in values), Decimal(0)) / len(values)
    return (variance.sqrt() / mean).quantize(_RATIO, rounding=ROUND_HALF_UP)


def summarise(
    transactions: pd.DataFrame,
    *,
    rules: Iterable[tuple[str, str]],
    seasonal_threshold: Decimal = SEASONAL_THRESHOLD,
) -> StatementSummaryData:
    """The spending summary of `transactions` (as returned by `read_transactions`).

    `rules` are (keyword, category) pairs; rules of category `income` mark salary-like inflows,
    the others classify money out.
    """
    rules = list(rules)
    frame = transactions.sort_values("date", kind="stable")
    month = frame["date"].dt.to_period("M")
    months = pd.period_range(month.min(), month.max(), freq="M")
    amount = frame["amount"]
    money_in = amount.where(amount > 0, 0)
    money_out = (-amount).where(amount < 0, 0)
    inflow = money_in.groupby(month).sum().reindex(months, fill_value=0)
    outflow = money_out.groupby(month).sum().reindex(months, fill_value=0)

    income_rules = [r for r in rules if r[1] == INCOME_CATEGORY]
    spending_rules = [r for r in rules if r[1] != INCOME_CATEGORY]
    salary_like = (amount > 0) & (categorise(frame["description"], income_rules) == INCOME_CATEGORY)
    salary_months = set(month[salary_like])
    spent = money_out > 0
    by_category = money_out[spent].groupby(categorise(frame.loc[spent, "description"], spending_rules)).sum()
    by_category = by_category.sort_values(ascending=False, kind="stable")

    months_covered = len(months)
    total_in, total_out = _money(int(inflow.sum())), _money(int(outflow.sum()))
    average_in = (total_in / months_covered).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    high, low = _seasonal_months(inflow, total_in / months_covered, seasonal_threshold)
    category_outflow = {str(k): _money(int(v)) for k, v in by_category.items()}

    daily_balance = frame.groupby(frame["date"].dt.normalize())["balance"].last()
    calendar = pd.date_range(daily_balance.index.min(), daily_balance.index.max(), freq="D")
    overdraft_days = int((daily_balance.reindex(calendar).ffill() < 0).sum())

    return StatementSummaryData(
        period_start=frame["date"].iloc[0].date(),
        period_end=frame["date"].iloc[-1].date(),
        transaction_count=len(frame),
        months_covered=months_covered,
        monthly=tuple(
            MonthlyFlow(month=str(p), inflow=_money(int(inflow[p])), outflow=_money(int(outflow[p])),
                        salary_like=p in salary_months)
            for p in months
        ),
        total_inflow=total_in,
        total_outflow=total_out,
        average_monthly_inflow=average_in,
        average_monthly_outflow=(total_out / months_covered).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP),
        income_regularity=_share(Decimal(len(salary_months)), Decimal(months_covered)),
        income_volatility=_coefficient_of_variation([_money(int(v)) for v in inflow]),
        seasonal_high_months=tuple(high),
        seasonal_low_months=tuple(low),
        category_outflow=category_outflow,
        category_shares={k: _share(v, total_out) for k, v in category_outflow.items()},
        overdraft_days=overdraft_days,
    )


def summarise_csv(raw: bytes, *, rules: Iterable[tuple[str, str]], max_rows: int = MAX_ROWS) -> StatementSummaryData:
    """Parse and summarise a statement CSV in one call (raises StatementError)."""
    return summarise(read_transactions(raw, max_rows=max_rows), rules=rules)
