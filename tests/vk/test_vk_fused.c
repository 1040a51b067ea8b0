/* test_vk_fused.c - the fused level kernel of the INR-GAN Vulkan backend (ig_vk_desc.level_kernel
 * = IG_VK_KERNEL_FUSED, INRGAN_VK_KERNEL=fused: level_tile.comp for the levels whose widths fit
 * shared memory, the gemm kernel before them) against the C CPU backend:
 *   nearest models: every level fused (with extra convs, churches-like without), a 256-wide
 *   level (the widest fused: 8-pixel tiles and 32 K-steps on lavapipe's 32 KiB), levels wider
 *   than 256 on the gemm kernel before fused ones (the mixed plan), batches 1 and 3, the native
 *   view, non-native views at odd sizes (pixels not a multiple of any tile), stride 2,
 *   interpolation in z, w and params, a tile equal to the crop of the whole render bit for bit,
 *   a storage range that splits a batch into image groups; every render must really have run
 *   the fused kernel (ig_vk_level_kernel_used).
 *   A model with no level narrow enough runs the gemm kernel, so do bilinear models with and
 *   without instance norm; INRGAN_VK_KERNEL=fused turns it on for a default context.
 * The fused16 kernel (fp16 activations in shared memory) on a tiny and a mixed model (a 256-wide
 * fused level), tiles bit-exact too. The gemm kernel's tile sets forced large (levels padded to
 * 128 pixels) and small (64) under the fused kernel; fp16 storage runs "gemm-f16".
 * Tolerance: max |vk - cpu| <= 1e-4 * max(1, max |cpu|) (fused16: 2e-2). Validation layer on:
 * no errors. */
#include "vk_test.h"

#define TOL 1e-4
#define TOL16 2e-2

/* the kernel asked for and the tolerance: fused (1e-4) or fused16 (2e-2) */
static int g_kernel = IG_VK_KERNEL_FUSED;
static double g_tol = TOL;

/* Renders with both backends and checks the error (g_tol) and the kernel. */
static void check_render(ig_vk_context *ctx, const ig_model *m, const ig_plan *plan,
                         const float *z, const float *zb, int space, int count,
                         const char *kernel, const char *label, float *keep) {
    vk_test_check_render(ctx, m, plan, z, zb, space, count, kernel, label, g_tol, NULL, keep);
}

static ig_vk_context *fused_context(uint64_t cap_range) {
    ig_vk_desc d = vk_test_desc();
    d.level_kernel = g_kernel;
    d.cap_buffer_range = cap_range;
    ig_vk_context *ctx = NULL;
    ig_error err = {0};
    CHECK_MSG(ig_vk_context_create(&d, &ctx, &err) == IG_OK, "context: %s", err.msg);
    return ctx;
}

static ig_model *load_spec(const char *label, const vk_test_spec *spec, uint64_t seed) {
    char file[64];
    snprintf(file, sizeof file, "fused_%llu.safetensors", (unsigned long long)seed);
    const char *path = vk_test_path(file);
    CHECK(vk_test_model_write(path, spec, seed) == 0);
    ig_model *m = NULL;
    ig_error err = {0};
    if (ig_model_load(path, &m, &err) != IG_OK) {
        CHECK_MSG(0, "%s: %s", label, err.msg);
        return NULL;
    }
    return m;
}

