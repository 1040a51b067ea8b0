/* urlparse.c - request targets of `inrgan serve` (urlparse.h, docs/serve.md). */
#include "urlparse.h"
#include "ig_parse.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *const ig_url_static_files[] = {
    "leaflet.js", "leaflet.css", "images/layers.png", "images/layers-2x.png", "images/marker-icon.png",
    "images/marker-icon-2x.png", "images/marker-shadow.png", NULL};

static int url__fail(int status, char *why, size_t len, const char *fmt, ...) {
    if (why && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, len, fmt, ap);
        va_end(ap);
    }
    return status;
}

/* A path or query component as a NUL-terminated copy (components are short: longer ones are
 * refused before any number parser sees them). */
#define COMP_MAX 64
static bool url__copy(const char *p, size_t n, char out[COMP_MAX]) {
    if (n == 0 || n >= COMP_MAX) return false;
    memcpy(out, p, n);
    out[n] = 0;
    return true;
}

static bool url__int64(const char *p, size_t n, int64_t lo, int64_t hi, int64_t *out) {
    char buf[COMP_MAX];
    /* one spelling per number (HTTP caches key on the text): no leading zeros, no "-0" */
    size_t d = n > 0 && p[0] == '-';
    if (n > d + 1 && p[d] == '0') return false;
    if (d && n == 2 && p[1] == '0') return false;
    if (!url__copy(p, n, buf)) return false;
    return ig_parse_int64("", buf, lo, hi, out, NULL) == IG_OK;
}

static bool url__double(const char *p, size_t n, double lo, double hi, double *out) {
    char buf[COMP_MAX];
    if (!url__copy(p, n, buf)) return false;
    return ig_parse_double("", buf, lo, hi, out, NULL) == IG_OK;
}

static bool url__is(const char *p, size_t n, const char *word) {
    return strlen(word) == n && memcmp(p, word, n) == 0;
}

ig_view ig_tile_view(int z, int64_t x, int64_t y) {
    double s = 2.0 * IG_TILE_EXTENT / (double)((int64_t)1 << z); /* a power of two: exact */
    ig_view v;
    v.x0 = -IG_TILE_EXTENT + (double)x * s;
    v.x1 = v.x0 + s;
    v.y1 = IG_TILE_EXTENT - (double)y * s;
    v.y0 = v.y1 - s;
    return v;
}

int ig_tile_key(const ig_tile_req *t, char *buf, size_t len) {
    char psi[40] = "model", noise[24] = "model", interp[64] = "";
    if (t->have_psi) snprintf(psi, sizeof psi, "%.17g", t->psi);
    if (t->have_noise_seed) snprintf(noise, sizeof noise, "%" PRIu32, t->noise_seed);
    else if (t->noise == IG_NOISE_ZERO) snprintf(noise, sizeof noise, "zero");
    else if (t->noise == IG_NOISE_SEEDED) snprintf(noise, sizeof noise, "seeded");
    if (t->have_b) snprintf(interp, sizeof interp, " b=%" PRIu32 " t=%.9g space=%s", t->b, (double)(float)t->t,
                            ig_space_name(t->space));
    return snprintf(buf, len, "tile seed=%" PRIu32 " z=%d x=%" PRId64 " y=%" PRId64 " psi=%s noise=%s%s", t->seed,
                    t->z, t->x, t->y, psi, noise, interp);
}

/* The query string q[0..n) (without '?') into the tile's optional parameters. */
static int url__query(const char *q, size_t n, ig_tile_req *t, char *why, size_t wl) {
    bool seen_t = false, seen_space = false, seen_noise = false;
    size_t i = 0;
    if (n == 0) return url__fail(400, why, wl, "empty query");
    while (i <= n) {
        size_t e = i;
        while (e < n && q[e] != '&') e++;
        const char *kv = q + i;
        size_t kl = e - i;
        const char *eq = memchr(kv, '=', kl);
        if (!eq) return url__fail(400, why, wl, "query parameter without '='");
        size_t keyn = (size_t)(eq - kv), vn = kl - keyn - 1;
        const char *v = eq + 1;
        if (vn == 0) return url__fail(400, why, wl, "empty query value");
        if (url__is(kv, keyn, "psi")) {
            if (t->have_psi) return url__fail(400, why, wl, "psi given twice");
            if (!url__double(v, vn, -100, 100, &t->psi)) return url__fail(400, why, wl, "psi is not a number in [-100, 100]");
            t->have_psi = true;
        } else if (url__is(kv, keyn, "noise")) {
            if (seen_noise) return url__fail(400, why, wl, "noise given twice");
            seen_noise = true;
            int64_t s;
            if (url__is(v, vn, "zero")) t->noise = IG_NOISE_ZERO;
            else if (url__is(v, vn, "seeded")) t->noise = IG_NOISE_SEEDED;
            else if (url__int64(v, vn, 0, 2147483647, &s)) {
                t->noise = IG_NOISE_SEEDED;
                t->have_noise_seed = true;
                t->noise_seed = (uint32_t)s;
            } else {
                return url__fail(400, why, wl, "noise is not zero, seeded or a seed 0..2147483647");
            }
        } else if (url__is(kv, keyn, "b")) {
            int64_t s;
            if (t->have_b) return url__fail(400, why, wl, "b given twice");
            if (!url__int64(v, vn, 0, 4294967295LL, &s)) return url__fail(400, why, wl, "b is not a seed 0..4294967295");
            t->have_b = true;
            t->b = (uint32_t)s;
        } else if (url__is(kv, keyn, "t")) {
            if (seen_t) return url__fail(400, why, wl, "t given twice");
            if (!url__double(v, vn, 0, 1, &t->t)) return url__fail(400, why, wl, "t is not a number in [0, 1]");
            seen_t = true;
        } else if (url__is(kv, keyn, "space")) {
            if (seen_space) return url__fail(400, why, wl, "space given twice");
            char buf[COMP_MAX];
            if (!url__copy(v, vn, buf) || ig_space_parse(buf) < 0) return url__fail(400, why, wl, "space is not z, w or params");
            t->space = (ig_space)ig_space_parse(buf);
            seen_space = true;
        } else {
            return url__fail(400, why, wl, "unknown query parameter");
        }
        i = e + 1;
    }
    if (t->have_b != seen_t) return url__fail(400, why, wl, "b and t go together");
    if (seen_space && !t->have_b) return url__fail(400, why, wl, "space needs b and t");
    return 200;
}

