#!/bin/sh
# "CI builds an artefact once". Usage: build.sh healthy|broken
set -eu
mkdir -p build
printf '#!/bin/sh\necho %s\n' "$1" > build/app.bin
