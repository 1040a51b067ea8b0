/* server.c - `inrgan serve` (docs/serve.md).
 *
 * Threads: libmicrohttpd's one polling thread answers every request that needs no render (page,
 * health, metrics, cache hits, 304s, errors) at once. A tile that is not cached becomes a job in
 * a bounded queue (or joins an identical job already queued or running) and its connection is
 * suspended; the one render thread takes the oldest job plus every queued job of the same view
 * and parameters (up to --max-batch), renders them in one backend call, encodes the PNGs, fills
 * the cache and resumes the waiting connections. A full queue answers 503 with Retry-After.
 * SIGINT/SIGTERM: the running batch finishes, queued jobs are answered 503, the daemon stops. */
#include "server.h"
#include "blob.h"
#include "cache.h"
#include "metrics.h"
#include "urlparse.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#ifndef INRGAN_BUILD_ID
#define INRGAN_BUILD_ID "inrgan"
#endif

extern const unsigned char ig_serve_page_html[];
extern const size_t ig_serve_page_html_len;

typedef struct job job;

typedef struct req {
    char *target;        /* the raw request target (from the URI log callback) */
    size_t target_len;
    struct MHD_Connection *conn;
    int phase;           /* 0 new, 4 headers seen, 1 suspended for a render, 2 its result is here,
                          * 3 answered */
    bool has_body;
    int status;
    ig_blob *body;
    char etag[48];
    const char *cache_state; /* X-Inrgan-Cache: hit | miss | coalesced */
    struct req *next_waiter;
} req;

struct job {
    ig_tile_req t;
    char key[192];       /* ig_tile_key */
    char batch_key[160]; /* what must agree for one backend call */
    char row_key[192];   /* ig_tile_key with x = 0: tiles that differ only in x */
    req *waiters;
    job *next;
};

typedef struct server {
    const ig_serve_opts *o;
    const ig_config *cfg;
    struct MHD_Daemon *daemon;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *head, *tail;    /* the queue */
    int depth;
    job *running;        /* the batch in the backend now (a list) */
    int running_n;
    bool stopping;
    pthread_t worker;
    job **batch;         /* the render thread's buffers, --max-batch long */
    ig_blob **results;
    ig_cache *cache;
    ig_metrics m;
    uint64_t model_hash; /* FNV-1a of the model file, backend id and build */
    bool mergeable;      /* the model's tiles are exact crops of a wider render (see worker_main) */
    char *page;          /* the page with its config filled in */
    size_t page_len;
    ig_blob *statics[16];
} server;

/* ---- helpers ----------------------------------------------------------------------------- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t fnv_bytes(uint64_t h, const void *p, size_t n) {
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ull;
    return h;
}
#define FNV0 1469598103934665603ull

static ig_result hash_file(const char *path, uint64_t *h, ig_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return ig_error_set(err, IG_ERR_MODEL_OPEN, "%s: %s", path, strerror(errno));
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) *h = fnv_bytes(*h, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) return ig_error_set(err, IG_ERR_IO, "%s: read error", path);
    return IG_OK;
}

static ig_blob *read_file_blob(const char *path, size_t max) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    ig_blob *b = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && (size_t)n <= max && fseek(f, 0, SEEK_SET) == 0 && (b = ig_blob_new((size_t)n)) != NULL) {
            if (fread(b->data, 1, (size_t)n, f) != (size_t)n) {
                ig_blob_unref(b);
                b = NULL;
            }
        }
    }
    fclose(f);
    return b;
}

static const char *content_type(const char *name) {
    size_t n = strlen(name);
    if (n > 3 && !strcmp(name + n - 3, ".js")) return "application/javascript";
    if (n > 4 && !strcmp(name + n - 4, ".css")) return "text/css";
    return "image/png";
}

/* ---- responses --------------------------------------------------------------------------- */

static enum MHD_Result send_bytes(server *s, struct MHD_Connection *c, int status, const char *type, const void *data,
                                  size_t n, const char *cache_control) {
    struct MHD_Response *r = MHD_create_response_from_buffer(n, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (cache_control) MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cache_control);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE) MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    ig_metrics_request(&s->m, status);
    return ret;
}

static enum MHD_Result send_error(server *s, struct MHD_Connection *c, int status, const char *why) {
    char body[512];
    int n = snprintf(body, sizeof body, "%d %s\n", status, why && *why ? why : "error");
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof body) n = sizeof body - 1;
    return send_bytes(s, c, status, "text/plain; charset=utf-8", body, (size_t)n, "no-store");
}

