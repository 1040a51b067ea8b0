/* test_golden.c - the CPU backend against the committed golden fixture (made by
 * python/tests/make_golden.py from the float64 PyTorch reference), so the C side is checked
 * even where torch is absent. Tolerance: max abs error <= 1e-4 (foundation acceptance).
 * Also: results do not depend on the thread count, and repeated renders are bit-identical. */
#include "ig_test.h"
#include "inrgan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef IG_TEST_DATA
#define IG_TEST_DATA "tests/data"
#endif

static float *render(const ig_model *m, const float *z, int n, double psi, int threads) {
    const ig_config *cfg = ig_model_config(m);
    ig_plan plan;
    ig_error err = {0};
    if (ig_plan_init(&plan, cfg, ig_view_native(), cfg->resolution, cfg->resolution, &err) != IG_OK) return NULL;
    float *out = malloc((size_t)n * 3 * cfg->resolution * cfg->resolution * sizeof *out);
    ig_render_desc d = {.model = m, .plan = &plan, .z = z, .count = n, .psi = psi, .threads = threads};
    ig_result r = ig_cpu_render(&d, out, &err);
    CHECK_MSG(r == IG_OK, "%s", err.msg);
    ig_plan_free(&plan);
    return out;
}

int main(void) {
    ig_model *m;
    ig_error err = {0};
    float *z, *ref;
    int nz, nd;
    int64_t shape[8];
    CHECK_MSG(ig_model_load(IG_TEST_DATA "/golden_tiny.safetensors", &m, &err) == IG_OK, "%s", err.msg);
    if (err.code) return TEST_EXIT();
    const ig_config *cfg = ig_model_config(m);
    CHECK(ig_latents_load_npy(IG_TEST_DATA "/golden_z.npy", cfg->z_dim, &z, &nz, &err) == IG_OK);
    CHECK(ig_npy_read(IG_TEST_DATA "/golden_image.npy", &nd, shape, &ref, &err) == IG_OK);
    CHECK(nd == 4 && shape[0] == nz && shape[1] == 3 && shape[2] == cfg->resolution);
    size_t n = (size_t)nz * 3 * cfg->resolution * cfg->resolution;

    float *one = render(m, z, nz, 0.7, 1), *two = render(m, z, nz, 0.7, 2), *again = render(m, z, nz, 0.7, 2);
    double maxerr = 0, maxref = 0;
    for (size_t i = 0; i < n; i++) {
        maxerr = fmax(maxerr, fabs((double)one[i] - ref[i]));
        maxref = fmax(maxref, fabs((double)ref[i]));
    }
    printf("golden: %d images, max |ref| %.3f, max abs error %.3g (tolerance 1e-4)\n", nz, maxref, maxerr);
    CHECK(maxerr <= 1e-4);
    CHECK(maxref > 0.1); /* the fixture is not trivially zero */
    CHECK(memcmp(one, two, n * sizeof *one) == 0);   /* thread count does not change a bit */
    CHECK(memcmp(two, again, n * sizeof *two) == 0); /* deterministic */
    /* the batch does not change a bit either: image 1 alone equals image 1 of the batch */
    float *single = render(m, z + cfg->z_dim, 1, 0.7, 2);
    size_t img = n / (size_t)nz;
    CHECK(memcmp(single, one + img, img * sizeof *one) == 0);
    /* psi matters (guards against ignoring it) */
    float *psi1 = render(m, z, nz, 1.0, 2);
    CHECK(memcmp(psi1, one, n * sizeof *one) != 0);
    free(one); free(two); free(again); free(single); free(psi1);
    free(z);
    free(ref);
    ig_model_free(m);
    return TEST_EXIT();
}
