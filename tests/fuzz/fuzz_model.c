/* fuzz_model.c - libFuzzer target: the model loader on arbitrary bytes, and when a file loads,
 * `inrgan info`'s description and a tiny bounded CPU render of it.
 * The bytes go to an in-memory file (memfd) so ig_model_load reads them through its real path
 * (open, fstat, mmap). Renders are skipped above IG_FUZZ_MAX_FLOPS so one input stays fast. */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "inrgan.h"

#define IG_FUZZ_MAX_FLOPS 2.0e7
#define IG_FUZZ_MAX_PARAMS 4000000

static int ig_fuzz_fd = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (ig_fuzz_fd < 0) {
        ig_fuzz_fd = memfd_create("ig-fuzz-model", 0);
        if (ig_fuzz_fd < 0) abort();
    }
    if (ftruncate(ig_fuzz_fd, 0) != 0 || pwrite(ig_fuzz_fd, data, size, 0) != (ssize_t)size) abort();
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", ig_fuzz_fd);
    ig_model *m = NULL;
    ig_error err = {0};
    ig_result r = ig_model_load(path, &m, &err);
    if (r != IG_OK) {
        /* a refusal is a named error with a message, and no model */
        if (m || r <= IG_OK || r >= IG_RESULT_COUNT || !err.msg[0]) abort();
        return 0;
    }
    const ig_config *cfg = ig_model_config(m);
    char text[4096];
    ig_config_describe(cfg, text, sizeof text);
    (void)ig_config_param_count(cfg);
    if (ig_config_param_count(cfg) <= IG_FUZZ_MAX_PARAMS) {
        ig_plan plan;
        /* a 4x4 image of the native view, strided from the model's grid */
        if (ig_plan_init(&plan, cfg, ig_view_native(), 4, 4, &err) == IG_OK) {
            if (ig_plan_executed_flops(&plan, cfg) <= IG_FUZZ_MAX_FLOPS) {
                enum { N = 2 };
                float z[N * 4096];
                float out[N * 3 * 16];
                int zd = cfg->z_dim;
                if (zd > 0 && zd <= 4096) {
                    for (int i = 0; i < N; i++) ig_latent_from_seed((uint32_t)i, z + i * zd, zd);
                    ig_render_desc d = {.model = m, .plan = &plan, .z = z, .count = N, .psi = 0.7,
                                        .threads = 1, .noise = IG_NOISE_MODEL};
                    if (ig_model_check_psi(m, d.psi, &err) != IG_OK) d.psi = 1.0;
                    /* huge finite weights may overflow to Inf/NaN pixels: not a defect, so the
                     * values are only read (MSan/ASan see uninitialised or out-of-bounds use) */
                    if (ig_cpu_render(&d, out, &err) == IG_OK) {
                        volatile float sink = 0;
                        for (int k = 0; k < N * 3 * 16; k++) sink += out[k];
                        (void)sink;
                    } else if (!err.msg[0]) {
                        abort();
                    }
                }
            }
            ig_plan_free(&plan);
        }
    }
    ig_model_free(m);
    return 0;
}
