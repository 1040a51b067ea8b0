#!/bin/sh
# Installs what inrgan needs on Debian 12, only what is missing. Idempotent.
# Usage: scripts/setup.sh [--runtime|--test] [--web] [--slurm] [--no-toolchain]
#   (default: everything the tests need)
# Then scripts/toolchain.sh builds the newer shader compiler (Debian 13's glslang and
# spirv-tools, from source, into ~/.cache/inrgan; docs/building.md) unless --no-toolchain; when
# that fails (offline, nothing cached) setup goes on: the build then uses Debian 12's glslang
# and compiles out the shader variants that need the newer one.
set -eu
here=$(dirname "$0")
toolchain() {
    case " $* " in *" --no-toolchain "*) return 0 ;; esac
    "$here/toolchain.sh" || echo "setup: going on without the newer shader compiler" >&2
}
PKGS="build-essential cmake pkg-config libvulkan-dev libvulkan-volk-dev mesa-vulkan-drivers
glslang-tools spirv-tools vulkan-tools vulkan-validationlayers libglfw3-dev libstb-dev
libcjson-dev libpng-dev libtiff-dev zlib1g-dev python3 python3-numpy python3-torch libopenblas0-pthread
xvfb xauth python3-cairosvg python3-pil python3-jsonschema python3-venv python3-setuptools
python3-wheel libmicrohttpd-dev libjs-leaflet
clang-14 libclang-rt-14-dev"
# --web: what the tests of `inrgan serve` drive it with (docs/serve.md): headless Chromium (big:
# ~100 MB download, so only scripts/test.sh asks for it), nginx, wrk and the DevTools client
case " $* " in *" --web "*) PKGS="$PKGS chromium nginx wrk python3-websocket" ;; esac
# --slurm: a single-node Slurm for tests/test_slurm.py (docs/scale-out.md; ~15 MB)
case " $* " in *" --slurm "*) PKGS="$PKGS slurmctld slurmd slurm-client munge" ;; esac
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -z "$missing" ]; then
    toolchain "$@"
    exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "setup: installing$missing" >&2
$SUDO apt-get -o DPkg::Lock::Timeout=900 update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -qq \
    --no-install-recommends $missing >/dev/null
toolchain "$@"
