#!/bin/sh
# The whole test suite, as CI runs it (.ci/run calls this and nothing else):
# installs what is missing, builds the release and the ASan+UBSan configurations, and runs
# every test in both.
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh --web --slurm
jobs=$(nproc)
export ASAN_OPTIONS="abort_on_error=0:detect_leaks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# lavapipe and the validation layer leak a little after unloading: pin them, suppress only them
export INRGAN_PIN_VULKAN_LIBS=1
export LSAN_OPTIONS="suppressions=$(pwd)/tests/lsan.supp"

echo "== release build =="
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build =="
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DINRGAN_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ctest --output-on-failure -j"$jobs" -LE no_sanitizer)

echo "== fuzz targets (clang + libFuzzer, ASan+UBSan; each 20 s from the committed corpus) =="
scripts/fuzz.sh --ci 20
echo "all tests passed"
