#!/bin/sh
# Installs the release on one instance: $DEST/<instance>/.
set -eu
target="$DEST/$TRAINMASTER_INSTANCE"
mkdir -p "$target"
cp "$TRAINMASTER_PACKAGE_APP" "$target/app.bin"
printf '%s\n' "$TRAINMASTER_VERSION" > "$target/VERSION"
echo "batch ${TRAINMASTER_BATCH:-?}: $TRAINMASTER_INSTANCE now holds $TRAINMASTER_VERSION (port ${PORT:-8080})"
