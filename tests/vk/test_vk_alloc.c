/* test_vk_alloc.c - allocation-failure injection: the k-th Vulkan allocation or object
 * creation fails (VK_ERROR_OUT_OF_DEVICE_MEMORY, injected), for every k of a context creation
 * and of a first render. Each must end in a clean IG_ERR_OUT_OF_DEVICE_MEMORY naming the call,
 * with no crash, no leak (ASan/LSan build) and no validation error; a context whose render
 * failed must render correctly afterwards.
 * Also the bounded fence wait: with INRGAN_VK_FENCE_TIMEOUT at 1 ns a render ends in
 * IG_ERR_DEVICE_LOST ("did not finish a submission"), the context refuses later renders, and a
 * malformed value is a named error that leaves the context usable. */
#include "vk_test.h"

static void test_context_creation(void) {
    ig_error err = {0};
    int k;
    for (k = 1; k < 200; k++) {
        ig_vk_desc d = vk_test_desc();
        d.fail_alloc_at = k;
        ig_vk_context *ctx = NULL;
        ig_result r = ig_vk_context_create(&d, &ctx, &err);
        if (r == IG_OK) {
            vk_test_ctx_ok(ctx);
            ig_vk_context_destroy(ctx);
            break;
        }
        CHECK_MSG(r == IG_ERR_OUT_OF_DEVICE_MEMORY, "k=%d: %s: %s", k, ig_result_name(r), err.msg);
        CHECK_MSG(strstr(err.msg, "VK_ERROR_OUT_OF_DEVICE_MEMORY") != NULL, "k=%d: %s", k, err.msg);
        CHECK_MSG(strstr(err.msg, "injected") != NULL, "k=%d: %s", k, err.msg);
        CHECK(ctx == NULL);
        printf("  create, allocation %d: %s\n", k, err.msg);
    }
    CHECK(k > 3); /* instance, device, ... were counted */
}

static void render_injection(const char *label, const char *path, int precision, int fmm) {
    ig_model *m = NULL;
    ig_plan plan;
    if (vk_test_load(path, &m, &plan, 0) != 0) {
        CHECK(0);
        return;
    }
    const ig_config *c = ig_model_config(m);
    float *z = vk_test_latents(2, c->z_dim);
    size_t n = (size_t)2 * 3 * plan.width * plan.height;
    float *ref = malloc(n * sizeof *ref), *got = malloc(n * sizeof *got);
    ig_render_desc rd = {.model = m, .plan = &plan, .z = z, .count = 2, .psi = c->truncation_psi};
    ig_error err = {0};
    ig_vk_desc d = vk_test_desc();
    d.precision = precision;
    d.fmm = fmm;

    /* baseline: how many allocations one context + one render make */
    ig_vk_context *ctx = NULL;
    CHECK_MSG(ig_vk_context_create(&d, &ctx, &err) == IG_OK, "%s", err.msg);
    if (!ctx) goto out;
    uint32_t a0 = ig_vk_alloc_count(ctx);
    CHECK_MSG(ig_vk_render(ctx, &rd, ref, &err) == IG_OK, "%s", err.msg);
    uint32_t total = ig_vk_alloc_count(ctx) - a0;
    vk_test_ctx_ok(ctx);
    ig_vk_context_destroy(ctx);
    printf("  %s: %u allocations in the first render\n", label, total);
    CHECK(total >= 8);

    for (uint32_t k = 1; k <= total; k++) {
        ctx = NULL;
        CHECK_MSG(ig_vk_context_create(&d, &ctx, &err) == IG_OK, "%s", err.msg);
        if (!ctx) break;
        ig_vk_set_fail_alloc(ctx, (int)k);
        ig_result r = ig_vk_render(ctx, &rd, got, &err);
        CHECK_MSG(r == IG_ERR_OUT_OF_DEVICE_MEMORY, "%s k=%u: %s: %s", label, k, ig_result_name(r),
                  err.msg);
        CHECK_MSG(strstr(err.msg, "injected") != NULL && strstr(err.msg, "VK_ERROR_") != NULL,
                  "%s k=%u: %s", label, k, err.msg);
        if (k <= 3 || k == total) printf("  %s k=%u: %s\n", label, k, err.msg);
        /* the context is still good */
        ig_vk_set_fail_alloc(ctx, 0);
        memset(got, 0, n * sizeof *got);
        r = ig_vk_render(ctx, &rd, got, &err);
        CHECK_MSG(r == IG_OK, "%s k=%u: render after the failure: %s", label, k, err.msg);
        if (r == IG_OK) CHECK_MSG(memcmp(got, ref, n * sizeof *got) == 0, "%s k=%u: output differs", label, k);
        vk_test_ctx_ok(ctx);
        ig_vk_context_destroy(ctx);
    }
out:
    free(z);
    free(ref);
    free(got);
    ig_plan_free(&plan);
    ig_model_free(m);
}

