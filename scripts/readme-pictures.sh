#!/bin/sh
# The README pictures, rendered by the engine (not PyTorch) from the demo model:
# a sample grid, an interpolation strip, a zoom-out strip and a super-resolution crop, and
# with SWD_INPUT the SWD-vs-kimg plot (python -m inrgan.plot_swd: a checkpoint, its split
# manifest or a log.jsonl).
#   scripts/readme-pictures.sh [MODEL [SWD_INPUT]]   (writes $DEST/*.png, DEST=docs/images)
# SR_SIZE (default 512): the super-resolution render's side -> superres-$SR_SIZE.png
set -eu
swd_input=${2:+$(readlink -f "$2")} # (relative to the caller; MODEL: to the repository)
cd "$(dirname "$0")/.."
model=${1:-assets/demo.safetensors}
bin=${BUILD:-build}/inrgan
sr=${SR_SIZE:-512}
dest=${DEST:-docs/images}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$dest"
"$bin" render -m "$model" --seeds 0-15 -o "$tmp/grid" -q
"$bin" interp -m "$model" --seeds 3,8 --frames 8 --space params -o "$tmp/interp" -q
"$bin" zoom -m "$model" --seeds 5 --center 0,0 --zoom 1 --zoom-to 0.25 --frames 6 --size 128x128 -o "$tmp/zoom" -q
"$bin" render -m "$model" --seeds 5 --size "${sr}x${sr}" -o "$tmp/sr/seed0005.png" -q
/usr/bin/python3 - "$tmp" "$dest" "$sr" <<'PY'
import sys
from PIL import Image
t, dest, sr = sys.argv[1:4]
ims = [Image.open("%s/grid/seed%04d.png" % (t, i)) for i in range(16)]
w, h = ims[0].size
g = Image.new("RGB", (4 * w, 4 * h))
for i, im in enumerate(ims):
    g.paste(im, ((i % 4) * w, (i // 4) * h))
g.resize((4 * w * 2, 4 * h * 2), Image.NEAREST).save("%s/samples.png" % dest)
Image.open("%s/interp/strip.png" % t).save("%s/interp-strip.png" % dest)
Image.open("%s/zoom/strip.png" % t).save("%s/zoom-strip.png" % dest)
Image.open("%s/sr/seed0005.png" % t).save("%s/superres-%s.png" % (dest, sr))
PY
echo "wrote $dest/{samples,interp-strip,zoom-strip,superres-$sr}.png"
if [ -n "$swd_input" ]; then
    (cd python && /usr/bin/python3 -m inrgan.plot_swd "$swd_input" -o "$tmp/swd.png" \
        --title "SWD x 1e3 vs kimg ($(basename "$model"))")
    cp "$tmp/swd.png" "$dest/swd-curve.png"
    echo "wrote $dest/swd-curve.png"
fi
