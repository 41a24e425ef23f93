#!/usr/bin/env python3
"""Reads every span of a demo run back from Arize Phoenix's REST API and compares it with
what the demo wrote to its own OTLP/JSON file (the same spans, kept in process).

Usage: phoenix_roundtrip.py [--allow-missing-trace-attributes] BASE_URL DEMO_LOG DEMO_OTLP_JSON

With --allow-missing-trace-attributes, root spans lacking `request.id` / `http.route` are
reported as a known gap instead of failing (until the tracer sends trace attributes on the
wire: issue 12, item 1).

Checks, each reported with counts:
- span count: Phoenix holds exactly the spans the demo reports exported (`otlp: exported=N`),
  and exactly the spans of the file; no span twice;
- parents: every parent id resolves to a span of the same trace; one root per trace;
- names, start/end times (Phoenix keeps microseconds and returns them through a float:
  equal within 2 us), status code and message (Phoenix does not return the span kind);
- attributes: same keys, same values, same types (int / string / bool / double);
- events: names, attributes (typed), times;
- trace attributes: `request.id` (int) and `http.route` (string) on every root span.
Exits 1 when any check fails (all are printed first).
"""

import json
import re
import sys
import time
import urllib.parse
import urllib.request

PROJECT = "default"  # the demo sets no openinference.project.name
TYPES = {
    "string_value": "string",
    "int_value": "int",
    "bool_value": "bool",
    "double_value": "double",
    "stringValue": "string",
    "intValue": "int",
    "boolValue": "bool",
    "doubleValue": "double",
}
TIME_TOLERANCE_NS = 2000


def typed(value):
    """An AnyValue (OTLP/JSON camelCase or Phoenix's snake_case) as (type, python value)."""
    for k, v in value.items():
        if v is None or k not in TYPES:
            continue
        t = TYPES[k]
        if t == "int":
            return t, int(v)  # OTLP/JSON writes 64-bit ints as strings
        if t == "double":
            return t, float(v)
        return t, v
    return "empty", None


def attrs(kvs):
    return {kv["key"]: typed(kv["value"]) for kv in (kvs or [])}


def same_time(a, b):
    return a is not None and b is not None and abs(int(a) - int(b)) <= TIME_TOLERANCE_NS


def fetch_all(base):
    spans, cursor = [], None
    while True:
        q = {"limit": "1000"}
        if cursor:
            q["cursor"] = cursor
        url = f"{base}/v1/projects/{PROJECT}/spans/otlpv1?{urllib.parse.urlencode(q)}"
        with urllib.request.urlopen(url, timeout=30) as r:
            page = json.load(r)
        spans.extend(page["data"])
        cursor = page.get("next_cursor")
        if not cursor:
            return spans


TRACE_ATTRIBUTES = ("request.id", "http.route")


