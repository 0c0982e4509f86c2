#!/bin/sh
# Installs the release's artefact into $DEST/<environment>/ and writes its config.
# Everything comes from the clean environment trainmaster gives the command.
set -eu
target="$DEST/$TRAINMASTER_ENVIRONMENT"
mkdir -p "$target"
cp "$TRAINMASTER_PACKAGE_APP" "$target/app.bin"
printf 'version=%s\ngreeting=%s\nrelease=%s\n' \
  "$TRAINMASTER_VERSION" "$GREETING" "$TRAINMASTER_RELEASE_ID" > "$target/app.conf"
if [ -n "${DB_PASSWORD:-}" ]; then
  # The secret reaches the command; trainmaster masks it if the command prints it.
  printf 'db_password=%s\n' "$DB_PASSWORD" > "$target/db.secret"
  echo "connected to the database with password $DB_PASSWORD"
fi
echo "installed $TRAINMASTER_VERSION into $target"
