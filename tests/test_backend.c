/* test_backend.c - backends as objects (include/inrgan/ig_backend.h): the CPU backend object
 * renders the same bytes as ig_cpu_render (INR-GAN and CIPS models, and through the
 * ig_backend_fn adapter, NULL included); its refusals are one-line errors with the CLI's words;
 * "auto" either takes Vulkan or says in its notice why it took the CPU; Vulkan without a usable
 * device is IG_ERR_NO_DEVICE, never a silent CPU. */
#include "ig_test.h"
#include "ig_backend.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#ifndef IG_TEST_DATA
#define IG_TEST_DATA "tests/data"
#endif

static char g_notice[1024];
static int g_notices;
static void notice(void *user, const char *line) {
    (void)user;
    snprintf(g_notice, sizeof g_notice, "%s", line);
    g_notices++;
}

/* Renders 2 seeds of the model at 24x24 with fn(ctx); returns the floats (caller frees). */
static float *render(const ig_model *m, ig_backend_fn fn, void *ctx, int threads, size_t *n) {
    const ig_config *c = ig_model_config(m);
    ig_plan plan;
    ig_error err = {0};
    CHECK(ig_plan_init(&plan, c, ig_view_native(), 24, 24, &err) == IG_OK);
    float *z = malloc(2 * (size_t)c->z_dim * sizeof *z);
    for (int s = 0; s < 2; s++) ig_latent_from_seed((uint32_t)s, z + (size_t)s * c->z_dim, c->z_dim);
    *n = (size_t)2 * 3 * plan.width * plan.height;
    float *out = malloc(*n * sizeof *out);
    ig_render_desc d = {.model = m, .plan = &plan, .z = z, .count = 2, .psi = 1.0, .threads = threads};
    ig_result r = fn ? fn(ctx, &d, out, &err) : ig_cpu_render(&d, out, &err);
    CHECK_MSG(r == IG_OK, "%s", err.msg);
    free(z);
    ig_plan_free(&plan);
    return out;
}

static ig_result direct(void *ctx, const ig_render_desc *d, float *out, ig_error *err) {
    return ig_backend_render((ig_backend *)ctx, d, out, err);
}

static void test_cpu_object(void) {
    static const char *models[] = {IG_TEST_DATA "/golden_tiny.safetensors", IG_TEST_DATA "/tiny_cips.safetensors"};
    ig_error err = {0};
    ig_backend *b = NULL;
    ig_backend_desc bd = {.kind = IG_BACKEND_CPU, .threads = 2, .notice = notice};
    g_notices = 0;
    CHECK_MSG(ig_backend_create(&bd, &b, &err) == IG_OK, "%s", err.msg);
    if (!b) return;
    CHECK(g_notices == 0); /* asked for the CPU: nothing to say */
    CHECK(strcmp(ig_backend_name(b), "cpu") == 0);
    CHECK(strcmp(ig_backend_label(b), "the CPU backend") == 0);
    CHECK(strcmp(ig_backend_describe(b), "the CPU backend") == 0);
    CHECK(strcmp(ig_backend_precision(b), "fp32") == 0);
    CHECK(ig_backend_device_index(b) == -1);
    CHECK(ig_backend_vk_context(b) == NULL);
    CHECK(ig_backend_check(b, &err) == IG_OK);
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        ig_model *m;
        CHECK_MSG(ig_model_load(models[i], &m, &err) == IG_OK, "%s: %s", models[i], err.msg);
        CHECK(ig_backend_prepare(b, &(ig_render_desc){.model = m}, &err) == IG_OK);
        size_t n, n1, n2, n3;
        float *ref = render(m, NULL, NULL, 0, &n);
        float *a = render(m, direct, b, 0, &n1);             /* the backend's 2 threads */
        float *c = render(m, ig_backend_render_fn, b, 1, &n2); /* the render's own thread count */
        float *d = render(m, ig_backend_render_fn, NULL, 0, &n3); /* NULL: the CPU backend */
        CHECK(n1 == n && n2 == n && n3 == n);
        CHECK_MSG(memcmp(ref, a, n * sizeof *a) == 0, "%s: ig_backend_render differs from ig_cpu_render", models[i]);
        CHECK_MSG(memcmp(ref, c, n * sizeof *c) == 0, "%s: ig_backend_render_fn differs", models[i]);
        CHECK_MSG(memcmp(ref, d, n * sizeof *d) == 0, "%s: ig_backend_render_fn(NULL) differs", models[i]);
        free(ref); free(a); free(c); free(d);
        ig_model_free(m);
    }
    ig_backend_free(b);
    ig_backend_free(NULL);
}

