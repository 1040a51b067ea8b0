#!/bin/sh
# The main job on the embedded default: installs what is missing, builds, and renders demo
# images of the model in assets/ with the default backend (a GPU through Vulkan when one is
# present, else the C CPU backend). Extra arguments go to `inrgan render`.
set -eu
cd "$(dirname "$0")/.."
echo "== demo: installing the Debian packages that are missing (scripts/setup.sh)"
scripts/setup.sh
echo "== demo: building in build/ (cmake, Release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
echo "== demo: rendering seeds 0-15 of the demo model to out/demo/"
build/inrgan render --seeds 0-15 -o out/demo "$@"
echo "demo images: $(pwd)/out/demo/"
