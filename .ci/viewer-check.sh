#!/usr/bin/env bash
# The HTML trace viewer in a real browser: installs Debian's chromium if missing, then
#   1. opens the demo's DIR/traces.html and checks its DOM against DIR/traces.json (one bar per
#      span in every trace, slowest first, error spans marked, 'errors only'), saving a
#      screenshot to DIR/viewer.png;
#   2. writes a 10,000-span file with markup in its values (the viewer_fixture example), checks
#      that the markup shows as text and nothing from the data runs, and prints how long the
#      page took to draw.
# Usage: .ci/viewer-check.sh DIR   (DIR as written by the worker_pool demo)
set -euo pipefail

if [ "$#" -ne 1 ] || [ ! -f "$1/traces.html" ] || [ ! -f "$1/traces.json" ]; then
    echo "usage: $0 DIR   (DIR holds the demo's traces.html and traces.json)" >&2
    exit 2
fi
dir=$1
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
start=$(date +%s)

if ! command -v chromium >/dev/null 2>&1; then
    echo "viewer-check: installing chromium (Debian package)"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
chromium --version 2>/dev/null
installed=$(date +%s)

python3 .ci/viewer_check.py demo "$dir/traces.html" "$dir/traces.json" "$dir/viewer.png"

fixture=target/reqtrace-viewer
# Debug profile: reuses what the test step built (the example links the crate's dev-dependencies).
cargo run --quiet -p reqtrace-export-json --example viewer_fixture -- "$fixture"
python3 .ci/viewer_check.py fixture "$fixture/viewer-fixture.html" "$fixture/viewer-fixture.json"

end=$(date +%s)
echo "viewer-check: OK ($((end - start)) s, of which $((installed - start)) s installing chromium)"
