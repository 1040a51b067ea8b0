#!/bin/sh
# Builds the newer shader compiler into a private, cached prefix (docs/building.md).
#
# Debian 12's glslang 12 cannot compile GL_KHR_cooperative_matrix, GL_NV_cooperative_matrix2 or
# GL_NV_cooperative_vector, and its spirv-val rejects the KHR capability. Debian 13 ("trixie")
# has glslang 15 and spirv-tools 2025, but their binary packages need a newer glibc, so this
# script fetches Debian 13's *source* packages through a private apt configuration (the
# system's apt state is never touched), builds the unpatched upstream .orig tarballs with
# Debian 12's cmake and gcc, and installs four stripped programs:
#
#   $PREFIX/bin/glslangValidator  spirv-val  spirv-dis  spirv-as
#
# PREFIX = ${XDG_CACHE_HOME:-$HOME/.cache}/inrgan/toolchain-<versions>; the symlink
# .../inrgan/toolchain points at it (src/vk/vk.cmake looks there). Idempotent: when the stamp
# of the pinned versions is present it does nothing (well under a second).
#
# Usage: scripts/toolchain.sh [--print-prefix]
# Exit: 0 ready (or already built), 1 could not fetch or build (one line says why; the build
# then uses the system's glslang and compiles out the variants that need the newer one).
set -eu

# The pinned Debian 13 source versions (apt-cache showsrc in trixie). A newer trixie point
# release that drops one of these makes the fetch fail with a line saying so: update them here.
GLSLANG_V="15.1.0+1.4.309.0-1"
SPVTOOLS_V="2025.1~rc1-1"
SPVHEADERS_V="1.6.1+1.4.309.0-1"
RECIPE=1 # bump when the build recipe below changes (new flags, other programs)

KEY="glslang-${GLSLANG_V}_spirv-tools-${SPVTOOLS_V}_spirv-headers-${SPVHEADERS_V}_r${RECIPE}"
KEY=$(printf '%s' "$KEY" | tr '~+' '-.')
BASE="${XDG_CACHE_HOME:-$HOME/.cache}/inrgan"
PREFIX="$BASE/toolchain-$KEY"
LINK="$BASE/toolchain"
PROGS="glslangValidator spirv-val spirv-dis spirv-as"

if [ "${1:-}" = "--print-prefix" ]; then
    echo "$PREFIX"
    exit 0
fi

have_all() {
    [ -f "$PREFIX/stamp" ] && [ "$(cat "$PREFIX/stamp")" = "$KEY" ] || return 1
    for p in $PROGS; do [ -x "$PREFIX/bin/$p" ] || return 1; done
}
point_link() { # the stable name src/vk/vk.cmake looks at
    if [ "$(readlink "$LINK" 2>/dev/null || true)" != "toolchain-$KEY" ]; then
        ln -sfn "toolchain-$KEY" "$LINK.tmp.$$" && mv -T "$LINK.tmp.$$" "$LINK"
    fi
}
if have_all; then
    point_link
    exit 0
fi

say() { echo "toolchain: $*" >&2; }
fail() {
    echo "toolchain: error: $* (the build will use the system's glslang; variants that need the newer compiler are compiled out)" >&2
    exit 1
}
for tool in apt-get apt-cache cmake make cc c++ python3 strip tar sha256sum; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool not found (run scripts/setup.sh)"
done

mkdir -p "$BASE"
# one build at a time per cache (two setups at once: the second waits, then finds the stamp)
if command -v flock >/dev/null 2>&1; then
    exec 9>"$BASE/toolchain.lock"
    flock 9
    if have_all; then
        point_link
        exit 0
    fi
fi
WORK=$(mktemp -d "$BASE/toolchain-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
start=$(date +%s)

# --- fetch: a private apt configuration (own sources list, lists and cache) ---------------
mirror=""
for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    mirror=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' "$f")
    [ -n "$mirror" ] && break
done
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
    mirror=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):.*\/debian\/?$/) { print $i; exit } }' /etc/apt/sources.list)
fi
[ -n "$mirror" ] || mirror="http://deb.debian.org/debian"
mirror=${mirror%/}

APT="$WORK/apt"
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$APT/state" "$WORK/src"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
echo "deb-src [signed-by=$keyring] $mirror trixie main" >"$APT/sources.list"
set -- -o Dir::Etc::SourceList="$APT/sources.list" -o Dir::Etc::SourceParts=/dev/null \
    -o Dir::State="$APT/state" -o Dir::State::Lists="$APT/lists" \
    -o Dir::State::status=/var/lib/dpkg/status -o Dir::Cache="$APT/cache" \
    -o Debug::NoLocking=1 -o APT::Sandbox::User="$(id -un)" -o Acquire::Retries=2
say "fetching Debian 13 sources of glslang $GLSLANG_V, spirv-tools $SPVTOOLS_V, spirv-headers $SPVHEADERS_V from $mirror"
# (apt-get update exits 0 when a source cannot be read: the index file itself decides)
apt-get "$@" -qq --error-on=any update >"$WORK/apt-update.log" 2>&1 || true
if ! ls "$APT/lists/"*trixie*Sources* >/dev/null 2>&1; then
    why=$(grep -m1 -E '^(E|W|Err):' "$WORK/apt-update.log" || tail -n1 "$WORK/apt-update.log")
    fail "cannot read $mirror trixie (offline?): ${why:-no reason given}"
