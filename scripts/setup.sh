#!/bin/sh
# Installs what inrgan needs on Debian 12, only what is missing. Idempotent.
# Usage: scripts/setup.sh [--runtime|--test]   (default: everything the tests need)
set -eu
PKGS="build-essential cmake pkg-config libvulkan-dev libvulkan-volk-dev mesa-vulkan-drivers
glslang-tools spirv-tools vulkan-tools vulkan-validationlayers libglfw3-dev libstb-dev
libcjson-dev libpng-dev zlib1g-dev python3 python3-numpy python3-torch libopenblas0-pthread
xvfb xauth python3-cairosvg python3-pil python3-jsonschema clang-14 libclang-rt-14-dev"
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "setup: installing$missing" >&2
$SUDO apt-get -o DPkg::Lock::Timeout=900 update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -qq \
    --no-install-recommends $missing >/dev/null