static void test_refusals(void) {
    ig_error err = {0};
    ig_backend *b = (ig_backend *)&err; /* must be reset to NULL on failure */
    ig_backend_desc bd = {.kind = IG_BACKEND_CPU, .device = "0"};
    CHECK(ig_backend_create(&bd, &b, &err) == IG_ERR_INVALID_ARGUMENT && b == NULL);
    CHECK_MSG(strcmp(err.msg, "-g 0 needs --backend vulkan or auto") == 0, "%s", err.msg);
    bd = (ig_backend_desc){.kind = IG_BACKEND_CPU, .precision = "fp16"};
    CHECK(ig_backend_create(&bd, &b, &err) == IG_ERR_INVALID_ARGUMENT && b == NULL);
    CHECK_MSG(strcmp(err.msg, "--precision fp16: the CPU backend computes in fp32") == 0, "%s", err.msg);
    bd = (ig_backend_desc){.kind = IG_BACKEND_CPU, .precision = "auto"};
    CHECK(ig_backend_create(&bd, &b, &err) == IG_OK && b);
    ig_backend_free(b);
    bd = (ig_backend_desc){.kind = (ig_backend_kind)7};
    CHECK(ig_backend_create(&bd, &b, &err) == IG_ERR_INVALID_ARGUMENT && b == NULL);
    CHECK(ig_backend_create(&bd, NULL, &err) == IG_ERR_INVALID_ARGUMENT);
    CHECK(ig_backend_render(NULL, NULL, NULL, &err) == IG_ERR_INVALID_ARGUMENT);
}

static void test_auto_and_vulkan(void) {
    ig_error err = {0};
    ig_backend *b = NULL;
    g_notices = 0;
    ig_backend_desc bd = {.kind = IG_BACKEND_AUTO, .notice = notice};
    ig_result r = ig_backend_create(&bd, &b, &err);
    CHECK_MSG(r == IG_OK && b, "%s", err.msg);
    if (!b) return;
    CHECK(g_notices == 1); /* one line either way */
    if (strcmp(ig_backend_name(b), "cpu") == 0) {
        CHECK_MSG(strncmp(g_notice, "no GPU found; using the CPU backend", 35) == 0 ||
                      strncmp(g_notice, "no usable GPU (", 15) == 0, "%s", g_notice);
    } else {
        CHECK(strcmp(ig_backend_name(b), "vulkan") == 0 && ig_backend_vk_context(b) != NULL);
        CHECK(strcmp(g_notice, ig_backend_describe(b)) == 0);
    }
    ig_backend_free(b);
    b = NULL;
    bd = (ig_backend_desc){.kind = IG_BACKEND_VULKAN, .notice = notice};
    r = ig_backend_create(&bd, &b, &err);
    CHECK_MSG(r == IG_OK || r == IG_ERR_NO_DEVICE, "%s [%s]", err.msg, ig_result_name(r));
    if (r == IG_OK) CHECK(strcmp(ig_backend_name(b), "vulkan") == 0 && ig_backend_device_index(b) >= 0);
    else CHECK(b == NULL); /* never a silent CPU */
    ig_backend_free(b);
}

int main(void) {
    /* as the vk tests: keep lavapipe and the validation layer mapped after the instance is gone
     * (LeakSanitizer would report their globals' blocks once the loader unloads them) */
    const char *libs[] = {"libvulkan_lvp.so", "libVkLayer_khronos_validation.so"};
    for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) dlopen(libs[i], RTLD_NOW | RTLD_NODELETE);
    RUN(test_cpu_object);
    RUN(test_refusals);
    RUN(test_auto_and_vulkan);
    return TEST_EXIT();
}
