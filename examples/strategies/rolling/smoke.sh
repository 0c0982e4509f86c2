#!/bin/sh
# The instance's app must say it is healthy.
set -eu
[ "$(sh "$DEST/$TRAINMASTER_INSTANCE/app.bin")" = healthy ]
