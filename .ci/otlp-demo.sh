#!/usr/bin/env bash
# Sends the worker_pool demo's spans over OTLP/JSON to a real OTLP/HTTP receiver on loopback
# and checks that every span the demo reports exported arrived, decoded and was accepted.
#
# The receiver is shared/tools/otlp_receiver.py (strict OTLP/JSON checks); it listens on a
# free 127.0.0.1 port and is stopped on exit. Run from anywhere: bash .ci/otlp-demo.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."

receiver="${OTLP_RECEIVER:-$here/../../shared/tools/otlp_receiver.py}"
if [ ! -f "$receiver" ]; then
    echo "otlp-demo: receiver not found at $receiver (set OTLP_RECEIVER)" >&2
    exit 1
fi

if ! python3 -c 'import google.protobuf, opentelemetry.proto' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check opentelemetry-proto protobuf
fi

mkdir -p target
received=target/otlp-received.jsonl
demo_log=target/otlp-demo.log
rm -f "$received" "$demo_log"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
python3 "$receiver" --strict --port "$port" --out "$received" >target/otlp-receiver.log 2>&1 &
receiver_pid=$!
trap 'kill "$receiver_pid" 2>/dev/null || true; wait "$receiver_pid" 2>/dev/null || true' EXIT

# Wait (at most ~15 s) until it accepts connections.
for _ in $(seq 150); do
    if ! kill -0 "$receiver_pid" 2>/dev/null; then
        echo "otlp-demo: the receiver exited:" >&2
        cat target/otlp-receiver.log >&2
        exit 1
    fi
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2).close()" 2>/dev/null; then
        break
    fi
    sleep 0.1
done
echo "otlp-demo: receiver on http://127.0.0.1:$port/v1/traces"

# OTLP/JSON, so that the strict receiver can check every field (protobuf, the default, goes
# to a real backend in .ci/phoenix-roundtrip.sh).
OTEL_EXPORTER_OTLP_PROTOCOL=http/json cargo run --release --example worker_pool -- \
    --requests 200 --otlp "http://127.0.0.1:$port" --out target/otlp-demo | tee "$demo_log"

python3 - "$demo_log" "$received" <<'EOF'
import json, re, sys

log, received = sys.argv[1], sys.argv[2]
m = re.search(r"^otlp: exported=(\d+) .*dropped=(\d+)", open(log).read(), re.M)
if not m:
    sys.exit("otlp-demo: the demo printed no 'otlp: exported=N' line")
exported, dropped = int(m.group(1)), int(m.group(2))

requests = spans = rejected = 0
ids = set()
errors = []
try:
    lines = open(received).read().splitlines()
except FileNotFoundError:
    lines = []
for line in lines:
    r = json.loads(line)
    requests += 1
    if not r["ok"]:
        rejected += 1
        errors.extend(r["errors"][:3])
        continue
    spans += len(r["spans"])
    ids.update((s["traceId"], s["spanId"]) for s in r["spans"])

print(f"otlp-demo: demo exported {exported} spans (dropped {dropped}); receiver got "
      f"{spans} spans ({len(ids)} distinct) in {requests} requests, {rejected} rejected")
for e in errors[:10]:
    print("  receiver error:", e)
ok = exported > 0 and spans == exported and len(ids) == spans and rejected == 0
if not ok:
    sys.exit("otlp-demo: FAILED")
print("otlp-demo: ok")
EOF
