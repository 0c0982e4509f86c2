#!/usr/bin/env bash
# Build the trainmaster Azure Pipelines task and its extension:
#   1. the trainmaster wheel and the hash-pinned lock of its dependencies (requirements/azure-task.txt),
#      bundled into the task (wheels/): the shim installs the lock with --require-hashes, then the wheel --no-deps;
#   2. the TypeScript shim (dist/);
#   3. the task folder build/Trainmaster with production node_modules only, and the manifest in build/;
#   4. the .vsix with tfx-cli (pinned in package.json) into out/.
# Usage: azure-pipelines-task/build.sh [extra tfx args, e.g. --publisher NAME --rev-version]
# PYTHON selects the interpreter that builds the wheel (default: python3).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
python="${PYTHON:-python3}"
cd "$here"

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

rm -rf wheels dist build out
if "$python" -c "import hatchling" 2>/dev/null; then
  "$python" -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir wheels "$repo"
else
  "$python" -m pip wheel --quiet --no-deps --wheel-dir wheels "$repo"
fi
cp "$repo/requirements/azure-task.txt" wheels/requirements.txt
npx tsc -p .

stage=build/Trainmaster
mkdir -p "$stage"
cp -R task.json dist wheels package.json package-lock.json "$stage"/
(cd "$stage" && npm ci --omit=dev --no-audit --no-fund --ignore-scripts && rm package-lock.json)

cp vss-extension.json README.md build/
npx tfx extension create --root build --manifest-globs vss-extension.json --output-path out/ --no-prompt "$@"
ls -l out/*.vsix
