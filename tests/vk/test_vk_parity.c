/* test_vk_parity.c - Vulkan renders against the C CPU backend (ig_cpu_render).
 *
 * Models: tiny random ones written by vk_test_model_write (nearest, bilinear + instance norm,
 * churches-like without extra convs) and tests/data/golden_tiny.safetensors. Batches of 1 and 3.
 * Paths: fp32 with the weight-generation pass, fp32 with FMM fused into the level kernel, and
 * fp16 storage (when the device has it).
 * Tolerance: max |vk - cpu| <= 1e-4 * max(1, max |cpu|) for fp32, 2e-2 * ... for fp16.
 */
#include "vk_test.h"

static void parity_model(const char *label, const char *path, int size) {
    ig_model *m = NULL;
    ig_plan plan;
    CHECK_MSG(vk_test_load(path, &m, &plan, size) == 0, "%s", label);
    if (!m) return;
    const ig_config *c = ig_model_config(m);
    const int counts[2] = {1, 3};
    float *z = vk_test_latents(3, c->z_dim);
    size_t img = (size_t)3 * plan.width * plan.height;
    float *ref = malloc(3 * img * sizeof *ref), *got = malloc(3 * img * sizeof *got);
    ig_error err = {0};
    ig_render_desc rd = {.model = m, .plan = &plan, .z = z, .count = 3, .psi = c->truncation_psi,
                         .threads = 1};
    CHECK_MSG(ig_cpu_render(&rd, ref, &err) == IG_OK, "%s: cpu: %s", label, err.msg);

    struct {
        const char *name;
        int precision, fmm;
        int coop; /* 1: cooperative matrices if the device has them, 2: emulated */
        double tol;
    } paths[] = {
        {"fp32", IG_VK_PRECISION_FP32, IG_VK_FMM_PASS, 0, 1e-4},
        {"fp32-fused", IG_VK_PRECISION_FP32, IG_VK_FMM_FUSED, 0, 1e-4},
        {"fp16", IG_VK_PRECISION_FP16, IG_VK_FMM_PASS, 0, 2e-2},
        {"fp16-fused", IG_VK_PRECISION_FP16, IG_VK_FMM_FUSED, 0, 2e-2},
        {"coopmat", IG_VK_PRECISION_FP16, IG_VK_FMM_PASS, 1, 2e-2},
        {"coopmat-emulated", IG_VK_PRECISION_FP16, IG_VK_FMM_PASS, 2, 2e-2},
    };
    bool require_coop = getenv("INRGAN_TEST_REQUIRE_COOPMAT") != NULL;
    for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
        ig_vk_desc d = vk_test_desc();
        d.precision = paths[p].precision;
        d.fmm = paths[p].fmm;
        d.coopmat = paths[p].coop == 1;
        d.coopmat_emulate = paths[p].coop == 2;
        ig_vk_context *ctx = NULL;
        ig_result r = ig_vk_context_create(&d, &ctx, &err);
        CHECK_MSG(r == IG_OK, "%s: context: %s", label, err.msg);
        if (r != IG_OK) continue;
        if (paths[p].precision == IG_VK_PRECISION_FP16 &&
            ig_vk_context_precision(ctx) != IG_VK_PRECISION_FP16) {
            printf("  %s %s: skipped (no 16-bit storage)\n", label, paths[p].name);
            ig_vk_context_destroy(ctx);
            continue;
        }
        if (paths[p].coop && !ig_vk_context_coopmat(ctx)) {
            printf("  %s %s: no cooperative matrices on this device (%s)\n", label,
                   paths[p].name, paths[p].coop == 1 ? "plain fp16 path" : "skipped");
            CHECK_MSG(!(require_coop && paths[p].coop == 1), "%s: INRGAN_TEST_REQUIRE_COOPMAT set "
                      "but the coopmat path is off: %s", label, ig_vk_context_summary(ctx));
            if (paths[p].coop == 2) {
                ig_vk_context_destroy(ctx);
                continue;
            }
        }
        for (int k = 0; k < 2; k++) {
            rd.count = counts[k];
            memset(got, 0xff, 3 * img * sizeof *got);
            r = ig_vk_render(ctx, &rd, got, &err);
            CHECK_MSG(r == IG_OK, "%s %s batch %d: %s", label, paths[p].name, counts[k], err.msg);
            if (r != IG_OK) continue;
            double e = vk_test_compare(got, ref, img * (size_t)counts[k]);
            printf("  %s %s batch %d: max rel error %.3g (%s kernel)\n", label, paths[p].name,
                   counts[k], e, ig_vk_level_kernel_used(ctx));
            /* the coopmat path must not have fallen back to the per-pixel kernel silently */
            if (paths[p].coop && ig_vk_context_coopmat(ctx))
                CHECK_MSG(!require_coop || strcmp(ig_vk_level_kernel_used(ctx), "coopmat") == 0,
                          "%s %s: INRGAN_TEST_REQUIRE_COOPMAT set but the %s kernel ran", label,
                          paths[p].name, ig_vk_level_kernel_used(ctx));
            CHECK_MSG(e <= paths[p].tol, "%s %s batch %d: error %.3g > %.3g", label,
                      paths[p].name, counts[k], e, paths[p].tol);
        }
        vk_test_ctx_ok(ctx);
        ig_vk_context_destroy(ctx);
    }
    free(z);
    free(ref);
    free(got);
    ig_plan_free(&plan);
    ig_model_free(m);
}

static void test_nearest(void) {
    vk_test_spec s = vk_test_spec_tiny("nearest", 0, 1);
    const char *path = vk_test_path("parity_nearest.safetensors");
    CHECK(vk_test_model_write(path, &s, 1) == 0);
    parity_model("nearest", path, 0);
}

static void test_bilinear_in(void) {
    vk_test_spec s = vk_test_spec_tiny("bilinear", 1, 1);
    const char *path = vk_test_path("parity_bil.safetensors");
    CHECK(vk_test_model_write(path, &s, 2) == 0);
    parity_model("bilinear+IN", path, 0);
}

static void test_churches_like(void) {
    vk_test_spec s = vk_test_spec_tiny("nearest", 0, 0);
    const char *path = vk_test_path("parity_churches.safetensors");
    CHECK(vk_test_model_write(path, &s, 3) == 0);
    parity_model("churches-like", path, 0);
}

static void test_golden_tiny(void) {
    const char *path = vk_test_data("golden_tiny.safetensors");
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("  golden_tiny.safetensors absent: skipped\n");
        return;
    }
    fclose(f);
    parity_model("golden_tiny", path, 0);
}

int main(void) {
    vk_test_init();
    {
        ig_vk_desc d = vk_test_desc();
        ig_vk_context *ctx = NULL;
        ig_error err = {0};
        if (ig_vk_context_create(&d, &ctx, &err) == IG_OK) printf("%s\n", ig_vk_context_summary(ctx));
        ig_vk_context_destroy(ctx);
    }
    RUN(test_nearest);
    RUN(test_bilinear_in);
    RUN(test_churches_like);
    RUN(test_golden_tiny);
    return TEST_EXIT();
}
