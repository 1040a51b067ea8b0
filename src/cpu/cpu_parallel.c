/* cpu_parallel.c - the CPU backend's threads: a tiny parallel-for and the default thread count.
 * Shared by the families (cpu_inrgan.c, cpu_cips.c); depends on nothing else of the backend. */
#include "cpu_internal.h"

#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>

typedef ig_cpu_task_fn ig__task_fn;

typedef struct ig__job {
    ig__task_fn fn;
    void *ctx;
    size_t n, chunk;
    int index;
} ig__job;

static void *ig__job_main(void *arg) {
    ig__job *j = arg;
    size_t i0 = (size_t)j->index * j->chunk, i1 = i0 + j->chunk;
    if (i1 > j->n) i1 = j->n;
    if (i0 < i1) j->fn(j->ctx, i0, i1);
    return NULL;
}

/* Runs fn over [0, n) split in `threads` contiguous chunks (chunk boundaries multiples of
 * `align`). Falls back to the calling thread if a thread cannot be created. */
void ig_cpu_parallel(int threads, size_t n, size_t align, ig__task_fn fn, void *ctx) {
    if (threads > 64) threads = 64;
    size_t chunk = (n + (size_t)threads - 1) / (size_t)threads;
    chunk = (chunk + align - 1) / align * align;
    if (threads <= 1 || chunk >= n) {
        fn(ctx, 0, n);
        return;
    }
    pthread_t tid[64];
    ig__job jobs[64];
    bool started[64];
    int nt = (int)((n + chunk - 1) / chunk);
    for (int t = 0; t < nt; t++) {
        jobs[t] = (ig__job){fn, ctx, n, chunk, t};
        started[t] = t > 0 && pthread_create(&tid[t], NULL, ig__job_main, &jobs[t]) == 0;
    }
    ig__job_main(&jobs[0]);
    for (int t = 1; t < nt; t++) {
        if (started[t]) pthread_join(tid[t], NULL);
        else ig__job_main(&jobs[t]);
    }
}

int ig_cpu_default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}
