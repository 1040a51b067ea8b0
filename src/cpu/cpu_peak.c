/* cpu_peak.c - the CPU's own fp32 FMA peak, measured (vkpeak-style): independent vector FMA
 * chains per thread, enough of them to hide the FMA latency. Used by `inrgan bench` for "% of
 * peak". */
#include "inrgan.h"

#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cpu_simd.h"

#define IG_PEAK_ITERS 20000000

IG_MULTIVERSION
static float ig__fma_chains(float seed) {
    ig_v8 a[10], m = {0}, c = {0};
    for (int i = 0; i < 8; i++) { m[i] = 0.999999f; c[i] = 1e-7f * seed; }
    for (int k = 0; k < 10; k++) { a[k] = m; a[k][0] = seed + (float)k; }
    for (int it = 0; it < IG_PEAK_ITERS; it++)
        for (int k = 0; k < 10; k++) a[k] = a[k] * m + c;
    float s = 0;
    for (int k = 0; k < 10; k++) for (int i = 0; i < 8; i++) s += a[k][i];
    return s;
}

static void *ig__peak_thread(void *arg) {
    float *f = arg;
    *f = ig__fma_chains(*f);
    return NULL;
}

double ig_cpu_peak_gflops(int threads) {
    if (threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n < 1 ? 1 : n > 64 ? 64 : (int)n;
    }
    pthread_t tid[64];
    float seeds[64];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int started = 0;
    for (int t = 0; t < threads; t++) {
        seeds[t] = (float)t + 1;
        if (pthread_create(&tid[t], NULL, ig__peak_thread, &seeds[t]) == 0) started++;
        else break;
    }
    for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    return s > 0 ? 2.0 * 8 * 10 * (double)IG_PEAK_ITERS * started / s / 1e9 : 0;
}
