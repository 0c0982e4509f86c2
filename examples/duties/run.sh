#!/bin/sh
# The release duties, end to end on the local target: a gate, a sign-off, performance
# verification with automatic rollback, and a runbook. Works in a temporary copy.
set -eu
TM=${TRAINMASTER:-trainmaster}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/trainmaster-duties.XXXXXX")
cp "$here/trainmaster.yaml" "$here/deploy.sh" "$here/measure.sh" "$here/migrate.sh" "$work/"
cd "$work"
export DEST="$work/servers" CI=
export PROD_DB_PASSWORD="s3cret-demo-password"
mkdir -p "$DEST" build
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
build() { printf '#!/bin/sh\necho %s\n' "$1" > build/app.bin; }   # the "app" prints its p95 latency

step "1.0.0 (p95 200ms); the gate of test is not met yet: exit 3, naming it"
build 200
$TM release create 1.0.0
if $TM deploy 1.0.0 --to test; then echo "unexpected: the gate passed"; exit 1; fi
touch "$DEST/window-open"
$TM deploy 1.0.0 --to test --wait

step "prod needs a sign-off in test first (user acceptance)"
if $TM deploy 1.0.0 --to prod; then echo "unexpected: no sign-off needed"; exit 1; fi
$TM signoff 1.0.0 --env test --by qa-lead --comment "UAT passed"
$TM deploy 1.0.0 --to prod

step "the runbook needs a DBA's approval, then runs against what prod runs"
if $TM run migrate-db --env prod; then echo "unexpected: ran without approval"; exit 1; fi
$TM run migrate-db --env prod --approve --by dba
$TM run migrate-db --env prod
$TM runs

step "1.1.0 is 40% slower: its verification fails in prod and prod rolls back to 1.0.0"
build 280
$TM release create 1.1.0
$TM deploy 1.1.0 --to test
$TM signoff 1.1.0 --env test --by product-owner
if $TM deploy 1.1.0 --to prod; then echo "unexpected: the regression passed"; exit 1; fi
grep -q 200 "$DEST/prod/app.bin"

$TM status
$TM audit verify
echo
echo "duties example finished in $work"
