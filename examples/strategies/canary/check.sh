#!/bin/sh
# The monitor check under live traffic: every instance the router sends traffic to is healthy.
set -eu
. "$DEST/routing"
for instance in $(echo "${canary:-}" | tr ',' ' '); do
  [ "$(sh "$DEST/$instance/app.bin")" = healthy ] || { echo "$instance is unhealthy under traffic"; exit 1; }
done
