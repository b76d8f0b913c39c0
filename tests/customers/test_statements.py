"""Bank-statement import: encodings, separators, headers; the summary figures; broken files refused
with the line and column, nothing stored."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from customers import services
from customers.models import AuditEvent, StatementSummary
from customers.selectors import profile_summary
from customers.statements import StatementError, parse_cents, read_transactions, summarise, summarise_csv

D = Decimal
RULES = [("工资", "income"), ("salary", "income"), ("超市", "groceries"), ("supermarket", "groceries"),
         ("房租", "housing"), ("rent", "housing")]


def _year_csv(*, separator=",", header=("date", "description", "amount", "balance"), decimal_comma=False) -> str:
    """12 months: salary 10,000 (20,000 in December, 4,000 in February), rent 3,000, groceries 1,000,
    and an overdraft from 2025-03-01 to 2025-03-05 (4 days at a negative end-of-day balance)."""
    rows = [separator.join(header)]
    balance = D("500.00")
    for month in range(1, 13):
        salary = {12: D("20000.00"), 2: D("4000.00")}.get(month, D("10000.00"))
        entries = [(f"2025-{month:02d}-01", "房租 rent", -D("3000.00")),
                   (f"2025-{month:02d}-05", "工资 salary", salary),
                   (f"2025-{month:02d}-10", "超市 supermarket", -D("1000.00"))]
        for when, text, amount in entries:
            balance += amount
            fmt = (lambda v: str(v).replace(".", ",")) if decimal_comma else str
            rows.append(separator.join([when, text, fmt(amount), fmt(balance)]))
    return "\n".join(rows) + "\n"


def test_summary_figures_on_a_hand_checked_year():
    summary = summarise_csv(_year_csv().encode(), rules=RULES)
    assert summary.months_covered == 12 and summary.transaction_count == 36
    assert summary.total_inflow == D("124000.00")  # 10 x 10,000 + 20,000 + 4,000
    assert summary.average_monthly_inflow == D("10333.33")
    assert summary.average_monthly_outflow == D("4000.00")
    assert summary.income_regularity == D("1.0000")
    # December 20,000 > 10,333.33 x 1.25; February 4,000 < 10,333.33 x 0.75.
    assert summary.seasonal_high_months == (12,) and summary.seasonal_low_months == (2,)
    # Population standard deviation / mean: squared deviations 10 x 333.33^2 + 9,666.67^2 + 6,333.33^2
    # = 134,666,667; / 12 = 11,222,222; sqrt = 3,349.96; / 10,333.33 = 0.32419...
    assert summary.income_volatility == D("0.3242")
    assert summary.category_shares == {"housing": D("0.7500"), "groceries": D("0.2500")}
    assert summary.category_outflow["housing"] == D("36000.00")
    # Jan: 500 - 3000 = -2500 on the 1st until the salary on the 5th: the 1st to the 4th; never again.
    assert summary.overdraft_days == 4
    assert summary.monthly[1].inflow == D("4000.00") and summary.monthly[1].salary_like
    assert all(isinstance(m.inflow, Decimal) for m in summary.monthly)


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        (_year_csv().encode("utf-8"), "UTF-8, comma"),
        (b"\xef\xbb\xbf" + _year_csv().encode("utf-8"), "UTF-8 with BOM"),
        (_year_csv(separator=";", decimal_comma=True).encode("gbk"), "GBK, semicolon, decimal comma"),
        (_year_csv(header=("日期", "摘要", "金额", "余额")).encode("gbk"), "GBK, Chinese headers"),
        (_year_csv(separator=";", header=("交易日期", "摘要", "交易金额(元)", "余额")).encode("utf-8"), "variants"),
        (_year_csv(header=("DATE", "Description", "Amount", "Balance")).encode(), "upper-case headers"),
    ],
)
def test_good_files_give_the_same_summary(raw, label):
    assert summarise_csv(raw, rules=RULES) == summarise_csv(_year_csv().encode(), rules=RULES), label


def test_newest_first_files_and_preamble_lines_are_understood():
    lines = _year_csv().splitlines()
    newest_first = "\n".join(["账号: 6222020200112233445", "户名: 李娜", lines[0], *reversed(lines[1:])])
    assert summarise_csv(newest_first.encode("gbk"), rules=RULES) == summarise_csv(_year_csv().encode(), rules=RULES)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1,234.56", 123456), ("-12.5", -1250), ("¥ 3000", 300000), ("+0.01", 1), ("1234", 123400)],
)
def test_amounts_are_parsed_to_exact_cents(text, expected):
    assert parse_cents(text) == expected


def test_latin_keywords_match_whole_words_only():
    csv = "date,description,amount,balance\n2025-01-01,current account fee,-10,100\n2025-01-02,rent,-20,80\n"
    summary = summarise(read_transactions(csv.encode()), rules=RULES)
    assert summary.category_outflow == {"housing": D("20.00"), "other": D("10.00")}


@pytest.mark.parametrize(
    ("content", "code", "line", "column"),
    [
        (b"", "empty_file", None, None),
        (b"\xef\xbb\xbf\n\n", "empty_file", None, None),
        (b"date,description,amount,balance\n", "no_rows", 2, None),
        (b"date,description,amount\n2025-01-01,x,1\n", "missing_column", 1, "balance"),
        (b"date,description,amount,balance\n2025-01-01,ok,1,1\n2025-02-30,x,1,1\n", "bad_date", 3, "date"),
        (b"date,description,amount,balance\n01/02/2025,x,1,1\n", "bad_date", 2, "date"),
        (b"date,description,amount,balance\n2025-01-01,x,12abc,1\n", "bad_amount", 2, "amount"),
        (b"date,description,amount,balance\n2025-01-01,x,1.234,1\n", "bad_amount", 2, "amount"),
        (b"date,description,amount,balance\n2025-01-01,x,1,\n", "bad_amount", 2, "balance"),
        (b"date,description,amount,balance\n2025-01-01,x\n", "field_count", 2, None),
        (b"date,date,amount,balance\n", "duplicate_column", 1, "date"),
        (b"%PDF-1.4\x00\x01binary", "encoding", None, None),
        (b"x" * 200_000 + b"\n", "malformed", 1, None),  # one cell over csv's field limit
        (b"date,description,amount,balance\n2025-01-01,\"" + b"y" * 200_000 + b"\",1,1\n", "malformed", 2, None),
        (b"date;description;amount;balance;" + b"z" * 140_000 + b"\n2025-01-01;x;1;1;\n", "malformed", 1, None),
        (",".join(f"c{i}" for i in range(100_000)).encode() + b"\n1\n", "too_many_columns", 1, None),
    ],
)
def test_broken_files_are_refused_naming_line_and_column(content, code, line, column):
    with pytest.raises(StatementError) as caught:
        read_transactions(content)
    error = caught.value
    assert (error.code, error.line, error.column) == (code, line, column)
    if line:
        assert f"Line {line}" in error.message


def test_too_many_rows_are_refused_at_the_first_row_over_the_limit():
    rows = "".join(f"2025-01-01,x,1,{i}\n" for i in range(6))
    with pytest.raises(StatementError) as caught:
        read_transactions(f"date,description,amount,balance\n{rows}".encode(), max_rows=5)
    assert caught.value.code == "too_many_rows" and caught.value.line == 7


# --- Through the service: stored, or refused with nothing stored -----------------------------------

def _upload(content: bytes, name="statement.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


@pytest.mark.django_db
def test_import_stores_the_summary_and_feeds_the_profile_summary(profile, customer):
    stored = services.statement_import(profile=profile, file=_upload(_year_csv().encode("gbk")), by=customer)
    assert StatementSummary.objects.get() == stored
    assert stored.months_covered == 12 and stored.average_monthly_inflow == D("10333.33")
    assert stored.summary["seasonal_low_months"] == [2]
    assert AuditEvent.objects.filter(action="profile.statement_import", target_id=str(profile.pk)).exists()
    summary = profile_summary(profile)
    assert summary["seasonal_low_months"] == [2] and summary["seasonal_high_months"] == [12]
    assert summary["income_volatility"] == D("0.3242") and summary["overdraft_days"] == stored.overdraft_days


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"date,description,amount,balance\n2025-01-01,ok,1,1\n2025-13-01,x,1,1\n", ["Line 3", "date", "2025-13-01"]),
        (b"date,description,amount,balance\n2025-01-01,x,abc,1\n", ["Line 2", "amount", "abc"]),
        (b"date,description,balance\n2025-01-01,x,1\n", ["Line 1", "amount"]),
        (b"", ["empty"]),
    ],
)
def test_a_broken_file_stores_nothing_and_the_error_names_the_file_field(profile, customer, content, words):
    with pytest.raises(services.DomainError) as caught:
        services.statement_import(profile=profile, file=_upload(content), by=customer)
    assert caught.value.field == "file"
    assert all(word in caught.value.message for word in words), caught.value.message
    assert not StatementSummary.objects.exists()
    assert not AuditEvent.objects.filter(action="profile.statement_import").exists()


@pytest.mark.django_db
def test_the_same_file_is_not_imported_twice(profile, customer):
    services.statement_import(profile=profile, file=_upload(_year_csv().encode()), by=customer)
    with pytest.raises(services.DomainError, match="already imported"):
        services.statement_import(profile=profile, file=_upload(_year_csv().encode()), by=customer)
    assert StatementSummary.objects.count() == 1


@pytest.mark.django_db
def test_keyword_rules_come_from_the_database(profile, customer):
    from customers.models import SpendingCategoryRule

    assert SpendingCategoryRule.objects.filter(keyword="超市", category="groceries").exists()  # seeded
    SpendingCategoryRule.objects.create(keyword="瑜伽", category="entertainment")
    csv = "日期,摘要,金额,余额\n2025-01-05,工资,9000,9000\n2025-01-06,瑜伽课,-300,8700\n"
    stored = services.statement_import(profile=profile, file=_upload(csv.encode("gbk")), by=customer)
    assert stored.summary["category_shares"] == {"entertainment": "1.0000"}
    assert stored.income_regularity == D("1.0000")