/* Every case on a nearest model with the fused kernel (expected kernel name `kernel`). */
static void run_nearest(const char *label, const vk_test_spec *spec, uint64_t seed,
                        const char *kernel, bool all_cases) {
    char name[160];
    ig_model *m = load_spec(label, spec, seed);
    if (!m) return;
    const ig_config *c = ig_model_config(m);
    ig_vk_context *ctx = fused_context(0);
    if (!ctx) {
        ig_model_free(m);
        return;
    }
    CHECK_MSG(strstr(ig_vk_context_summary(ctx),
                     g_kernel == IG_VK_KERNEL_FUSED16 ? "kernel=fused16" : "kernel=fused ") != NULL,
              "summary: %s", ig_vk_context_summary(ctx));
    float *z = vk_test_latents(6, c->z_dim), *zb = z + 3 * c->z_dim;
    int R = c->resolution;
    struct {
        const char *name;
        ig_plan_desc pd;
        int count, space; /* space -1: no interpolation */
        bool always;
    } cases[] = {
        {"native", {.width = R, .height = R}, 1, -1, true},
        {"native", {.width = R, .height = R}, 3, -1, true},
        {"view 20x12", {.view = {-1.5, -0.75, 1.25, 0.9}, .width = 20, .height = 12}, 2, -1, true},
        {"view 13x7", {.view = {-0.4, -1.1, 0.9, 1.3}, .width = 13, .height = 7}, 3, -1, false},
        {"stride 2", {.width = R, .height = R, .stride = 2}, 2, -1, false},
        {"interp z", {.width = R, .height = R}, 3, IG_SPACE_Z, false},
        {"interp w", {.width = R, .height = R}, 3, IG_SPACE_W, false},
        {"interp params", {.width = R, .height = R}, 2, IG_SPACE_PARAMS, false},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        if (!all_cases && !cases[k].always) continue;
        ig_plan plan;
        ig_error err = {0};
        if (ig_plan_make(&plan, c, &cases[k].pd, &err) != IG_OK) {
            CHECK_MSG(0, "%s %s: plan: %s", label, cases[k].name, err.msg);
            continue;
        }
        snprintf(name, sizeof name, "%s %s", label, cases[k].name);
        check_render(ctx, m, &plan, z, cases[k].space >= 0 ? zb : NULL, cases[k].space,
                     cases[k].count, kernel, name, NULL);
        ig_plan_free(&plan);
    }

    /* a tile is the crop of the whole render, bit for bit (batch 2: both images) */
    ig_plan whole = {0}, tile = {0};
    ig_error err = {0};
    ig_plan_desc wd = {.width = R, .height = R};
    int tx = R >= 16 ? 3 : 1, ty = R >= 16 ? 5 : 2, tw = R >= 16 ? 7 : 5, th = R >= 16 ? 6 : 5;
    ig_plan_desc td = {.width = R, .height = R, .tile_x = tx, .tile_y = ty, .tile_w = tw,
                       .tile_h = th};
    CHECK_MSG(ig_plan_make(&whole, c, &wd, &err) == IG_OK, "%s: whole plan: %s", label, err.msg);
    if (whole.n_levels > 0) {
        CHECK_MSG(ig_plan_make(&tile, c, &td, &err) == IG_OK, "%s: tile plan: %s", label,
                  err.msg);
        if (tile.n_levels > 0) {
            float *a = malloc((size_t)2 * 3 * R * R * sizeof *a);
            float *b = malloc((size_t)2 * 3 * tw * th * sizeof *b);
            snprintf(name, sizeof name, "%s whole", label);
            check_render(ctx, m, &whole, z, NULL, 0, 2, kernel, name, a);
            snprintf(name, sizeof name, "%s tile", label);
            check_render(ctx, m, &tile, z, NULL, 0, 2, kernel, name, b);
            int diff = 0;
            for (int n = 0; n < 2; n++)
                for (int ch = 0; ch < 3; ch++)
                    for (int y = 0; y < th; y++)
                        for (int x = 0; x < tw; x++)
                            diff += memcmp(&b[((n * 3 + ch) * th + y) * tw + x],
                                           &a[(((size_t)n * 3 + ch) * R + ty + y) * R + tx + x],
                                           4) != 0;
            CHECK_MSG(diff == 0, "%s: %d tile values differ from the whole render", label, diff);
            free(a);
            free(b);
            ig_plan_free(&tile);
        }
        ig_plan_free(&whole);
    }
    vk_test_ctx_ok(ctx);
    ig_vk_context_destroy(ctx);
    free(z);
    ig_model_free(m);
}

