/* test_vk_gemm.c - the gemm level kernel of the INR-GAN Vulkan backend (ig_vk_desc.level_kernel
 * = IG_VK_KERNEL_GEMM, INRGAN_VK_KERNEL=gemm) against the C CPU backend, for each tile set
 * (INRGAN_VK_GEMM_TILE=small: 64 x 64, large: 128 x 128; the large one runs single-buffered on
 * lavapipe, whose 32 KiB of shared memory hold one buffer, the small one double-buffered) and
 * each storage precision (fp32: kernel "gemm", fp16: "gemm-f16"):
 *   nearest models (with extra convs, churches-like without, one wider than a 64 x 64 tile),
 *   a bilinear model without instance norm (with extra convs; four-tap gathers), and one with
 *   instance norm (norm.comp's statistics folded into W; the views, tiles and strides that
 *   need the statistics pass, ig_lower_stats_pass, take the factors from the per-pixel
 *   statistics pass over the native plan and still run the gemm kernel; the tile then within
 *   the tolerance of the whole render instead of bit for bit), a view of R x R pixels and a
 *   tile equal to the whole render,
 *   batches 1 and 3, the native view, a non-native view at a non-square size, a tile (equal to
 *   the crop of the whole render, bit for bit), stride 2, interpolation in z, w and params;
 *   (ToRGB fused into the layers' epilogues on the small and large tiles, separate on coop);
 *   every render must really have run the gemm kernel (ig_vk_level_kernel_used) with the asked
 *   tile set (ig_vk_render_report.gemm_tiles); a storage range that splits a batch of 3 into
 *   image groups; the automatic choice (small on small levels, large on a 32 x 32 level of 128
 *   channels); a bad INRGAN_VK_GEMM_TILE fails the context creation (IG_ERR_USAGE);
 *   ig_vk_gemm_time times a layer and refuses bad arguments and tile sets it cannot run.
 *   The cooperative-matrix tile set (INRGAN_VK_GEMM_TILE=coop, fp16) through its scalar twin
 *   (INRGAN_VK_COOP_EMU=1, kernel "gemm-coop-emu": lavapipe has no cooperative matrices).
 *   Fallbacks to the per-pixel kernel that still match: bilinear + instance norm in the fused
 *   weight mode (IG_VK_FMM_FUSED), a storage
 *   range too small for one level's activations, INRGAN_VK_KERNEL=pixel, the coop tile set in
 *   fp32 (it needs fp16 storage).
 * Tolerance: max |vk - cpu| <= 1e-4 (fp32) or 2e-2 (fp16 storage, coop) * max(1, max |cpu|). */
#include "vk_test.h"

#include "lower.h" /* ig_lower_stats_pass: renders that need the statistics pass */

#define TOL 1e-4
#define TOL_F16 2e-2

static const char *want_tiles = NULL; /* gemm renders: the tile sets they must report */

/* Renders `count` images of plan with both backends and checks the error, the kernel and (gemm
 * kernels) the tile sets. */
static void check_render(ig_vk_context *ctx, const ig_model *m, const ig_plan *plan,
                         const float *z, const float *zb, int space, int count,
                         const char *kernel, const char *label, float *keep) {
    /* fp16 storage (also the per-pixel fallback of an fp16 context) */
    double tol = strcmp(kernel, "gemm-f16") == 0 || strncmp(kernel, "gemm-coop", 9) == 0 ||
                         ig_vk_context_precision(ctx) == IG_VK_PRECISION_FP16
                     ? TOL_F16
                     : TOL;
    vk_test_check_render(ctx, m, plan, z, zb, space, count, kernel, label, tol,
                         strncmp(kernel, "gemm", 4) == 0 ? want_tiles : NULL, keep);
}

static ig_vk_context *gemm_context_fmm(int precision, uint64_t cap_range, int fmm) {
    ig_vk_desc d = vk_test_desc();
    if (fmm) d.fmm = fmm; /* IG_VK_FMM_FUSED: no generated weights, the gemm kernel refuses */
    d.level_kernel = IG_VK_KERNEL_GEMM;
    d.precision = precision;
    d.cap_buffer_range = cap_range;
    ig_vk_context *ctx = NULL;
    ig_error err = {0};
    CHECK_MSG(ig_vk_context_create(&d, &ctx, &err) == IG_OK, "context: %s", err.msg);
    return ctx;
}
static ig_vk_context *gemm_context(int precision, uint64_t cap_range) {
    return gemm_context_fmm(precision, cap_range, 0);
}

