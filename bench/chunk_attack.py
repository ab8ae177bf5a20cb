#!/usr/bin/env python3
"""Memory under the tiny-chunk attack (docs/benchmarks.md, "Memory under the 1-byte-chunk attack").

Starts a shadowgate binary on loopback with a primary (nginx) that reads every body and answers 200, and
a black-hole mirror target that accepts connections, reads and discards, and never answers. Then
UPLOADS clients at once each POST BYTES of body, as 1-byte chunks (`--chunk 1`) or with a
Content-Length (`--chunk 0`). Reports the proxy's resident memory at rest, its peak during the
run (VmHWM), the rise, and for a binary with an admin listener the peak of
shadowgate_mirror_memory_bytes and the copies dropped over the budget.

  bench/chunk_attack.py --bin target/release/shadowgate [--uploads 64] [--bytes 524288]
                        [--chunk 1] [--budget BYTES] [--mirror-timeout 5s] [--old]

--old: the binary predates limits.mirror_memory_bytes (no budget key, no gauge).
Only 127.0.0.1 is used; every process started here is stopped by its PID; the run is bounded.
"""
import argparse, asyncio, json, os, re, signal, socket, subprocess, sys, tempfile, time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


NGINX_CONF = """load_module /usr/lib/nginx/modules/ngx_http_echo_module.so;
daemon off;
worker_processes 1;
pid nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path body;
    server {
        listen 127.0.0.1:PORT;
        client_max_body_size 0;
        client_body_buffer_size 1m;
        location / { echo_read_request_body; echo "ok"; }
    }
}
"""


async def black_hole(reader, writer):
    """Reads and discards; never answers."""
    try:
        while await reader.read(65536):
            pass
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def upload(port, size, chunk):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = f"POST /upload HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\n"
    if chunk:
        writer.write((head + "transfer-encoding: chunked\r\n\r\n").encode())
        piece = (f"{chunk:x}\r\n".encode() + b"x" * chunk + b"\r\n") * (65536 // (chunk + 6) or 1)
        sent = 0
        per_piece = (65536 // (chunk + 6) or 1) * chunk
        while sent + per_piece <= size:
            writer.write(piece)
            await writer.drain()
            sent += per_piece
        while sent < size:
            n = min(chunk, size - sent)
            writer.write(f"{n:x}\r\n".encode() + b"x" * n + b"\r\n")
            sent += n
        writer.write(b"0\r\n\r\n")
    else:
        writer.write((head + f"content-length: {size}\r\n\r\n").encode())
        writer.write(b"x" * size)
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 900)
    writer.close()
    return status.split(b" ")[1].decode() if status else "none"


def metric(text, name, label=None):
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (label is None or label in line):
            total += float(line.rsplit(" ", 1)[1])
    return total


def scrape(admin_port):
    import urllib.request
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=2) as r:
            return r.read().decode()
    except OSError:
        return ""


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--uploads", type=int, default=64)
    ap.add_argument("--bytes", type=int, default=512 * 1024)
    ap.add_argument("--chunk", type=int, default=1)
    ap.add_argument("--budget", type=int)
    ap.add_argument("--old", action="store_true")
    ap.add_argument("--mirror-timeout", default="5s",
                    help="the target's timeout: how long a black-holed copy is held once sent")
    a = ap.parse_args()

    hole = await asyncio.start_server(black_hole, "127.0.0.1", 0)
    hole_port = hole.sockets[0].getsockname()[1]
    listen, admin, prim_port = free_port(), free_port(), free_port()
    tmp = tempfile.mkdtemp(prefix="chunk-attack-")
    # The primary: nginx, which reads every body whole before it answers (echo module), in C (a Python reader of a body
    # sent a byte at a time would be the bottleneck), and answers 200.
    # nginx's workers may run as another user: they must reach the body buffer folder.
    os.chmod(tmp, 0o755)
    os.mkdir(os.path.join(tmp, "body"))
    os.chmod(os.path.join(tmp, "body"), 0o777)
    with open(os.path.join(tmp, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF.replace("PORT", str(prim_port)))
    nginx = subprocess.Popen(["nginx", "-p", tmp, "-c", "nginx.conf", "-e", "stderr"],
                             stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "nginx.log"), "w"))
    # A config file for both binaries: the primary's timeout is raised, since parsing a body
    # sent a byte at a time takes a while on a busy machine and a 504 would end the upload.
    conf = os.path.join(tmp, "attack.toml")
    with open(conf, "w") as f:
        f.write(f'listen = "127.0.0.1:{listen}"\n')
        f.write(f'[admin]\nlisten = "127.0.0.1:{admin}"\n')
        if a.budget and not a.old:
            f.write(f"[limits]\nmirror_memory_bytes = {a.budget}\n")
        f.write(f'[upstreams.main]\nbackends = ["http://127.0.0.1:{prim_port}"]\ntimeout = "900s"\n')
        f.write(f'[mirrors.hole]\nurl = "http://127.0.0.1:{hole_port}"\ntimeout = "{a.mirror_timeout}"\n')
    args = [a.bin, "-c", conf]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "log"), "w"))
    try:
        for port in (prim_port, listen):
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                    break
                except OSError:
                    await asyncio.sleep(0.05)
        # One small request first, so "at rest" includes the runtime's warm-up.
        await upload(listen, 16, 0)
        await asyncio.sleep(0.5)
        rest = rss_kib(proc.pid, "VmRSS")
        peak_gauge = 0.0
        done = asyncio.Event()

        async def watch():
            nonlocal peak_gauge
            while not done.is_set():
                if not a.old:
                    text = await asyncio.to_thread(scrape, admin)
                    peak_gauge = max(peak_gauge, metric(text, "shadowgate_mirror_memory_bytes "))
                await asyncio.sleep(0.1)

        watcher = asyncio.create_task(watch())
        t0 = time.monotonic()
        statuses = await asyncio.wait_for(
            asyncio.gather(*(upload(listen, a.bytes, a.chunk) for _ in range(a.uploads))), 900)
        elapsed = time.monotonic() - t0
        await asyncio.sleep(1.0)
        done.set()
        await watcher
        peak = rss_kib(proc.pid, "VmHWM")
        result = {
            "uploads": a.uploads, "bytes_each": a.bytes, "chunk": a.chunk or "content-length",
            "budget": a.budget, "mirror_timeout": a.mirror_timeout, "statuses": {s: statuses.count(s) for s in set(statuses)},
            "seconds": round(elapsed, 2), "rss_at_rest_kib": rest, "peak_rss_kib": peak,
            "rise_mib": round((peak - rest) / 1024, 1),
        }
        if not a.old:
            text = scrape(admin)
            result["peak_mirror_memory_bytes_gauge_mib"] = round(peak_gauge / 2**20, 1)
            result["outcomes"] = {
                m.group(1): float(m.group(2)) for m in re.finditer(
                    r'shadowgate_mirror_requests_total\{[^}]*outcome="([a-z_]+)"[^}]*\} (\S+)', text)
                if float(m.group(2)) > 0}
        print(json.dumps(result))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for p in (nginx,):
            p.terminate()
            p.wait(10)
        hole.close()


asyncio.run(main())
