#!/bin/sh
# Usage: sh examples/puppet-enterprise/run.sh URL PORT
#   (URL and port printed by `python -m tests.fakes.puppet --port 0`; add `--tls DIR` to the fake and
#    export PE_CA_FILE=DIR/ca.pem for HTTPS)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
sed "s/poll_interval: 1/poll_interval: 1\n  ports: {code_manager: $2, orchestrator: $2, classifier: $2}/" \
  "$here/trainmaster.yaml" > "$work/trainmaster.yaml"
printf 'shop build 1\n' > "$work/app.bin"
cd "$work"
export PE_SERVER="$1" PE_TOKEN="${PE_TOKEN:-pe-test-token}"
trainmaster validate --remote
trainmaster release create 1.0.0
trainmaster deploy 1.0.0 --to dev
trainmaster promote --from dev --to test
trainmaster promote --from test --to prod
trainmaster history