/* Every case on a nearest (or bilinear without instance norm) model with the gemm kernel, in
 * the given precision and tile set. */
static void run_nearest_with(const char *label0, const vk_test_spec *spec, uint64_t seed,
                             int precision, const char *tiles) {
    char file[64], name[160];
    snprintf(file, sizeof file, "gemm_%llu.safetensors", (unsigned long long)seed);
    const char *path = vk_test_path(file);
    CHECK(vk_test_model_write(path, spec, seed) == 0);
    ig_model *m = NULL;
    ig_error err = {0};
    if (ig_model_load(path, &m, &err) != IG_OK) {
        CHECK_MSG(0, "%s: %s", label0, err.msg);
        return;
    }
    const ig_config *c = ig_model_config(m);
    bool coop = strcmp(tiles, "coop") == 0; /* on lavapipe: the scalar twin */
    setenv("INRGAN_VK_GEMM_TILE", tiles, 1);
    if (coop) setenv("INRGAN_VK_COOP_EMU", "1", 1);
    ig_vk_context *ctx = gemm_context(precision, 0);
    unsetenv("INRGAN_VK_GEMM_TILE");
    unsetenv("INRGAN_VK_COOP_EMU");
    if (!ctx) {
        ig_model_free(m);
        return;
    }
    const char *kernel = "gemm";
    if (precision == IG_VK_PRECISION_FP16) {
        if (ig_vk_context_precision(ctx) != IG_VK_PRECISION_FP16) {
            printf("  %s fp16: skipped (no 16-bit storage)\n", label0);
            ig_vk_context_destroy(ctx);
            ig_model_free(m);
            return;
        }
        kernel = coop ? "gemm-coop-emu" : "gemm-f16";
    }
    char label[96];
    snprintf(label, sizeof label, "%s %s %s", label0, kernel, tiles);
    want_tiles = tiles;
    CHECK_MSG(strstr(ig_vk_context_summary(ctx), "kernel=gemm") != NULL, "summary: %s",
              ig_vk_context_summary(ctx));
    float *z = vk_test_latents(6, c->z_dim), *zb = z + 3 * c->z_dim;
    int R = c->resolution;
    struct {
        const char *name;
        ig_plan_desc pd;
        int count, space; /* space -1: no interpolation */
    } cases[] = {
        {"native", {.width = R, .height = R}, 1, -1},
        {"native", {.width = R, .height = R}, 3, -1},
        {"view 20x12", {.view = {-1.5, -0.75, 1.25, 0.9}, .width = 20, .height = 12}, 2, -1},
        {"view RxR", {.view = {-1.5, -0.75, 1.25, 0.9}, .width = R, .height = R}, 2, -1},
        {"tile = whole", {.width = R, .height = R, .tile_w = R, .tile_h = R}, 2, -1},
        {"stride 2", {.width = R, .height = R, .stride = 2}, 2, -1},
        {"interp z", {.width = R, .height = R}, 3, IG_SPACE_Z},
        {"interp w", {.width = R, .height = R}, 3, IG_SPACE_W},
        {"interp params", {.width = R, .height = R}, 2, IG_SPACE_PARAMS},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ig_plan plan;
        if (ig_plan_make(&plan, c, &cases[k].pd, &err) != IG_OK) {
            CHECK_MSG(0, "%s %s: plan: %s", label, cases[k].name, err.msg);
            continue;
        }
        snprintf(name, sizeof name, "%s %s", label, cases[k].name);
        /* instance norm with the statistics pass (views, tiles, strides): its factors from the
         * per-pixel statistics pass over the native plan, the levels on the gemm kernel */
        check_render(ctx, m, &plan, z, cases[k].space >= 0 ? zb : NULL, cases[k].space,
                     cases[k].count, kernel, name, NULL);
        ig_plan_free(&plan);
    }

    /* a tile is the crop of the whole render, bit for bit */
    ig_plan whole, tile;
    ig_plan_desc wd = {.width = R, .height = R};
    ig_plan_desc td = {.width = R, .height = R, .tile_x = 3, .tile_y = 5, .tile_w = 7, .tile_h = 6};
    if (ig_plan_make(&whole, c, &wd, &err) == IG_OK) {
        if (ig_plan_make(&tile, c, &td, &err) == IG_OK) {
            float *a = malloc((size_t)3 * R * R * sizeof *a), *b = malloc(3 * 7 * 6 * sizeof *b);
            /* instance norm: the tile's factors come from the statistics pass, the whole
             * render's from its own levels (other arithmetic: equal within the tolerance) */
            bool exact = ig_lower_stats_pass(c, &whole, NULL) == ig_lower_stats_pass(c, &tile, NULL);
            snprintf(name, sizeof name, "%s whole", label);
            check_render(ctx, m, &whole, z, NULL, 0, 1, kernel, name, a);
            snprintf(name, sizeof name, "%s tile", label);
            check_render(ctx, m, &tile, z, NULL, 0, 1, kernel, name, b);
            int diff = 0;
            double worst = 0;
            for (int ch = 0; ch < 3; ch++)
                for (int y = 0; y < 6; y++)
                    for (int x = 0; x < 7; x++) {
                        float u = b[(ch * 6 + y) * 7 + x], v = a[((size_t)ch * R + 5 + y) * R + 3 + x];
                        diff += memcmp(&u, &v, 4) != 0;
                        if (fabs((double)u - v) > worst) worst = fabs((double)u - v);
                    }
            if (exact)
                CHECK_MSG(diff == 0, "%s: %d tile values differ from the whole render", label, diff);
            else
                CHECK_MSG(worst <= (strcmp(kernel, "gemm") == 0 ? TOL : TOL_F16),
                          "%s: tile differs from the whole render by %.3g", label, worst);
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
    want_tiles = NULL;
}

/* ... for each tile set and precision */
static void run_nearest(const char *label, const vk_test_spec *spec, uint64_t seed) {
    static const char *tiles[] = {"small", "large"};
    static const int prec[] = {IG_VK_PRECISION_FP32, IG_VK_PRECISION_FP16};
    for (int p = 0; p < 2; p++)
        for (int t = 0; t < 2; t++) run_nearest_with(label, spec, seed, prec[p], tiles[t]);
    run_nearest_with(label, spec, seed, IG_VK_PRECISION_FP16, "coop");
}

static void test_tiny_extra(void) {
    vk_test_spec s = vk_test_spec_tiny("nearest", 0, 1);
    run_nearest("nearest+extra", &s, 41);
}

/* bilinear up-sampling without instance norm: the coarse product and the running rgb
 * gathered with the plan's four-tap maps (align_corners), every tile set and precision */
static void test_tiny_bilinear(void) {
    vk_test_spec s = vk_test_spec_tiny("bilinear", 0, 1);
    run_nearest("bilinear+extra", &s, 48);
}

/* bilinear + instance norm (the -bil models): norm.comp's statistics over the level's grid,
 * folded into W's columns as the GEMM loads them; the views and tiles that need the statistics
 * pass run the per-pixel kernel */
static void test_tiny_bil_in(void) {
    vk_test_spec s = vk_test_spec_tiny("bilinear", 1, 1);
    run_nearest("bilinear+IN+extra", &s, 49);
}

static void test_churches_like(void) {
    vk_test_spec s = vk_test_spec_tiny("nearest", 0, 0);
    run_nearest("churches-like", &s, 42);
}

/* wider than one 64 x 64 tile and K over several 16-steps */
static void test_wide(void) {
    vk_test_spec s = {.z_dim = 16, .w_dim = 24, .map_layers = 2, .rank = 2,
                      .upsampling = "nearest", .psi = 0.8, .n_blocks = 3};
    s.blocks[0] = (vk_test_block){"b4", 4, 72, 0, 3, 1, 0, 4};
    s.blocks[1] = (vk_test_block){"b8", 8, 40, 1, 3, 0, 4, 2};
    s.blocks[2] = (vk_test_block){"b16", 16, 24, 0, 4, 0, 4, 2};
    run_nearest("wide", &s, 43);
}

/* A storage range that holds the activations of two images but not three (and the largest
 * embedding): groups of two and one image (nearest; bilinear + instance norm: the factors and
 * partials of the second group at their image offsets). */
static void run_groups(int bil);
static void test_groups(void) {
    for (int bil = 0; bil < 2; bil++)
        run_groups(bil);
}
static void run_groups(int bil) {
    vk_test_spec s = vk_test_spec_tiny(bil ? "bilinear" : "nearest", bil, 1);
    const char *path = vk_test_path("gemm_groups.safetensors");
    CHECK(vk_test_model_write(path, &s, 45) == 0);
    ig_model *m = NULL;
    ig_plan plan;
    if (vk_test_load(path, &m, &plan, 0) != 0) {
        CHECK_MSG(0, "groups: model");
        return;
    }
    /* fp32, "gemm": TOL; no tile-set check (want_tiles is NULL here) */
    vk_test_check_groups(gemm_context(IG_VK_PRECISION_FP32, 32768), m, &plan, 32768, "gemm",
                         bil ? "bilinear+IN range 32 KiB" : "range 32 KiB", TOL);
    ig_plan_free(&plan);
    ig_model_free(m);
}

/* Renders that the gemm kernel does not take: the per-pixel kernel, same results. */
static void test_fallbacks(void) {
    struct {
        const char *label, *up;
        int in, precision;
        uint64_t cap;
        const char *env;
        int fmm;
    } fb[] = {
        {"bilinear+IN, fused weights", "bilinear", 1, IG_VK_PRECISION_FP32, 0, NULL,
         IG_VK_FMM_FUSED},
        {"small storage range", "nearest", 0, IG_VK_PRECISION_FP32, 8192, NULL, 0},
        {"INRGAN_VK_KERNEL=pixel", "nearest", 0, IG_VK_PRECISION_FP32, 0, "pixel", 0},
        {"INRGAN_VK_GEMM_TILE=coop, fp32", "nearest", 0, IG_VK_PRECISION_FP32, 0, "coop", 0},
    };
    for (size_t i = 0; i < sizeof fb / sizeof fb[0]; i++) {
        vk_test_spec s = vk_test_spec_tiny(fb[i].up, fb[i].in, 1);
        const char *path = vk_test_path("gemm_fallback.safetensors");
        CHECK(vk_test_model_write(path, &s, 50 + i) == 0);
        ig_model *m = NULL;
        ig_plan plan;
        if (vk_test_load(path, &m, &plan, 0) != 0) {
            CHECK_MSG(0, "%s: model", fb[i].label);
            continue;
        }
        bool tile = fb[i].env && strcmp(fb[i].env, "coop") == 0;
        if (fb[i].env) setenv(tile ? "INRGAN_VK_GEMM_TILE" : "INRGAN_VK_KERNEL", fb[i].env, 1);
        ig_vk_context *ctx = gemm_context_fmm(fb[i].precision, fb[i].cap, fb[i].fmm);
        unsetenv("INRGAN_VK_KERNEL");
        unsetenv("INRGAN_VK_GEMM_TILE");
        if (ctx) {
            const ig_config *c = ig_model_config(m);
            float *z = vk_test_latents(3, c->z_dim);
            check_render(ctx, m, &plan, z, NULL, 0, 3, "pixel", fb[i].label, NULL);
            free(z);
            vk_test_ctx_ok(ctx);
        }
        ig_vk_context_destroy(ctx);
        ig_plan_free(&plan);
        ig_model_free(m);
    }
    /* and the environment switch turns the gemm kernel on for a default context */
    vk_test_check_kernel_env("gemm");
}

/* The automatic tile choice: small on the small levels, large on a 32 x 32 level whose layers
 * have 128 outputs (where the device has room for it; else small throughout). */
static void test_auto_tiles(void) {
    vk_test_spec s = {.z_dim = 16, .w_dim = 16, .map_layers = 2, .rank = 2,
                      .upsampling = "nearest", .psi = 0.8, .n_blocks = 3};
    s.blocks[0] = (vk_test_block){"b8", 8, 32, 0, 3, 1, 0, 4};
    s.blocks[1] = (vk_test_block){"b16", 16, 32, 0, 3, 0, 4, 2};
    s.blocks[2] = (vk_test_block){"b32", 32, 128, 0, 4, 0, 4, 2};
    const char *path = vk_test_path("gemm_auto.safetensors");
    CHECK(vk_test_model_write(path, &s, 47) == 0);
    ig_model *m = NULL;
    ig_plan plan;
    if (vk_test_load(path, &m, &plan, 0) != 0) {
        CHECK_MSG(0, "auto tiles: model");
        return;
    }
    ig_vk_context *ctx = gemm_context(IG_VK_PRECISION_FP32, 0);
    if (ctx) {
        float *z = vk_test_latents(2, ig_model_config(m)->z_dim);
        want_tiles = "small+large";
        check_render(ctx, m, &plan, z, NULL, 0, 2, "gemm", "auto tiles", NULL);
        want_tiles = NULL;
        free(z);
        vk_test_ctx_ok(ctx);
    }
    ig_vk_context_destroy(ctx);
    ig_plan_free(&plan);
    ig_model_free(m);
}

/* INRGAN_VK_GEMM_TILE other than small, large, auto: the context is not created. */
static void test_bad_tile_env(void) {
    setenv("INRGAN_VK_GEMM_TILE", "huge", 1);
    ig_vk_desc d = vk_test_desc();
    ig_vk_context *ctx = NULL;
    ig_error err = {0};
    ig_result r = ig_vk_context_create(&d, &ctx, &err);
    unsetenv("INRGAN_VK_GEMM_TILE");
    CHECK_MSG(r == IG_ERR_USAGE && !ctx, "INRGAN_VK_GEMM_TILE=huge: %d %s", (int)r, err.msg);
    CHECK_MSG(strstr(err.msg, "INRGAN_VK_GEMM_TILE=huge") != NULL, "message: %s", err.msg);
    ig_vk_context_destroy(ctx);
}

/* ig_vk_gemm_time (inrgan bench --gemm-sweep): one layer times and names its kernel; a bad tile
 * name, bad sizes and a tile set the context cannot run are refused. */
static void test_gemm_time(void) {
    ig_vk_context *ctx = gemm_context(IG_VK_PRECISION_FP32, 0);
    if (!ctx) return;
    ig_error err = {0};
    double ms = 0;
    const char *kernel = NULL;
    ig_result r = ig_vk_gemm_time(ctx, 100, 40, 72, 3, "large", 1, &ms, &kernel, &err);
    CHECK_MSG(r == IG_OK && ms > 0 && kernel && strcmp(kernel, "gemm") == 0, "large: %d %s %g %s",
              (int)r, err.msg, ms, kernel ? kernel : "-");
    r = ig_vk_gemm_time(ctx, 100, 40, 72, 3, "huge", 1, &ms, &kernel, &err);
    CHECK_MSG(r == IG_ERR_INVALID_ARGUMENT && ms < 0, "tile huge: %d", (int)r);
    r = ig_vk_gemm_time(ctx, 0, 40, 72, 3, "small", 1, &ms, &kernel, &err);
    CHECK_MSG(r == IG_ERR_INVALID_ARGUMENT, "0 pixels: %d", (int)r);
    r = ig_vk_gemm_time(ctx, 100, 40, 72, 3, "coop", 1, &ms, &kernel, &err);
    CHECK_MSG(r == IG_ERR_UNSUPPORTED && strstr(err.msg, "coop"), "coop in fp32: %d %s", (int)r,
              err.msg);
    printf("  ig_vk_gemm_time: refusals ok\n");
    vk_test_ctx_ok(ctx);
    ig_vk_context_destroy(ctx);
}

int main(void) {
    vk_test_init();
    RUN(test_tiny_extra);
    RUN(test_tiny_bilinear);
    RUN(test_tiny_bil_in);
    RUN(test_churches_like);
    RUN(test_wide);
    RUN(test_groups);
    RUN(test_auto_tiles);
    RUN(test_bad_tile_env);
    RUN(test_gemm_time);
    RUN(test_fallbacks);
    return TEST_EXIT();
}
