#!/bin/sh
# The quick start: one artefact through dev -> test -> prod on the embedded default
# (local SQLite ledger, content-addressed store, local target), then a failing
# release that is rolled back automatically. Run from anywhere; it works in a copy.
set -eu
TM=${TRAINMASTER:-trainmaster}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/trainmaster-quickstart.XXXXXX")
cp "$here/trainmaster.yaml" "$here/deploy.sh" "$here/smoke.sh" "$here/build.sh" "$work/"
cd "$work"
export DEST="$work/servers"
export PROD_DB_PASSWORD="s3cret-demo-password"   # would come from your CI's secret store

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step "build 1.0.0 once, and create the release"
sh build.sh healthy
$TM release create 1.0.0 --notes "first release"

step "deploy to dev, then promote the same bytes"
$TM deploy 1.0.0 --to dev
$TM promote --from dev --to test

step "prod needs an approval from someone other than the release's creator"
if $TM deploy 1.0.0 --to prod; then echo "unexpected: prod deployed without approval"; exit 1; fi
# A second person approves; outside CI, --by names them (inside CI the CI says who).
CI= $TM approve 1.0.0 --env prod --by release-manager --comment "change ticket CHG-42"
$TM promote --from test --to prod

step "build 1.1.0, which fails its smoke test in dev and is rolled back"
sh build.sh broken
$TM release create 1.1.0
if $TM deploy 1.1.0 --to dev; then echo "unexpected: the broken release passed"; exit 1; fi
step "dev is back on 1.0.0; promoting it again is a no-op: every package is skipped"
$TM promote --from dev --to test

step "where everything stands"
$TM history --limit 10
$TM audit verify
step "the release board: one HTML page, open it in a browser or publish it (CI artefact, Pages)"
$TM board --out "$work/board"
step "status: what runs where, and the failure that was rolled back, with its reason"
$TM status
echo
echo "quick start finished in $work (board: $work/board/index.html)"
