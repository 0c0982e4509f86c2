#!/bin/sh
# The app in the slot just deployed must say it is healthy (before any user sees it).
set -eu
[ "$(sh "$DEST/$TRAINMASTER_SLOT/app.bin")" = healthy ]
