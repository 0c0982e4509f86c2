#!/bin/sh
# The instance answers (the app starts); its health under traffic is check.sh's business.
set -eu
sh "$DEST/$TRAINMASTER_INSTANCE/app.bin" >/dev/null
