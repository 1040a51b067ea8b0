/* fuzz_url.c - libFuzzer target for the tile server's request-target parser
 * (src/serve/urlparse.c, docs/serve.md). The input is the raw target (not NUL-terminated);
 * its first byte also picks --max-zoom. Checks the parser's promises on every input: a status
 * of 200/400/404/414 and a reason, and for a tile: numbers in range, a finite rectangle of the
 * documented size and a canonical key that fits its buffer. */
#include "serve/urlparse.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ig_url_limits lim = {size ? data[0] % (IG_URL_MAX_ZOOM + 2) : 0};
    ig_url u;
    char why[160];
    int st = ig_url_parse((const char *)data, size, &lim, &u, why, sizeof why);
    if (st != 200 && st != 400 && st != 404 && st != 414) abort();
    if (st != 200) {
        if (!why[0] || !memchr(why, 0, sizeof why)) abort();
        return 0;
    }
    if (u.kind == IG_URL_STATIC && (u.static_index < 0 || !ig_url_static_files[u.static_index])) abort();
    if (u.kind != IG_URL_TILE) return 0;
    const ig_tile_req *t = &u.tile;
    int64_t n = (int64_t)1 << t->z;
    if (t->z < 0 || t->z > lim.max_zoom || t->z > IG_URL_MAX_ZOOM) abort();
    if (t->x < -n || t->x >= 2 * n || t->y < -n || t->y >= 2 * n) abort();
    if (t->have_psi && !(fabs(t->psi) <= 100)) abort();
    if (t->have_b && !(t->t >= 0 && t->t <= 1)) abort();
    ig_view v = ig_tile_view(t->z, t->x, t->y);
    double side = 4.0 / (double)n;
    if (!(v.x1 - v.x0 == side && v.y1 - v.y0 == side) || fabs(v.x0) > 6 || fabs(v.y1) > 6) abort();
    char key[192];
    int k = ig_tile_key(t, key, sizeof key);
    if (k <= 0 || (size_t)k >= sizeof key) abort();
    return 0;
}
