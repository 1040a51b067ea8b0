#!/bin/sh
# Builds the open-peeps training set: N unique DiceBear "Open Peeps" avatars (design by Pablo
# Stanley, CC0 1.0; DiceBear code MIT) at SIZE x SIZE RGB over white, as a uint8 .npy.
# Usage: scripts/dataset/build_open_peeps.sh [N=10000] [SIZE=64] [OUTDIR=/work/data]
# Needs node >= 18 + npm (registry access once, for the two pinned packages) and Debian
# python3-cairosvg python3-pil python3-numpy. Deterministic: same N/SIZE -> same pixels.
set -eu
N=${1:-10000}
SIZE=${2:-64}
OUT=${3:-/work/data}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT/dicebear"
if [ ! -f "$OUT/dicebear/node_modules/@dicebear/open-peeps/package.json" ]; then
    (cd "$OUT/dicebear" && npm install --no-audit --no-fund --no-save \
        @dicebear/core@9.4.3 @dicebear/open-peeps@9.4.3 >/dev/null)
fi
EXTRA=$((N + N / 5 + 100))   # ~3.5 % of seeds are exact duplicates
node "$HERE/gen_svgs.mjs" --modules "$OUT/dicebear/node_modules" --style open-peeps \
    --start 0 --count "$EXTRA" > "$OUT/open-peeps.jsonl"
/usr/bin/python3 "$HERE/rasterize.py" "$OUT/open-peeps.jsonl" -n "$N" -s "$SIZE" \
    -o "$OUT/open-peeps-$SIZE.npy" -j 2
rm -f "$OUT/open-peeps.jsonl"
echo "$OUT/open-peeps-$SIZE.npy"
