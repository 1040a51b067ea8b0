#!/bin/sh
# INR-GAN against CIPS on this machine: cost per image of the two families, same device, one run.
#   scripts/bench-families.sh [BATCH] [REPS]
# Runs scripts/bench-compare.sh on the built-in ffhq256 (INR-GAN) and cips256 (CIPSskip)
# configs (random weights, native 256x256), alternating the two models twice, and prints the
# engine's and PyTorch's ms per image for each family and the CIPS / INR-GAN cost ratios.
# Each of the four bench-compare runs shows its steps and tables as it goes.
set -eu
cd "$(dirname "$0")/.."
batch=${1:-1}; reps=${2:-3}
out=${BENCH_OUT:-build/bench-families}; mkdir -p "$out"; out=$(realpath "$out")
for round in 1 2; do
    for m in ffhq256 cips256; do
        echo "=== bench-families: round $round of 2, $m (scripts/bench-compare.sh $m $batch $reps)"
        BENCH_OUT="$out/$m-$round" scripts/bench-compare.sh "$m" "$batch" "$reps"
    done
done
echo "=== bench-families: summary"
/usr/bin/python3 - "$out" <<'PY'
import json, os, sys
d = sys.argv[1]
def best(model, prefix):
    rs = []
    for rnd in (1, 2):
        for k in (1, 2):
            doc = json.load(open(os.path.join(d, "%s-%d" % (model, rnd), "%s%d.json" % (prefix, k))))
            rs.append((doc, doc["results"][0]))
    return min(rs, key=lambda x: x[1]["wall_ms"]["median"])
rows = {}
for m in ("ffhq256", "cips256"):
    for side, prefix in (("engine", "engine"), ("torch", "torch")):
        rows[m, side] = best(m, prefix)
doc, r = rows["ffhq256", "engine"]
print("on %s (%d cores), 256x256, batch %d" % (doc["host"]["cpu"], doc["host"]["cores"], r["batch"]))
print("%-34s %12s %12s %14s" % ("", "ms/image", "img/s", "model GFLOP/img"))
for m, fam in (("ffhq256", "INR-GAN FFHQ-256"), ("cips256", "CIPSskip 256")):
    for side, label in (("engine", "inrgan CPU backend"), ("torch", "PyTorch eager")):
        r = rows[m, side][1]
        print("%-34s %12.1f %12.3f %14.1f" % (fam + ", " + label, r["ms_per_image"], r["images_per_s"],
                                              r["model_gflop_per_image"]))
for side in ("engine", "torch"):
    a, b = rows["ffhq256", side][1], rows["cips256", side][1]
    print("%s: CIPS / INR-GAN time per image %.1fx (model FLOPs %.1fx)" % (
        side, b["ms_per_image"] / a["ms_per_image"], b["model_gflop_per_image"] / a["model_gflop_per_image"]))
PY
