/* urlparse.h - the tile server's one parser of request targets (docs/serve.md, "Tile addressing").
 *
 * Input: the raw request target exactly as the client sent it (path and query, not decoded).
 * Output: which resource it names, and for tiles every parameter checked in full range.
 * The grammar is deliberately narrow: no percent-escapes, no empty or repeated query keys, no
 * unknown keys, numbers through src/ig_parse.h. Pure function of its input: no allocation, no
 * global state (tests/fuzz/fuzz_url.c). */
#ifndef IG_URLPARSE_H
#define IG_URLPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inrgan.h"

#define IG_URL_MAX 2048        /* longer targets: 414 */
#define IG_URL_MAX_ZOOM 40     /* hard bound of --max-zoom */
#define IG_TILE_SIDE 256       /* pixels of a tile */
#define IG_TILE_EXTENT 2.0     /* zoom 0, tile (0,0) = [-2,2]^2 */

typedef enum ig_url_kind {
    IG_URL_PAGE = 0,   /* "/" or "/index.html" */
    IG_URL_HEALTH,     /* /healthz */
    IG_URL_METRICS,    /* /metrics */
    IG_URL_STATIC,     /* /leaflet/<file of the whitelist>: static_index */
    IG_URL_TILE        /* /tiles/{seed}/{z}/{x}/{y}.png */
} ig_url_kind;

typedef struct ig_tile_req {
    uint32_t seed;
    int z;
    int64_t x, y;
    bool have_psi;
    double psi;
    ig_noise noise;          /* noise=zero|seeded|N; IG_NOISE_MODEL when absent */
    bool have_noise_seed;    /* noise=N */
    uint32_t noise_seed;
    bool have_b;             /* b=SEED with t=T: the point T between seed and b */
    uint32_t b;
    double t;
    ig_space space;          /* space=z|w|params (default z) */
} ig_tile_req;

typedef struct ig_url {
    ig_url_kind kind;
    int static_index;
    ig_tile_req tile;
} ig_url;

typedef struct ig_url_limits {
    int max_zoom;            /* 0..IG_URL_MAX_ZOOM */
} ig_url_limits;

/* The static files served under /leaflet/ (NULL-terminated). */
extern const char *const ig_url_static_files[];

/* Parses target[0..len). Returns the HTTP status: 200 when *out is filled, else 400 (malformed),
 * 404 (no such resource, tile outside the limits) or 414 (too long); `why` gets one line. */
int ig_url_parse(const char *target, size_t len, const ig_url_limits *lim, ig_url *out, char *why,
                 size_t why_len);

/* Tiles at zoom z: x and y in [-2^z, 2^(z+1)) (the plane [-6,6]^2); the tile's rectangle of
 * the coordinate plane (y up; tile row y counts downwards from the top). */
ig_view ig_tile_view(int z, int64_t x, int64_t y);

/* A canonical text of every parameter a tile's pixels depend on (cache key, ETag input). */
int ig_tile_key(const ig_tile_req *t, char *buf, size_t len);

#endif