def main():
    args = sys.argv[1:]
    allow_missing = "--allow-missing-trace-attributes" in args
    args = [a for a in args if a != "--allow-missing-trace-attributes"]
    base, log_path, file_path = args[:3]
    log = open(log_path).read()
    m = re.search(r"^otlp: exported=(\d+) .*dropped=(\d+)", log, re.M)
    if not m:
        sys.exit("phoenix: the demo printed no 'otlp: exported=N' line")
    exported, dropped = int(m.group(1)), int(m.group(2))

    want = {}
    for rs in json.load(open(file_path))["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                want[(s["traceId"], s["spanId"])] = s

    # Only this run's traces: one Phoenix may hold several runs (OTLP/HTTP, then OTLP/gRPC).
    want_traces = {t for t, _ in want}

    # Phoenix writes what it receives in the background: wait until it holds at least the
    # exported count and the count has not moved for two polls (at most a minute).
    got, deadline, counts = [], time.monotonic() + 60, []
    while time.monotonic() < deadline:
        got = [s for s in fetch_all(base) if s["trace_id"] in want_traces]
        counts.append(len(got))
        if len(got) >= exported and counts[-3:] == [len(got)] * 3:
            break
        time.sleep(0.5)

    failures = []

    def check(ok, what):
        if not ok:
            failures.append(what)
        return ok

    by_id = {}
    for s in got:
        key = (s["trace_id"], s["span_id"])
        check(key not in by_id, f"span {key} returned twice")
        by_id[key] = s
    traces = {t for t, _ in by_id}
    print(
        f"phoenix: demo exported {exported} spans (dropped {dropped}), its file holds "
        f"{len(want)}; Phoenix returned {len(got)} spans ({len(by_id)} distinct) in "
        f"{len(traces)} traces"
    )
    check(exported > 0, "the demo exported nothing")
    check(len(by_id) == exported, f"Phoenix has {len(by_id)} spans, the demo exported {exported}")
    check(set(by_id) == set(want), "Phoenix's span ids differ from the demo file's")

    roots = 0
    parents_ok = attrs_ok = events_ok = status_ok = times_ok = 0
    attr_values = typed_counts = 0
    trace_attr_ok = 0
    for key, w in want.items():
        g = by_id.get(key)
        if g is None:
            continue
        name = f"{w['name']} {key[1]}"
        parent = w.get("parentSpanId") or None
        if parent is None:
            roots += 1
            parents_ok += check(not g.get("parent_span_id"), f"{name}: root has a parent in Phoenix")
        else:
            parents_ok += check(
                g.get("parent_span_id") == parent and (key[0], parent) in by_id,
                f"{name}: parent {parent} does not resolve (Phoenix: {g.get('parent_span_id')})",
            )
        check(g["name"] == w["name"], f"{name}: name {g['name']!r}")
        times_ok += check(
            same_time(g["start_time_unix_nano"], w["startTimeUnixNano"])
            and same_time(g["end_time_unix_nano"], w["endTimeUnixNano"]),
            f"{name}: times differ: sent {w['startTimeUnixNano']}..{w['endTimeUnixNano']}, "
            f"stored {g['start_time_unix_nano']}..{g['end_time_unix_nano']}",
        )
        wa, ga = attrs(w.get("attributes")), attrs(g.get("attributes"))
        if parent is None and allow_missing:
            for k in TRACE_ATTRIBUTES:
                if k not in ga:
                    wa.pop(k, None)
        attr_values += len(wa)
        typed_counts += sum(1 for k in wa if ga.get(k) == wa[k])
        attrs_ok += check(wa == ga, f"{name}: attributes differ: sent {wa}, stored {ga}")
        if parent is None:
            present = (
                ga.get("request.id", ("missing",))[0] == "int"
                and ga.get("http.route", ("missing",))[0] == "string"
            )
            trace_attr_ok += present
            if not present:
                check(
                    allow_missing,
                    f"{name}: root span lacks the trace attributes request.id (int) / "
                    f"http.route (string): {sorted(ga)}",
                )
        we = [(e["name"], attrs(e.get("attributes"))) for e in w.get("events", [])]
        ge = [(e["name"], attrs(e.get("attributes"))) for e in g.get("events") or []]
        wt = [e["timeUnixNano"] for e in w.get("events", [])]
        gt = [e.get("time_unix_nano") for e in g.get("events") or []]
        events_ok += check(
            we == ge and len(wt) == len(gt) and all(map(same_time, wt, gt)),
            f"{name}: events differ: sent {we} at {wt}, stored {ge} at {gt}",
        )
        wstatus = w.get("status", {})
        gstatus = g.get("status") or {}
        status_ok += check(
            (gstatus.get("code") or 0) == wstatus.get("code", 0)
            and (gstatus.get("message") or "") == wstatus.get("message", ""),
            f"{name}: status sent {wstatus}, stored {gstatus}",
        )
    errors = sum(1 for w in want.values() if w.get("status", {}).get("code") == 2)
    events = sum(len(w.get("events", [])) for w in want.values())
    n = len(want)
    print(f"phoenix: parents resolved {parents_ok}/{n}, roots {roots} (traces {len(traces)})")
    print(f"phoenix: attributes equal with types {attrs_ok}/{n} spans ({typed_counts}/{attr_values} values)")
    print(f"phoenix: events equal {events_ok}/{n} spans ({events} events); status equal {status_ok}/{n} ({errors} errors)")
    print(f"phoenix: start and end times equal (within 2 us) {times_ok}/{n}")
    print(f"phoenix: trace attributes on root spans {trace_attr_ok}/{roots}")
    if allow_missing and trace_attr_ok < roots:
        print(
            f"phoenix: KNOWN GAP: {roots - trace_attr_ok} root spans lack request.id / "
            "http.route (trace attributes are not sent yet: issue 12, item 1)"
        )
    check(roots == len(traces), f"{roots} roots for {len(traces)} traces")
    check(errors > 0 and events > 0, "the demo recorded no error or no event to compare")
    for f in failures[:15]:
        print("  FAIL:", f)
    if len(failures) > 15:
        print(f"  ... and {len(failures) - 15} more failures")
    if failures:
        sys.exit("phoenix: FAILED")
    print("phoenix: ok")


if __name__ == "__main__":
    main()