/* A nearest model's header with n_blocks blocks (the caller fills them in). */
static vk_test_spec nearest_spec(int n_blocks) {
    return (vk_test_spec){.z_dim = 16, .w_dim = 24, .map_layers = 2, .rank = 2,
                          .upsampling = "nearest", .psi = 0.8, .n_blocks = n_blocks};
}

/* levels 0 and 1 wider than 256 (b8 `w8` wide: 260 on the gemm kernel, 256 the widest fused
 * one), then 40- and 12-wide levels */
static vk_test_spec mixed_spec(int w8) {
    vk_test_spec s = nearest_spec(4);
    s.blocks[0] = (vk_test_block){"b4", 4, 264, 0, 3, 1, 0, 4};
    s.blocks[1] = (vk_test_block){"b8", 8, w8, 1, 3, 0, 4, 2};
    s.blocks[2] = (vk_test_block){"b16", 16, 40, 1, 4, 0, 4, 2};
    s.blocks[3] = (vk_test_block){"b32", 32, 12, 0, 4, 0, 4, 2};
    return s;
}

/* every level fused */
static void test_tiny_extra(void) {
    vk_test_spec s = vk_test_spec_tiny("nearest", 0, 1);
    run_nearest("nearest+extra", &s, 61, "fused", true);
}

static void test_churches_like(void) {
    vk_test_spec s = vk_test_spec_tiny("nearest", 0, 0);
    run_nearest("churches-like", &s, 62, "fused", false);
}

/* the widest fused level (256: 8-pixel tiles on 32 KiB of shared memory, 32 K-steps) and a
 * 72-wide one (K not a multiple of the 8-channel step) */
static void test_wide(void) {
    vk_test_spec s = nearest_spec(3);
    s.blocks[0] = (vk_test_block){"b4", 4, 256, 0, 3, 1, 0, 4};
    s.blocks[1] = (vk_test_block){"b8", 8, 72, 1, 3, 0, 4, 2};
    s.blocks[2] = (vk_test_block){"b16", 16, 20, 0, 4, 0, 4, 2};
    run_nearest("wide", &s, 63, "fused", false);
}

/* levels 0 and 1 wider than 256 (the gemm kernel), then fused levels */
static void test_mixed(void) {
    vk_test_spec s = mixed_spec(260);
    run_nearest("mixed", &s, 64, "fused", true);
    /* no level narrow enough: the gemm kernel alone */
    vk_test_spec g = nearest_spec(2);
    g.blocks[0] = (vk_test_block){"b4", 4, 264, 0, 3, 1, 0, 4};
    g.blocks[1] = (vk_test_block){"b8", 8, 260, 0, 3, 0, 4, 2};
    run_nearest("all wide", &g, 65, "gemm", false);
}

/* fp16 activations in shared memory (fused16): within fp16 storage's tolerance, and still a
 * tile equal to the crop of the whole render bit for bit */
static void test_fused16(void) {
    g_kernel = IG_VK_KERNEL_FUSED16;
    g_tol = TOL16;
    vk_test_spec s = vk_test_spec_tiny("nearest", 0, 1);
    run_nearest("fused16 nearest+extra", &s, 71, "fused16", true);
    vk_test_spec w = mixed_spec(256);
    run_nearest("fused16 mixed", &w, 72, "fused16", false);
    g_kernel = IG_VK_KERNEL_FUSED;
    g_tol = TOL;
}

/* The gemm kernel's tile sets under the fused kernel (INRGAN_VK_GEMM_TILE): large pads every
 * level to 128 pixels (the gemm levels, the coarse products over the previous level's tile set,
 * the rows the fused levels read and write), small to 64; both on the mixed plan. With fp16
 * storage a fused request runs the gemm kernel in fp16 (level_tile.comp reads fp32 buffers):
 * "gemm-f16", within fp16 storage's tolerance. */
