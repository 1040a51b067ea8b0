"""SWD-vs-kimg curve of training runs as a PNG (PIL only: Debian's python3-pil).

    python -m inrgan.plot_swd RUN/log.jsonl [more logs or checkpoints ...] -o swd.png
        [--title TEXT] [--size 720x400] [--csv points.csv]

Inputs: the trainer's log.jsonl files (their {"swd": {...}} lines) and checkpoints (.pt, or
the .json manifest of split parts: their swd_history, every SWD point since the first run).
Points from all inputs are merged by kimg (a later input wins on equal kimg). The plot:
SWD x 1e3 (mean over pyramid levels) against kimg, the real-vs-real floor as a dashed line and
2 x floor as a dotted one, log-scaled y. --csv also writes kimg,swd,floor rows.
"""

import argparse
import json
import math
import os
import sys

__all__ = ["read_points", "plot"]


def read_points(path):
    """[(kimg, swd, floor)] from a log.jsonl or a checkpoint (.pt / split manifest .json)."""
    pts = []
    if path.endswith(".jsonl"):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                rec = json.loads(line)
                e = rec.get("swd") if isinstance(rec, dict) else None
                if isinstance(e, dict):
                    pts.append((float(e["kimg"]), float(e["swd"]), float(e["floor"])))
        return pts
    from .ckpt import load
    ck = load(path)
    for e in ck.get("swd_history", []):
        pts.append((float(e["kimg"]), float(e["swd"]), float(e["floor"])))
    return pts


def _nice_step(span, n=6):
    raw = span / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def plot(points, out, title="", size=(720, 400)):
    from PIL import Image, ImageDraw, ImageFont
    if not points:
        raise ValueError("no SWD points")
    w, h = size
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    left, right, top, bottom = 58, 16, 28, 40
    xs = [p[0] for p in points]
    floor = points[-1][2]
    ys = [p[1] for p in points] + [floor]
    x0, x1 = 0.0, max(xs) * 1.04 or 1.0
    y0, y1 = math.log10(min(ys) * 0.8), math.log10(max(ys) * 1.25)

    def px(k):
        return left + (k - x0) / (x1 - x0) * (w - left - right)

    def py(v):
        return h - bottom - (math.log10(v) - y0) / (y1 - y0) * (h - top - bottom)

    d.rectangle([left, top, w - right, h - bottom], outline=(0, 0, 0))
    step = _nice_step(x1 - x0)
    k = 0.0
    while k <= x1:
        x = px(k)
        d.line([x, h - bottom, x, h - bottom + 4], fill=(0, 0, 0))
        d.line([x, top, x, h - bottom], fill=(230, 230, 230))
        d.text((x - 10, h - bottom + 6), "%g" % k, fill=(0, 0, 0), font=font)
        k += step
    for dec in range(int(math.floor(y0)), int(math.ceil(y1)) + 1):
        for m in (1, 2, 5):
            v = m * 10 ** dec
            if y0 <= math.log10(v) <= y1:
                y = py(v)
                d.line([left - 4, y, left, y], fill=(0, 0, 0))
                d.line([left, y, w - right, y], fill=(230, 230, 230))
                d.text((6, y - 6), "%g" % v, fill=(0, 0, 0), font=font)
    for mult, dash, label in ((1.0, 8, "floor (real vs real) %.2f" % floor),
                              (2.0, 3, "2 x floor %.2f" % (2 * floor))):
        y = py(floor * mult)
        if top <= y <= h - bottom:
            x = left
            while x < w - right:
                d.line([x, y, min(x + dash, w - right), y], fill=(200, 60, 60))
                x += 2 * dash
            d.text((w - right - 6 * len(label) - 4, y - 13), label, fill=(200, 60, 60),
                   font=font)
    pts = sorted(points)
    d.line([(px(p[0]), py(p[1])) for p in pts], fill=(30, 80, 200), width=2)
    for p in pts:
        x, y = px(p[0]), py(p[1])
        d.ellipse([x - 3, y - 3, x + 3, y + 3], fill=(30, 80, 200))
    d.text((left, 8), title or "SWD x 1e3 vs kimg", fill=(0, 0, 0), font=font)
    d.text(((w - 30) // 2, h - 14), "kimg", fill=(0, 0, 0), font=font)
    tmp = out + ".tmp.png"
    img.save(tmp)
    os.replace(tmp, out)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m inrgan.plot_swd",
                                description="Plot SWD vs kimg from trainer logs/checkpoints.")
    p.add_argument("inputs", nargs="+", help="log.jsonl, checkpoint.pt or checkpoint.json")
    p.add_argument("-o", "--output", required=True, help="PNG")
    p.add_argument("--title", default="")
    p.add_argument("--size", default="720x400")
    p.add_argument("--csv", default=None)
    a = p.parse_args(argv)
    try:
        w, h = (int(v) for v in a.size.lower().split("x"))
        if not (200 <= w <= 4000 and 150 <= h <= 4000):
            raise ValueError
    except ValueError:
        p.error("--size: WxH, 200..4000 x 150..4000")
    merged = {}
    for path in a.inputs:
        try:
            for k, s, f in read_points(path):
                merged[round(k, 3)] = (k, s, f)
        except (OSError, ValueError, KeyError) as e:
            print("inrgan.plot_swd: error: %s: %s" % (path, e), file=sys.stderr)
            return 2
    points = [merged[k] for k in sorted(merged)]
    if not points:
        print("inrgan.plot_swd: error: no SWD points in the inputs", file=sys.stderr)
        return 2
    plot(points, a.output, a.title, (w, h))
    if a.csv:
        with open(a.csv, "w") as f:
            f.write("kimg,swd,floor\n")
            for k, s, fl in points:
                f.write("%.1f,%.3f,%.3f\n" % (k, s, fl))
    print("wrote %s: %d points, kimg %.1f..%.1f, last SWD %.2f (floor %.2f)"
          % (a.output, len(points), points[0][0], points[-1][0], points[-1][1], points[-1][2]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
