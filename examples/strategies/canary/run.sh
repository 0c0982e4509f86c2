#!/bin/sh
# Canary: 1.0.0 goes through 25% -> 50% -> 100% of the traffic; a broken 1.1.0 fails its
# check at 25%: the traffic is routed back to 0 first, then the canary is rolled back.
# Run from anywhere; it works in a copy.
set -eu
TM=${TRAINMASTER:-trainmaster}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/trainmaster-canary.XXXXXX")
cp "$here/trainmaster.yaml" "$here/deploy.sh" "$here/smoke.sh" "$here/check.sh" "$here/route.sh" \
   "$here/build.sh" "$work/"
cd "$work"
export DEST="$work/servers"
mkdir -p "$DEST"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
versions() { for i in 1 2 3 4; do printf 'web-%s=%s ' "$i" "$(cat "$DEST/web-$i/VERSION")"; done; echo; }

step "1.0.0 through 25%, 50% and 100% of the traffic"
sh build.sh healthy
$TM release create 1.0.0
$TM deploy 1.0.0 --to prod
versions

step "a broken 1.1.0 fails its check at 25%: routed back to 0, then rolled back"
sh build.sh broken
$TM release create 1.1.0
if $TM deploy 1.1.0 --to prod; then echo "unexpected: the broken release passed"; exit 1; fi
versions
echo "the router's changes, in order:"
cat "$DEST/routing.log"
$TM status
$TM audit verify
echo
echo "canary example finished in $work"
