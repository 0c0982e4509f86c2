# A stand-in load test: the app reports its p95 latency; a real one would measure it.
set -eu
p95=$(sh "$DEST/$TRAINMASTER_ENVIRONMENT/app.bin")
printf '{"p95_ms": %s, "error_rate": 0.001}\n' "$p95" > "$TRAINMASTER_METRICS"
