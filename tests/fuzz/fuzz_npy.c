/* fuzz_npy.c - libFuzzer target: the .npy reader (ig_npy_read, ig_latents_load_npy) on
 * arbitrary bytes, through an in-memory file (memfd). */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "inrgan.h"

static int ig_fuzz_fd = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (ig_fuzz_fd < 0) {
        ig_fuzz_fd = memfd_create("ig-fuzz-npy", 0);
        if (ig_fuzz_fd < 0) abort();
    }
    if (ftruncate(ig_fuzz_fd, 0) != 0 || pwrite(ig_fuzz_fd, data, size, 0) != (ssize_t)size) abort();
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", ig_fuzz_fd);
    int ndim = 0;
    int64_t shape[8];
    float *x = NULL;
    ig_error err = {0};
    if (ig_npy_read(path, &ndim, shape, &x, &err) == IG_OK) {
        if (!x || ndim < 0 || ndim > 8) abort();
        /* the values read must have been in the file: elements x 4 <= bytes after the header */
        uint64_t n = 1;
        for (int d = 0; d < ndim; d++) {
            if (shape[d] < 0) abort();
            n *= (uint64_t)shape[d];
        }
        if (n * 4 > size) abort();
        volatile float sink = 0;
        for (uint64_t i = 0; i < n; i++) sink += x[i];
        (void)sink;
        free(x);
    } else if (x || !err.msg[0]) {
        abort();
    }
    float *z = NULL;
    int count = 0;
    int zdim = size > 0 ? 1 + data[size - 1] % 64 : 8;
    if (ig_latents_load_npy(path, zdim, &z, &count, &err) == IG_OK) {
        if (!z || count < 1) abort();
        for (int64_t i = 0; i < (int64_t)count * zdim; i++)
            if (!isfinite(z[i])) abort();
        free(z);
    } else if (z || count) {
        abort();
    }
    return 0;
}
