#!/bin/sh
# The smoke test: run the installed app; it must say it is healthy.
set -eu
out=$(sh "$DEST/$TRAINMASTER_ENVIRONMENT/app.bin")
echo "app says: $out"
[ "$out" = "healthy" ]
