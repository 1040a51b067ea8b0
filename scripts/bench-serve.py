#!/usr/bin/env python3
"""Load test of `inrgan serve` with wrk (Debian), on localhost, bounded in time and connections
(docs/benchmarks.md, "Tile server"). Three runs against a fresh server each:
  cached    one tile again and again (the cache-hit path: HTTP + copy)
  render    every request a new tile (the render path: queue, batch, backend, PNG)
  overload  render requests from many connections against --queue 4: only 200s and 503s expected
For each: requests/s, p50/p99 latency (wrk --latency), the status codes (a wrk Lua script) and
the server's peak resident memory (VmHWM). Prints a Markdown table.

usage: scripts/bench-serve.py [--inrgan build/inrgan] [--model assets/demo.safetensors]
                              [--seconds 10] [--threads N]"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

LUA = r"""
c200, c503, cother, n, tid = 0, 0, 0, 0, 0
local fixed = os.getenv("BENCH_FIXED")
request = function()
  if fixed then return wrk.format("GET", fixed) end
  n = n + 1
  -- distinct tiles: zoom 6 (64 x 64 tiles in [-2,2]^2), seeds counting up
  local i = n + 100000 * tid + 4096 * (tonumber(os.getenv("BENCH_OFFSET")) or 0)
  return wrk.format("GET", string.format("/tiles/%d/6/%d/%d.png", math.floor(i / 4096), i % 64, math.floor(i / 64) % 64))
end
response = function(status, headers, body)
  if status == 200 then c200 = c200 + 1 elseif status == 503 then c503 = c503 + 1 else cother = cother + 1 end
end
local threads = {}
setup = function(t) table.insert(threads, t); t:set("tid", #threads) end
done = function(summary, latency, requests)
  local a, b, c = 0, 0, 0
  for _, t in ipairs(threads) do a = a + t:get("c200"); b = b + t:get("c503"); c = c + t:get("cother") end
  io.write(string.format("STATUS 200=%d 503=%d other=%d\n", a, b, c))
  io.write(string.format("LAT p50=%.3f p99=%.3f\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def vmhwm(pid):
    with open("/proc/%d/status" % pid) as f:
        m = re.search(r"VmHWM:\s+(\d+) kB", f.read())
    return int(m.group(1)) / 1024


def run(a, name, server_args, wrk_args, env):
    srv = subprocess.Popen([a.inrgan, "serve", "-m", a.model, "--port", "0", "--backend", "cpu", "-q"]
                           + (["--threads", str(a.threads)] if a.threads else []) + server_args,
                           stderr=subprocess.PIPE, text=True)
    port = int(re.search(r":(\d+)/", srv.stderr.readline()).group(1))
    url = "http://127.0.0.1:%d" % port
    cmd = ["wrk", "--latency", "-s", a.lua, "-d", "%ds" % a.seconds, "--timeout", "10s"] + wrk_args + [url]
    e = dict(os.environ, **env)
    out = subprocess.run(cmd, capture_output=True, text=True, env=e).stdout
    peak = vmhwm(srv.pid)
    srv.send_signal(signal.SIGTERM)
    rc = srv.wait(timeout=60)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    st = re.search(r"STATUS 200=(\d+) 503=(\d+) other=(\d+)", out)
    lat = re.search(r"LAT p50=([\d.]+) p99=([\d.]+)", out)
    sock = re.search(r"Socket errors: (.*)", out)
    shown = " ".join(["wrk"] + ["%s=%s" % kv for kv in env.items()] + cmd[1:3] + ["bench-serve.lua"] + cmd[4:-1]
                     + ["URL"])
    return {"name": name, "rps": rps, "p50": float(lat.group(1)), "p99": float(lat.group(2)),
            "200": int(st.group(1)), "503": int(st.group(2)), "other": int(st.group(3)),
            "sock": sock.group(1) if sock else "none", "peak": peak, "rc": rc,
            "server": "inrgan serve " + " ".join(server_args), "wrk": shown}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inrgan", default="build/inrgan")
    ap.add_argument("--model", default="assets/demo.safetensors")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if not shutil.which("wrk"):
        print("no wrk (scripts/setup.sh --web installs it)")
        return 2
    tmp = tempfile.mkdtemp(prefix="inrgan_wrk_")
    a.lua = os.path.join(tmp, "bench-serve.lua")
    with open(a.lua, "w") as f:
        f.write(LUA)
    rows = [
        run(a, "cached: one tile", ["--cache-mb", "64"], ["-t", "2", "-c", "16"],
            {"BENCH_FIXED": "/tiles/1/2/1/1.png"}),
        run(a, "render: every request a new tile", ["--cache-mb", "64"], ["-t", "1", "-c", "8"], {}),
        run(a, "overload: 64 connections, --queue 4", ["--cache-mb", "64", "--queue", "4"], ["-t", "2", "-c", "64"],
            {"BENCH_OFFSET": "7"}),
    ]
    shutil.rmtree(tmp, ignore_errors=True)
    print("| run | requests/s | p50 ms | p99 ms | 200 | 503 | other | socket errors | peak RSS MiB | server | wrk |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %.1f | %.2f | %.2f | %d | %d | %d | %s | %.1f | `%s` | `%s` |" % (
            r["name"], r["rps"], r["p50"], r["p99"], r["200"], r["503"], r["other"], r["sock"], r["peak"],
            r["server"], r["wrk"]))
    bad = [r["name"] for r in rows if r["other"] or r["rc"]]
    if bad:
        print("unexpected statuses or exit codes in: " + ", ".join(bad))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
