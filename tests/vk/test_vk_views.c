/* test_vk_views.c - Vulkan against the CPU backend on every kind of plan (src/plan.c):
 * sizes the levels do not divide, zoomed-out and far-away views (embeddings far outside the
 * image), constant-embedding modes, tiles, strides, super-resolution; instance-norm models
 * whose statistics come from a native-size pass; interpolation in z, w and params space.
 * fp32: max |vk - cpu| <= 1e-4 * max(1, max |cpu|); fp16 and the emulated coopmat kernel 2e-2. */
#include "vk_test.h"

typedef struct vcase {
    const char *name;
    ig_plan_desc pd;
    int space; /* -1: no interpolation */
} vcase;

static const vcase cases[] = {
    {"native", {.width = 16, .height = 16}, -1},
    {"padded 18x10", {.width = 18, .height = 10}, -1},
    {"zoomed out", {.view = {-2, -2, 2, 2}, .width = 16, .height = 16}, -1},
    {"zoomed out, zero consts", {.view = {-2, -2, 2, 2}, .width = 16, .height = 16, .const_mode = IG_CONST_ZERO}, -1},
    {"far away", {.view = {300, -301, 302, -299}, .width = 12, .height = 12}, -1},
    {"tile", {.width = 16, .height = 16, .tile_x = 3, .tile_y = 5, .tile_w = 7, .tile_h = 6}, -1},
    {"stride 2", {.width = 16, .height = 16, .stride = 2}, -1},
    {"stride 3 tile", {.width = 32, .height = 32, .stride = 3, .tile_x = 2, .tile_y = 1, .tile_w = 5, .tile_h = 7}, -1},
    {"super-res 32x32", {.width = 32, .height = 32}, -1},
    {"interp z", {.width = 16, .height = 16}, IG_SPACE_Z},
    {"interp w", {.width = 16, .height = 16}, IG_SPACE_W},
    {"interp params", {.width = 16, .height = 16}, IG_SPACE_PARAMS},
};

static void run_model(const char *label, const char *path, const ig_vk_desc *vd, double tol,
                      int only_first) {
    ig_error err = {0};
    ig_model *m = NULL;
    if (ig_model_load(path, &m, &err) != IG_OK) {
        CHECK_MSG(0, "%s: %s", label, err.msg);
        return;
    }
    const ig_config *c = ig_model_config(m);
    ig_vk_context *ctx = NULL;
    CHECK_MSG(ig_vk_context_create(vd, &ctx, &err) == IG_OK, "%s: %s", label, err.msg);
    float *za = vk_test_latents(2, c->z_dim), *zb = vk_test_latents(4, c->z_dim) + 2 * c->z_dim;
    const float t[2] = {0.3f, 1.0f};
    size_t n = sizeof cases / sizeof cases[0];
    if (only_first) n = (size_t)only_first;
    for (size_t k = 0; k < n && ctx; k++) {
        const vcase *vc = &cases[k];
        ig_plan_desc pd = vc->pd;
        if (pd.width == 16 && c->resolution != 16) pd.width = pd.height = c->resolution;
        ig_plan plan;
        if (ig_plan_make(&plan, c, &pd, &err) != IG_OK) {
            CHECK_MSG(0, "%s %s: plan: %s", label, vc->name, err.msg);
            continue;
        }
        size_t img = (size_t)3 * plan.width * plan.height;
        float *ref = malloc(2 * img * sizeof *ref), *got = malloc(2 * img * sizeof *got);
        ig_render_desc rd = {.model = m, .plan = &plan, .z = za, .count = 2, .psi = 0.7,
                             .threads = 1};
        if (vc->space >= 0) {
            rd.z_b = zb;
            rd.t = t;
            rd.space = (ig_space)vc->space;
        }
        ig_result r1 = ig_cpu_render(&rd, ref, &err);
        CHECK_MSG(r1 == IG_OK, "%s %s: cpu: %s", label, vc->name, err.msg);
        memset(got, 0xff, 2 * img * sizeof *got);
        ig_result r2 = ig_vk_render(ctx, &rd, got, &err);
        CHECK_MSG(r2 == IG_OK, "%s %s: vulkan: %s", label, vc->name, err.msg);
        if (r1 == IG_OK && r2 == IG_OK) {
            double e = vk_test_compare(got, ref, 2 * img);
            printf("  %s %s (%dx%d): max rel error %.3g\n", label, vc->name, plan.width,
                   plan.height, e);
            CHECK_MSG(e <= tol, "%s %s: error %.3g > %.3g", label, vc->name, e, tol);
            if (vc->space >= 0) { /* t = 1 is the endpoint exactly */
                ig_render_desc rb = {.model = m, .plan = &plan, .z = zb + c->z_dim, .count = 1,
                                     .psi = 0.7};
                float *end = malloc(img * sizeof *end);
                CHECK(ig_vk_render(ctx, &rb, end, &err) == IG_OK);
                /* bit-exact, except that a fused-FMM context renders params-space
                 * interpolation with the weight-generation pass (rounding differs) */
                bool exact = !(vd->fmm == IG_VK_FMM_FUSED && vc->space == IG_SPACE_PARAMS);
                if (exact)
                    CHECK_MSG(memcmp(end, got + img, img * sizeof *end) == 0,
                              "%s %s: t = 1 differs from the endpoint", label, vc->name);
                else
                    CHECK_MSG(vk_test_compare(got + img, end, img) <= tol,
                              "%s %s: t = 1 too far from the endpoint", label, vc->name);
                free(end);
            }
        }
        free(ref);
        free(got);
        ig_plan_free(&plan);
    }
    if (ctx) vk_test_ctx_ok(ctx);
    ig_vk_context_destroy(ctx);
    free(za);
    free(zb - 2 * c->z_dim);
    ig_model_free(m);
}

static void test_nearest(void) {
    vk_test_spec s = vk_test_spec_tiny("nearest", 0, 1);
    const char *path = vk_test_path("views_nearest.safetensors");
    CHECK(vk_test_model_write(path, &s, 31) == 0);
    ig_vk_desc d = vk_test_desc();
    run_model("nearest fp32", path, &d, 1e-4, 0);
    d.fmm = IG_VK_FMM_FUSED;
    run_model("nearest fp32 fused", path, &d, 1e-4, 0);
}

static void test_bilinear_in(void) {
    vk_test_spec s = vk_test_spec_tiny("bilinear", 1, 1);
    const char *path = vk_test_path("views_bil.safetensors");
    CHECK(vk_test_model_write(path, &s, 32) == 0);
    ig_vk_desc d = vk_test_desc();
    run_model("bilinear+IN fp32", path, &d, 1e-4, 0);
    d.precision = IG_VK_PRECISION_FP16;
    run_model("bilinear+IN fp16", path, &d, 2e-2, 0);
    d.coopmat_emulate = true;
    run_model("bilinear+IN coopmat-emulated", path, &d, 2e-2, 0);
}

static void test_tiny_bil_file(void) {
    const char *path = vk_test_data("tiny_bil.safetensors");
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("  tiny_bil.safetensors absent: skipped\n");
        return;
    }
    fclose(f);
    ig_vk_desc d = vk_test_desc();
    run_model("tiny_bil", path, &d, 1e-4, 7);
}

int main(void) {
    vk_test_init();
    RUN(test_nearest);
    RUN(test_bilinear_in);
    RUN(test_tiny_bil_file);
    return TEST_EXIT();
}
