/* metrics.h - counters of `inrgan serve` and their Prometheus text exposition (docs/serve.md). */
#ifndef IG_SERVE_METRICS_H
#define IG_SERVE_METRICS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define IG_M_RENDER_BUCKETS 11
#define IG_M_BATCH_BUCKETS 7

typedef struct ig_metrics {
    pthread_mutex_t mu;
    uint64_t requests[6];      /* by class: 2xx (200), 304, 400, 404, 405/414/431 (other 4xx), 503/5xx */
    uint64_t tiles_rendered, tiles_served, cache_hits, cache_misses, coalesced, not_modified, rejected_full;
    uint64_t render_errors;
    uint64_t render_count;     /* histogram of render seconds per batch */
    double render_sum;
    uint64_t render_buckets[IG_M_RENDER_BUCKETS];
    uint64_t batch_count, batch_sum;
    uint64_t batch_buckets[IG_M_BATCH_BUCKETS];
} ig_metrics;

void ig_metrics_init(ig_metrics *m);
void ig_metrics_destroy(ig_metrics *m);
void ig_metrics_request(ig_metrics *m, int status);
void ig_metrics_add(ig_metrics *m, uint64_t *counter, uint64_t n);
void ig_metrics_batch(ig_metrics *m, int size, double seconds, int ok);

typedef struct ig_metrics_gauges {
    int queue_depth, queue_capacity, in_flight;
    size_t cache_bytes, cache_max_bytes, cache_entries;
    uint64_t cache_evictions;
    int connections_max;
} ig_metrics_gauges;

/* The exposition text (malloc'd, NUL-terminated), or NULL when out of memory. */
char *ig_metrics_text(ig_metrics *m, const ig_metrics_gauges *g);

#endif