static enum MHD_Result send_tile(server *s, struct MHD_Connection *c, ig_blob *b, const char *etag,
                                 const char *cache_state) {
    struct MHD_Response *r = MHD_create_response_from_buffer(b->size, b->data, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "image/png");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "public, max-age=31536000, immutable");
    MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
    MHD_add_response_header(r, "X-Inrgan-Cache", cache_state);
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    ig_metrics_request(&s->m, 200);
    ig_metrics_add(&s->m, &s->m.tiles_served, 1);
    return ret;
}

static enum MHD_Result send_not_modified(server *s, struct MHD_Connection *c, const char *etag) {
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "public, max-age=31536000, immutable");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_NOT_MODIFIED, r);
    MHD_destroy_response(r);
    ig_metrics_request(&s->m, 304);
    ig_metrics_add(&s->m, &s->m.not_modified, 1);
    return ret;
}

/* Whether an If-None-Match header value lists etag (or is "*"). */
static bool etag_matches(const char *inm, const char *etag) {
    if (!inm) return false;
    size_t el = strlen(etag);
    for (const char *p = inm; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        if (!*p) break;
        if (p[0] == '*') return true;
        if (p[0] == 'W' && p[1] == '/') p += 2; /* weak comparison */
        const char *e = p;
        while (*e && *e != ',') e++;
        const char *t = e;
        while (t > p && (t[-1] == ' ' || t[-1] == '\t')) t--;
        if ((size_t)(t - p) == el && memcmp(p, etag, el) == 0) return true;
        p = e;
    }
    return false;
}

/* ---- the render thread ------------------------------------------------------------------- */

typedef struct rows_sink {
    uint8_t **rgb;
    int width;
} rows_sink;

static ig_result sink_rows(void *user, int image, int y0, int rows, const uint8_t *rgb, ig_error *err) {
    (void)err;
    rows_sink *k = user;
    memcpy(k->rgb[image] + (size_t)y0 * k->width * 3, rgb, (size_t)rows * k->width * 3);
    return IG_OK;
}

/* Renders the batch (jobs that share view and parameters): one backend call. results[i] gets a
 * reference to job i's PNG, or NULL. */
static ig_result render_batch(server *s, job **jobs, int n, ig_blob **results, ig_error *err) {
    const ig_tile_req *t0 = &jobs[0]->t;
    int zd = s->cfg->z_dim;
    int W = IG_TILE_SIDE;
    float *z = malloc((size_t)n * zd * sizeof *z);
    float *zb = t0->have_b ? malloc((size_t)n * zd * sizeof *zb) : NULL;
    float *tv = t0->have_b ? malloc((size_t)n * sizeof *tv) : NULL;
    uint32_t *noise = malloc((size_t)n * sizeof *noise);
    uint8_t **rgb = calloc((size_t)n, sizeof *rgb);
    ig_result r = IG_OK;
    if (!z || !noise || !rgb || (t0->have_b && (!zb || !tv))) r = ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "batch of %d", n);
    for (int i = 0; i < n && r == IG_OK; i++) {
        const ig_tile_req *t = &jobs[i]->t;
        /* tiles of one seed share a latent: computed once per batch */
        int same = -1;
        for (int k = 0; k < i && same < 0; k++)
            if (jobs[k]->t.seed == t->seed) same = k;
        if (same >= 0) memcpy(z + (size_t)i * zd, z + (size_t)same * zd, (size_t)zd * sizeof *z);
        else ig_latent_from_seed(t->seed, z + (size_t)i * zd, zd);
        if (t0->have_b) {
            ig_latent_from_seed(t->b, zb + (size_t)i * zd, zd);
            tv[i] = (float)t->t;
        }
        noise[i] = t->have_noise_seed ? t->noise_seed : t->seed; /* as `inrgan render` */
        rgb[i] = malloc((size_t)W * W * 3);
        if (!rgb[i]) r = ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "tile");
    }
    if (r == IG_OK) {
        rows_sink sink = {rgb, W};
        ig_image_job ij = {.model = s->o->model, .noise = t0->noise, .noise_seed = noise,
                           .plan = {.view = ig_tile_view(t0->z, t0->x, t0->y), .width = W, .height = W},
                           .z = z, .z_b = zb, .t = tv, .count = n,
                           .psi = t0->have_psi ? t0->psi : s->cfg->truncation_psi, .space = t0->space,
                           .backend = s->o->backend, .backend_ctx = s->o->backend_ctx, .threads = s->o->threads,
                           .rows = sink_rows, .user = &sink};
        r = ig_render_image(&ij, err);
    }
    for (int i = 0; i < n && r == IG_OK; i++) r = ig_png_encode(rgb[i], W, W, &results[i], err);
    for (int i = 0; rgb && i < n; i++) free(rgb[i]);
    free(rgb);
    free(z);
    free(zb);
    free(tv);
    free(noise);
    return r;
}

