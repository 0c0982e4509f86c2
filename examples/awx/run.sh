#!/bin/sh
# Usage: sh examples/awx/run.sh URL   (URL printed by `python -m tests.fakes.awx --port 0`)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
cp "$here/trainmaster.yaml" "$work/"
printf 'shop build 1\n' > "$work/app.bin"
cd "$work"
export CONTROLLER_HOST="$1" CONTROLLER_OAUTH_TOKEN="${CONTROLLER_OAUTH_TOKEN:-awx-test-token}"
trainmaster validate --remote
trainmaster release create 1.0.0
trainmaster deploy 1.0.0 --to dev
trainmaster promote --from dev --to test
status=0; trainmaster promote --from test --to prod || status=$?
[ "$status" -eq 3 ] || { echo "expected exit 3 (approval) from prod, got $status"; exit 1; }
trainmaster approve 1.0.0 --env prod --by release-manager
trainmaster deploy 1.0.0 --to prod   # adopts the approved workflow job
trainmaster history
