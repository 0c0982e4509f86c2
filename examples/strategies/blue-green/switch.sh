#!/bin/sh
# Makes $TRAINMASTER_SLOT live: an atomic rename of a new symlink over $DEST/live.
set -eu
ln -sfn "$TRAINMASTER_SLOT" "$DEST/live.new"
mv -T "$DEST/live.new" "$DEST/live" 2>/dev/null || { rm -f "$DEST/live"; mv "$DEST/live.new" "$DEST/live"; }
echo "live: ${TRAINMASTER_PREVIOUS_SLOT:-none} -> $TRAINMASTER_SLOT"