/* n horizontally adjacent tiles of one seed and parameters (left to right) as one render of
 * n*256 x 256 of their union, cut into tiles. Only for models whose tiles are then exact crops
 * (s->mergeable): every coordinate of the union's level grids equals the tile's (all pitches
 * and origins are multiples of a power of two: exact in binary), nearest upsampling (a pixel's
 * parents do not depend on the image's width), no instance norm (no whole-image statistic) and
 * no per-pixel noise (INR-GAN). tests/test_serve.py compares such tiles with `inrgan render`. */
static ig_result render_row(server *s, job **jobs, int n, ig_blob **results, ig_error *err) {
    const ig_tile_req *t0 = &jobs[0]->t;
    int zd = s->cfg->z_dim, T = IG_TILE_SIDE, W = n * T;
    float *z = malloc((size_t)zd * sizeof *z);
    float *zb = t0->have_b ? malloc((size_t)zd * sizeof *zb) : NULL;
    float tv = (float)t0->t;
    uint32_t noise = t0->have_noise_seed ? t0->noise_seed : t0->seed;
    uint8_t *rgb = malloc((size_t)W * T * 3), *tile = malloc((size_t)T * T * 3);
    ig_result r = IG_OK;
    if (!z || !rgb || !tile || (t0->have_b && !zb)) r = ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "row of %d tiles", n);
    if (r == IG_OK) {
        ig_latent_from_seed(t0->seed, z, zd); /* one latent for the whole row */
        if (zb) ig_latent_from_seed(t0->b, zb, zd);
        ig_view a = ig_tile_view(t0->z, jobs[0]->t.x, t0->y), b = ig_tile_view(t0->z, jobs[n - 1]->t.x, t0->y);
        uint8_t *rows[1] = {rgb};
        rows_sink sink = {rows, W};
        ig_image_job ij = {.model = s->o->model, .noise = t0->noise, .noise_seed = &noise,
                           .plan = {.view = {a.x0, a.y0, b.x1, b.y1}, .width = W, .height = T},
                           .z = z, .z_b = zb, .t = zb ? &tv : NULL, .count = 1,
                           .psi = t0->have_psi ? t0->psi : s->cfg->truncation_psi, .space = t0->space,
                           .backend = s->o->backend, .backend_ctx = s->o->backend_ctx, .threads = s->o->threads,
                           .rows = sink_rows, .user = &sink};
        r = ig_render_image(&ij, err);
    }
    for (int i = 0; i < n && r == IG_OK; i++) {
        for (int y = 0; y < T; y++)
            memcpy(tile + (size_t)y * T * 3, rgb + ((size_t)y * W + (size_t)i * T) * 3, (size_t)T * 3);
        r = ig_png_encode(tile, T, T, &results[i], err);
    }
    free(z);
    free(zb);
    free(rgb);
    free(tile);
    return r;
}

/* Answers every waiter of the job (under s->mu) and frees it. */
static void finish_job(server *s, job *j, int status, ig_blob *b) {
    (void)s;
    for (req *w = j->waiters; w;) {
        req *next = w->next_waiter;
        w->status = status;
        w->body = b ? ig_blob_ref(b) : NULL;
        w->phase = 2;
        w->next_waiter = NULL;
        MHD_resume_connection(w->conn);
        w = next;
    }
    free(j);
}

/* Takes every queued job that extends the row [*lo, *hi] of `first` by one tile on either side,
 * repeatedly, up to maxb tiles in all (under s->mu). */