static void test_gemm_tiles(void) {
    vk_test_spec s = mixed_spec(260);
    static const char *tiles[] = {"large", "small"};
    for (int i = 0; i < 2; i++) {
        char label[64];
        snprintf(label, sizeof label, "%s tiles mixed", tiles[i]);
        setenv("INRGAN_VK_GEMM_TILE", tiles[i], 1);
        run_nearest(label, &s, 73, "fused", false);
        unsetenv("INRGAN_VK_GEMM_TILE");
    }
    ig_model *m = load_spec("fp16 storage", &s, 74);
    if (!m) return;
    const ig_config *c = ig_model_config(m);
    ig_vk_desc d = vk_test_desc();
    d.level_kernel = IG_VK_KERNEL_FUSED;
    d.precision = IG_VK_PRECISION_FP16;
    ig_vk_context *ctx = NULL;
    ig_error err = {0};
    ig_plan plan;
    CHECK_MSG(ig_vk_context_create(&d, &ctx, &err) == IG_OK, "context: %s", err.msg);
    if (ctx && ig_vk_context_precision(ctx) != IG_VK_PRECISION_FP16) {
        printf("  fp16 storage: skipped (no 16-bit storage)\n");
    } else if (ctx && ig_plan_init(&plan, c, ig_view_native(), c->resolution, c->resolution,
                                   &err) == IG_OK) {
        float *z = vk_test_latents(2, c->z_dim);
        g_tol = TOL16;
        check_render(ctx, m, &plan, z, NULL, 0, 2, "gemm-f16", "fp16 storage mixed", NULL);
        g_tol = TOL;
        free(z);
        ig_plan_free(&plan);
        vk_test_ctx_ok(ctx);
    }
    ig_vk_context_destroy(ctx);
    ig_model_free(m);
}

/* A storage range that holds the activations of two images but not three: groups of two and
 * one image, for the coarse product and the fused dispatch alike. */
static void test_groups(void) {
    vk_test_spec s = vk_test_spec_tiny("nearest", 0, 1);
    ig_model *m = load_spec("groups", &s, 66);
    if (!m) return;
    ig_plan plan;
    ig_error err = {0};
    const ig_config *c = ig_model_config(m);
    if (ig_plan_init(&plan, c, ig_view_native(), c->resolution, c->resolution, &err) != IG_OK) {
        CHECK_MSG(0, "groups: plan: %s", err.msg);
        ig_model_free(m);
        return;
    }
    vk_test_check_groups(fused_context(32768), m, &plan, 32768, "fused", "range 32 KiB", g_tol);
    ig_plan_free(&plan);
    ig_model_free(m);
}

/* bilinear models, with and without instance norm: the gemm kernel (level_tile.comp gathers
 * nearest only and has no instance norm), same results; the environment switch */
static void test_fallbacks(void) {
    ig_error err = {0};
    struct {
        const char *label, *kernel;
        int in;
    } fb[] = {{"bilinear+IN", "gemm", 1}, {"bilinear", "gemm", 0}};
    for (int i = 0; i < 2; i++) {
        vk_test_spec s = vk_test_spec_tiny("bilinear", fb[i].in, 1);
        ig_model *m = load_spec(fb[i].label, &s, 67 + 10 * i);
        if (!m) continue;
        const ig_config *c = ig_model_config(m);
        ig_plan plan;
        ig_vk_context *ctx = fused_context(0);
        if (ctx && ig_plan_init(&plan, c, ig_view_native(), c->resolution, c->resolution,
                                &err) == IG_OK) {
            float *z = vk_test_latents(2, c->z_dim);
            check_render(ctx, m, &plan, z, NULL, 0, 2, fb[i].kernel, fb[i].label, NULL);
            free(z);
            ig_plan_free(&plan);
            vk_test_ctx_ok(ctx);
        }
        ig_vk_context_destroy(ctx);
        ig_model_free(m);
    }
    vk_test_check_kernel_env("fused");
}

int main(void) {
    vk_test_init();
    RUN(test_tiny_extra);
    RUN(test_churches_like);
    RUN(test_wide);
    RUN(test_mixed);
    RUN(test_fused16);
    RUN(test_gemm_tiles);
    RUN(test_groups);
    RUN(test_fallbacks);
    return TEST_EXIT();
}
