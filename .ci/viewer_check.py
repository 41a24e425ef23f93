#!/usr/bin/env python3
"""Opens reqtrace's HTML trace viewer in headless Chromium and checks the page's DOM.

    viewer_check.py demo  PAGE.html TRACES.json SCREENSHOT.png
    viewer_check.py fixture PAGE.html TRACES.json

TRACES.json is the native JSON of the same traces (written beside the page), from which every
expected count is computed here, independently of the page's script.

demo:    the trace list is in "slowest first" order (exactly: by duration, ties by file order);
         for every trace, selecting it draws exactly one bar per span and marks exactly its
         error spans; "errors only" lists exactly the traces with an error span; selecting an
         error span shows its message; saves a screenshot.
fixture: the slowest trace (drawn on load) has one bar per span; attribute values, an event
         name and an error message full of markup show as the exact text, no script from data
         ran and no element from data exists; prints the load-to-rendered time.

Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe: fd 3 in,
fd 4 out, NUL-separated JSON), so the check needs only Python's standard library.
"""

import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time

CHROMIUM = os.environ.get("CHROMIUM", "chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--remote-debugging-pipe",
]
TIMEOUT = 60.0

HOSTILE = {
    "payload": "</script><script>window.__pwned=1</script>",
    "html": '<img src=x onerror="window.__pwned=1"><!-- <b>bold</b>',
    "unicode": "漢字 🦀 \u2028 \"quoted\" & amp",
}


