#!/usr/bin/env python3
"""inrgan serve (docs/serve.md): tiles equal `inrgan render` byte for byte (single and batched),
ETag / If-None-Match -> 304, /healthz, /metrics, 503 + Retry-After under a full queue, a corpus of
hostile requests that all get 4xx (and the server stays up), slow clients, clean SIGTERM.

usage: test_serve.py --inrgan BUILD/inrgan --model assets/demo.safetensors
Exit 77 (skipped) when the build has no serve command (no libmicrohttpd-dev)."""
import argparse
import concurrent.futures
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILS.append(what)


class Server:
    def __init__(self, inrgan, model, *extra):
        self.proc = subprocess.Popen([inrgan, "serve", "-m", model, "--port", "0", "--backend", "cpu",
                                      "--threads", "1", *extra], stderr=subprocess.PIPE, text=True)
        line, m = "", None
        for _ in range(20):  # a backend may print its device line first
            line += self.proc.stderr.readline()
            m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
            if m or self.proc.poll() is not None:
                break
        if not m:
            self.proc.kill()
            raise SystemExit("server did not start: " + line + self.proc.stderr.read())
        self.port = int(m.group(1))

    def get(self, path, headers=None, method="GET"):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), body

    def raw(self, data, timeout=10):
        """Sends raw bytes, returns the status code of the answer (0: closed without one)."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        try:
            s.sendall(data)
            buf = b""
            while b"\r\n" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
        except (ConnectionResetError, BrokenPipeError, socket.timeout):
            buf = b""
        finally:
            s.close()
        m = re.match(rb"HTTP/1\.[01] (\d{3})", buf)
        return int(m.group(1)) if m else 0

    def alive(self):
        return self.proc.poll() is None and self.get("/healthz")[0] == 200

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = -9
        err = self.proc.stderr.read()
        return rc, err


def tile_view(z, x, y):
    s = 4.0 / (1 << z)
    x0 = -2.0 + x * s
    y1 = 2.0 - y * s
    return (x0, y1 - s, x0 + s, y1)


def render(inrgan, model, tmp, z, x, y, seed, psi=None, interp=None, noise=None):
    out = os.path.join(tmp, "r%d_%d_%d_%d_%s_%s.png" % (seed, z, x, y, psi, interp and interp[0]))
    view = ",".join(repr(v) for v in tile_view(z, x, y))
    cmd = [inrgan, "render", "-m", model, "--backend", "cpu", "--threads", "1", "-q", "--view", view,
           "--size", "256x256", "-o", out]
    cmd += ["--interp", "%d,%d" % (seed, interp[0]), "--t", interp[1]] if interp else ["--seeds", str(seed)]
    if psi is not None:
        cmd += ["--truncation", psi]
    if noise is not None:
        cmd += ["--noise", noise]
    subprocess.run(cmd, check=True)
    with open(out, "rb") as f:
        return f.read()


def metric(text, name):
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inrgan", required=True)
    ap.add_argument("--model", required=True)
    a = ap.parse_args()
    probe = subprocess.run([a.inrgan, "serve", "--help"], capture_output=True, text=True)
    if "has no serve command" in probe.stdout:
        print("skipped: this build has no serve command (libmicrohttpd-dev missing)")
        return 77
    tmp = tempfile.mkdtemp(prefix="inrgan_serve_")

    # ---- tiles equal `inrgan render` of the same rectangle ---------------------------------
    srv = Server(a.inrgan, a.model, "--max-zoom", "30", "--timeout", "2", "--max-connections", "32", "--merge-rows")
    cases = [  # (seed, z, x, y, query, psi, interp, noise)
        (3, 0, 0, 0, "", None, None, None),
        (0, 1, -1, 0, "", None, None, None),      # left of [-2,2]: extrapolation
        (7, 3, 5, 2, "?psi=0.7", "0.7", None, None),
        (4294967295, 2, 1, 2, "?noise=zero", None, None, "zero"),
        (1, 2, 1, 1, "?b=9&t=0.25", None, (9, "0.25"), None),
        (2, 30, 1 << 29, 1 << 29, "", None, None, None),  # deep: a 3.7e-9 wide rectangle
    ]
    for seed, z, x, y, q, psi, interp, noise in cases:
        st, h, body = srv.get("/tiles/%d/%d/%d/%d.png%s" % (seed, z, x, y, q))
        ref = render(a.inrgan, a.model, tmp, z, x, y, seed, psi, interp, noise)
        check(st == 200 and h.get("content-type") == "image/png" and body == ref,
              "tile %d/%d/%d/%d%s == inrgan render --view %s (%d bytes)" %
              (seed, z, x, y, q, ",".join(repr(v) for v in tile_view(z, x, y)), len(ref)))

    # ---- batching: concurrent tiles of one view, several seeds (and repeats) ---------------
    seeds = [11, 12, 13, 14, 15, 16, 11, 12]
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        got = list(ex.map(lambda s: srv.get("/tiles/%d/1/0/1.png" % s), seeds))
    refs = {s: render(a.inrgan, a.model, tmp, 1, 0, 1, s) for s in set(seeds)}
    check(all(g[0] == 200 and g[2] == refs[s] for g, s in zip(got, seeds)),
          "8 concurrent requests (6 seeds, 2 repeated) of one view == inrgan render")
    mt = srv.get("/metrics")[2].decode()
    bsum, bcount = metric(mt, "inrgan_batch_size_sum"), metric(mt, "inrgan_batch_size_count")
    print("     batches: %s tiles in %s backend calls" % (bsum, bcount))
    check(bsum is not None and bcount is not None and bsum > bcount,
          "some backend call rendered more than one tile (batch_size_sum %s > count %s)" % (bsum, bcount))

    # ---- a row of one seed: adjacent tiles merged into one wider render (nearest-upsampling
    # INR-GAN without instance norm, like the demo model), each still == inrgan render ---------
    mt0 = srv.get("/metrics")[2].decode()
    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        got = list(ex.map(lambda x: srv.get("/tiles/21/3/%d/2.png" % x), range(6)))
    ok = all(g[0] == 200 and g[2] == render(a.inrgan, a.model, tmp, 3, x, 2, 21) for x, g in zip(range(6), got))
    mt1 = srv.get("/metrics")[2].decode()
    calls = metric(mt1, "inrgan_batch_size_count") - metric(mt0, "inrgan_batch_size_count")
    tiles = metric(mt1, "inrgan_batch_size_sum") - metric(mt0, "inrgan_batch_size_sum")
    print("     row of 6 tiles: %d tiles in %d backend calls" % (tiles, calls))
    check(ok, "6 concurrent tiles of one row == inrgan render of each")
    check(tiles == 6 and calls < 6, "adjacent tiles of one seed shared backend calls (%d calls for 6 tiles)" % calls)

    # ---- caching headers, ETag, 304, HEAD ----------------------------------------------
    st, h, body = srv.get("/tiles/3/0/0/0.png")
    etag = h.get("etag", "")
    check(st == 200 and h.get("x-inrgan-cache") == "hit", "repeated tile answered from the cache")
    check("max-age=31536000" in h.get("cache-control", "") and re.fullmatch(r'"[0-9a-f]{16}-[0-9a-f]{16}"', etag),
          "Cache-Control long-lived, strong ETag %s" % etag)
    st2, h2, body2 = srv.get("/tiles/3/0/0/0.png", {"If-None-Match": etag})
    check(st2 == 304 and body2 == b"" and h2.get("etag") == etag, "If-None-Match: the ETag -> 304, no body")
    st3, _, _ = srv.get("/tiles/3/0/0/0.png", {"If-None-Match": '"0000000000000000-0000000000000000", ' + etag})
    check(st3 == 304, "If-None-Match list containing the ETag -> 304")
    st4, _, b4 = srv.get("/tiles/3/0/0/0.png", {"If-None-Match": '"nope"'})
    check(st4 == 200 and b4 == body, "If-None-Match of another ETag -> 200")
    other = srv.get("/tiles/3/0/0/0.png?psi=0.5")[1].get("etag")
    check(other and other != etag, "other parameters, other ETag")
    st5, h5, b5 = srv.get("/tiles/3/0/0/0.png", method="HEAD")
    check(st5 == 200 and b5 == b"" and h5.get("etag") == etag, "HEAD: headers, no body")

    # ---- /healthz, /, /metrics -------------------------------------------------------------
    check(srv.get("/healthz")[:1] == (200,) and srv.get("/healthz")[2] == b"ok\n", "/healthz answers ok")
    st, h, page = srv.get("/")
    check(st == 200 and b"leaflet.js" in page and b'"maxZoom":30' in page, "/ serves the page with its config")
    st, h, js = srv.get("/leaflet/leaflet.js")
    check(st == 200 and h.get("content-type") == "application/javascript" and len(js) > 10000
          or not os.path.exists("/usr/share/javascript/leaflet/leaflet.js"), "/leaflet/leaflet.js served from libjs-leaflet")
    mt = srv.get("/metrics")[2].decode()
    for name in ["inrgan_tiles_served_total", "inrgan_cache_hits_total", "inrgan_queue_depth",
                 "inrgan_render_seconds_count", "inrgan_batch_size_count", "inrgan_not_modified_total"]:
        check(metric(mt, name) is not None, "/metrics has %s (%s)" % (name, metric(mt, name)))
    check(metric(mt, "inrgan_not_modified_total") == 2, "/metrics counts the two 304s")
    check(re.search(r'^inrgan_render_seconds_bucket\{le="\+Inf"\} \d+$', mt, re.M) is not None,
          "render time histogram has a +Inf bucket")

    # ---- hostile and malformed requests: 4xx, no crash ----------------------------------
    long_target = "/tiles/1/0/0/0.png?psi=" + "1" * 5000
    corpus = [
        ("GET /tiles/abc/0/0/0.png HTTP/1.1", 400), ("GET /tiles/-1/0/0/0.png HTTP/1.1", 400),
        ("GET /tiles/4294967296/0/0/0.png HTTP/1.1", 400), ("GET /tiles/1e3/0/0/0.png HTTP/1.1", 400),
        ("GET /tiles/0x10/0/0/0.png HTTP/1.1", 400), ("GET /tiles/+1/0/0/0.png HTTP/1.1", 400),
        ("GET /tiles/007/0/0/0.png HTTP/1.1", 400), ("GET /tiles/1/-0/0/0.png HTTP/1.1", 400),
        ("GET /tiles/1/99999999999999999999999/0/0.png HTTP/1.1", 400), ("GET /tiles/1/1000000/0/0.png HTTP/1.1", 400),
        ("GET /tiles/1/41/0/0.png HTTP/1.1", 400), ("GET /tiles/1/31/0/0.png HTTP/1.1", 404),
        ("GET /tiles/1/0/1/3.png HTTP/1.1", 404), ("GET /tiles/1/0/-2/0.png HTTP/1.1", 404),
        ("GET /tiles/1/3/9223372036854775807/0.png HTTP/1.1", 404),
        ("GET /tiles/1/3/-9223372036854775808/0.png HTTP/1.1", 404),
        ("GET /tiles/1/3/99999999999999999999999999/0.png HTTP/1.1", 404),
        ("GET /tiles/1/0/0/0.jpg HTTP/1.1", 404), ("GET /tiles/1/0/0/0.png/x HTTP/1.1", 404),
        ("GET /tiles/1/0/0 HTTP/1.1", 404), ("GET /tiles//0/0/0.png HTTP/1.1", 400),
        ("GET /../../etc/passwd HTTP/1.1", 404), ("GET /leaflet/../../../etc/passwd HTTP/1.1", 404),
        ("GET /leaflet/%2e%2e/%2e%2e/etc/passwd HTTP/1.1", 400), ("GET /leaflet/images/../../x HTTP/1.1", 404),
        ("GET /tiles/1/0/0/0.png?psi=nan HTTP/1.1", 400), ("GET /tiles/1/0/0/0.png?psi=inf HTTP/1.1", 400),
        ("GET /tiles/1/0/0/0.png?psi=1e309 HTTP/1.1", 400), ("GET /tiles/1/0/0/0.png?psi=1&psi=1 HTTP/1.1", 400),
        ("GET /tiles/1/0/0/0.png?t=2&b=1 HTTP/1.1", 400), ("GET /tiles/1/0/0/0.png?b=1 HTTP/1.1", 400),
        ("GET /tiles/1/0/0/0.png?evil=1 HTTP/1.1", 400), ("GET /tiles/1/0/0/0.png? HTTP/1.1", 400),
        ("GET /tiles/1/0/0/0.png?& HTTP/1.1", 400), ("GET /tiles/1/0/0/0.png?space=q&b=1&t=0 HTTP/1.1", 400),
        ("GET /tiles/1/0/0/0.png?noise=-1 HTTP/1.1", 400), ("GET /tiles/1/0/0/0.png?noise=2147483648 HTTP/1.1", 400),
        ("GET /tiles/1/0/0/0.png?psi=%00 HTTP/1.1", 400), ("GET /metrics?x=1 HTTP/1.1", 400),
        ("GET /index.html/.. HTTP/1.1", 404), ("GET " + long_target + " HTTP/1.1", 414),
        ("DELETE /tiles/1/0/0/0.png HTTP/1.1", 405), ("PUT / HTTP/1.1", 405), ("BREW / HTTP/1.1", 405),
        ("OPTIONS * HTTP/1.1", 405), ("TRACE / HTTP/1.1", 405),
        ("GET http://evil.example/ HTTP/1.1", 400),
    ]
    bad = []
    for line, want in corpus:
        st = srv.raw(line.encode() + b"\r\nHost: x\r\nConnection: close\r\n\r\n")
        if st != want:
            bad.append("%r -> %d (want %d)" % (line[:80], st, want))
    big_header = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n"
    st = srv.raw(big_header)
    if st != 431:
        bad.append("40 KB header -> %d" % st)
    many = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(5000)) + b"\r\n"
    st = srv.raw(many)
    if st != 431:
        bad.append("5000 headers -> %d" % st)
    # the one answer outside 4xx: libmicrohttpd's 505 for an HTTP version it does not speak
    st = srv.raw(b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n")
    if st != 505:
        bad.append("HTTP/9.9 -> %d" % st)
    st = srv.raw(b"POST /tiles/1/0/0/0.png HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
    if st != 405:
        bad.append("POST with a body -> %d" % st)
    st = srv.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
    if st != 400:
        bad.append("GET with a body -> %d" % st)
    st = srv.raw(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64 + b"\r\n\r\n")  # a TLS hello
    if not (st == 0 or 400 <= st < 500):
        bad.append("TLS hello -> %d" % st)
    n_corpus = len(corpus) + 6
    check(not bad, "%d hostile or malformed requests all get their 4xx (505 for HTTP/9.9)%s" % (n_corpus, "" if not bad else ": " + "; ".join(bad)))
    check(n_corpus >= 30, "corpus has at least 30 requests (%d)" % n_corpus)

    # slow clients: a half-sent request is dropped after --timeout 2 s, the server keeps serving
    slow = []
    for _ in range(5):
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"GET /tiles/1/0/0/0.png HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        slow.append(s)
    check(srv.alive(), "serving while 5 slow clients hang")
    time.sleep(3.5)
    closed = 0
    for s in slow:
        s.settimeout(2)
        try:
            closed += s.recv(100) == b""
        except (ConnectionResetError, socket.timeout):
            closed += 1
        s.close()
    check(closed == 5, "slow clients closed after --timeout (%d of 5)" % closed)
    # more connections than --max-connections 32: refused, then served again
    hogs = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(40)]
    time.sleep(0.3)
    for s in hogs:
        s.close()
    time.sleep(0.3)
    check(srv.alive(), "still serving after 40 idle connections against --max-connections 32")

    rc, err = srv.stop()
    check(rc == 0 and "shutting down" in err and "error" not in err.lower(), "SIGTERM: clean exit 0 (%d)" % rc)

    # ---- a full queue answers 503 + Retry-After, nothing else ---------------------------
    srv = Server(a.inrgan, a.model, "--queue", "1", "--max-batch", "1", "--cache-mb", "0")
    paths = ["/tiles/%d/2/%d/%d.png" % (s, s % 4, s // 4 % 4) for s in range(16)]
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        got = list(ex.map(srv.get, paths))
    codes = [g[0] for g in got]
    print("     statuses with --queue 1:", codes)
    check(set(codes) <= {200, 503} and 503 in codes and 200 in codes, "full queue: only 200 and 503")
    check(all(g[1].get("retry-after") == "1" for g in got if g[0] == 503), "every 503 has Retry-After")
    mt = srv.get("/metrics")[2].decode()
    check(metric(mt, "inrgan_queue_rejected_total") == codes.count(503), "/metrics counts the rejections")
    check(metric(mt, "inrgan_cache_entries") == 0, "--cache-mb 0 caches nothing")
    # SIGTERM while renders are queued: exits 0, queued requests get an answer or a closed connection
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        futs = [ex.submit(srv.get, "/tiles/%d/3/1/1.png" % s) for s in range(100, 104)]
        time.sleep(0.2)
        rc, err = srv.stop()
        for f in futs:
            try:
                f.result()
            except (ConnectionError, http.client.HTTPException, OSError):
                pass
    check(rc == 0, "SIGTERM with renders in flight: exit 0 (%d)" % rc)

    # ---- a bilinear model with instance norm: no row merging, tiles still == inrgan render ------
    bil = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "tiny_bil.safetensors")
    if os.path.exists(bil):
        srv = Server(a.inrgan, bil, "--merge-rows")
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            got = list(ex.map(lambda x: srv.get("/tiles/2/2/%d/1.png" % x), range(4)))
        check(all(g[0] == 200 and g[2] == render(a.inrgan, bil, tmp, 2, x, 1, 2) for x, g in zip(range(4), got)),
              "tiny_bil (bilinear, instance norm): 4 concurrent tiles of a row == inrgan render")
        mt = srv.get("/metrics")[2].decode()
        check(metric(mt, "inrgan_batch_size_sum") == metric(mt, "inrgan_batch_size_count"),
              "tiny_bil: every tile its own backend call (no row merging)")
        srv.stop()

    # ---- the Vulkan backend (lavapipe, when this build has Vulkan): tiles == its render -------
    dev = subprocess.run([a.inrgan, "devices"], capture_output=True, text=True, timeout=60)
    if dev.returncode == 0 and "llvmpipe" in dev.stdout:
        srv = Server(a.inrgan, a.model, "--backend", "vulkan", "-g", "llvmpipe", "--validate", "--merge-rows")
        st, h, body = srv.get("/tiles/5/1/1/0.png?psi=0.8")
        out = os.path.join(tmp, "vk.png")
        subprocess.run([a.inrgan, "render", "-m", a.model, "--backend", "vulkan", "-g", "llvmpipe", "-q", "--view",
                        "0.0,0.0,2.0,2.0", "--size", "256x256", "--seeds", "5", "--truncation", "0.8", "-o", out],
                       check=True)
        with open(out, "rb") as f:
            check(st == 200 and body == f.read(), "Vulkan (lavapipe): tile == inrgan render --backend vulkan")
        with concurrent.futures.ThreadPoolExecutor(3) as ex:  # a row: merged renders on Vulkan too
            got = list(ex.map(lambda x: srv.get("/tiles/6/2/%d/1.png" % x), range(3)))
        same = 0
        for x, g in zip(range(3), got):
            out = os.path.join(tmp, "vk%d.png" % x)
            subprocess.run([a.inrgan, "render", "-m", a.model, "--backend", "vulkan", "-g", "llvmpipe", "-q", "--view",
                            ",".join(repr(v) for v in tile_view(2, x, 1)), "--size", "256x256", "--seeds", "6",
                            "-o", out], check=True)
            with open(out, "rb") as f:
                same += g[0] == 200 and g[2] == f.read()
        check(same == 3, "Vulkan (lavapipe): 3 concurrent tiles of a row == inrgan render --backend vulkan (%d)" % same)
        rc, err = srv.stop()
        check(rc == 0, "Vulkan server: validation clean, exit 0 (%d %s)" % (rc, err.strip()[-200:]))
    else:
        print("     (no Vulkan in this build or no lavapipe: the Vulkan tile check is skipped)")

    # ---- usage errors ------------------------------------------------------------------
    for args, what in [(["--port", "70000"], "--port 70000"), (["--queue", "0"], "--queue 0"),
                       (["--bind", "localhost"], "--bind localhost (not numeric)"),
                       (["--max-zoom", "41"], "--max-zoom 41")]:
        p = subprocess.run([a.inrgan, "serve", "-m", a.model, "--backend", "cpu", *args], capture_output=True,
                           text=True, timeout=30)
        check(p.returncode == 2 and p.stderr.count("\n") == 1 and p.stderr.startswith("inrgan: error: "),
              "%s: exit 2, one error line (%s)" % (what, p.stderr.strip()))

    print("%d failure(s)" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
