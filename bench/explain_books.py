"""Where the close of business's books steps spend their time, statement by statement.

Runs, on the database `bench_cob.py --keep` left (installments_bench), the real code of the books'
steps for the day after the last closed one -- posting.accrue (interest / fee / late-charge accrual),
provisioning.classify_book and posting.reconcile -- inside ONE transaction that is rolled back at the
end (nothing stays). Every SQL statement is timed; statements slower than --explain-ms are also run
under EXPLAIN (ANALYZE, BUFFERS) first, in a savepoint rolled back, and their plans printed.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/installments python bench/explain_books.py [--explain-ms 300]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BENCH_DB = "installments_bench"


class Rollback(Exception):
    pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--explain-ms", type=float, default=300.0)
    parser.add_argument("--no-explain", action="store_true")
    parser.add_argument("--jit-off", action="store_true", help="SET LOCAL jit = off for the transaction")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    os.environ["DATABASE_URL"] = urlunsplit(urlsplit(url)._replace(path=f"/{BENCH_DB}"))
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db import connection, transaction

    from collections_app.collections import cob
    from collections_app.ledger import posting, provisioning

    day = cob.last_closed_day() + timedelta(days=1)
    print(f"books steps for {day} on {connection.settings_dict['NAME']} (rolled back)")
    stats = []

    def wrapper(execute, sql, params, many, context):
        if not args.no_explain and not many and sql.lstrip().split()[0].upper() in ("SELECT", "INSERT", "CREATE",
                                                                                    "UPDATE", "WITH"):
            # Timed once first to decide; explained only when slow (the real run follows, so the
            # EXPLAIN runs in a savepoint and is rolled back).
            raw = connection.connection.cursor()
            raw.execute("SAVEPOINT explain_books")
            started = time.perf_counter()
            raw.execute(sql, params)
            took = (time.perf_counter() - started) * 1000
            raw.execute("ROLLBACK TO SAVEPOINT explain_books")
            if took >= args.explain_ms:
                raw.execute("SAVEPOINT explain_books")
                raw.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                plan = "\n".join(row[0] for row in raw.fetchall())
                raw.execute("ROLLBACK TO SAVEPOINT explain_books")
                print(f"\n--- {took:.0f} ms: {' '.join(sql.split())[:300]}\n{plan}")
        started = time.perf_counter()
        result = execute(sql, params, many, context)
        stats.append(((time.perf_counter() - started) * 1000, " ".join(sql.split())[:160]))
        return result

    sql = cob._Dialect(connection.vendor)
    steps = {}
    try:
        with transaction.atomic(), connection.execute_wrapper(wrapper):
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL work_mem = '64MB'")
                if args.jit_off:
                    cursor.execute("SET LOCAL jit = off")

                def run(name, statement, *, more=False, **params):
                    cursor.execute(statement, {"d": day.isoformat(), **params})
                    return cursor.rowcount

                previous = cob.last_closed_day()
                for name, work in (("accrue_prepare", lambda: posting.accrue_prepare(day, sql, cob.T, run)),
                                   ("accrue", lambda: posting.accrue(day, previous, sql, cob.T, run)),
                                   ("classify_book", lambda: provisioning.classify_book(day)),
                                   ("reconcile", lambda: posting.reconcile(day, sql, cob.T))):
                    first = len(stats)
                    started = time.perf_counter()
                    result = work()
                    steps[name] = ((time.perf_counter() - started) * 1000, first, len(stats), result)
                # What COMMIT would add: the deferred foreign-key checks of the rows inserted above.
                started = time.perf_counter()
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                steps["deferred_fk_checks"] = ((time.perf_counter() - started) * 1000, len(stats), len(stats), None)
            raise Rollback
    except Rollback:
        pass
    print("\n=== statement times (real run, ms) ===")
    for name, (took, first, last, result) in steps.items():
        summary = result if not isinstance(result, dict) or "accounts" not in result else {"ok": result["ok"]}
        print(f"\n{name}: {took:.0f} ms  -> {summary}")
        for ms, text in stats[first:last]:
            if ms >= 5:
                print(f"  {ms:8.0f}  {text}")


if __name__ == "__main__":
    main()
