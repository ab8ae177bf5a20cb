#!/usr/bin/env python3
"""The hardening issue's attacks, tried against a shadowgate binary on loopback
(docs/benchmarks.md, "Attacks against the release binary"). Prints one line per attack with
what happened, and exits 1 if any attack worked.

  bench/attacks.py --bin target/release/shadowgate

- loop: a runtime target at the proxy's own listener (every local spelling), and two proxies
  mirroring to each other; one POST must reach the primary upstream at most twice (once from
  each proxy), and the second proxy counts skipped_loop.
- cross-site: a browser-style POST /targets from another origin, a DNS-rebinding read of
  /metrics (a foreign Host), and Sec-Fetch-Site: cross-site; each must be 403 and add nothing.
Only 127.0.0.1 is used; every process started here is stopped by its PID; the run is bounded.
"""
import argparse, http.server, os, signal, socket, subprocess, sys, tempfile, threading, time
import urllib.error, urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Counter(http.server.BaseHTTPRequestHandler):
    """The primary upstream: counts every request and answers 200."""
    seen = []
    lock = threading.Lock()

    def handle_one(self):
        n = int(self.headers.get("content-length") or 0)
        self.rfile.read(n)
        with Counter.lock:
            Counter.seen.append((self.command, self.path, self.headers.get("x-mirror")))
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST = do_PUT = handle_one

    def log_message(self, *_):
        pass


def call(method, url, headers=None, body=None):
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=body)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def metric(admin, name, label):
    _, text = call("GET", f"http://127.0.0.1:{admin}/metrics")
    return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
               if l.startswith(name) and label in l)


def start(binary, tmp, name, listen, admin, upstream, mirror=None):
    conf = os.path.join(tmp, f"{name}.toml")
    with open(conf, "w") as f:
        f.write(f'listen = "127.0.0.1:{listen}"\n[admin]\nlisten = "127.0.0.1:{admin}"\n')
        f.write(f'[upstreams.main]\nbackends = ["http://127.0.0.1:{upstream}"]\n')
        if mirror:
            f.write(f'[mirrors.peer]\nurl = "http://127.0.0.1:{mirror}"\n')
    proc = subprocess.Popen([binary, "-c", conf], stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(tmp, f"{name}.log"), "w"))
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", admin), timeout=0.1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{name} did not start: see {tmp}/{name}.log")


def wait_until(check, seconds=5.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.05)
    return check()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    binary = ap.parse_args().bin
    tmp = tempfile.mkdtemp(prefix="attacks-")
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Counter)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    up = upstream.server_address[1]
    l1, a1, l2, a2 = free_port(), free_port(), free_port(), free_port()
    # Two proxies that mirror to each other (the careless-operator loop).
    p1 = start(binary, tmp, "one", l1, a1, up, mirror=l2)
    p2 = start(binary, tmp, "two", l2, a2, up, mirror=l1)
    failed = []

    def report(name, ok, detail):
        print(f"{'held' if ok else 'BROKE'}  {name}: {detail}")
        if not ok:
            failed.append(name)

    try:
        # Runtime targets at the proxy's own listeners, in every local spelling.
        for spelling in [f"http://127.0.0.1:{l1}", f"http://localhost:{l1}", f"http://0.0.0.0:{l1}",
                         f"http://[::1]:{l1}", f"HTTP://LOCALHOST.:{l1}/", f"http://127.0.0.1:{a1}"]:
            status, text = call("PUT", f"http://127.0.0.1:{a1}/targets?url={spelling}")
            report(f"self-target {spelling}", status == 400 and "own listener" in text,
                   f"{status} {text.strip()[:110]}")

        # One POST through two proxies that mirror to each other.
        status, _ = call("POST", f"http://127.0.0.1:{l1}/payments", body=b"{}",
                         headers={"content-type": "application/json"})
        wait_until(lambda: metric(a2, "shadowgate_mirror_requests_total", 'outcome="skipped_loop"') >= 1)
        time.sleep(1.0)  # anything more that was coming would have come by now
        with Counter.lock:
            posts = [s for s in Counter.seen if s[0] == "POST"]
        skipped = metric(a2, "shadowgate_mirror_requests_total", 'outcome="skipped_loop"')
        report("mirror loop between two proxies", status == 200 and len(posts) == 2 and skipped == 1,
               f"client {status}; the upstream saw the POST {len(posts)} times "
               f"(marks {[p[2] for p in posts]}); the second proxy counted skipped_loop {skipped:.0f}")

        # The admin API from a web page.
        before = call("GET", f"http://127.0.0.1:{a1}/targets")[1]
        status, text = call("POST", f"http://127.0.0.1:{a1}/targets?url=http://127.0.0.1:9",
                            headers={"Origin": "http://evil.example", "Content-Type": "text/plain"},
                            body=b"x")
        after = call("GET", f"http://127.0.0.1:{a1}/targets")[1]
        report("cross-site POST /targets", status == 403 and before == after,
               f"{status} {text.strip()[:90]}; targets unchanged: {before == after}")
        status, text = call("PUT", f"http://127.0.0.1:{a1}/targets?url=http://127.0.0.1:9",
                            headers={"Sec-Fetch-Site": "cross-site"})
        report("Sec-Fetch-Site: cross-site PUT", status == 403, f"{status} {text.strip()[:90]}")
        status, text = call("GET", f"http://127.0.0.1:{a1}/metrics",
                            headers={"Host": f"rebind.evil.example:{a1}"})
        report("DNS-rebinding read of /metrics", status == 403, f"{status} {text.strip()[:90]}")
    finally:
        for p in (p1, p2):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        upstream.shutdown()
    sys.exit(1 if failed else 0)


main()