static void test_render_nearest(void) {
    vk_test_spec s = vk_test_spec_tiny("nearest", 0, 1);
    const char *path = vk_test_path("alloc_nearest.safetensors");
    CHECK(vk_test_model_write(path, &s, 11) == 0);
    render_injection("nearest fp32", path, IG_VK_PRECISION_FP32, IG_VK_FMM_PASS);
}

static void test_render_bil_fp16_fused(void) {
    vk_test_spec s = vk_test_spec_tiny("bilinear", 1, 1);
    const char *path = vk_test_path("alloc_bil.safetensors");
    CHECK(vk_test_model_write(path, &s, 12) == 0);
    render_injection("bilinear+IN fp16 fused", path, IG_VK_PRECISION_FP16, IG_VK_FMM_FUSED);
}

static void test_fence_timeout(void) {
    vk_test_spec s = vk_test_spec_tiny("nearest", 0, 1);
    const char *path = vk_test_path("alloc_timeout.safetensors");
    CHECK(vk_test_model_write(path, &s, 13) == 0);
    ig_model *m = NULL;
    ig_plan plan;
    if (vk_test_load(path, &m, &plan, 256) != 0) {
        CHECK(0);
        return;
    }
    const ig_config *c = ig_model_config(m);
    float *z = vk_test_latents(2, c->z_dim);
    float *out = malloc((size_t)2 * 3 * plan.width * plan.height * sizeof *out);
    ig_render_desc rd = {.model = m, .plan = &plan, .z = z, .count = 2, .psi = c->truncation_psi};
    ig_error err = {0};
    ig_vk_desc d = vk_test_desc();
    ig_vk_context *ctx = NULL;

    /* a malformed limit: named, before anything is submitted; the context stays usable */
    CHECK_MSG(ig_vk_context_create(&d, &ctx, &err) == IG_OK, "%s", err.msg);
    if (!ctx || !out) goto out;
    setenv("INRGAN_VK_FENCE_TIMEOUT", "soon", 1);
    ig_result r = ig_vk_render(ctx, &rd, out, &err);
    CHECK_MSG(r != IG_OK && strstr(err.msg, "INRGAN_VK_FENCE_TIMEOUT"), "%s: %s", ig_result_name(r), err.msg);
    printf("  malformed: %s [%s]\n", err.msg, ig_result_name(r));
    unsetenv("INRGAN_VK_FENCE_TIMEOUT");
    CHECK_MSG(ig_vk_render(ctx, &rd, out, &err) == IG_OK, "after a malformed limit: %s", err.msg);
    vk_test_ctx_ok(ctx);
    ig_vk_context_destroy(ctx);

    /* 1 ns: the first submission that is not already done when waited for times out (a 256x256
     * render of two images on lavapipe takes milliseconds) */
    ctx = NULL;
    CHECK_MSG(ig_vk_context_create(&d, &ctx, &err) == IG_OK, "%s", err.msg);
    if (!ctx) goto out;
    setenv("INRGAN_VK_FENCE_TIMEOUT", "1e-9", 1);
    r = ig_vk_render(ctx, &rd, out, &err);
    unsetenv("INRGAN_VK_FENCE_TIMEOUT");
    CHECK_MSG(r == IG_ERR_DEVICE_LOST && strstr(err.msg, "did not finish a submission"), "%s: %s",
              ig_result_name(r), err.msg);
    printf("  timeout: %s [%s]\n", err.msg, ig_result_name(r));
    r = ig_vk_render(ctx, &rd, out, &err);
    CHECK_MSG(r == IG_ERR_DEVICE_LOST && strstr(err.msg, "lost earlier"), "second render: %s: %s",
              ig_result_name(r), err.msg);
    vk_test_ctx_ok(ctx);
    ig_vk_context_destroy(ctx); /* waits for the pending work, then frees: no hang, no leak */
out:
    free(z);
    free(out);
    ig_plan_free(&plan);
    ig_model_free(m);
}

int main(void) {
    vk_test_init();
    RUN(test_fence_timeout);
    RUN(test_context_creation);
    RUN(test_render_nearest);
    RUN(test_render_bil_fp16_fused);
    return TEST_EXIT();
}
