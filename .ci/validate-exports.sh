#!/usr/bin/env bash
# Validates the export files that reqtrace_export_json::write_all_formats writes into DIR:
#   DIR/traces.otlp.json    with shared/tools/otlp_json_validate.py --strict
#   DIR/traces.chrome.json  with shared/tools/chrome_trace_validate.py
# shared/ lies beside the repository (../shared from the repo root, as CI lays it out);
# set REQTRACE_SHARED_TOOLS to use another folder.
# Installs the OTLP validator's Python modules (opentelemetry-proto, protobuf) quietly if
# they are missing. Exits non-zero if a file is missing or invalid, or a validator can't run.
set -euo pipefail

if [ "$#" -ne 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 DIR   (DIR holds traces.otlp.json and traces.chrome.json)" >&2
    exit 2
fi
dir=$1
here=$(cd "$(dirname "$0")" && pwd)
tools=${REQTRACE_SHARED_TOOLS:-$here/../../shared/tools}
if [ ! -f "$tools/otlp_json_validate.py" ] || [ ! -f "$tools/chrome_trace_validate.py" ]; then
    echo "validate-exports: validators not found in $tools" >&2
    exit 2
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "validate-exports: python3 not found" >&2
    exit 2
fi
if ! python3 -c 'import google.protobuf, opentelemetry.proto' >/dev/null 2>&1; then
    echo "validate-exports: installing opentelemetry-proto and protobuf" >&2
    python3 -m pip install --quiet --disable-pip-version-check opentelemetry-proto protobuf >&2 \
        || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages \
            opentelemetry-proto protobuf >&2
fi

status=0
for f in traces.otlp.json traces.chrome.json; do
    if [ ! -f "$dir/$f" ]; then
        echo "validate-exports: $dir/$f is missing" >&2
        status=1
    fi
done
[ "$status" -eq 0 ] || exit "$status"

python3 "$tools/otlp_json_validate.py" --strict "$dir/traces.otlp.json" || status=1
python3 "$tools/chrome_trace_validate.py" "$dir/traces.chrome.json" || status=1
if [ "$status" -eq 0 ]; then
    echo "validate-exports: OK"
else
    echo "validate-exports: FAILED" >&2
fi
exit "$status"
