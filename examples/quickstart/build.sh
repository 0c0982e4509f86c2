#!/bin/sh
# "CI builds an artefact once": a tiny app that reports its health.
# Usage: build.sh healthy|broken
set -eu
mkdir -p build
printf '#!/bin/sh\necho %s\n' "$1" > build/app.bin
