#!/bin/sh
# libFuzzer targets of tests/fuzz (docs/fuzzing.md).
#
#   scripts/fuzz.sh TARGET SECONDS [libFuzzer options...]
#       builds the fuzz configuration in build-fuzz (clang, ASan+UBSan) and fuzzes TARGET
#       (model, npy, parse, grammar, or all: each in turn) for SECONDS. New inputs go to
#       $IG_FUZZ_WORK/TARGET (default build-fuzz/fuzz-work/TARGET), never into the source tree;
#       crashes, leaks and slow inputs are written to $IG_FUZZ_WORK/TARGET-artifacts/.
#   scripts/fuzz.sh --ci [SECONDS]
#       what CI runs: builds build-fuzz and runs its ctest tests (each target SECONDS, default
#       20, two at a time on two cores), starting from the committed seed and regression corpus.
#   scripts/fuzz.sh --coverage TARGET [CORPUS_DIR...]
#       line coverage of the sources TARGET exercises when it replays its committed corpus
#       plus CORPUS_DIRs (e.g. a campaign's work directory): builds build-fuzzcov with clang's
#       source-based coverage and prints llvm-cov's report.
#   scripts/fuzz.sh --run BUILD_DIR TARGET SECONDS
#       one run of an already built target (the ctest tests call this).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cc=${IG_FUZZ_CC:-clang-14}
cxx=${IG_FUZZ_CXX:-clang++-14}

build() { # $1 = build dir, $2 = seconds per ctest run
    cmake -S "$root" -B "$1" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER="$cc" \
        -DCMAKE_CXX_COMPILER="$cxx" -DINRGAN_FUZZ=ON -DINRGAN_VULKAN=OFF \
        -DIG_FUZZ_SECONDS="$2" >/dev/null
    cmake --build "$1" -j"$(nproc)" --target fuzz_model fuzz_npy fuzz_parse fuzz_grammar fuzz_url >/dev/null
}

run() { # $1 = build dir, $2 = target, $3 = seconds, then extra libFuzzer options
    b=$1 t=$2 s=$3
    shift 3
    work=${IG_FUZZ_WORK:-$b/fuzz-work}
    mkdir -p "$work/$t" "$work/$t-artifacts"
    case $t in
        model) opts="-max_len=32768 -dict=$root/tests/fuzz/model.dict" ;;
        npy) opts="-max_len=4096 -dict=$root/tests/fuzz/npy.dict" ;;
        url) opts="-max_len=4096 -dict=$root/tests/fuzz/url.dict" ;;
        *) opts="-max_len=512" ;;
    esac
    seeds="$root/tests/fuzz/corpus/$t"
    [ -d "$root/tests/fuzz/regress/$t" ] && seeds="$seeds $root/tests/fuzz/regress/$t"
    # -timeout: an input taking 10 s is a finding (slow input), as is more than 2 GB of memory
    # shellcheck disable=SC2086
    ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}" \
    UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
        "$b/fuzz_$t" -max_total_time="$s" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/$t-artifacts/" $opts "$@" "$work/$t" $seeds
}

case ${1:-} in
    --ci)
        s=${2:-20}
        build "$root/build-fuzz" "$s"
        rm -rf "$root/build-fuzz/fuzz-work" # every CI run starts from the committed corpus
        cd "$root/build-fuzz" && ctest --output-on-failure -j"$(nproc)" -L fuzz ;;
    --run)
        shift
        run "$@" ;;
    --coverage)
        t=${2:?target}
        shift 2
        b=$root/build-fuzzcov
        cmake -S "$root" -B "$b" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER="$cc" \
            -DCMAKE_CXX_COMPILER="$cxx" -DINRGAN_FUZZ=ON -DINRGAN_VULKAN=OFF \
            -DCMAKE_C_FLAGS="-fprofile-instr-generate -fcoverage-mapping" \
            -DCMAKE_EXE_LINKER_FLAGS="-fprofile-instr-generate" >/dev/null
        cmake --build "$b" -j"$(nproc)" --target "fuzz_$t" >/dev/null
        rm -f "$b/$t.profraw"
        seeds="$root/tests/fuzz/corpus/$t"
        [ -d "$root/tests/fuzz/regress/$t" ] && seeds="$seeds $root/tests/fuzz/regress/$t"
        # shellcheck disable=SC2086
        LLVM_PROFILE_FILE="$b/$t.profraw" ASAN_OPTIONS=detect_leaks=0 \
            "$b/fuzz_$t" -runs=0 $seeds "$@" >/dev/null 2>&1
        llvm-profdata-14 merge -sparse "$b/$t.profraw" -o "$b/$t.profdata"
        llvm-cov-14 report "$b/fuzz_$t" -instr-profile="$b/$t.profdata" \
            -ignore-filename-regex='tests/fuzz|/usr/' ;;
    ''|-h|--help)
        sed -n '2,21p' "$0"; exit 2 ;;
    *)
        t=$1 s=${2:?seconds}
        shift 2
        build "$root/build-fuzz" 20
        if [ "$t" = all ]; then
            for x in model npy parse grammar; do run "$root/build-fuzz" "$x" "$s" "$@"; done
        else
            run "$root/build-fuzz" "$t" "$s" "$@"
        fi ;;
esac
