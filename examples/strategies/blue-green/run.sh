#!/bin/sh
# Blue-green: 1.0.0 goes live on blue, 1.1.0 on green; `trainmaster rollback` switches the
# symlink back to blue at once (no redeploy); a broken 1.2.0 fails its smoke test in the
# idle slot and never goes live. Run from anywhere; it works in a copy.
set -eu
TM=${TRAINMASTER:-trainmaster}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/trainmaster-blue-green.XXXXXX")
cp "$here/trainmaster.yaml" "$here/deploy.sh" "$here/smoke.sh" "$here/switch.sh" "$here/build.sh" "$work/"
cd "$work"
export DEST="$work/servers"
mkdir -p "$DEST"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
live() { echo "live -> $(readlink "$DEST/live") ($(cat "$DEST/live/VERSION"))"; }

step "1.0.0 goes to the idle slot (blue), is smoked there, then goes live"
sh build.sh healthy
$TM release create 1.0.0
$TM deploy 1.0.0 --to prod
live

step "1.1.0 goes to green; blue keeps 1.0.0"
$TM release create 1.1.0 --notes "same bytes, new version"
$TM deploy 1.1.0 --to prod
live

step "rollback: switch back to blue at once, nothing redeployed"
$TM rollback --env prod
live

step "a broken 1.2.0 fails its smoke test in the idle slot: the live slot never changes"
sh build.sh broken
$TM release create 1.2.0
if $TM deploy 1.2.0 --to prod; then echo "unexpected: the broken release passed"; exit 1; fi
live
$TM status
$TM audit verify
echo
echo "blue-green example finished in $work"
