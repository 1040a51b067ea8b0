/* test_serve_units.c - the tile server's parts without HTTP (docs/serve.md): the LRU cache keeps
 * its byte bound and evicts the least recently used tile; the URL parser's tile rectangles,
 * canonical keys and statuses for a table of targets. */
#include "serve/cache.h"
#include "serve/urlparse.h"

#include <stdio.h>
#include <string.h>

static int fails = 0;
#define CHECK(c, ...)                                \
    do {                                             \
        if (!(c)) {                                  \
            fails++;                                 \
            printf("FAIL %s:%d: ", __FILE__, __LINE__); \
            printf(__VA_ARGS__);                     \
            printf("\n");                            \
        }                                            \
    } while (0)

static ig_blob *blob(size_t n, int fill) {
    ig_blob *b = ig_blob_new(n);
    memset(b->data, fill, n);
    return b;
}

static void test_cache(void) {
    size_t per = 1000 + sizeof(ig_blob) + 64 + 8; /* a 1000-byte tile and its bookkeeping, about */
    ig_cache *c = ig_cache_new(10 * per);
    char key[32];
    for (int i = 0; i < 8; i++) {
        snprintf(key, sizeof key, "k%d", i);
        ig_blob *b = blob(1000, i);
        ig_cache_put(c, key, b);
        ig_blob_unref(b);
    }
    size_t bytes, n;
    uint64_t ev;
    ig_cache_stats(c, &bytes, &n, &ev);
    CHECK(n == 8 && ev == 0 && bytes <= 10 * per, "8 tiles fit: %zu entries, %zu bytes", n, bytes);
    ig_blob *g = ig_cache_get(c, "k0"); /* k0 becomes the most recent */
    CHECK(g && g->size == 1000 && g->data[999] == 0, "k0 is there");
    ig_blob_unref(g);
    for (int i = 8; i < 20; i++) {
        snprintf(key, sizeof key, "k%d", i);
        ig_blob *b = blob(1000, i);
        ig_cache_put(c, key, b);
        ig_blob_unref(b);
        ig_cache_stats(c, &bytes, &n, &ev);
        CHECK(bytes <= 10 * per, "bound kept after %d puts: %zu > %zu", i + 1, bytes, 10 * per);
        g = ig_cache_get(c, "k0"); /* kept recent: never evicted */
        CHECK(g != NULL, "the recently used tile survives put %d", i);
        ig_blob_unref(g);
    }
    CHECK(ev >= 10, "evictions counted (%llu)", (unsigned long long)ev);
    g = ig_cache_get(c, "k1");
    CHECK(g == NULL, "the least recently used tile was evicted");
    ig_blob_unref(g);
    g = ig_cache_get(c, "k19");
    CHECK(g && g->data[0] == 19, "the newest tile is there");
    /* a reference outlives eviction */
    ig_cache *small = ig_cache_new(per + 100);
    ig_blob *b = blob(1000, 7);
    ig_cache_put(small, "a", b);
    ig_blob_unref(b);
    ig_blob *held = ig_cache_get(small, "a");
    b = blob(1000, 8);
    ig_cache_put(small, "b", b); /* evicts "a" */
    ig_blob_unref(b);
    CHECK(held && held->data[0] == 7 && !ig_cache_get(small, "a"), "a held tile stays valid after its eviction");
    ig_blob_unref(held);
    b = blob(5000, 1);
    ig_cache_put(small, "huge", b); /* larger than the whole bound: not stored */
    ig_blob_unref(b);
    CHECK(!ig_cache_get(small, "huge"), "a tile over the whole bound is not stored");
    ig_blob_unref(g);
    ig_cache_free(small);
    ig_cache_free(c);
}

static void test_urls(void) {
    static const struct { const char *target; int status; const char *key; double x0, y0, x1, y1; } t[] = {
        {"/tiles/3/0/0/0.png", 200, "tile seed=3 z=0 x=0 y=0 psi=model noise=model", -2, -2, 2, 2},
        {"/tiles/0/1/-1/0.png", 200, "tile seed=0 z=1 x=-1 y=0 psi=model noise=model", -4, 0, -2, 2},
        {"/tiles/7/3/5/2.png?psi=0.7", 200, "tile seed=7 z=3 x=5 y=2 psi=0.69999999999999996 noise=model", 0.5, 0.5, 1, 1},
        {"/tiles/1/2/1/1.png?t=0.25&b=9", 200, "tile seed=1 z=2 x=1 y=1 psi=model noise=model b=9 t=0.25 space=z", -1, 0, 0, 1},
        {"/tiles/1/2/1/1.png?noise=5&space=w&b=2&t=1", 200, "tile seed=1 z=2 x=1 y=1 psi=model noise=5 b=2 t=1 space=w", -1, 0, 0, 1},
        {"/tiles/1/24/33554431/-16777216.png", 200, "tile seed=1 z=24 x=33554431 y=-16777216 psi=model noise=model",
         -2 + 33554431 * (4.0 / 16777216), 2 + 4 - 4.0 / 16777216, -2 + 33554432 * (4.0 / 16777216), 6},
        {"/tiles/1/25/0/0.png", 404, NULL, 0, 0, 0, 0}, {"/tiles/1/24/33554432/0.png", 404, NULL, 0, 0, 0, 0}, {"/tiles/1/2/0/0.png?space=w", 400, NULL, 0, 0, 0, 0},
        {"/tiles/01/2/0/0.png", 400, NULL, 0, 0, 0, 0}, {"/tiles/1/2/0/0.png?psi=-0", 200, NULL, 0, 0, 0, 0}, {"/healthz", 200, NULL, 0, 0, 0, 0}, {"/healthz/", 404, NULL, 0, 0, 0, 0},
        {"", 400, NULL, 0, 0, 0, 0}, {"x", 400, NULL, 0, 0, 0, 0}, {"/tiles/", 404, NULL, 0, 0, 0, 0}, {"/tiles/1/2/0/0.png?psi=1e2", 200, NULL, 0, 0, 0, 0}, {"/tiles/1/2/0/0.png?psi=1e3", 400, NULL, 0, 0, 0, 0},
    };
    ig_url_limits lim = {24};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        ig_url u;
        char why[160], key[192];
        int st = ig_url_parse(t[i].target, strlen(t[i].target), &lim, &u, why, sizeof why);
        CHECK(st == t[i].status, "%s -> %d (%s), want %d", t[i].target, st, why, t[i].status);
        if (st != 200 || !t[i].key) continue;
        ig_tile_key(&u.tile, key, sizeof key);
        CHECK(!strcmp(key, t[i].key), "%s: key '%s', want '%s'", t[i].target, key, t[i].key);
        ig_view v = ig_tile_view(u.tile.z, u.tile.x, u.tile.y);
        CHECK(v.x0 == t[i].x0 && v.y0 == t[i].y0 && v.x1 == t[i].x1 && v.y1 == t[i].y1,
              "%s: view %.17g,%.17g,%.17g,%.17g", t[i].target, v.x0, v.y0, v.x1, v.y1);
    }
    char long_target[IG_URL_MAX + 2];
    memset(long_target, 'a', sizeof long_target);
    long_target[0] = '/';
    ig_url u;
    CHECK(ig_url_parse(long_target, sizeof long_target, &lim, &u, NULL, 0) == 414, "over-long target -> 414");
}

int main(void) {
    test_cache();
    test_urls();
    printf("%s (%d failure(s))\n", fails ? "FAIL" : "ok", fails);
    return fails ? 1 : 0;
}
