/* metrics.c - Prometheus text format 0.0.4: counters, gauges and two histograms. */
#include "metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double render_le[IG_M_RENDER_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
static const int batch_le[IG_M_BATCH_BUCKETS] = {1, 2, 4, 8, 16, 32, 64};

void ig_metrics_init(ig_metrics *m) {
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
}

void ig_metrics_destroy(ig_metrics *m) { pthread_mutex_destroy(&m->mu); }

void ig_metrics_request(ig_metrics *m, int status) {
    int k = status < 300 ? 0 : status == 304 ? 1 : status == 400 ? 2 : status == 404 ? 3 : status < 500 ? 4 : 5;
    pthread_mutex_lock(&m->mu);
    m->requests[k]++;
    pthread_mutex_unlock(&m->mu);
}

void ig_metrics_add(ig_metrics *m, uint64_t *counter, uint64_t n) {
    pthread_mutex_lock(&m->mu);
    *counter += n;
    pthread_mutex_unlock(&m->mu);
}

void ig_metrics_batch(ig_metrics *m, int size, double seconds, int ok) {
    pthread_mutex_lock(&m->mu);
    if (!ok) m->render_errors++;
    m->render_count++;
    m->render_sum += seconds;
    for (int i = 0; i < IG_M_RENDER_BUCKETS; i++)
        if (seconds <= render_le[i]) m->render_buckets[i]++;
    m->batch_count++;
    m->batch_sum += (uint64_t)size;
    for (int i = 0; i < IG_M_BATCH_BUCKETS; i++)
        if (size <= batch_le[i]) m->batch_buckets[i]++;
    pthread_mutex_unlock(&m->mu);
}

typedef struct out {
    char *s;
    size_t n, cap;
    int bad;
} out;

static void put(out *o, const char *fmt, ...) {
    if (o->bad) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(o->s + o->n, o->cap - o->n, fmt, ap);
        va_end(ap);
        if (k < 0) { o->bad = 1; return; }
        if (o->n + (size_t)k < o->cap) { o->n += (size_t)k; return; }
        size_t cap = o->cap * 2 + (size_t)k;
        char *s = realloc(o->s, cap);
        if (!s) { o->bad = 1; return; }
        o->s = s;
        o->cap = cap;
    }
}

char *ig_metrics_text(ig_metrics *m, const ig_metrics_gauges *g) {
    out o = {malloc(4096), 0, 4096, 0};
    if (!o.s) return NULL;
    ig_metrics c;
    pthread_mutex_lock(&m->mu);
    memcpy(&c, m, sizeof c);
    pthread_mutex_unlock(&m->mu);
    static const char *cls[6] = {"2xx", "304", "400", "404", "4xx_other", "5xx"};
    put(&o, "# HELP inrgan_http_requests_total HTTP requests answered, by status class.\n"
            "# TYPE inrgan_http_requests_total counter\n");
    for (int i = 0; i < 6; i++) put(&o, "inrgan_http_requests_total{code=\"%s\"} %" PRIu64 "\n", cls[i], c.requests[i]);
#define COUNTER(name, help, v) \
    put(&o, "# HELP " name " " help "\n# TYPE " name " counter\n" name " %" PRIu64 "\n", (uint64_t)(v))
#define GAUGE(name, help, fmt, v) put(&o, "# HELP " name " " help "\n# TYPE " name " gauge\n" name " " fmt "\n", v)
    COUNTER("inrgan_tiles_served_total", "Tiles answered with 200 (rendered, cached or coalesced).", c.tiles_served);
    COUNTER("inrgan_tiles_rendered_total", "Tiles rendered by the backend.", c.tiles_rendered);
    COUNTER("inrgan_cache_hits_total", "Tile requests answered from the in-memory cache.", c.cache_hits);
    COUNTER("inrgan_cache_misses_total", "Tile requests not in the cache.", c.cache_misses);
    COUNTER("inrgan_tiles_coalesced_total", "Tile requests that joined an identical queued or running render.", c.coalesced);
    COUNTER("inrgan_not_modified_total", "Tile requests answered 304 (If-None-Match).", c.not_modified);
    COUNTER("inrgan_queue_rejected_total", "Tile requests answered 503 because the queue was full.", c.rejected_full);
    COUNTER("inrgan_render_errors_total", "Backend calls that failed.", c.render_errors);
    put(&o, "# HELP inrgan_render_seconds Wall time of one backend call (a batch of tiles).\n"
            "# TYPE inrgan_render_seconds histogram\n");
    for (int i = 0; i < IG_M_RENDER_BUCKETS; i++)
        put(&o, "inrgan_render_seconds_bucket{le=\"%g\"} %" PRIu64 "\n", render_le[i], c.render_buckets[i]);
    put(&o, "inrgan_render_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\ninrgan_render_seconds_sum %.6f\n"
            "inrgan_render_seconds_count %" PRIu64 "\n", c.render_count, c.render_sum, c.render_count);
    put(&o, "# HELP inrgan_batch_size Tiles per backend call.\n# TYPE inrgan_batch_size histogram\n");
    for (int i = 0; i < IG_M_BATCH_BUCKETS; i++)
        put(&o, "inrgan_batch_size_bucket{le=\"%d\"} %" PRIu64 "\n", batch_le[i], c.batch_buckets[i]);
    put(&o, "inrgan_batch_size_bucket{le=\"+Inf\"} %" PRIu64 "\ninrgan_batch_size_sum %" PRIu64 "\n"
            "inrgan_batch_size_count %" PRIu64 "\n", c.batch_count, c.batch_sum, c.batch_count);
    GAUGE("inrgan_queue_depth", "Tile renders waiting in the queue.", "%d", g->queue_depth);
    GAUGE("inrgan_queue_capacity", "Bound of the queue (--queue).", "%d", g->queue_capacity);
    GAUGE("inrgan_renders_in_flight", "Tiles in the backend call now running.", "%d", g->in_flight);
    GAUGE("inrgan_cache_bytes", "Bytes held by the tile cache.", "%zu", g->cache_bytes);
    GAUGE("inrgan_cache_max_bytes", "Bound of the tile cache (--cache-mb).", "%zu", g->cache_max_bytes);
    GAUGE("inrgan_cache_entries", "Tiles in the cache.", "%zu", g->cache_entries);
    COUNTER("inrgan_cache_evictions_total", "Tiles evicted from the cache.", g->cache_evictions);
    GAUGE("inrgan_connections_max", "Bound of concurrent connections (--max-connections).", "%d", g->connections_max);
#undef COUNTER
#undef GAUGE
    if (o.bad) {
        free(o.s);
        return NULL;
    }
    return o.s;
}