static int take_row(server *s, job *first, job **batch, int n, int maxb) {
    int64_t lo = first->t.x, hi = first->t.x;
    bool grew = true;
    while (grew && n < maxb) {
        grew = false;
        job **pp = &s->head, *prev = NULL;
        while (*pp && n < maxb) {
            job *j = *pp;
            if ((j->t.x == hi + 1 || j->t.x == lo - 1) && strcmp(j->row_key, first->row_key) == 0) {
                *pp = j->next;
                if (s->tail == j) s->tail = prev;
                j->next = NULL;
                batch[n++] = j;
                s->depth--;
                if (j->t.x == hi + 1) hi++;
                else lo--;
                grew = true;
            } else {
                prev = j;
                pp = &j->next;
            }
        }
    }
    /* left to right */
    for (int i = 1; i < n; i++)
        for (int k = i; k > 0 && batch[k - 1]->t.x > batch[k]->t.x; k--) {
            job *t = batch[k];
            batch[k] = batch[k - 1];
            batch[k - 1] = t;
        }
    return n;
}

static void *worker_main(void *arg) {
    server *s = arg;
    int maxb = s->o->max_batch;
    job **batch = s->batch;
    ig_blob **res = s->results;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->stopping && !s->head) pthread_cond_wait(&s->cv, &s->mu);
        if (s->stopping) break;
        /* the oldest job and every queued job of the same view and parameters */
        int n = 0;
        job *first = s->head;
        job **pp = &s->head, *prev = NULL;
        while (*pp && n < maxb) {
            job *j = *pp;
            if (j == first || strcmp(j->batch_key, first->batch_key) == 0) {
                *pp = j->next;
                if (s->tail == j) s->tail = prev;
                j->next = NULL;
                batch[n++] = j;
                s->depth--;
            } else {
                prev = j;
                pp = &j->next;
            }
        }
        /* no other seed of this rectangle queued: the tiles left and right of it in the same row
         * (same seed and parameters) as one wider render */
        bool row = false;
        if (n == 1 && s->mergeable && maxb > 1) {
            n = take_row(s, first, batch, 1, maxb);
            row = n > 1;
        }
        for (int i = 0; i < n; i++) batch[i]->next = i + 1 < n ? batch[i + 1] : NULL;
        s->running = n ? batch[0] : NULL;
        s->running_n = n;
        pthread_mutex_unlock(&s->mu);

        ig_error err = {0};
        memset(res, 0, (size_t)maxb * sizeof *res);
        double t0 = now_s();
        ig_result r = row ? render_row(s, batch, n, res, &err) : render_batch(s, batch, n, res, &err);
        double dt = now_s() - t0;
        ig_metrics_batch(&s->m, n, dt, r == IG_OK);
        if (r == IG_OK) ig_metrics_add(&s->m, &s->m.tiles_rendered, (uint64_t)n);
        else if (!s->o->quiet) fprintf(stderr, "inrgan: serve: render failed: %s [%s]\n", err.msg, ig_result_name(r));

        pthread_mutex_lock(&s->mu);
        s->running = NULL;
        s->running_n = 0;
        for (int i = 0; i < n; i++) {
            if (res[i] && s->cache) ig_cache_put(s->cache, batch[i]->key, res[i]);
            finish_job(s, batch[i], res[i] ? 200 : 500, res[i]);
            ig_blob_unref(res[i]);
        }
    }
    /* shutting down: what is still queued is answered 503 */
    while (s->head) {
        job *j = s->head;
        s->head = j->next;
        s->depth--;
        finish_job(s, j, 503, NULL);
    }
    s->tail = NULL;
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- requests ---------------------------------------------------------------------------- */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c) {
    (void)cls;
    req *q = calloc(1, sizeof *q);
    if (!q) return NULL;
    size_t n = strnlen(uri, IG_URL_MAX + 1);
    q->target = malloc(n + 1);
    if (!q->target) {
        free(q);
        return NULL;
    }
    memcpy(q->target, uri, n);
    q->target[n] = 0;
    q->target_len = n;
    q->conn = c;
    return q;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)c;
    (void)toe;
    req *q = *con_cls;
    if (!q) return;
    ig_blob_unref(q->body);
    free(q->target);
    free(q);
    *con_cls = NULL;
}

