#!/usr/bin/env bash
# Load test: gunicorn (2 sync workers, config/gunicorn_settings.py) on PostgreSQL + Redis in a
# throwaway database, locust headless against 127.0.0.1 only, bounded in time; then a reconciliation
# (bench/load/reconcile.py) that every accepted submission and payment is in the database exactly
# once and nothing else was stored.
# Prints requests/s, p50/p95/p99 and failures per request, submissions/s and payments/s, and the
# goal (0 errors, p99 < 300 ms, submissions >= 100/s). Exits 1 on any failed request or a failed
# reconciliation; a missed latency or throughput goal is reported, not failed.
#
#   bash bench/bench_load.sh                # 50 users, 60 s
#   USERS=20 DURATION=20s bash bench/bench_load.sh
#   USER_CLASSES=Applicant APPLICANTS=3000 bash bench/bench_load.sh   # one part of the mix only
#   MODE=profile bash bench/bench_load.sh                  # per-request CPU ms and queries, in process
#   MODE=profile PROFILE=submit bash bench/bench_load.sh   # ... plus a cProfile of one request type
#
# The load generator shares the machine with the server, so the figures hold only on an otherwise
# idle machine: the load average before and after the run is printed beside them.
set -euo pipefail
cd "$(dirname "$0")/.."

USERS="${USERS:-50}"
SPAWN_RATE="${SPAWN_RATE:-25}"
DURATION="${DURATION:-60s}"
MODE="${MODE:-load}"
APPLICANTS="${APPLICANTS:-3600}"  # enough for the whole run: the mix stays the same throughout
if [ "$MODE" = profile ]; then APPLICANTS="${REPEAT:-40}"; APPLICANTS=$((APPLICANTS + 1)); fi
PAYERS="${PAYERS:-20}"
WORKERS="${WORKERS:-2}"
PORT="${PORT:-8765}"
DB="installments_load"
PY=.venv/bin/python
WORK="$(mktemp -d)"
# A Redis database of its own (flushed before and after): Celery's scoring tasks queue up there
# with no worker to take them, and the throttle and cache keys must not meet another run's.
REDIS_DB="${LOAD_REDIS_DB:-13}"

# One secret for the seeding and the server: the seeded sessions are signed with it.
export SECRET_KEY="load-$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
export DEBUG=1 DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB" REDIS_URL="redis://127.0.0.1:6379/$REDIS_DB"
export CELERY_TASK_ALWAYS_EAGER=0 MEDIA_ROOT="$WORK/media" LOG_LEVEL=WARNING CONN_MAX_AGE=60
export THROTTLE_ANON=100000/min THROTTLE_USER=100000/min THROTTLE_QUOTES=100000/min
# The load test's loan officer signs in with the password alone (two-factor is tested in tests/hardening).
export TWO_FACTOR_ROLES=approver,admin
export LOAD_ACCOUNTS="$WORK/accounts.json" LOAD_ACCEPTED="$WORK/accepted.json"

