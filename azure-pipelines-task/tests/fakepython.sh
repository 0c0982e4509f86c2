#!/bin/sh
# A stand-in for python3 in the L0 tests: logs each call, fakes venv/pip, dumps the env for trainmaster.
printf '%s\n' "$*" >> "$FAKE_PY_LOG"
case "$1" in
  -c) echo "${FAKE_PY_VERSION:-3.12}"; exit 0 ;;
esac
case "$1 $2" in
  "-m venv") sleep "${FAKE_VENV_DELAY:-0}"; mkdir -p "$4/bin" && cp "$0" "$4/bin/python" && chmod +x "$4/bin/python"; exit 0 ;;
  "-m pip") exit 0 ;;
  "-m trainmaster") env > "$FAKE_PY_LOG.env"; pwd > "$FAKE_PY_LOG.cwd"; echo "trainmaster ran"
    if [ -n "$FAKE_SIGNAL" ]; then kill -s "$FAKE_SIGNAL" $$; fi
    exit "${FAKE_EXIT:-0}" ;;
esac
exit 9
