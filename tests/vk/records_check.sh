#!/bin/sh
# tests/vk/records_check.sh CC SOURCE_DIR BUILD_DIR - the dispatch record layouts
# (shaders/records/*.h) cannot drift:
#  1. control: every record header, and the planners that include them (src/vk/vk_disp.c,
#     vk_inrgan.c, vk_cips.c), compile as they are;
#  2. every field of every record moved by one word in its header only (a copy of
#     shaders/records/ with that one offset changed) makes the C compilation fail on a static
#     assertion: for each field a small file including the header, and for the first field of
#     each header the real planner sources (-fsyntax-only). The shaders read the same list, so
#     a build with such a change fails before any render.
#  3. no positional record index is left: no m[<number>] write in src/vk/*.c, no
#     meta[<var> + <number>] read in shaders/*.comp.
set -u
cc=$1 src=$2 build=$3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ig-records.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
fail=0
flags="-std=c11 -fsyntax-only -DVK_NO_PROTOTYPES -DINRGAN_HAVE_VULKAN=1 -D_POSIX_C_SOURCE=200809L"
# the planner sources including each header
users() {
  case $1 in
    fc.h|lerp.h) echo vk_disp.c ;;
    wgen.h|level.h|norm.h) echo vk_inrgan.c ;;
    cips_wgen.h|cips_input.h) echo vk_cips.c ;;
    gemm.h|rgb.h) echo "vk_inrgan_gemm.c vk_cips.c" ;;
    tile.h) echo vk_inrgan_tile.c ;;
  esac
}
# compile: $1 = records dir to put first, $2 = header name, $3 = "all" (also the planners)
compile() {
  rd=$1 h=$2
  printf '#include "records/%s"\nint ig_records_check;\n' "$h" > "$tmp/tu.c"
  $cc $flags -I"$rd" -I"$src/shaders" "$tmp/tu.c" > "$tmp/log" 2>&1 || return 1
  [ "$3" = all ] || return 0
  for u in $(users "$h"); do
    $cc $flags -I"$rd" -I"$src/src" -I"$src/include/inrgan" -I"$src/src/vk" -I"$build/spv" -I"$src/shaders" \
      "$src/src/vk/$u" > "$tmp/log" 2>&1 || return 1
  done
  return 0
}
mkdir -p "$tmp/ok/records"
cp "$src"/shaders/records/*.h "$tmp/ok/records/"
headers=$(cd "$src/shaders/records" && ls *.h | grep -v '^rec\.h$')
[ -n "$headers" ] || { echo "FAIL: no record headers"; exit 1; }
for h in $headers; do
  if ! compile "$tmp/ok" "$h" all; then
    echo "FAIL: records/$h (or a planner including it) does not compile as it is:"
    cat "$tmp/log"
    fail=1
  fi
done
[ "$fail" = 0 ] || exit 1

fields=0 caught=0
for h in $headers; do
  n=$(grep -o 'F(P, [a-z0-9_]*, [0-9]*)' "$src/shaders/records/$h" | wc -l)
  i=1
  while [ "$i" -le "$n" ]; do
    rm -rf "$tmp/bad" && mkdir -p "$tmp/bad/records" && cp "$src"/shaders/records/*.h "$tmp/bad/records/"
    # field i of this header moved one word on, nothing else changed
    awk -v want="$i" '{
      out = ""; line = $0
      while (match(line, /F\(P, [a-z0-9_]+, [0-9]+\)/)) {
        k++; f = substr(line, RSTART, RLENGTH)
        if (k == want) { split(f, a, ", "); sub(/\)$/, "", a[3]); f = a[1] ", " a[2] ", " (a[3] + 1) ")" }
        out = out substr(line, 1, RSTART - 1) f; line = substr(line, RSTART + RLENGTH)
      }
      print out line }' "$src/shaders/records/$h" > "$tmp/bad/records/$h"
    if cmp -s "$src/shaders/records/$h" "$tmp/bad/records/$h"; then
      echo "FAIL: could not move field $i of records/$h"; fail=1
    fi
    what=tu
    [ "$i" = 1 ] && what=all
    fields=$((fields + 1))
    if compile "$tmp/bad" "$h" "$what"; then
      echo "FAIL: records/$h with field $i moved by one word still compiles ($what):"
      diff "$src/shaders/records/$h" "$tmp/bad/records/$h"
      fail=1
    elif grep -q 'static assert' "$tmp/log"; then
      caught=$((caught + 1))
    else
      echo "FAIL: records/$h field $i moved: the compilation failed, but not on a static assertion:"
      cat "$tmp/log"
      fail=1
    fi
    i=$((i + 1))
  done
done
echo "records: $fields fields moved one at a time, $caught caught by static assertions"

if grep -nE '\bm\[[0-9]+' "$src"/src/vk/*.c; then
  echo "FAIL: positional record writes in src/vk (use the IGR_* names of shaders/records/)"
  fail=1
fi
if grep -nE 'meta\[[a-z_]+ *\+ *[0-9]' "$src"/shaders/*.comp; then
  echo "FAIL: positional record reads in shaders (use the IGR_* names of shaders/records/)"
  fail=1
fi
[ "$fail" = 0 ] && echo "records: ok"
exit $fail
