# The runbook: a migration against what prod runs (its verified package, prod's secrets).
set -eu
echo "migrating the database for $TRAINMASTER_VERSION (password $DB_PASSWORD is masked)"
echo "$TRAINMASTER_VERSION" >> "$DEST/migrations.log"
