#!/bin/sh
# scripts/gpu-check.sh - the GPU check of issue 14 as one prepared device run of at most 8 minutes.
#
# 1. On the development machine (network, Debian 12), once per change:
#        scripts/gpu-check.sh prepare
#    builds a release tree (build/gpu-check, or $GPU_CHECK_BUILD) and fills .gl/ (ignored by its
#    own .gitignore; environment.md 12.2): the Vulkan loader + GL vendor .debs (unpacked into / there), the
#    libraries the binaries need and the validation layer as .debs (unpacked into a private
#    folder there), .gl/bin/ with the stripped binaries, .gl/data/ with the tiny test models.
#    .gl stays well under the 64 MiB carry limit (it prints its size).
# 2. Through the device tool, carry [".gl"], timeout_s about 560:
#        sh scripts/gpu-check.sh run
#    A global deadline ($BUDGET seconds, default 470 = 7 min 50 s, counted from the start of the
#    script) skips a step rather than overrun: each step has a duration it needs; a step that
#    does not fit in what is left is skipped (logged "SKIP"), a step that runs over its own limit
#    is killed (timeout). Most valuable first:
#      1 facts      nvidia-smi; `inrgan devices --json` -> devices.json
#      2 paths      inrgan bench, FFHQ-256 architecture (random weights), 256x256, batch 32 and
#                   128, --phases (per-phase device time), one file per level kernel, the
#                   expected fastest first: gemm-coop (fp16, KHR cooperative matrices), gemm
#                   (fp32), then after torch: fused, auto (measured choice among pixel, gemm,
#                   fused, with a fresh kernel cache; default submission split), gemm-f16,
#                   fused16, pixel, fp16 (per-pixel), coopmat (NV per-pixel) -> bench-<path>.json
#      3 torch      python -m inrgan.bench_torch --device cuda, fp32/TF32/fp16, batch 32 and 128
#                   -> torch.json (the side-by-side ratio with 2), right after the two gemm rows
#      4 sweep      `inrgan bench --gemm-sweep` (the gemm kernel's six layer GEMMs alone per tile
#                   set and precision, batch 32) -> gemm-sweep.json
#      5 parity     full-size FFHQ-256 (and -bil) of every path against the CPU backend (bench_vk
#                   --check: fp32 1e-4, fp16/coopmat 2e-2; --require-coopmat: the coopmat
#                   kernels (NV per-pixel, the gemm kernel's KHR variant) must really have run)
#      6 tests      the Vulkan test programs on the GPU (INRGAN_TEST_GPU=NVIDIA, validation on
#                   when its .deb was carried), 1024x1024 single-image time, CIPS next to INR-GAN
#    $OUT gets two files, rewritten after every step so that a run cut short still returns what
#    it measured: gpu-check.log (every step's command, output, exit status and time, appended as
#    it happens) and results.tar.gz (every JSON above). Unpack with `tar xzf results.tar.gz`.
#    Exit 1 when a step failed, 0 otherwise (skips are not failures; they are listed).
#
# Not yet run on a GPU: written and checked (sh -n, a prepare run, the run mode's steps on
# lavapipe with GPU_CHECK_LOCAL=1) on a machine without one.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BINS="inrgan bench_vk test_vk_devices test_vk_alloc test_vk_limits test_vk_parity test_vk_views \
test_vk_tiles test_vk_cips test_vk_gemm test_vk_fused test_vk_hyper test_vk_choice"