static enum MHD_Result serve_metrics(server *s, struct MHD_Connection *c) {
    ig_metrics_gauges g = {0};
    pthread_mutex_lock(&s->mu);
    g.queue_depth = s->depth;
    g.in_flight = s->running_n;
    pthread_mutex_unlock(&s->mu);
    g.queue_capacity = s->o->queue;
    g.connections_max = s->o->max_connections;
    g.cache_max_bytes = s->o->cache_bytes;
    if (s->cache) ig_cache_stats(s->cache, &g.cache_bytes, &g.cache_entries, &g.cache_evictions);
    char *text = ig_metrics_text(&s->m, &g);
    if (!text) return send_error(s, c, 500, "out of memory");
    enum MHD_Result r = send_bytes(s, c, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text), "no-store");
    free(text);
    return r;
}

static enum MHD_Result serve_tile(server *s, struct MHD_Connection *c, req *q, const ig_tile_req *t) {
    if (t->have_psi) {
        ig_error perr = {0};
        if (ig_model_check_psi(s->o->model, t->psi, &perr) != IG_OK) return send_error(s, c, 400, perr.msg);
    }
    char key[192];
    ig_tile_key(t, key, sizeof key);
    uint64_t kh = fnv_bytes(FNV0, key, strlen(key));
    snprintf(q->etag, sizeof q->etag, "\"%016" PRIx64 "-%016" PRIx64 "\"", s->model_hash, kh);
    if (etag_matches(MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH), q->etag))
        return send_not_modified(s, c, q->etag);
    ig_blob *b = s->cache ? ig_cache_get(s->cache, key) : NULL;
    if (b) {
        ig_metrics_add(&s->m, &s->m.cache_hits, 1);
        enum MHD_Result r = send_tile(s, c, b, q->etag, "hit");
        ig_blob_unref(b);
        return r;
    }
    ig_metrics_add(&s->m, &s->m.cache_misses, 1);
    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->mu);
        return send_error(s, c, 503, "shutting down");
    }
    job *j = NULL;
    for (job *k = s->running; k && !j; k = k->next)
        if (!strcmp(k->key, key)) j = k;
    for (job *k = s->head; k && !j; k = k->next)
        if (!strcmp(k->key, key)) j = k;
    if (j) {
        q->cache_state = "coalesced";
        ig_metrics_add(&s->m, &s->m.coalesced, 1);
    } else {
        if (s->depth >= s->o->queue) {
            pthread_mutex_unlock(&s->mu);
            ig_metrics_add(&s->m, &s->m.rejected_full, 1);
            return send_error(s, c, 503, "render queue full, retry later");
        }
        j = calloc(1, sizeof *j);
        if (!j) {
            pthread_mutex_unlock(&s->mu);
            return send_error(s, c, 503, "out of memory");
        }
        j->t = *t;
        memcpy(j->key, key, sizeof j->key);
        ig_tile_req row = *t;
        row.x = 0;
        ig_tile_key(&row, j->row_key, sizeof j->row_key);
        snprintf(j->batch_key, sizeof j->batch_key, "%d %" PRId64 " %" PRId64 " %d %.17g %d %d %d", t->z, t->x, t->y,
                 t->have_psi, t->psi, (int)t->noise, t->have_b, (int)t->space);
        if (s->tail) s->tail->next = j;
        else s->head = j;
        s->tail = j;
        s->depth++;
        q->cache_state = "miss";
        pthread_cond_signal(&s->cv);
    }
    q->next_waiter = j->waiters;
    j->waiters = q;
    q->phase = 1;
    MHD_suspend_connection(c); /* under s->mu: the render thread resumes only after this */
    pthread_mutex_unlock(&s->mu);
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size, void **con_cls) {
    (void)url;
    (void)version;
    (void)upload_data;
    server *s = cls;
    req *q = *con_cls;
    if (!q) return send_error(s, c, 503, "out of memory");
    if (q->phase == 1) return MHD_YES; /* spurious: still waiting */
    if (q->phase == 2) {
        q->phase = 3;
        if (q->status == 200 && q->body) return send_tile(s, c, q->body, q->etag, q->cache_state);
        return send_error(s, c, q->status, q->status == 503 ? "shutting down" : "render failed");
    }
    if (q->phase == 3) { /* answered: discard what else arrives */
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        q->phase = 3; /* answered before any body is read: the connection closes */
        return send_error(s, c, 405, "only GET and HEAD");
    }
    if (q->phase == 0) { /* headers only; answering in a later call keeps the connection alive */
        q->phase = 4;
        return MHD_YES;
    }
    if (*upload_size) { /* a GET with a body */
        *upload_size = 0;
        q->has_body = true;
        return MHD_YES;
    }
    if (q->has_body) {
        q->phase = 3;
        return send_error(s, c, 400, "a GET has no body");
    }
    q->phase = 3;
    ig_url u;
    ig_url_limits lim = {s->o->max_zoom};
    char why[160];
    int st = ig_url_parse(q->target, q->target_len, &lim, &u, why, sizeof why);
    if (st != 200) return send_error(s, c, st, why);
    switch (u.kind) {
    case IG_URL_PAGE:
        return send_bytes(s, c, 200, "text/html; charset=utf-8", s->page, s->page_len, "no-cache");
    case IG_URL_HEALTH:
        return send_bytes(s, c, 200, "text/plain; charset=utf-8", "ok\n", 3, "no-store");
    case IG_URL_METRICS:
        return serve_metrics(s, c);
    case IG_URL_STATIC: {
        ig_blob *b = s->statics[u.static_index];
        if (!b) return send_error(s, c, 404, "Leaflet is not installed (Debian package libjs-leaflet)");
        return send_bytes(s, c, 200, content_type(ig_url_static_files[u.static_index]), b->data, b->size,
                          "public, max-age=3600");
    }
    case IG_URL_TILE:
        return serve_tile(s, c, q, &u.tile); /* phase 1 when it waits for a render */
    }
    return send_error(s, c, 404, "no such resource");
}

