#!/bin/sh
# tests/vk/capture_traces.sh BUILD OUTDIR - the Vulkan dispatch lists, their record words and
# rendered bytes on lavapipe, to compare two versions of the backend (a refactoring must leave
# them byte-identical):
#   tests/vk/capture_traces.sh build-old /tmp/a; tests/vk/capture_traces.sh build /tmp/b
#   diff -r /tmp/a /tmp/b && echo identical
# Traces: every vk test program and the bench smoke run with INRGAN_VK_TRACE=1 and
# INRGAN_VK_TRACE_WORDS=1; the dispatch and record-word lines are kept (timings are not).
# Renders: `inrgan render --backend vulkan -g llvmpipe --npy` of the demo model and the test
# models (fp32, fp16, the gemm level kernel, CIPS, tiles, a view), PNG and float32 .npy bytes.
set -eu
build=$(cd "$1" && pwd)
out=$2
src=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out"
export VK_DRIVER_FILES=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json
export VK_ICD_FILENAMES=$VK_DRIVER_FILES LP_NUM_THREADS=2 INRGAN_PIPELINE_CACHE=0
export INRGAN_VK_TRACE=1 INRGAN_VK_TRACE_WORDS=1
keep() { grep -E '^inrgan vk: .*(dispatch|words) [0-9]+' || true; }
for t in devices alloc limits parity views tiles cips gemm hyper; do
  (cd "$build" && ./test_vk_$t 2>&1 >/dev/null | keep > "$out/test_vk_$t.trace") ||
    echo "test_vk_$t failed" >&2
done
(cd "$build" && ./bench_vk --config tiny --batch 2 --iters 1 \
  --paths fp32,fp32-fused,gemm,fp16,coopmat,coopmat-emulated --check 2>&1 >/dev/null | keep \
  > "$out/bench_vk.trace") || echo "bench_vk failed" >&2
r() { # name, then render arguments
  n=$1; shift
  "$build/inrgan" render --backend vulkan -g llvmpipe --npy --seeds 0-2 -o "$out/$n" "$@" \
    2>&1 >/dev/null | keep > "$out/$n.trace"
}
d=$src/tests/data
r demo -m "$src/assets/demo.safetensors" --size 64x64
r demo_fp16 -m "$src/assets/demo.safetensors" --size 64x64 --precision fp16
INRGAN_VK_KERNEL=gemm r demo_gemm -m "$src/assets/demo.safetensors" --size 64x64
r demo_tiles -m "$src/assets/demo.safetensors" --size 96x80 -t 32
r demo_view -m "$src/assets/demo.safetensors" --size 48x48 --view -0.5,-0.2,0.7,0.9
r golden -m "$d/golden_tiny.safetensors"
r bil -m "$d/tiny_bil.safetensors" --interp 0,1 --t 0.3 --space w
r cips -m "$d/tiny_cips.safetensors"
r cips_tiles -m "$d/tiny_cips.safetensors" --size 40x40 -t 16
r cips_fp16 -m "$d/tiny_cips.safetensors" --precision fp16