fi

# The .orig tarballs and their SHA-256 from the (signed) Sources index.
origs=""
for pv in "glslang=$GLSLANG_V" "spirv-tools=$SPVTOOLS_V" "spirv-headers=$SPVHEADERS_V"; do
    p=${pv%%=*}
    v=${pv#*=}
    apt-cache "$@" showsrc "$p" >"$WORK/$p.showsrc" 2>/dev/null || true
    line=$(awk -v v="$v" '
        /^Version:/ { cur = $2 } /^Checksums-Sha256:/ { inblk = (cur == v); next }
        /^[^ ]/ { inblk = 0 } inblk && $3 ~ /\.orig\.tar\./ { print $1, $3; exit }' "$WORK/$p.showsrc")
    [ -n "$line" ] || fail "trixie no longer has $p $v (update the pinned versions in scripts/toolchain.sh)"
    origs="$origs $line"
done
# Some .dsc files 404 on some mirrors, making apt exit non-zero although the tarballs came:
# the tarballs' own checksums decide.
(cd "$WORK/src" && apt-get "$@" -qq source --download-only \
    "glslang=$GLSLANG_V" "spirv-tools=$SPVTOOLS_V" "spirv-headers=$SPVHEADERS_V" \
    >"$WORK/apt-source.log" 2>&1) || true
set -- $origs
while [ $# -ge 2 ]; do
    sum=$1 file=$2
    shift 2
    [ -f "$WORK/src/$file" ] ||
        fail "could not download $file from $mirror: $(grep -m1 -E '^(E|W):' "$WORK/apt-source.log" || echo 'no reason given')"
    echo "$sum  $WORK/src/$file" | sha256sum -c --status - || fail "$file: SHA-256 does not match trixie's Sources index"
done

# --- build: the unpatched upstream tarballs (Debian's patches make glslang find Debian 12's
# SPIRV-Tools and switch the optimizer on, which then fails) ------------------------------
unpack() { # unpack <tarball-glob> <dir>
    mkdir -p "$WORK/$2"
    tar -xf "$(ls "$WORK"/src/$1)" -C "$WORK/$2" --strip-components=1
}
unpack 'glslang_*.orig.tar.*' glslang
unpack 'spirv-tools_*.orig.tar.*' spirv-tools
unpack 'spirv-headers_*.orig.tar.*' spirv-headers
jobs=$(nproc 2>/dev/null || echo 2)
build() { # build <name> <cmake args...>; the log is shown only on failure
    name=$1
    shift
    if ! nice cmake -S "$WORK/$name" -B "$WORK/$name/_b" -DCMAKE_BUILD_TYPE=Release "$@" \
        >"$WORK/$name.log" 2>&1; then
        tail -n 30 "$WORK/$name.log" >&2
        fail "configuring $name failed"
    fi
}
make_targets() { # make_targets <name> <targets...>
    name=$1
    shift
    if ! nice cmake --build "$WORK/$name/_b" -j"$jobs" --target "$@" >>"$WORK/$name.log" 2>&1; then
        tail -n 30 "$WORK/$name.log" >&2
        fail "building $name failed"
    fi
}
say "building glslang (glslang-standalone) on $jobs cores"
build glslang -DENABLE_OPT=OFF -DENABLE_HLSL=OFF -DENABLE_SPVREMAPPER=OFF -DGLSLANG_TESTS=OFF \
    -DBUILD_TESTING=OFF -DENABLE_GLSLANG_BINARIES=ON -DBUILD_SHARED_LIBS=OFF \
    -DGLSLANG_ENABLE_INSTALL=OFF
make_targets glslang glslang-standalone
say "building spirv-tools (spirv-val spirv-dis spirv-as)"
build spirv-tools -DSPIRV-Headers_SOURCE_DIR="$WORK/spirv-headers" -DSPIRV_SKIP_TESTS=ON \
    -DSPIRV_WERROR=OFF -DBUILD_SHARED_LIBS=OFF
make_targets spirv-tools spirv-val spirv-dis spirv-as

# --- install: stripped, then the stamp, then the link (a half-done prefix has no stamp) ---
rm -rf "$PREFIX"
mkdir -p "$PREFIX/bin"
install_prog() { # install_prog <built-file> <name>
    [ -f "$1" ] || fail "$1 was not built"
    cp "$1" "$PREFIX/bin/$2"
    strip "$PREFIX/bin/$2"
    "$PREFIX/bin/$2" --version >/dev/null 2>&1 || fail "the built $2 does not run"
}
install_prog "$WORK/glslang/_b/StandAlone/glslang" glslangValidator
for p in spirv-val spirv-dis spirv-as; do install_prog "$WORK/spirv-tools/_b/tools/$p" "$p"; done
echo "$KEY" >"$PREFIX/stamp"
point_link
say "ready in $(($(date +%s) - start)) s: $PREFIX ($("$PREFIX/bin/glslangValidator" --version | sed -n 's/^Glslang Version: [0-9]*://p'))"
