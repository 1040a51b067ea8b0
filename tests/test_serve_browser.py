#!/usr/bin/env python3
"""The page of `inrgan serve` in headless Chromium (docs/serve.md): loads /, zooms and pans the
map by script through the DevTools protocol, waits for every tile, takes a screenshot and checks
that it shows rendered tiles: each fully visible tile in the screenshot equals the PNG the server
sends for it pixel for pixel, the map area is not background, the frame's `inrgan render`
command names the visible rectangle, and the ψ / interpolation controls change the tile URLs.

usage: test_serve_browser.py --inrgan BUILD/inrgan --model M [--screenshot OUT.png]
Exit 77 (skipped, with a message) without chromium or python3-websocket (scripts/setup.sh --web)."""
import argparse
import base64
import http.client
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILS.append(what)


class Tab:
    def __init__(self, ws_url):
        import websocket
        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.n = 0

    def call(self, method, **params):
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.n:
                if "error" in msg:
                    raise RuntimeError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})

    def js(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError("JS %s: %s" % (expr, r["exceptionDetails"]))
        return r["result"].get("value")

    def wait_tiles(self, timeout=90):
        """Until every tile image of the map has loaded (and at least one exists)."""
        t0 = time.time()
        while time.time() - t0 < timeout:
            st = self.js("(function(){var a=document.querySelectorAll('.leaflet-tile');"
                         "var l=document.querySelectorAll('.leaflet-tile.leaflet-tile-loaded');"
                         "return window.inrganMap ? [a.length, l.length] : [0, -1];})()")
            if st and st[0] > 0 and st[0] == st[1]:
                time.sleep(0.5)  # fade-in animation of the last tiles
                return st[0]
            time.sleep(0.25)
        return -1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inrgan", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--screenshot", help="also keep the screenshot here")
    a = ap.parse_args()
    chrome = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import websocket  # noqa: F401  (Debian python3-websocket)
        from PIL import Image
    except ImportError as e:
        print("skipped: %s (scripts/setup.sh --web installs python3-websocket)" % e)
        return 77
    if not chrome:
        print("skipped: no chromium (scripts/setup.sh --web installs Debian's chromium)")
        return 77
    if "has no serve command" in subprocess.run([a.inrgan, "serve", "--help"], capture_output=True, text=True).stdout:
        print("skipped: this build has no serve command")
        return 77
    if not os.path.exists("/usr/share/javascript/leaflet/leaflet.js"):
        print("skipped: no Leaflet (Debian package libjs-leaflet)")
        return 77
    tmp = tempfile.mkdtemp(prefix="inrgan_browser_")
    srv = subprocess.Popen([a.inrgan, "serve", "-m", a.model, "--port", "0", "--backend", "cpu", "--threads", "2"],
                           stderr=subprocess.PIPE, text=True)
    port = int(re.search(r":(\d+)/", srv.stderr.readline()).group(1))
    br = subprocess.Popen([chrome, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--remote-debugging-port=0", "--remote-allow-origins=*", "--user-data-dir=" + tmp,
                           "--window-size=1024,768", "--force-device-scale-factor=1", "about:blank"],
                          stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        dport = None
        t0 = time.time()
        while dport is None and time.time() - t0 < 60:
            line = br.stderr.readline()
            if not line:
                break
            m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if m:
                dport = int(m.group(1))
        if dport is None:
            raise SystemExit("chromium did not start")
        c = http.client.HTTPConnection("127.0.0.1", dport, timeout=30)
        c.request("GET", "/json/list")
        pages = [t for t in json.loads(c.getresponse().read()) if t["type"] == "page"]
        tab = Tab(pages[0]["webSocketDebuggerUrl"])
        tab.call("Page.enable")
        tab.call("Page.navigate", url="http://127.0.0.1:%d/#seed=3&z=0&x=0&y=0" % port)
        n = tab.wait_tiles()
        check(n > 0, "page loaded with %d tiles at zoom 0" % n)
        check(tab.js("document.getElementById('cmd').value").startswith("inrgan render -m "),
              "the frame's render command is shown")
        # zoom and pan by script
        tab.js("inrganMap.setZoom(2, {animate: false}); inrganMap.panBy([160, -90], {animate: false}); 1")
        n = tab.wait_tiles()
        h = tab.js("location.hash")
        check(n > 0 and "z=2" in h, "zoomed to 2 and panned: %d tiles loaded, hash %s" % (n, h))
        shot = base64.b64decode(tab.call("Page.captureScreenshot", format="png")["data"])
        with open(os.path.join(tmp, "shot.png"), "wb") as f:
            f.write(shot)
        if a.screenshot:
            with open(a.screenshot, "wb") as f:
                f.write(shot)
        img = Image.open(io.BytesIO(shot)).convert("RGB")
        # every fully visible tile equals the server's PNG
        tiles = tab.js("(function(){var m=document.getElementById('map').getBoundingClientRect();"
                       "return Array.from(document.querySelectorAll('.leaflet-tile-loaded')).map(function(t){"
                       "var r=t.getBoundingClientRect();return [t.src, r.left, r.top, r.width, r.height,"
                       "r.left>=m.left&&r.top>=m.top&&r.right<=m.right&&r.bottom<=m.bottom];});})()")
        full = [t for t in tiles if t[5] and t[3] == 256 and t[4] == 256]
        same = 0
        for src, x, y, w, hh, _ in full:
            path = re.sub(r"^http://[^/]+", "", src)
            cc = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            cc.request("GET", path)
            ref = Image.open(io.BytesIO(cc.getresponse().read())).convert("RGB")
            crop = img.crop((int(round(x)), int(round(y)), int(round(x)) + 256, int(round(y)) + 256))
            same += crop.tobytes() == ref.tobytes()
        check(full and same == len(full), "%d of %d fully visible tiles in the screenshot equal the server's PNGs"
              % (same, len(full)))
        m = tab.js("(function(){var r=document.getElementById('map').getBoundingClientRect();"
                   "return [r.left, r.top, r.right, r.bottom];})()")
        area = img.crop(tuple(int(v) for v in m))
        px = list(area.getdata())
        bg = sum(1 for p in px if p == (0x22, 0x22, 0x22)) / len(px)
        check(bg < 0.02 and len(set(px[::7])) > 500, "the map shows rendered tiles (background %.1f%%, %d colours)"
              % (100 * bg, len(set(px[::7]))))
        # the command names the visible rectangle at the map's size
        cmd = tab.js("document.getElementById('cmd').value")
        mv = re.search(r"--view (\S+) --size (\d+)x(\d+)", cmd)
        size = tab.js("[inrganMap.getSize().x, inrganMap.getSize().y]")
        v = [float(s) for s in mv.group(1).split(",")] if mv else [0, 0, 0, 0]
        ok = mv and [int(mv.group(2)), int(mv.group(3))] == size and \
            abs((v[2] - v[0]) / size[0] - 4.0 / 256 / 4) < 1e-12 and abs((v[3] - v[1]) / size[1] - 4.0 / 256 / 4) < 1e-12
        check(bool(ok), "frame command: %s" % cmd)
        # psi and interpolation controls
        tab.js("var e=document.getElementById('psi'); e.value='0.5'; e.dispatchEvent(new Event('change'));"
               "var b=document.getElementById('b'); b.value='9'; b.dispatchEvent(new Event('change'));"
               "var t=document.getElementById('t'); t.value='0.5'; t.dispatchEvent(new Event('change')); 1")
        n = tab.wait_tiles()
        srcs = tab.js("Array.from(document.querySelectorAll('.leaflet-tile-loaded')).map(function(t){return t.src})")
        check(n > 0 and all("psi=0.50&b=9&t=0.50" in s for s in srcs),
              "ψ and interpolation sliders: %d tiles reloaded with psi=0.50&b=9&t=0.50" % n)
        check("--interp 3,9 --t 0.50" in tab.js("document.getElementById('cmd').value"),
              "the command follows the interpolation")
        link = tab.js("document.getElementById('link').href")
        check("b=9" in link and "z=2" in link, "the link reproduces the view: %s" % link)
        tab.ws.close()
    finally:
        br.terminate()
        try:
            br.wait(timeout=20)
        except subprocess.TimeoutExpired:
            br.kill()
        srv.send_signal(signal.SIGTERM)
        check(srv.wait(timeout=30) == 0, "server stopped cleanly")
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d failure(s)" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