cleanup() {
  if [ -n "${GUNICORN:-}" ]; then kill "$GUNICORN" 2>/dev/null && wait "$GUNICORN" 2>/dev/null || true; fi
  dropdb -h 127.0.0.1 -U postgres --if-exists "$DB" || true
  redis-cli -n "$REDIS_DB" flushdb >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

dropdb -h 127.0.0.1 -U postgres --if-exists "$DB"
createdb -h 127.0.0.1 -U postgres "$DB"
redis-cli -n "$REDIS_DB" flushdb >/dev/null
$PY manage.py migrate --noinput -v0
$PY manage.py seed_demo >/dev/null
echo "Seeding $APPLICANTS ready applications and $PAYERS plans in $DB ..."
APPLICANTS="$APPLICANTS" PAYERS="$PAYERS" $PY bench/load/seed.py

if [ "$MODE" = profile ]; then
  # Production settings (DEBUG off: no query log, no template debug), as gunicorn would serve them.
  DEBUG=0 STATICFILES_STORAGE=django.contrib.staticfiles.storage.StaticFilesStorage \
    $PY bench/load/request_costs.py "$LOAD_ACCOUNTS"
  exit 0
fi

# The server runs the production settings (DEBUG off) as behind a TLS-terminating proxy: the
# load users send X-Forwarded-Proto: https (bench/load/locustfile.py).
DEBUG=0 STATICFILES_STORAGE=django.contrib.staticfiles.storage.StaticFilesStorage \
  .venv/bin/gunicorn -c config/gunicorn_settings.py config.wsgi -w "$WORKERS" -b "127.0.0.1:$PORT" --log-level warning --access-logfile /dev/null &
GUNICORN=$!
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.3; done

echo "Load: $USERS users for $DURATION against 127.0.0.1:$PORT (gunicorn, $WORKERS workers); load average before:" \
  "$(cut -d' ' -f1-3 /proc/loadavg)"
LOCUST_STATUS=0
.venv/bin/locust -f bench/load/locustfile.py --headless --host "http://127.0.0.1:$PORT" -u "$USERS" \
  -r "$SPAWN_RATE" -t "$DURATION" --stop-timeout 10 --csv "$WORK/load" --only-summary --loglevel WARNING \
  ${USER_CLASSES:-} >"$WORK/locust.out" 2>&1 || LOCUST_STATUS=$?
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ ! -s "$WORK/load_stats.csv" ] || [ ! -s "$LOAD_ACCEPTED" ]; then
  cat "$WORK/locust.out"
  echo "FAILED: locust did not finish (exit $LOCUST_STATUS)"
  exit 1
fi

REPORT_STATUS=0
$PY - "$WORK/load_stats.csv" "$WORK/load_failures.csv" "$LOAD_ACCEPTED" <<'PYEOF' || REPORT_STATUS=$?
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print(f"{'request':28} {'count':>7} {'fail':>5} {'req/s':>8} {'p50':>6} {'p95':>6} {'p99':>6}  (ms)")
for r in rows:
    print(f"{r['Name'][:28]:28} {r['Request Count']:>7} {r['Failure Count']:>5} {float(r['Requests/s']):8.1f} "
          f"{r['50%']:>6} {r['95%']:>6} {r['99%']:>6}")
failures = list(csv.DictReader(open(sys.argv[2])))
for f in failures:
    print(f"  failure x{f['Occurrences']}: {f['Method']} {f['Name']}: {f['Error'][:300]}")
accepted = json.load(open(sys.argv[3]))
rates = {}
for kind in ("submissions", "payments"):
    count, window = len(accepted[kind]), accepted["window"][kind]
    seconds = window[1] - window[0] if window else 0
    rates[kind] = count / seconds if seconds > 0 else 0.0
    print(f"{kind}: {count} accepted, {rates[kind]:.1f}/s over the {seconds:.1f} s they were being made")
total = next(r for r in rows if r["Name"] == "Aggregated")
errors, p99 = int(total["Failure Count"]), float(total["99%"])
print(f"goal: 0 errors ({errors}), p99 < 300 ms ({p99:.0f}), submissions >= 100/s ({rates['submissions']:.1f}):",
      "met" if errors == 0 and p99 < 300 and rates["submissions"] >= 100 else "NOT met")
sys.exit(1 if errors else 0)
PYEOF

echo "Reconciliation ..."
RECONCILE_STATUS=0
$PY bench/load/reconcile.py "$LOAD_ACCEPTED" "$LOAD_ACCOUNTS" || RECONCILE_STATUS=$?

if [ "$REPORT_STATUS" -ne 0 ] || [ "$RECONCILE_STATUS" -ne 0 ]; then
  echo "FAILED: $([ "$REPORT_STATUS" -ne 0 ] && echo 'requests failed; ')$([ "$RECONCILE_STATUS" -ne 0 ] && echo 'the reconciliation found mismatches')"
  exit 1
fi
