#!/bin/sh
# scripts/check-fp16.sh CHECKPOINT [SEEDS] - may a trained model ship as fp16? (issue 18: fp16
# storage only if its renders stay within 1 uint8 level of the fp32 model's)
#
# Exports the checkpoint's G_ema twice (fp32, fp16; python -m inrgan.train export), renders
# SEEDS (default 0-63) of both with the C engine (build/inrgan or $INRGAN, --backend cpu, PNG)
# and compares the 8-bit images: prints the largest difference in uint8 levels, how many
# channel values differ, and the fp16 file's size. CHECKPOINT: a .pt or the .json manifest of
# split parts. Exit 0 when every value is within 1 level, 1 when not, 2 on bad usage.
# Work files go to a temporary folder that is removed at the end.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
[ $# -ge 1 ] || { echo "usage: scripts/check-fp16.sh CHECKPOINT [SEEDS]" >&2; exit 2; }
CK=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SEEDS=${2:-0-63}
CLI=${INRGAN:-$ROOT/build/inrgan}
PY=${PYTHON:-/usr/bin/python3}
[ -f "$CK" ] || { echo "check-fp16: $CK not found" >&2; exit 2; }
[ -x "$CLI" ] || { echo "check-fp16: no engine at $CLI (build it, or set INRGAN)" >&2; exit 2; }
T=$(mktemp -d "${TMPDIR:-/tmp}/inrgan-fp16.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
for d in fp32 fp16; do
    (cd python && "$PY" -m inrgan.train export --checkpoint "$CK" -o "$T/$d.safetensors" \
        --dtype $d) 2>/dev/null || { echo "check-fp16: export $d failed" >&2; exit 1; }
    "$CLI" render -m "$T/$d.safetensors" --seeds "$SEEDS" -o "$T/$d" --backend cpu -q \
        || { echo "check-fp16: render $d failed" >&2; exit 1; }
done
"$PY" - "$T" <<'EOF'
import os, sys
import numpy as np
from PIL import Image
t = sys.argv[1]
names = sorted(os.listdir(os.path.join(t, "fp32")))
worst, diff, total = 0, 0, 0
for n in names:
    a = np.asarray(Image.open(os.path.join(t, "fp32", n)), dtype=np.int16)
    b = np.asarray(Image.open(os.path.join(t, "fp16", n)), dtype=np.int16)
    d = np.abs(a - b)
    worst = max(worst, int(d.max()))
    diff += int((d > 0).sum())
    total += d.size
print("check-fp16: %d images; max difference %d uint8 level(s); %d of %d values differ "
      "(%.3f %%); fp16 file %d bytes, fp32 %d bytes"
      % (len(names), worst, diff, total, 100.0 * diff / max(total, 1),
         os.path.getsize(os.path.join(t, "fp16.safetensors")),
         os.path.getsize(os.path.join(t, "fp32.safetensors"))))
sys.exit(0 if worst <= 1 else 1)
EOF
