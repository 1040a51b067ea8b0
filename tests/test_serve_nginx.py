#!/usr/bin/env python3
"""nginx (Debian's) as a caching load balancer in front of two `inrgan serve` processes, with the
configuration docs/serve.md shows (serve/nginx/inrgan-tiles.conf): tiles spread over both
upstreams, a repeated tile is answered from nginx's cache (X-Cache-Status: HIT) without reaching
an upstream, and the tiles through nginx are the servers' bytes.

usage: test_serve_nginx.py --inrgan BUILD/inrgan --model M
Exit 77 (skipped) without nginx (scripts/setup.sh --web) or without the serve command."""
import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

FAILS = []
HERE = os.path.dirname(os.path.abspath(__file__))


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILS.append(what)


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), body


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def served(port):
    m = re.search(r"^inrgan_tiles_served_total (\d+)", get(port, "/metrics")[2].decode(), re.M)
    return int(m.group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inrgan", required=True)
    ap.add_argument("--model", required=True)
    a = ap.parse_args()
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if not nginx:
        print("skipped: no nginx (scripts/setup.sh --web installs Debian's nginx)")
        return 77
    if "has no serve command" in subprocess.run([a.inrgan, "serve", "--help"], capture_output=True, text=True).stdout:
        print("skipped: this build has no serve command")
        return 77
    tmp = tempfile.mkdtemp(prefix="inrgan_nginx_")
    servers, ports = [], []
    for _ in range(2):
        p = subprocess.Popen([a.inrgan, "serve", "-m", a.model, "--port", "0", "--backend", "cpu", "--threads", "1"],
                             stderr=subprocess.PIPE, text=True)
        ports.append(int(re.search(r":(\d+)/", p.stderr.readline()).group(1)))
        servers.append(p)
    front = free_port()
    # the documented configuration, with this test's ports and paths filled in
    with open(os.path.join(os.path.dirname(HERE), "serve", "nginx", "inrgan-tiles.conf")) as f:
        conf = f.read()
    conf = conf.replace("server 127.0.0.1:8081", "server 127.0.0.1:%d" % ports[0])
    conf = conf.replace("server 127.0.0.1:8082", "server 127.0.0.1:%d" % ports[1])
    conf = conf.replace("listen 127.0.0.1:8080", "listen 127.0.0.1:%d" % front)
    conf = conf.replace("/var/cache/nginx/inrgan", os.path.join(tmp, "cache"))
    top = ("worker_processes 1;\ndaemon off;\npid %s/nginx.pid;\nerror_log %s/error.log;\n%s"
           "events { worker_connections 256; }\nhttp {\n  access_log off;\n"
           "  client_body_temp_path %s/body;\n  proxy_temp_path %s/proxy;\n  fastcgi_temp_path %s/fcgi;\n"
           "  uwsgi_temp_path %s/uwsgi;\n  scgi_temp_path %s/scgi;\n%s\n}\n"
           % (tmp, tmp, "user root;\n" if os.geteuid() == 0 else "", tmp, tmp, tmp, tmp, tmp, conf))
    with open(os.path.join(tmp, "nginx.conf"), "w") as f:
        f.write(top)
    ng = subprocess.Popen([nginx, "-p", tmp, "-c", os.path.join(tmp, "nginx.conf"), "-e", os.path.join(tmp, "error.log")],
                          stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.time()
        while True:
            try:
                socket.create_connection(("127.0.0.1", front), timeout=1).close()
                break
            except OSError:
                if ng.poll() is not None or time.time() - t0 > 20:
                    raise SystemExit("nginx did not start: " + ng.stderr.read())
                time.sleep(0.1)
        # tiles spread over both upstreams
        ups = {}
        for i in range(12):
            st, h, body = get(front, "/tiles/5/2/%d/%d.png" % (i % 4, i // 4))
            ups[h.get("x-upstream", "?")] = ups.get(h.get("x-upstream", "?"), 0) + 1
            check(st == 200 and h.get("x-cache-status") == "MISS", "tile %d through nginx: 200, X-Cache-Status MISS" % i)
        print("     upstreams:", ups)
        check(sorted(ups) == sorted("127.0.0.1:%d" % p for p in ports), "12 tiles spread over both upstreams %s" % ups)
        check(all(served(p) > 0 for p in ports), "both servers rendered tiles")
        # a repeated tile from nginx's cache, not from an upstream
        before = [served(p) for p in ports]
        st, h, body = get(front, "/tiles/5/2/1/1.png")
        st2, h2, body2 = get(ports[0], "/tiles/5/2/1/1.png")
        after = [served(p) for p in ports]
        check(st == 200 and h.get("x-cache-status") == "HIT", "repeated tile: X-Cache-Status %s" % h.get("x-cache-status"))
        check(after[0] - before[0] == 1 and after[1] == before[1], "the repeat did not reach an upstream")
        check(body == body2 and h.get("etag") == h2.get("etag"), "nginx's copy is the server's bytes and ETag")
        st, h, _ = get(front, "/healthz")
        check(st == 200, "/healthz through nginx")
    finally:
        ng.send_signal(signal.SIGQUIT)
        try:
            ng.wait(timeout=20)
        except subprocess.TimeoutExpired:
            ng.kill()
        for p in servers:
            p.send_signal(signal.SIGTERM)
            check(p.wait(timeout=30) == 0, "server stopped cleanly")
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d failure(s)" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