class Browser:
    """One headless Chromium with one page, driven over the DevTools pipe."""

    def __init__(self, width=1400, height=860):
        self.profile = tempfile.mkdtemp(prefix="reqtrace-chromium-")
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        # Move the child's ends above 10 so the dup2s to 3 and 4 cannot clobber each other.
        hi_r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
        hi_w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
        os.close(to_chrome_r)
        os.close(from_chrome_w)

        def child_fds():
            os.dup2(hi_r, 3)
            os.dup2(hi_w, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}",
             f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=child_fds, close_fds=False,
        )
        os.close(hi_r)
        os.close(hi_w)
        self.out = to_chrome_w
        self.inbox = queue.Queue()
        self.events = []
        self.next_id = 0
        threading.Thread(target=self._read, args=(from_chrome_r,), daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": target, "flatten": True})["sessionId"]
        self.call("Page.enable", session=True)
        self.call("Runtime.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                  session=True)
        self.errors = []

    def _read(self, fd):
        buf = b""
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                self.inbox.put(None)
                return
            buf += chunk
            while b"\0" in buf:
                msg, buf = buf.split(b"\0", 1)
                self.inbox.put(json.loads(msg))

    def _drain_stderr(self):
        for _ in self.proc.stderr:
            pass

    def _next(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no answer from chromium")
        msg = self.inbox.get(timeout=left)
        if msg is None:
            raise RuntimeError("chromium closed the DevTools pipe")
        if "id" not in msg:
            self.events.append(msg)
            if msg.get("method") == "Runtime.exceptionThrown":
                self.errors.append(msg["params"]["exceptionDetails"])
        return msg

    def call(self, method, params=None, session=False):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        os.write(self.out, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            m = self._next(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m["result"]

    def wait_event(self, method):
        deadline = time.monotonic() + TIMEOUT
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == method:
                    return self.events.pop(i)
            self._next(deadline)

    def open(self, path):
        """Navigates to a local file; returns seconds from the navigate call to the load event."""
        self.events.clear()
        url = "file://" + os.path.abspath(path)
        t0 = time.monotonic()
        self.call("Page.navigate", {"url": url}, session=True)
        self.wait_event("Page.loadEventFired")
        return time.monotonic() - t0

    def js(self, expression):
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                           "awaitPromise": True}, session=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"page script failed: {r['exceptionDetails']}\n{expression}")
        return r["result"].get("value")

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", {"format": "png"}, session=True)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.call("Browser.close")
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


def expected(traces_json):
    with open(traces_json, encoding="utf-8") as f:
        traces = json.load(f)
    out = []
    for i, t in enumerate(traces):
        errs = [k for k, s in enumerate(t["spans"])
                if s.get("status") == "error" or s.get("error") is not None]
        out.append({"index": i, "duration": t["end_unix_nanos"] - t["start_unix_nanos"],
                    "spans": len(t["spans"]), "errors": errs})
    return out


failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


# Page helpers, evaluated in the page (they only read the DOM and click).
HELPERS = """
window.__rows = () => Array.from(document.querySelectorAll('#traces tbody tr'));
window.__bars = () => Array.from(document.querySelectorAll('#wf .bar'));
window.__clickRow = (i) => document.querySelector('#traces tbody tr[data-trace="' + i + '"]').click();
"""


def demo(page, traces_json, screenshot):
    exp = expected(traces_json)
    total = sum(t["spans"] for t in exp)
    b = Browser()
    try:
        secs = b.open(page)
        print(f"demo page: {len(exp)} traces, {total} spans, load event after {secs * 1000:.0f} ms")
        b.js(HELPERS)
        order = b.js("__rows().map(r => +r.dataset.trace)")
        want = [t["index"] for t in sorted(exp, key=lambda t: (-t["duration"], t["index"]))]
        check(order == want[:len(order)] and len(order) == min(len(exp), 2000),
              f"trace list is slowest first, exactly ({len(order)} rows)")
        check(order[:1] == want[:1], "the slowest trace is listed first")
        first = exp[want[0]]
        n = b.js("__bars().length")
        check(n == first["spans"],
              f"the slowest trace (drawn on load) has one bar per span: {n} == {first['spans']}")

        # Every trace: one bar per span, exactly its error spans marked.
        per_trace = b.js("""__rows().map(r => { r.click(); const bars = __bars();
            return [+r.dataset.trace, bars.length,
                    bars.filter(b => b.classList.contains('err')).map(b => +b.dataset.span).sort((a, b) => a - b)]; })""")
        bars_total = sum(p[1] for p in per_trace)
        bad_bars = [p[0] for p in per_trace if p[1] != exp[p[0]]["spans"]]
        bad_errs = [p[0] for p in per_trace if p[2] != sorted(exp[p[0]]["errors"])]
        check(not bad_bars and bars_total == total,
              f"every trace: bars == spans; {bars_total} bars in all == {total} spans in the file")
        err_spans = sum(len(t["errors"]) for t in exp)
        check(not bad_errs and err_spans > 0,
              f"every trace: exactly its error spans are marked ({err_spans} error spans)")

        err_traces = [t for t in exp if t["errors"]]
        rows = b.js("""document.getElementById('errors').checked = true;
            document.getElementById('errors').dispatchEvent(new Event('change'));
            __rows().map(r => +r.dataset.trace)""")
        check(sorted(rows) == sorted(t["index"] for t in err_traces),
              f"'errors only' lists exactly the {len(err_traces)} traces with an error span")

        # The screenshot: a typical trace with an error (the median of the errors-only list,
        # slowest first), its error span selected.
        shown = b.js("""(() => { const rows = __rows(), r = rows[rows.length >> 1]; r.click();
            const bar = document.querySelector('#wf .bar.err'); bar.click();
            return [+r.dataset.trace, +bar.dataset.span,
                    document.querySelector('#details .errmsg').textContent,
                    document.querySelector('#details h2').firstChild.textContent]; })()""")
        with open(traces_json, encoding="utf-8") as f:
            span = json.load(f)[shown[0]]["spans"][shown[1]]
        check(shown[2] == "error: " + span["error"] and shown[3] == span["name"],
              f"selecting the error span shows its name and message: {shown[2]!r}")
        zoom = b.js("""(() => { const bar = document.querySelector('#wf .bar.sel');
            const track = document.querySelector('#wf .track:last-child').getBoundingClientRect();
            const before = bar.getBoundingClientRect().width;
            document.getElementById('zoom-span').click();
            const after = bar.getBoundingClientRect();
            const shown = __bars().filter(b => b.style.display !== 'none').length;
            document.getElementById('reset-zoom').click();
            return [before, after.width, track.width, after.left - track.left, shown,
                    __bars().filter(b => b.style.display !== 'none').length,
                    document.getElementById('reset-zoom').hidden]; })()""")
        check(zoom[1] > 0.85 * zoom[2] and -1 <= zoom[3] < 0.1 * zoom[2] and zoom[0] < zoom[1],
              f"'zoom to span' widens the span to the track ({zoom[0]:.0f} -> {zoom[1]:.0f} of {zoom[2]:.0f} px)")
        check(zoom[5] == exp[shown[0]]["spans"] and zoom[6],
              f"'reset zoom' shows every bar again ({zoom[4]} -> {zoom[5]}) and hides itself")
        b.screenshot(screenshot)
        check(os.path.getsize(screenshot) > 10_000, f"screenshot saved: {screenshot}")
        check(not b.errors, f"no script error in the page ({len(b.errors)})")
    finally:
        b.close()


def fixture(page, traces_json):
    exp = expected(traces_json)
    total = sum(t["spans"] for t in exp)
    with open(traces_json, encoding="utf-8") as f:
        raw = json.load(f)
    b = Browser()
    try:
        # Marks the first animation frame after the page's script has run: the page is drawn.
        b.call("Page.addScriptToEvaluateOnNewDocument", {"source": """
            document.addEventListener('DOMContentLoaded', () => requestAnimationFrame(() =>
                setTimeout(() => { document.documentElement.dataset.paintedMs = performance.now().toFixed(1); })));
        """}, session=True)
        secs = b.open(page)
        b.js(HELPERS)
        timing = b.js("""new Promise(r => { const f = () => document.documentElement.dataset.paintedMs
            ? r([+document.documentElement.dataset.renderedMs, +document.documentElement.dataset.paintedMs])
            : setTimeout(f, 5); f(); })""")
        slowest = max(exp, key=lambda t: (t["duration"], -t["index"]))
        n = b.js("__bars().length")
        size = os.path.getsize(page)
        print(f"fixture page: {len(exp)} traces, {total} spans, {size} bytes "
              f"({size / total:.1f} bytes/span); load event after {secs * 1000:.0f} ms; "
              f"script done {timing[0]:.0f} ms, first frame drawn {timing[1]:.0f} ms "
              f"after navigation start, {n} bars drawn")
        check(n == slowest["spans"],
              f"the slowest trace is drawn on load, one bar per span: {n} == {slowest['spans']}")
        # Reported, not asserted: the project measures speed, it does not assert it in checks.

        got = b.js("""(() => {
            const q = document.getElementById('q'); q.value = 'untrusted-input';
            q.dispatchEvent(new Event('input'));
            const rows = __rows(); rows[0].click();
            const bar = __bars().find(b => b.title.startsWith('untrusted-input · ')); bar.click();
            const attrs = {};
            document.querySelectorAll('#details table.attrs tr').forEach(tr =>
                attrs[tr.cells[0].textContent] = [tr.cells[1].textContent, tr.cells[2].textContent]);
            return {rows: rows.length, attrs,
                    error: document.querySelector('#details .errmsg').textContent,
                    event: document.querySelector('#details .ev-head').textContent,
                    pwned: window.__pwned === undefined ? null : window.__pwned,
                    scripts: document.scripts.length,
                    foreign: document.querySelectorAll('img, u, #details b, #wf b, #traces b').length};
        })()""")
        links = b.js("""(() => {
            const heads = [...document.querySelectorAll('#details h3')].map(h => h.textContent);
            const items = [...document.querySelectorAll('#details .link-item')];
            const texts = items.map(i => i.querySelector('.ev-head').textContent);
            const reason = items[0] && items[0].querySelector('table.attrs td.val');
            const jump = items[0] && items[0].querySelector('button.jump');
            if (jump) jump.click();
            return {heads, texts, reason: reason ? reason.textContent : null,
                    jumped: location.hash,
                    selected: document.querySelector('#trace-head b').textContent};
        })()""")
        check("Links (2)" in links["heads"], f"the span's two links are listed: {links['heads']}")
        check(len(links["texts"]) == 2 and "not in this file" in links["texts"][1],
              f"the link to a span outside the file says so: {links['texts']}")
        check(links["reason"] == "<b>retry of</b>", "a link's attribute shows as text")
        first_small = next(t for t in raw if t["spans"] and t["spans"][0]["name"] == "handle_request")
        target = f"#{first_small['trace_id']}/{first_small['spans'][0]['span_id']}"
        check(links["jumped"] == target,
              f"clicking the link selects the linked span of the other trace: {links['jumped']} == {target}")
        check(links["selected"] == "handle_request", "the linked trace is shown")
        check(got["rows"] == 1, "the name filter finds the one trace with 'untrusted-input'")
        for k, v in HOSTILE.items():
            check(got["attrs"].get(k) == ["string", v], f"attribute {k} shows as the exact text {v!r}")
        check(got["error"] == "error: </script><b>not bold</b>", "the error message shows as text")
        check(got["event"].endswith("<script>alert(1)</script>"), "the event name shows as text")
        check(got["pwned"] is None, "no script from the data ran")
        check(got["scripts"] == 2 and got["foreign"] == 0,
              "no element from the data exists (2 scripts, no img/u/b)")
        check(not b.errors, f"no script error in the page ({len(b.errors)})")
        hostile = next(t for t in raw if t["spans"] and t["spans"][0]["name"] == "hostile")
        check(hostile is not None, "the fixture has its hostile trace")
    finally:
        b.close()


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "demo" and len(sys.argv) == 5:
        demo(*sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == "fixture":
        fixture(*sys.argv[2:])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    if failures:
        print(f"viewer check: {len(failures)} FAILED", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
