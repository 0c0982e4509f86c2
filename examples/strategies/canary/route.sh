#!/bin/sh
# The router's configuration: which instances get the new release's share of the traffic.
# Written atomically; every change is appended to $DEST/routing.log.
set -eu
printf 'version=%s\nweight=%s\ncanary=%s\n' "$TRAINMASTER_VERSION" "$TRAINMASTER_WEIGHT" \
  "$TRAINMASTER_INSTANCES" > "$DEST/routing.new"
mv "$DEST/routing.new" "$DEST/routing"
echo "route $TRAINMASTER_VERSION weight=$TRAINMASTER_WEIGHT canary=$TRAINMASTER_INSTANCES" >> "$DEST/routing.log"
echo "$TRAINMASTER_WEIGHT% of the traffic to ${TRAINMASTER_INSTANCES:-no instance} ($TRAINMASTER_VERSION)"
