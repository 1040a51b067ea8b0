/* test_vk_gated.c - the shader variants gated by an extension (IG_SHADER_REQ lines of
 * src/vk/vk_shaders.def; docs/building.md). A variant compiled out (the build's glslang lacks
 * its extension) must fail pipeline creation with IG_ERR_UNSUPPORTED naming the variant and
 * the extension, never crash; the context stays usable and free of validation errors. A built
 * one is listed as built (it is not run here: lavapipe has no cooperative matrices). Meaningful
 * in a build with Debian 12's glslang (tests/test_toolchain.py system builds and runs it); with
 * the private toolchain nothing is compiled out and it checks only the listing. */
#include "vk_test.h"

static void test_gated(void) {
    int n = ig_vk_test_gated_shader(0, NULL, NULL, NULL);
    CHECK(n >= 1); /* at least peak_coop_khr */
    ig_vk_desc desc = vk_test_desc();
    ig_vk_context *ctx = NULL;
    ig_error err = {0};
    CHECK_MSG(ig_vk_context_create(&desc, &ctx, &err) == IG_OK, "%s", err.msg);
    if (!ctx) return;
    int out = 0;
    for (int i = 0; i < n; i++) {
        const char *name = NULL, *req = NULL;
        bool built = false;
        CHECK(ig_vk_test_gated_shader(i, &name, &req, &built) == n);
        CHECK(name && req && strncmp(req, "GL_", 3) == 0);
        printf("gated %s (%s): %s\n", name, req, built ? "built" : "compiled out");
        if (built) continue;
        out++;
        ig_error e = {0};
        ig_result r = ig_vk_test_gated_pipeline(ctx, i, &e);
        CHECK_MSG(r == IG_ERR_UNSUPPORTED, "%s: %s", name, ig_result_name(r));
        CHECK_MSG(strstr(e.msg, name) && strstr(e.msg, req), "message: %s", e.msg);
        printf("  -> %s [%s]\n", e.msg, ig_result_name(r));
    }
    CHECK(ig_vk_test_gated_pipeline(ctx, n, &err) == IG_ERR_INVALID_ARGUMENT);
    printf("%d of %d gated variant(s) compiled out\n", out, n);
    vk_test_ctx_ok(ctx);
    ig_vk_context_destroy(ctx);
}

int main(void) {
    vk_test_init();
    RUN(test_gated);
    return TEST_EXIT();
}