if [ "${1:-}" = prepare ]; then
    set -e
    B=${GPU_CHECK_BUILD:-build/gpu-check}
    # the newer shader compiler, so that the KHR cooperative-matrix variants are embedded
    sh scripts/toolchain.sh || echo "gpu-check: without the private toolchain the KHR variants are compiled out" >&2
    cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -UIG_GLSLANG -UIG_SPIRV_VAL | grep "inrgan:"
    # shellcheck disable=SC2086
    nice cmake --build "$B" -j"$(nproc)" --target $BINS
    lists=$HOME/.cache/apt-lists-amd64
    mkdir -p .gl/bin .gl/extra .gl/data "$lists/partial"
    printf '*\n' >.gl/.gitignore # .gl ignores itself: no git metadata touched, carried explicitly
    o="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=$lists"
    # shellcheck disable=SC2086
    apt-get $o update >/dev/null
    # the loader and the GL vendor libraries (environment.md 12.2), unpacked into / there
    # shellcheck disable=SC2086
    (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 \
        libgles2 >/dev/null)
    # what the binaries link beyond glibc (the check's ldd step names anything still missing),
    # and the validation layer: unpacked into a private folder there
    # shellcheck disable=SC2086
    (cd .gl/extra && apt-get $o download libcjson1 libpng16-16 libtiff6 libjbig0 libdeflate0 \
        liblerc4 libwebp7 libjpeg62-turbo libmicrohttpd12 vulkan-validationlayers >/dev/null)
    for b in $BINS; do
        cp "$B/$b" .gl/bin/
        strip .gl/bin/"$b"
    done
    cp tests/data/*.safetensors .gl/data/ 2>/dev/null || true
    du -sh .gl
    echo "prepared: now run 'sh scripts/gpu-check.sh run' on the device, carry [\".gl\"], timeout_s 560"
    exit 0
fi

if [ "${1:-}" != run ]; then
    echo "usage: scripts/gpu-check.sh prepare | run" >&2
    exit 2
fi

T0=$(date +%s)
BUDGET=${BUDGET:-470}
O=${OUT:-/tmp/inrgan-gpu-check}
mkdir -p "$O"
LOG=$O/gpu-check.log
# the JSON results live outside $OUT (it returns at most 8 files) and are packed into
# $OUT/results.tar.gz after every step (written beside, then renamed: never half a file)
R=${GPU_CHECK_RESULTS:-/tmp/inrgan-gpu-results}
rm -rf "$R" && mkdir -p "$R"
pack() {
    tar -czf "$O/.results.tar.gz" --exclude=mesa_shader_cache --exclude='pipelines-*' -C "$R" . 2>>"$LOG" &&
        mv -f "$O/.results.tar.gz" "$O/results.tar.gz"
}
FAILED="" SKIPPED=""
log() { echo "$*" | tee -a "$LOG"; }
left() { echo $((BUDGET - ($(date +%s) - T0))); }
# step NAME NEED LIMIT CMD...: runs CMD when NEED seconds are left, killed after LIMIT seconds
# (or what is left, if less); output appended to the log as it comes.
step() {
    n=$1 need=$2 lim=$3
    shift 3
    l=$(left)
    if [ "$l" -lt "$need" ]; then
        log "== SKIP $n (${l}s left, needs ${need}s)"
        SKIPPED="$SKIPPED $n"
        return 0
    fi
    [ "$lim" -gt "$l" ] && lim=$l
    log "== $n (limit ${lim}s, ${l}s left): $*"
    st=$(date +%s)
    timeout -k 5 "$lim" "$@" >>"$LOG" 2>&1
    rc=$?
    log "== $n: exit $rc in $(($(date +%s) - st))s$([ $rc -eq 124 ] && echo ' (timed out)')"
    [ $rc -eq 0 ] || FAILED="$FAILED $n"
    pack
}

if [ -z "${GPU_CHECK_LOCAL:-}" ]; then
    # the loader from the carried .debs (environment.md 12.2); other packages in a private folder
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    export VK_ICD_FILENAMES=$VK_DRIVER_FILES
    export INRGAN_TEST_GPU="${INRGAN_TEST_GPU:-NVIDIA}"
    GPU_SEL=${GPU_SEL:-0}
else
    # GPU_CHECK_LOCAL=1: the same steps on this machine's lavapipe (a rehearsal; tiny sizes)
    GPU_SEL=llvmpipe
fi
DEPS=/tmp/inrgan-gpu-deps
rm -rf "$DEPS" && mkdir -p "$DEPS"
for f in .gl/extra/*.deb; do [ -f "$f" ] && dpkg -x "$f" "$DEPS"; done
export LD_LIBRARY_PATH="$DEPS/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ -f "$DEPS/usr/share/vulkan/explicit_layer.d/VkLayer_khronos_validation.json" ]; then
    export VK_LAYER_PATH="$DEPS/usr/share/vulkan/explicit_layer.d"
    VALIDATION=1
else
    export INRGAN_TEST_NO_VALIDATION=1
    VALIDATION=0
fi
export INRGAN_TEST_TMP=/tmp/inrgan-gpu-test
export INRGAN_TEST_DATA="$ROOT/.gl/data"
export XDG_CACHE_HOME=/tmp/inrgan-gpu-cache
export PYTHONUNBUFFERED=1
mkdir -p "$INRGAN_TEST_TMP" "$XDG_CACHE_HOME"
BIN="$ROOT/.gl/bin"
# sizes: the issue's (FFHQ-256 at 256x256, batch 32 and 128); GPU_CHECK_LOCAL shrinks them
SIZE=${GPU_CHECK_SIZE:-256}
BATCHES=${GPU_CHECK_BATCHES:-32,128}
REPS=${GPU_CHECK_REPS:-3}
CONFIG=${GPU_CHECK_CONFIG:-ffhq256}

log "== gpu-check: budget ${BUDGET}s, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(uname -srm), validation layer: $VALIDATION"
log "$(nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv 2>&1)"
for b in "$BIN"/*; do
    missing=$(ldd "$b" 2>&1 | grep "not found")
    if [ -n "$missing" ]; then log "ldd $b: $missing"; FAILED="$FAILED ldd"; fi
done
log "ldd: checked $(ls "$BIN" | wc -l) binaries"

# 1 facts
step facts 15 30 sh -c "'$BIN/inrgan' devices && '$BIN/inrgan' devices --json '$R/devices.json'"

# 2 every Vulkan path, per-phase times (bench --phases: one extra profiled render per row)
bench() { # bench PATH VAR=VALUE [ARGS...]: inrgan bench of CONFIG into bench-PATH.json
    p=$1 e=$2
    shift 2
    # shellcheck disable=SC2086 # $e: one or more VAR=VALUE words
    step "bench-$p" 40 110 env $e "$BIN/inrgan" bench --config "$CONFIG" --backend vulkan -g "$GPU_SEL" \
        --sizes "$SIZE" --batch "$BATCHES" --reps "$REPS" --phases --json "$R/bench-$p.json" "$@"
}
# the gemm kernel: its KHR cooperative-matrix tile set (fp16 on the tensor cores), then fp32
bench gemm-coop "INRGAN_VK_KERNEL=gemm INRGAN_VK_GEMM_TILE=coop" --precision fp16
bench gemm INRGAN_VK_KERNEL=gemm

# 3 PyTorch on the same GPU (the python/ tree travels with the working tree; torch is there)
if [ -z "${GPU_CHECK_LOCAL:-}" ]; then
    step torch 60 120 sh -c "cd '$ROOT/python' && python3 -m inrgan.bench_torch --config ffhq256 \
        --device cuda --precision fp32,tf32,fp16 --batch $BATCHES --reps $REPS --json '$R/torch.json'"
fi

bench fused INRGAN_VK_KERNEL=fused
# the level kernel chosen by measurement (fresh kernel cache) and the default submission split
# (INRGAN_VK_SUBMIT_MS 100): level_kernel_source/_times_ms, submissions
bench auto "XDG_CACHE_HOME=$R/xdg"
bench gemm-f16 INRGAN_VK_KERNEL=gemm --precision fp16
bench fused16 INRGAN_VK_KERNEL=fused16
bench pixel INRGAN_VK_KERNEL=pixel
bench fp16 INRGAN_VK_KERNEL=pixel --precision fp16
bench coopmat INRGAN_VK_KERNEL=pixel --precision fp16 --coopmat

# 4 the gemm kernel's layer GEMMs alone, per tile set and precision
step gemm-sweep 40 90 "$BIN/inrgan" bench --gemm-sweep -g "$GPU_SEL" --batch "${BATCHES%%,*}" \
    --sizes "$SIZE" --reps "$REPS" --json "$R/gemm-sweep.json"

# 5 full-size parity of every path against the CPU backend (one image each)
REQ=--require-coopmat # on the GPU the coopmat path must be on and really run
[ -n "${GPU_CHECK_LOCAL:-}" ] && REQ=--check # lavapipe has no cooperative matrices (a repeat)
step parity-ffhq 60 150 "$BIN/bench_vk" --config "${GPU_CHECK_VKCONFIG:-ffhq}" ${GPU_CHECK_VKSIZE:+--size $GPU_CHECK_VKSIZE} \
    --batch 8 --iters 1 --paths fp32,fp32-fused,gemm,gemm-f16,gemm-coop,fused,fused16,fp16,coopmat --check "$REQ"
# (-bil at full size exceeds llvmpipe's loop limit in the statistics pass: under GPU_CHECK_LOCAL this
# step fails with IG_ERR_UNSUPPORTED; the tiny -bil models are checked by test_vk_gemm)
step parity-ffhq-bil 50 120 "$BIN/bench_vk" --config "${GPU_CHECK_VKCONFIG_BIL:-ffhq-bil}" \
    ${GPU_CHECK_VKSIZE:+--size $GPU_CHECK_VKSIZE} --batch 4 --iters 1 --paths fp32,gemm,gemm-f16,gemm-coop,fp16,coopmat --check
# CIPS (cips256 structure, random weights, seeded noise) at 128x128: fp32, fp16 storage, the coop tile set
step parity-cips 40 120 "$BIN/bench_vk" --config "${GPU_CHECK_CIPS:-cips256}" --size 128 --batch 4 --iters 1 \
    --paths fp32,gemm-f16,gemm-coop --check "$REQ"

# 6 the remaining GPU checks
[ -z "${GPU_CHECK_LOCAL:-}" ] && export INRGAN_TEST_REQUIRE_COOPMAT=1 # coopmat must really run
step test-parity 30 120 "$BIN/test_vk_parity"
unset INRGAN_TEST_REQUIRE_COOPMAT
step test-gemm 30 120 "$BIN/test_vk_gemm"
step test-fused 20 120 "$BIN/test_vk_fused"
step test-choice 15 60 "$BIN/test_vk_choice"
step test-cips 30 120 "$BIN/test_vk_cips"
step test-hyper 20 120 "$BIN/test_vk_hyper"
step test-devices 10 60 "$BIN/test_vk_devices"
step test-limits 20 90 "$BIN/test_vk_limits"
step test-views 20 90 "$BIN/test_vk_views"
step test-tiles 20 90 "$BIN/test_vk_tiles"
step test-alloc 30 120 "$BIN/test_vk_alloc"
step bench-1024 30 90 sh -c "'$BIN/inrgan' bench --config $CONFIG --backend vulkan -g $GPU_SEL \
    --sizes ${GPU_CHECK_BIG:-1024} --batch 1 --reps 3 --phases && INRGAN_VK_KERNEL=gemm '$BIN/inrgan' bench \
    --config $CONFIG --backend vulkan -g $GPU_SEL --sizes ${GPU_CHECK_BIG:-1024} --batch 1 --reps 3 --phases"
step bench-cips 30 90 "$BIN/inrgan" bench --config "${GPU_CHECK_CIPS:-cips256}" --backend vulkan -g "$GPU_SEL" \
    --sizes "$SIZE" --batch 8 --reps 3 --phases

log "== gpu-check: done in $(($(date +%s) - T0))s; failed:${FAILED:- none}; skipped:${SKIPPED:- none}"
[ -z "$FAILED" ]