/* ---- start and stop ---------------------------------------------------------------------- */

/* The page with its configuration (JSON) in place of the marker. */
static ig_result make_page(server *s, ig_error *err) {
    cJSON *cfg = cJSON_CreateObject();
    if (!cfg) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "page");
    cJSON_AddStringToObject(cfg, "model", s->o->model_path);
    cJSON_AddStringToObject(cfg, "family", s->cfg->family);
    cJSON_AddNumberToObject(cfg, "psi", s->cfg->truncation_psi);
    cJSON_AddNumberToObject(cfg, "maxZoom", s->o->max_zoom);
    cJSON_AddNumberToObject(cfg, "tileSize", IG_TILE_SIDE);
    cJSON_AddNumberToObject(cfg, "extent", IG_TILE_EXTENT);
    cJSON_AddStringToObject(cfg, "backend", s->o->backend_label);
    cJSON_AddBoolToObject(cfg, "leaflet", s->statics[0] != NULL);
    char *json = cJSON_PrintUnformatted(cfg);
    cJSON_Delete(cfg);
    if (!json) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "page");
    /* "</" inside a <script> would end it: escape every '/' after '<' */
    size_t jl = strlen(json);
    char *safe = malloc(2 * jl + 1);
    size_t k = 0;
    for (size_t i = 0; safe && i < jl; i++) {
        if (json[i] == '/' && i && json[i - 1] == '<') safe[k++] = '\\';
        safe[k++] = json[i];
    }
    if (safe) safe[k] = 0;
    free(json);
    if (!safe) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "page");
    const char *marker = "__INRGAN_CONFIG__";
    const char *html = (const char *)ig_serve_page_html;
    const char *at = strstr(html, marker);
    if (!at) {
        free(safe);
        return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "page template has no config marker");
    }
    size_t pre = (size_t)(at - html), ml = strlen(marker), post = ig_serve_page_html_len - pre - ml;
    s->page_len = pre + k + post;
    s->page = malloc(s->page_len + 1);
    if (s->page) {
        memcpy(s->page, html, pre);
        memcpy(s->page + pre, safe, k);
        memcpy(s->page + pre + k, at + ml, post);
        s->page[s->page_len] = 0;
    }
    free(safe);
    return s->page ? IG_OK : ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "page");
}

