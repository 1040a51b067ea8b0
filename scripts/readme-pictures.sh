#!/bin/sh
# The README pictures, rendered by the engine (not PyTorch) from the demo model:
# a sample grid, an interpolation strip, a zoom-out strip and a super-resolution crop.
#   scripts/readme-pictures.sh [MODEL]     (writes docs/images/*.png)
set -eu
cd "$(dirname "$0")/.."
model=${1:-assets/demo.safetensors}
bin=${BUILD:-build}/inrgan
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p docs/images
"$bin" render -m "$model" --seeds 0-15 -o "$tmp/grid" -q
"$bin" interp -m "$model" --seeds 3,8 --frames 8 --space params -o "$tmp/interp" -q
"$bin" zoom -m "$model" --seeds 5 --center 0,0 --zoom 1 --zoom-to 0.25 --frames 6 --size 128x128 -o "$tmp/zoom" -q
"$bin" render -m "$model" --seeds 5 --size 512x512 -o "$tmp/sr/seed0005.png" -q
/usr/bin/python3 - "$tmp" <<'PY'
import sys
from PIL import Image
t = sys.argv[1]
ims = [Image.open("%s/grid/seed%04d.png" % (t, i)) for i in range(16)]
w, h = ims[0].size
g = Image.new("RGB", (4 * w, 4 * h))
for i, im in enumerate(ims):
    g.paste(im, ((i % 4) * w, (i // 4) * h))
g.resize((4 * w * 2, 4 * h * 2), Image.NEAREST).save("docs/images/samples.png")
Image.open("%s/interp/strip.png" % t).save("docs/images/interp-strip.png")
Image.open("%s/zoom/strip.png" % t).save("docs/images/zoom-strip.png")
Image.open("%s/sr/seed0005.png" % t).save("docs/images/superres-512.png")
PY
echo "wrote docs/images/{samples,interp-strip,zoom-strip,superres-512}.png"
