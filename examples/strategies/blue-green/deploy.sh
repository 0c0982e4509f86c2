#!/bin/sh
# Installs the release into the idle slot: $DEST/<slot>/.
set -eu
target="$DEST/$TRAINMASTER_SLOT"
mkdir -p "$target"
cp "$TRAINMASTER_PACKAGE_APP" "$target/app.bin"
printf '%s\n' "$TRAINMASTER_VERSION" > "$target/VERSION"
echo "slot $TRAINMASTER_SLOT now holds $TRAINMASTER_VERSION (live: ${TRAINMASTER_PREVIOUS_SLOT:-none})"