ig_result ig_serve_run(const ig_serve_opts *o, ig_error *err) {
    server *s = calloc(1, sizeof *s);
    if (!s) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "server");
    s->o = o;
    s->cfg = ig_model_config(o->model);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    ig_metrics_init(&s->m);
    ig_result r = IG_OK;
    bool worker_started = false;
    s->mergeable = o->merge_rows && s->cfg->kind == IG_FAMILY_INRGAN && s->cfg->upsampling == IG_UP_NEAREST &&
                   !s->cfg->instance_norm;
    if (o->merge_rows && !s->mergeable && !o->quiet)
        fprintf(stderr, "inrgan: serve: --merge-rows: this model's tiles are not exact crops of a wider render "
                        "(bilinear upsampling, instance norm or CIPS): tiles are rendered one by one\n");
    s->model_hash = FNV0;
    r = hash_file(o->model_path, &s->model_hash, err);
    s->model_hash = fnv_bytes(s->model_hash, o->backend_id, strlen(o->backend_id) + 1);
    s->model_hash = fnv_bytes(s->model_hash, INRGAN_BUILD_ID, strlen(INRGAN_BUILD_ID));
    if (r == IG_OK && o->cache_bytes && !(s->cache = ig_cache_new(o->cache_bytes)))
        r = ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "cache");
    s->batch = calloc((size_t)o->max_batch, sizeof *s->batch);
    s->results = calloc((size_t)o->max_batch, sizeof *s->results);
    if (r == IG_OK && (!s->batch || !s->results)) r = ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "batch");
    int n_static = 0;
    for (int i = 0; r == IG_OK && ig_url_static_files[i] && i < 16; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", o->leaflet_dir, ig_url_static_files[i]);
        s->statics[i] = read_file_blob(path, 4 << 20);
        n_static += s->statics[i] != NULL;
    }
    if (r == IG_OK && !s->statics[0] && !o->quiet)
        fprintf(stderr, "inrgan: serve: no %s/leaflet.js (Debian package libjs-leaflet): the page at / will not "
                        "show a map; tiles are served\n", o->leaflet_dir);
    if (r == IG_OK) r = make_page(s, err);

    /* SIGINT/SIGTERM are taken by sigwait in this thread: block them before any thread starts */
    sigset_t sigs, old;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, &old);
    signal(SIGPIPE, SIG_IGN);

    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    struct sockaddr *addr = NULL;
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME;
    if (r == IG_OK) {
        memset(&a4, 0, sizeof a4);
        memset(&a6, 0, sizeof a6);
        if (inet_pton(AF_INET, o->bind, &a4.sin_addr) == 1) {
            a4.sin_family = AF_INET;
            a4.sin_port = htons((uint16_t)o->port);
            addr = (struct sockaddr *)&a4;
        } else if (inet_pton(AF_INET6, o->bind, &a6.sin6_addr) == 1) {
            a6.sin6_family = AF_INET6;
            a6.sin6_port = htons((uint16_t)o->port);
            addr = (struct sockaddr *)&a6;
            flags |= MHD_USE_IPv6;
        } else {
            r = ig_error_set(err, IG_ERR_USAGE, "--bind '%.64s' is not a numeric IPv4 or IPv6 address", o->bind);
        }
    }
    if (r == IG_OK) {
        if (pthread_create(&s->worker, NULL, worker_main, s) != 0) r = ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "thread");
        else worker_started = true;
    }
    if (r == IG_OK) {
        s->daemon = MHD_start_daemon(
            flags, (uint16_t)o->port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, addr,
            MHD_OPTION_URI_LOG_CALLBACK, on_uri, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
            MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
            (unsigned)o->timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768, MHD_OPTION_LISTEN_BACKLOG_SIZE,
            (unsigned)128, MHD_OPTION_END);
        if (!s->daemon)
            r = ig_error_set(err, IG_ERR_IO, "cannot listen on %s port %d (in use, or not an address of this machine)",
                             o->bind, o->port);
    }
    if (r == IG_OK) {
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
        int port = di ? di->port : o->port;
        bool v6 = strchr(o->bind, ':') != NULL;
        fprintf(stderr, "inrgan: serving %s with %s at http://%s%s%s:%d/ (Ctrl-C stops)\n", o->model_path,
                o->backend_label, v6 ? "[" : "", o->bind, v6 ? "]" : "", port);
        fflush(stderr);
        int sig = 0;
        while (sigwait(&sigs, &sig) != 0) {
        }
        if (!o->quiet) fprintf(stderr, "inrgan: serve: %s, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    }
    if (worker_started) {
        pthread_mutex_lock(&s->mu);
        s->stopping = true;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->worker, NULL);
    }
    if (s->daemon) MHD_stop_daemon(s->daemon);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    for (int i = 0; i < 16; i++) ig_blob_unref(s->statics[i]);
    ig_cache_free(s->cache);
    ig_metrics_destroy(&s->m);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->page);
    free(s->batch);
    free(s->results);
    free(s);
    return r;
}
