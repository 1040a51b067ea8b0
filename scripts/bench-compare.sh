#!/bin/sh
# The engine against PyTorch on this machine, in one go, and the ratio table.
#   scripts/bench-compare.sh [CONFIG_OR_MODEL] [BATCH] [REPS]
# CONFIG_OR_MODEL: a built-in config name (default ffhq256) or a model file path.
# Both sides use all cores (torch threads = cores, OpenBLAS). The two runs alternate
# (engine, torch, engine, torch) and the best median of each is kept, so a busy machine
# affects both alike. Progress: a "== ..." line per step, the build output, each side's table
# rows as they are measured (and the engine's per-render lines for rows over a second).
set -eu
cd "$(dirname "$0")/.."
what=${1:-ffhq256}; batch=${2:-4}; reps=${3:-3}
out=${BENCH_OUT:-build/bench}; mkdir -p "$out"; out=$(realpath "$out")
bin=${BUILD:-build}
echo "== bench-compare: building the engine in $bin/ (cmake, Release)"
cmake -S . -B "$bin" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$bin" -j"$(nproc)" --target inrgan
if [ -f "$what" ]; then src="-m $(realpath "$what")"; else src="--config $what"; fi
for round in 1 2; do
    echo "== bench-compare: round $round of 2, the engine ($src, batch $batch, $reps reps) -> $out/engine$round.json"
    "$bin"/inrgan bench $src --backend cpu --batch "$batch" --reps "$reps" --json "$out/engine$round.json"
    echo "== bench-compare: round $round of 2, PyTorch ($src, batch $batch, $reps reps) -> $out/torch$round.json"
    (cd python && /usr/bin/python3 -m inrgan.bench_torch $src --batch "$batch" --reps "$reps" --json "$out/torch$round.json")
done
echo "== bench-compare: the best median of each side"
/usr/bin/python3 - "$out" <<'PY'
import json, sys
d = sys.argv[1]
def best(prefix):
    docs = [json.load(open("%s/%s%d.json" % (d, prefix, r))) for r in (1, 2)]
    return docs[0], min((doc["results"][0] for doc in docs), key=lambda r: r["wall_ms"]["median"])
(e_doc, e), (t_doc, t) = best("engine"), best("torch")
print("model %s at %dx%d, batch %d, on %s (%d cores)" % (e_doc["model"]["name"], e["size"], e["size"], e["batch"],
      e_doc["host"]["cpu"], e_doc["host"]["cores"]))
print("%-28s %10s %10s %12s" % ("", "img/s", "ms/img", "model GF/s"))
for label, r in (("inrgan CPU backend (fp32)", e), ("PyTorch eager (fp32)", t)):
    print("%-28s %10.3f %10.1f %12.1f" % (label, r["images_per_s"], r["ms_per_image"], r["model_gflops"]))
print("ratio engine / torch: %.2fx" % (e["images_per_s"] / t["images_per_s"]))
PY
