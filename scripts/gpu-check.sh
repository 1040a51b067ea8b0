#!/bin/sh
# scripts/gpu-check.sh - the Vulkan backend on the lent NVIDIA machine, as one prepared command.
#
# 1. On the development machine (network, Debian 12), once per change:
#        scripts/gpu-check.sh prepare
#    builds a release tree in build/gpu-check/ and fills .gl/ (git-ignored, see environment.md 12.2):
#    the Vulkan loader + GL vendor .debs (unpacked into / there), libcjson1 and
#    vulkan-validationlayers .debs (unpacked into a private folder there), and .gl/bin/ with the
#    test and benchmark binaries. .gl stays well under the 64 MiB carry limit.
# 2. Through the device tool, with carry [".gl"] and timeout_s about 540:
#        scripts/gpu-check.sh run
#    (a) binaries load (ldd, no "not found"); (b) device list; (c) the Vulkan test programs on
#    the NVIDIA device (INRGAN_TEST_GPU=NVIDIA, validation layer on when its .deb was carried):
#    devices, alloc-failure injection, capped ranges, parity vs the CPU backend on tiny models
#    for fp32, fp32-fused, fp16 and the cooperative-matrix path (INRGAN_TEST_REQUIRE_COOPMAT=1:
#    coopmat must really be on), every plan kind (tiles, strides, views, IN statistics,
#    interpolation); (d) throughput on the FFHQ-256 architecture (random weights), batch 32,
#    for fp32, gemm (the tiled-GEMM level kernel, test_vk_gemm before), fp16 and coopmat, each checked against the CPU backend on one image; (e) CIPS:
#    test_vk_cips (parity vs the CPU) and `inrgan bench` of cips256 next to ffhq256.
#    Results go to stdout and to $OUT/gpu-check.log when $OUT is set.
#
# Not yet run on a GPU: no machine was lent to the session that wrote it (checked by reading).
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)

if [ "${1:-}" = prepare ]; then
    set -e
    cmake -S . -B build/gpu-check -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build/gpu-check -j"$(nproc)" --target test_vk_devices test_vk_alloc test_vk_limits \
        test_vk_parity test_vk_views test_vk_cips test_vk_gemm bench_vk inrgan
    grep -qx '/.gl/' .git/info/exclude 2>/dev/null || echo /.gl/ >>.git/info/exclude
    lists=$HOME/.cache/apt-lists-amd64
    mkdir -p .gl/bin "$lists/partial"
    o="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=$lists"
    apt-get $o update >/dev/null
    (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 \
        libgles2 >/dev/null)
    mkdir -p .gl/extra
    (cd .gl/extra && apt-get $o download libcjson1 libpng16-16 vulkan-validationlayers >/dev/null)
    for b in test_vk_devices test_vk_alloc test_vk_limits test_vk_parity test_vk_views test_vk_cips \
             test_vk_gemm bench_vk inrgan; do
        cp build/gpu-check/$b .gl/bin/
        strip .gl/bin/$b
    done
    mkdir -p .gl/data
    cp tests/data/golden_tiny.safetensors tests/data/tiny_bil.safetensors tests/data/tiny_cips.safetensors \
        .gl/data/ 2>/dev/null || true
    du -sh .gl
    echo "prepared: now run 'scripts/gpu-check.sh run' on the device with carry [\".gl\"]"
    exit 0
fi

if [ "${1:-}" != run ]; then
    echo "usage: scripts/gpu-check.sh prepare | run" >&2
    exit 2
fi

LOG=${OUT:+$OUT/gpu-check.log}
log() { echo "$*"; [ -n "$LOG" ] && echo "$*" >>"$LOG"; return 0; }
step() { # name command...: runs, logs its output and its status
    name=$1; shift
    log "== $name: $*"
    out=$("$@" 2>&1); rc=$?
    log "$out"
    log "== $name: exit $rc"
    [ $rc -eq 0 ] || FAILED="$FAILED $name"
}
FAILED=""

# the loader from the carried .debs (environment.md 12.2); other packages into a private folder
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
DEPS=/tmp/inrgan-gpu-deps
rm -rf "$DEPS" && mkdir -p "$DEPS"
for f in .gl/extra/*.deb; do [ -f "$f" ] && dpkg -x "$f" "$DEPS"; done
export LD_LIBRARY_PATH="$DEPS/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export VK_ICD_FILENAMES=$VK_DRIVER_FILES
if [ -f "$DEPS/usr/share/vulkan/explicit_layer.d/VkLayer_khronos_validation.json" ]; then
    export VK_LAYER_PATH="$DEPS/usr/share/vulkan/explicit_layer.d"
else
    export INRGAN_TEST_NO_VALIDATION=1
    log "note: no validation layer carried; tests run without it"
fi
export INRGAN_TEST_GPU=${INRGAN_TEST_GPU:-NVIDIA}
export INRGAN_TEST_TMP=/tmp/inrgan-gpu-test
export INRGAN_TEST_DATA="$ROOT/.gl/data"
export XDG_CACHE_HOME=/tmp/inrgan-gpu-cache
mkdir -p "$INRGAN_TEST_TMP" "$XDG_CACHE_HOME"
BIN="$ROOT/.gl/bin"

log "== machine: $(uname -a)"
log "$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1)"
# (a) the binaries load
for b in "$BIN"/*; do
    missing=$(ldd "$b" 2>&1 | grep "not found")
    if [ -n "$missing" ]; then log "ldd $b: $missing"; FAILED="$FAILED ldd"; fi
done
log "ldd: checked $(ls "$BIN" | wc -l) binaries"

# (b), (c): correctness
step devices timeout 120 "$BIN/test_vk_devices"
step alloc timeout 180 "$BIN/test_vk_alloc"
step limits timeout 120 "$BIN/test_vk_limits"
export INRGAN_TEST_REQUIRE_COOPMAT=1 # the coopmat path must really run on this GPU
step parity timeout 180 "$BIN/test_vk_parity"
unset INRGAN_TEST_REQUIRE_COOPMAT
step views timeout 180 "$BIN/test_vk_views"
step cips timeout 180 "$BIN/test_vk_cips"
step gemm timeout 180 "$BIN/test_vk_gemm"

# (d): throughput, FFHQ-256 architecture, random weights (29.7 GFLOP per image)
step bench-ffhq timeout 300 "$BIN/bench_vk" --config ffhq --batch 32 --iters 5 \
    --paths fp32,gemm,fp16,coopmat --check --require-coopmat
step bench-ffhq-bil timeout 240 "$BIN/bench_vk" --config ffhq-bil --batch 16 --iters 3 \
    --paths fp16,coopmat --check

# (e): the two families side by side (docs/benchmarks.md "INR-GAN vs CIPS"), 256², batch 8
step bench-families sh -c "'$BIN/inrgan' bench --config ffhq256 --backend vulkan --batch 8 --reps 3 && \
    '$BIN/inrgan' bench --config cips256 --backend vulkan --batch 8 --reps 3 && \
    '$BIN/inrgan' bench --config cips256-res --backend vulkan --batch 8 --reps 3"
# (f): one large image: FFHQ-256 architecture at 1024², per-pixel and gemm level kernels
step bench-1024 sh -c "'$BIN/inrgan' bench --config ffhq256 --backend vulkan --sizes 1024 --batch 1 --reps 3 && \
    INRGAN_VK_KERNEL=gemm '$BIN/inrgan' bench --config ffhq256 --backend vulkan --sizes 1024 --batch 1 --reps 3"

if [ -n "$FAILED" ]; then
    log "gpu-check: FAILED:$FAILED"
    exit 1
fi
log "gpu-check: all passed"
