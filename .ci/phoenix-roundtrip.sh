#!/usr/bin/env bash
# A real OTLP backend nobody here wrote: installs Arize Phoenix from PyPI (pinned) into
# target/phoenix-venv, starts `phoenix serve` on free loopback ports with a fresh working
# directory, sends the worker_pool demo to it over OTLP/HTTP protobuf + gzip (the exporter's
# default protocol), then reads every span back through Phoenix's REST API and compares it
# with the demo's own OTLP/JSON file (.ci/phoenix_roundtrip.py: counts, parents, typed
# attributes, events, status, times, trace attributes).
#
# Then the same demo over OTLP/gRPC to Phoenix's gRPC port (4317's role), checked the same way.
# Costs on the 2-core dev machine: install ~60 s (850 MB), start ~35 s, the rest seconds.
# Run from anywhere: bash .ci/phoenix-roundtrip.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."

PHOENIX_VERSION=20.26.1
# Root spans do not carry the trace's attributes on the wire yet (issue 12, item 1): report
# that as a known gap instead of failing. Empty this once the tracer sends them.
known_gaps=""

mkdir -p target
venv=target/phoenix-venv
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('arize-phoenix') != '$PHOENIX_VERSION')" 2>/dev/null; then
    rm -rf "$venv"
    start=$(date +%s)
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "arize-phoenix==$PHOENIX_VERSION"
    echo "phoenix: installed arize-phoenix $PHOENIX_VERSION in $(( $(date +%s) - start )) s ($(du -sh "$venv" | cut -f1))"
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port="$(free_port)"
grpc_port="$(free_port)"
work="$(mktemp -d "${TMPDIR:-/tmp}/reqtrace-phoenix.XXXXXX")"
log=target/phoenix-server.log
demo_log=target/phoenix-demo.log
out=target/phoenix-demo

PHOENIX_HOST=127.0.0.1 PHOENIX_PORT="$port" PHOENIX_GRPC_PORT="$grpc_port" \
    PHOENIX_WORKING_DIR="$work" PHOENIX_TELEMETRY_ENABLED=false \
    PHOENIX_ALLOW_EXTERNAL_RESOURCES=false \
    "$venv/bin/phoenix" serve >"$log" 2>&1 &
phoenix_pid=$!
cleanup() {
    kill "$phoenix_pid" 2>/dev/null || true
    wait "$phoenix_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Wait (at most 3 minutes) until its REST API answers.
start=$(date +%s)
until python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/v1/projects', timeout=2)" 2>/dev/null; do
    if ! kill -0 "$phoenix_pid" 2>/dev/null; then
        echo "phoenix: the server exited:" >&2
        tail -50 "$log" >&2
        exit 1
    fi
    if (( $(date +%s) - start > 180 )); then
        echo "phoenix: not up after 180 s:" >&2
        tail -50 "$log" >&2
        exit 1
    fi
    sleep 0.5
done
echo "phoenix: $PHOENIX_VERSION up on http://127.0.0.1:$port after $(( $(date +%s) - start )) s"

# Protobuf is the default; set nothing for it. Gzip as a production exporter would.
env -u OTEL_EXPORTER_OTLP_PROTOCOL -u OTEL_EXPORTER_OTLP_TRACES_PROTOCOL \
    OTEL_EXPORTER_OTLP_COMPRESSION=gzip \
    cargo run --release --example worker_pool -- \
    --threads 4 --requests 200 --otlp "http://127.0.0.1:$port" --out "$out" | tee "$demo_log"

python3 "$here/phoenix_roundtrip.py" $known_gaps "http://127.0.0.1:$port" "$demo_log" "$out/traces.otlp.json"

# The same over OTLP/gRPC to Phoenix's gRPC receiver (reqtrace-otlp's `grpc` feature), gzip
# per message; checked the same way (the script reads back only this run's traces).
OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_COMPRESSION=gzip \
    cargo run --release --example worker_pool --features grpc -- \
    --threads 4 --requests 100 --otlp "http://127.0.0.1:$grpc_port" --out "$out-grpc" | tee "$demo_log.grpc"
python3 "$here/phoenix_roundtrip.py" $known_gaps "http://127.0.0.1:$port" "$demo_log.grpc" "$out-grpc/traces.otlp.json"

# LLM calls (reqtrace-genai) as Phoenix understands them: the genai_demo's spans, filed under
# Phoenix project `genai-demo` (resource openinference.project.name; the worker_pool runs above
# are in `default`), must show as LLM spans with model and token counts, and Phoenix's token
# totals must equal the demo's TokenUsage roll-up (.ci/phoenix_genai.py).
# Known gap: the model Phoenix shows (llm.model_name) is the request model, both as
# reqtrace-genai mirrors it and as Phoenix derives it from gen_ai.* alone, while
# TokenUsage::by_model groups by gen_ai.response.model; reported (the totals per response model
# must still match), not failed. Empty this once the two agree.
genai_known_gaps="--allow-request-model-names"
env -u OTEL_EXPORTER_OTLP_PROTOCOL -u OTEL_EXPORTER_OTLP_TRACES_PROTOCOL \
    cargo run --release --example genai_demo -- --requests 20 --otlp "http://127.0.0.1:$port" | tee target/phoenix-genai.log
python3 "$here/phoenix_genai.py" $genai_known_gaps "http://127.0.0.1:$port" target/phoenix-genai.log
