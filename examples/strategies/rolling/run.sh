#!/bin/sh
# Rolling deployment: 1.0.0 to four instances one at a time, then a broken 1.1.0 that fails
# on web-1 and web-2: the rollout stops and both are rolled back, every instance stays on 1.0.0.
# Run from anywhere; it works in a copy.
set -eu
TM=${TRAINMASTER:-trainmaster}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/trainmaster-rolling.XXXXXX")
cp "$here/trainmaster.yaml" "$here/deploy.sh" "$here/smoke.sh" "$here/build.sh" "$work/"
cd "$work"
export DEST="$work/servers"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
versions() { for i in 1 2 3 4; do printf 'web-%s=%s ' "$i" "$(cat "$DEST/web-$i/VERSION")"; done; echo; }

step "release 1.0.0 and roll it out, batch by batch"
sh build.sh healthy
$TM release create 1.0.0
$TM deploy 1.0.0 --to prod
versions

step "a broken 1.1.0 fails on web-1 (tolerated: max_failed 1) and on web-2: the rollout stops, both are rolled back"
sh build.sh broken
$TM release create 1.1.0
if $TM deploy 1.1.0 --to prod; then echo "unexpected: the broken release passed"; exit 1; fi
versions
$TM status
$TM audit verify
echo
echo "rolling example finished in $work"