int ig_url_parse(const char *target, size_t len, const ig_url_limits *lim, ig_url *out, char *why, size_t wl) {
    memset(out, 0, sizeof *out);
    if (why && wl) why[0] = 0;
    if (!target) return url__fail(400, why, wl, "no target");
    if (len > IG_URL_MAX) return url__fail(414, why, wl, "target longer than %d bytes", IG_URL_MAX);
    if (len == 0 || target[0] != '/') return url__fail(400, why, wl, "target does not start with '/'");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)target[i];
        /* printable ASCII without escapes, spaces, fragments or backslashes */
        if (c <= 0x20 || c >= 0x7f || c == '%' || c == '#' || c == '\\')
            return url__fail(400, why, wl, "character 0x%02x not allowed in a target", c);
    }
    const char *qm = memchr(target, '?', len);
    size_t plen = qm ? (size_t)(qm - target) : len;
    const char *q = qm ? qm + 1 : NULL;
    size_t qlen = qm ? len - plen - 1 : 0;
    const char *p = target;
    int max_zoom = lim ? lim->max_zoom : 20;
    if (max_zoom < 0) max_zoom = 0;
    if (max_zoom > IG_URL_MAX_ZOOM) max_zoom = IG_URL_MAX_ZOOM;

    if (plen < 7 || memcmp(p, "/tiles/", 7) != 0) {
        if (qm) return url__fail(400, why, wl, "query on a resource that takes none");
        if (url__is(p, plen, "/") || url__is(p, plen, "/index.html")) out->kind = IG_URL_PAGE;
        else if (url__is(p, plen, "/healthz")) out->kind = IG_URL_HEALTH;
        else if (url__is(p, plen, "/metrics")) out->kind = IG_URL_METRICS;
        else if (plen > 9 && memcmp(p, "/leaflet/", 9) == 0) {
            for (int i = 0; ig_url_static_files[i]; i++)
                if (url__is(p + 9, plen - 9, ig_url_static_files[i])) {
                    out->kind = IG_URL_STATIC;
                    out->static_index = i;
                    return 200;
                }
            return url__fail(404, why, wl, "no such file");
        } else {
            return url__fail(404, why, wl, "no such resource");
        }
        return 200;
    }
    /* /tiles/{seed}/{z}/{x}/{y}.png */
    const char *s = p + 7, *end = p + plen;
    const char *part[4];
    size_t partn[4];
    for (int k = 0; k < 4; k++) {
        const char *e = s;
        while (e < end && *e != '/') e++;
        if (k < 3 && e == end) return url__fail(404, why, wl, "a tile is /tiles/SEED/Z/X/Y.png");
        if (k == 3 && e != end) return url__fail(404, why, wl, "a tile is /tiles/SEED/Z/X/Y.png");
        part[k] = s;
        partn[k] = (size_t)(e - s);
        s = e + 1;
    }
    if (partn[3] < 5 || memcmp(part[3] + partn[3] - 4, ".png", 4) != 0)
        return url__fail(404, why, wl, "a tile is /tiles/SEED/Z/X/Y.png");
    partn[3] -= 4;
    ig_tile_req *t = &out->tile;
    int64_t seed, z, x, y;
    if (!url__int64(part[0], partn[0], 0, 4294967295LL, &seed)) return url__fail(400, why, wl, "seed is not 0..4294967295");
    if (!url__int64(part[1], partn[1], 0, IG_URL_MAX_ZOOM, &z)) return url__fail(400, why, wl, "zoom is not 0..%d", IG_URL_MAX_ZOOM);
    if (z > max_zoom) return url__fail(404, why, wl, "zoom %d is past this server's --max-zoom %d", (int)z, max_zoom);
    int64_t n = (int64_t)1 << z;
    if (!url__int64(part[2], partn[2], -n, 2 * n - 1, &x) || !url__int64(part[3], partn[3], -n, 2 * n - 1, &y))
        return url__fail(404, why, wl, "tile x, y at zoom %d must be in [%" PRId64 ", %" PRId64 "]", (int)z, -n, 2 * n - 1);
    t->seed = (uint32_t)seed;
    t->z = (int)z;
    t->x = x;
    t->y = y;
    t->space = IG_SPACE_Z;
    if (qm) {
        int st = url__query(q, qlen, t, why, wl);
        if (st != 200) {
            memset(out, 0, sizeof *out);
            return st;
        }
    }
    out->kind = IG_URL_TILE;
    return 200;
}
