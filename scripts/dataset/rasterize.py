#!/usr/bin/python3
"""Rasterizes DiceBear SVGs (JSON lines from gen_svgs.mjs) to a uint8 array [N, S, S, 3].

    node gen_svgs.mjs --modules DIR --start 0 --count 12100 > svgs.jsonl
    /usr/bin/python3 rasterize.py svgs.jsonl -n 10000 -s 64 -o open-peeps-64.npy [-j 2]

* Dedupe on the SVG string (about 3.5 % of open-peeps seeds repeat): the first N unique SVGs in
  file order are kept (so generate ~20 % extra seeds).
* Debian's cairosvg 2.5.2 renders DiceBear SVGs blank because of a full-canvas
  <mask id="viewboxMask"> applied with mask="url(#viewboxMask)": both are stripped (lossless for
  the default radius 0: the mask only clips to the viewBox).
* The RGBA render is alpha-composited over opaque white, alpha dropped.
* Writes OUT (.npy, or .npz with key "images" when OUT ends in .npz) and OUT.seeds.txt (the seed
  string of every kept image, in order).
Needs Debian python3-cairosvg, python3-pil, python3-numpy (run with /usr/bin/python3).
"""

import argparse
import io
import json
import multiprocessing as mp
import os
import re
import sys

import numpy as np

_MASK_DEF = re.compile(r'<mask id="viewboxMask">.*?</mask>', re.S)
_MASK_REF = re.compile(r'\s*mask="url\(#viewboxMask\)"')


def fix_svg(svg):
    """Removes the viewBox clip mask that cairosvg 2.5.2 renders as fully transparent."""
    return _MASK_REF.sub("", _MASK_DEF.sub("", svg))


def render(args):
    svg, size, supersample = args
    import cairosvg
    from PIL import Image
    big = size * supersample
    png = cairosvg.svg2png(bytestring=fix_svg(svg).encode("utf-8"), output_width=big,
                           output_height=big)
    im = Image.open(io.BytesIO(png)).convert("RGBA")
    bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
    im = Image.alpha_composite(bg, im).convert("RGB")
    if supersample > 1:
        im = im.resize((size, size), Image.BOX)
    return np.asarray(im, dtype=np.uint8)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("jsonl", help="JSON lines with 'seed' and 'svg' (from gen_svgs.mjs)")
    p.add_argument("-n", "--count", type=int, required=True, help="images to keep")
    p.add_argument("-s", "--size", type=int, default=64)
    p.add_argument("--supersample", type=int, default=1,
                   help="render at size*k and box-downsample (default 1)")
    p.add_argument("-o", "--output", required=True, help=".npy or .npz")
    p.add_argument("-j", "--jobs", type=int, default=2)
    args = p.parse_args(argv)

    seen, svgs, seeds = set(), [], []
    total = 0
    with open(args.jsonl, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            total += 1
            rec = json.loads(line)
            if rec["svg"] in seen:
                continue
            seen.add(rec["svg"])
            svgs.append(rec["svg"])
            seeds.append(rec["seed"])
            if len(svgs) == args.count:
                break
    if len(svgs) < args.count:
        sys.exit("only %d unique SVGs in %d lines (< %d): generate more seeds"
                 % (len(svgs), total, args.count))
    print("rasterize: %d unique of the first %d SVGs" % (len(svgs), total), file=sys.stderr)

    out = np.empty((len(svgs), args.size, args.size, 3), np.uint8)
    work = [(s, args.size, args.supersample) for s in svgs]
    with mp.Pool(args.jobs) as pool:
        for i, img in enumerate(pool.imap(render, work, chunksize=32)):
            out[i] = img
            if (i + 1) % 1000 == 0:
                print("rasterize: %d / %d" % (i + 1, len(svgs)), file=sys.stderr)
    blank = int((out.reshape(len(out), -1).min(axis=1) == 255).sum())
    if blank:
        sys.exit("%d images rendered blank (the cairosvg mask fix failed?)" % blank)
    tmp = args.output + ".tmp"
    with open(tmp, "wb") as f:
        if args.output.endswith(".npz"):
            np.savez_compressed(f, images=out)
        else:
            np.save(f, out)
    os.replace(tmp, args.output)
    with open(args.output + ".seeds.txt", "w") as f:
        f.write("\n".join(seeds) + "\n")
    print("rasterize: wrote %s %s" % (args.output, out.shape), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
