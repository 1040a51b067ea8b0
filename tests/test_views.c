/* test_views.c - continuous rendering on the CPU backend, for one model file (argv[1]):
 *  - tiles (random sizes and offsets, aligned and not) equal crops of the whole render, bit for bit,
 *    at the native size, at a size the levels do not divide, and in a zoomed-out view;
 *  - strided low-res renders equal the subsampled native render exactly;
 *  - super-resolution (2x size, all levels denser): the first block's features at the native
 *    grid positions equal the native render's exactly (the equality this design implies);
 *  - far outside the image and zoomed out: finite everywhere;
 *  - interpolation: t = 0 and t = 1 equal the endpoint renders in z, w and params space,
 *    and params space differs from z space in between. */
#include "ig_test.h"
#include "inrgan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const ig_model *g_model;
static const ig_config *g_cfg;
static float g_z[2][4096];

static float *render_desc(const ig_plan_desc *pd, int *w, int *h, const float *z_b, float t, ig_space space) {
    ig_plan plan;
    ig_error err = {0};
    if (ig_plan_make(&plan, g_cfg, pd, &err) != IG_OK) {
        CHECK_MSG(0, "plan: %s", err.msg);
        return NULL;
    }
    float *out = malloc((size_t)3 * plan.width * plan.height * sizeof *out);
    ig_render_desc d = {.model = g_model, .plan = &plan, .z = g_z[0], .count = 1, .psi = 0.8,
                        .z_b = z_b, .t = &t, .space = space};
    CHECK_MSG(ig_cpu_render(&d, out, &err) == IG_OK, "%s", err.msg);
    *w = plan.width;
    *h = plan.height;
    ig_plan_free(&plan);
    return out;
}

static float *render_view(ig_view v, int W, int H, int stride, int tx, int ty, int tw, int th, int *w, int *h) {
    ig_plan_desc pd = {.view = v, .width = W, .height = H, .stride = stride, .tile_x = tx, .tile_y = ty,
                       .tile_w = tw, .tile_h = th};
    return render_desc(&pd, w, h, NULL, 0, IG_SPACE_Z);
}

static bool all_finite(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return false;
    return true;
}

/* crop (x0, y0, w, h) of a [3][H][W] image equals the [3][h][w] tile exactly */
static bool equal_crop(const float *full, int W, int H, const float *tile, int x0, int y0, int w, int h) {
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < h; i++)
            if (memcmp(full + ((size_t)c * H + y0 + i) * W + x0, tile + ((size_t)c * h + i) * w, (size_t)w * 4)) return false;
    return true;
}

static void test_tiles(void) {
    int R = g_cfg->resolution;
    struct { ig_view v; int W, H; } cases[] = {
        {ig_view_native(), R, R},
        {ig_view_native(), R + R / 2 + 3, R - 5},        /* padded: not a multiple of the level step */
        {{-3.0, -2.0, 3.5, 2.5}, 2 * R, 2 * R - 6},      /* zoomed out, super-resolved */
    };
    unsigned seed = 12345;
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        int W, H, w, h;
        float *full = render_view(cases[k].v, cases[k].W, cases[k].H, 1, 0, 0, 0, 0, &W, &H);
        CHECK(W == cases[k].W && H == cases[k].H && all_finite(full, (size_t)3 * W * H));
        int ok = 0, n = 12;
        for (int t = 0; t < n; t++) {
            int step = 1 << (g_cfg->n_levels - 1);
            seed = seed * 1103515245u + 12345u;
            int tw = 1 + (int)(seed >> 8) % W, th = 1 + (int)(seed >> 18) % H;
            seed = seed * 1103515245u + 12345u;
            int x0 = (int)(seed >> 8) % (W - tw + 1), y0 = (int)(seed >> 18) % (H - th + 1);
            if (t % 3 == 0) { /* aligned to the coarsest grid */
                x0 = x0 / step * step;
                y0 = y0 / step * step;
            }
            float *tile = render_view(cases[k].v, cases[k].W, cases[k].H, 1, x0, y0, tw, th, &w, &h);
            bool same = w == tw && h == th && equal_crop(full, W, H, tile, x0, y0, tw, th);
            CHECK_MSG(same, "case %zu tile %dx%d at (%d,%d) differs from the crop", k, tw, th, x0, y0);
            ok += same;
            free(tile);
        }
        printf("  tiles, case %zu (%dx%d): %d/%d exact crops\n", k, W, H, ok, n);
        free(full);
    }
}

static void test_stride(void) {
    int R = g_cfg->resolution, W, H, w, h;
    float *full = render_view(ig_view_native(), R, R, 1, 0, 0, 0, 0, &W, &H);
    for (int s = 2; s <= 4; s++) {
        float *low = render_view(ig_view_native(), R, R, s, 0, 0, 0, 0, &w, &h);
        bool same = w == (R + s - 1) / s && h == w;
        for (int c = 0; c < 3 && same; c++)
            for (int i = 0; i < h && same; i++)
                for (int j = 0; j < w && same; j++)
                    same = low[((size_t)c * h + i) * w + j] == full[((size_t)c * H + s * i) * W + s * j];
        CHECK_MSG(same, "stride %d differs from the subsampled native render", s);
        /* and a tile of a strided render */
        float *lt = render_view(ig_view_native(), R, R, s, 1, 2, w - 2, h - 3, &W, &H);
        CHECK(equal_crop(low, w, h, lt, 1, 2, w - 2, h - 3));
        W = H = R;
        free(lt);
        free(low);
    }
    /* cost: strided plans execute fewer FLOPs, the 2x-smaller pyramid about 4x fewer */
    ig_plan p1, p2, p4;
    ig_plan_desc d1 = {.width = R, .height = R}, d2 = {.width = R, .height = R, .stride = 2},
                 d4 = {.width = R / 2, .height = R / 2};
    ig_error err;
    CHECK(ig_plan_make(&p1, g_cfg, &d1, &err) == IG_OK && ig_plan_make(&p2, g_cfg, &d2, &err) == IG_OK &&
          ig_plan_make(&p4, g_cfg, &d4, &err) == IG_OK);
    double f1 = ig_plan_executed_flops(&p1, g_cfg), f2 = ig_plan_executed_flops(&p2, g_cfg),
           f4 = ig_plan_executed_flops(&p4, g_cfg);
    printf("  executed GFLOP: native %.4f, stride 2 %.4f, half-size pyramid %.4f\n", f1 / 1e9, f2 / 1e9, f4 / 1e9);
    CHECK(f2 < f1 && f4 < 0.3 * f1);
    CHECK(fabs(f1 - ig_config_executed_flops(g_cfg)) < 1e-6 * f1);
    ig_plan_free(&p1); ig_plan_free(&p2); ig_plan_free(&p4);
    free(full);
}

typedef struct grab { const char *block; float *x; int c, h, w; } grab;

static void grab_block(void *user, int index, const char *block, int channels, int height, int width,
                       const float *x, const float *rgb) {
    grab *g = user;
    (void)index; (void)rgb;
    if (strcmp(block, g->block) || g->x) return;
    g->c = channels; g->h = height; g->w = width;
    g->x = malloc((size_t)channels * height * width * sizeof *g->x);
    memcpy(g->x, x, (size_t)channels * height * width * sizeof *g->x);
}

static void test_superres(void) {
    int R = g_cfg->resolution;
    grab a = {g_cfg->blocks[0].name, 0, 0, 0, 0}, b = a;
    ig_plan pa, pb;
    ig_error err;
    CHECK(ig_plan_init(&pa, g_cfg, ig_view_native(), R, R, &err) == IG_OK);
    CHECK(ig_plan_init(&pb, g_cfg, ig_view_native(), 2 * R, 2 * R, &err) == IG_OK);
    float *oa = malloc((size_t)3 * R * R * 4), *ob = malloc((size_t)12 * R * R * 4);
    ig_render_desc da = {.model = g_model, .plan = &pa, .z = g_z[0], .count = 1, .psi = 0.8, .on_block = grab_block, .user = &a};
    ig_render_desc db = da;
    db.plan = &pb;
    db.user = &b;
    CHECK(ig_cpu_render(&da, oa, &err) == IG_OK && ig_cpu_render(&db, ob, &err) == IG_OK);
    CHECK(all_finite(ob, (size_t)12 * R * R));
    bool same = a.x && b.x && b.w == 2 * a.w && b.h == 2 * a.h;
    for (int c = 0; c < a.c && same; c++)
        for (int i = 0; i < a.h && same; i++)
            for (int j = 0; j < a.w && same; j++) /* native column j = dense column 2j; row i = dense row 2i+1 */
                same = a.x[((size_t)c * a.h + i) * a.w + j] == b.x[((size_t)c * b.h + 2 * i + 1) * b.w + 2 * j];
    CHECK_MSG(same, "2x render's first block at native positions differs from the native render");
    free(a.x); free(b.x); free(oa); free(ob);
    ig_plan_free(&pa); ig_plan_free(&pb);
}

static void test_far(void) {
    int w, h;
    ig_view far = {1000.0, -2000.0, 1004.0, -1996.0}, wide = {-40, -40, 40, 40};
    float *a = render_view(far, 48, 40, 1, 0, 0, 0, 0, &w, &h);
    CHECK(all_finite(a, (size_t)3 * w * h));
    float *b = render_view(wide, 64, 64, 1, 0, 0, 0, 0, &w, &h);
    CHECK(all_finite(b, (size_t)3 * w * h));
    /* constant modes: identical inside the image, different far outside */
    ig_plan_desc in_b = {.view = {-0.5, -0.5, 0.5, 0.5}, .width = 32, .height = 32}, in_z = in_b;
    in_z.const_mode = IG_CONST_ZERO;
    ig_plan_desc out_b = {.view = far, .width = 32, .height = 32}, out_z = out_b;
    out_z.const_mode = IG_CONST_ZERO;
    float *ib = render_desc(&in_b, &w, &h, NULL, 0, 0), *iz = render_desc(&in_z, &w, &h, NULL, 0, 0);
    float *ob = render_desc(&out_b, &w, &h, NULL, 0, 0), *oz = render_desc(&out_z, &w, &h, NULL, 0, 0);
    CHECK(memcmp(ib, iz, (size_t)3 * w * h * 4) == 0);
    CHECK(memcmp(ob, oz, (size_t)3 * w * h * 4) != 0);
    free(a); free(b); free(ib); free(iz); free(ob); free(oz);
}

static void test_interp(void) {
    int R = g_cfg->resolution, w, h;
    ig_plan_desc pd = {.width = R, .height = R};
    float *ea = render_desc(&pd, &w, &h, NULL, 0, IG_SPACE_Z);
    memcpy(g_z[0] + 2048, g_z[0], (size_t)g_cfg->z_dim * 4); /* keep A */
    memcpy(g_z[0], g_z[1], (size_t)g_cfg->z_dim * 4);
    float *eb = render_desc(&pd, &w, &h, NULL, 0, IG_SPACE_Z);
    memcpy(g_z[0], g_z[0] + 2048, (size_t)g_cfg->z_dim * 4);
    size_t n = (size_t)3 * R * R * 4;
    float *mid[3];
    for (int s = 0; s < 3; s++) {
        float *t0 = render_desc(&pd, &w, &h, g_z[1], 0.0f, (ig_space)s);
        float *t1 = render_desc(&pd, &w, &h, g_z[1], 1.0f, (ig_space)s);
        mid[s] = render_desc(&pd, &w, &h, g_z[1], 0.5f, (ig_space)s);
        CHECK_MSG(memcmp(t0, ea, n) == 0, "space %d: t=0 differs from endpoint A", s);
        CHECK_MSG(memcmp(t1, eb, n) == 0, "space %d: t=1 differs from endpoint B", s);
        CHECK(memcmp(mid[s], ea, n) != 0 && memcmp(mid[s], eb, n) != 0 && all_finite(mid[s], n / 4));
        free(t0);
        free(t1);
    }
    CHECK(memcmp(mid[0], mid[2], n) != 0 && memcmp(mid[1], mid[2], n) != 0);
    for (int s = 0; s < 3; s++) free(mid[s]);
    free(ea);
    free(eb);
}

/* The tiled driver (ig_render_image) with a tiny memory budget: many tiles, rows streamed,
 * equal to the untiled render converted to RGB8. */
typedef struct rows_ctx { uint8_t *img; int w; int calls; } rows_ctx;

static ig_result take_rows(void *user, int image, int y0, int rows, const uint8_t *rgb, ig_error *err) {
    rows_ctx *r = user;
    (void)image; (void)err;
    memcpy(r->img + (size_t)y0 * r->w * 3, rgb, (size_t)rows * r->w * 3);
    r->calls++;
    return IG_OK;
}

static void test_tiled_driver(void) {
    int W = 3 * g_cfg->resolution + 5, H = 2 * g_cfg->resolution + 3, w, h;
    ig_view v = {-1.3, -1.1, 1.2, 0.9};
    float *full = render_view(v, W, H, 1, 0, 0, 0, 0, &w, &h);
    uint8_t *ref = malloc((size_t)W * H * 3), *got = calloc((size_t)W * H * 3, 1);
    ig_image_to_rgb8(full, W, H, ref);
    rows_ctx rc = {got, W, 0};
    ig_image_job job = {.model = g_model, .plan = {.view = v, .width = W, .height = H}, .z = g_z[0], .count = 1,
                        .psi = 0.8, .memory_budget = 200000, .rows = take_rows, .user = &rc};
    ig_error err;
    int tile = ig_render_auto_tile(g_model, &job.plan, job.memory_budget, 1);
    CHECK_MSG(ig_render_image(&job, &err) == IG_OK, "%s", err.msg);
    printf("  driver: %dx%d in %d-pixel tiles, %d row bands\n", W, H, tile, rc.calls);
    CHECK(tile < W && rc.calls > 1);
    CHECK(memcmp(ref, got, (size_t)W * H * 3) == 0);
    free(full); free(ref); free(got);
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: test_views MODEL\n"); return 2; }
    ig_model *m;
    ig_error err;
    if (ig_model_load(argv[1], &m, &err) != IG_OK) { fprintf(stderr, "%s\n", err.msg); return 1; }
    g_model = m;
    g_cfg = ig_model_config(m);
    ig_latent_from_seed(11, g_z[0], g_cfg->z_dim);
    ig_latent_from_seed(12, g_z[1], g_cfg->z_dim);
    printf("model %s (%s)\n", argv[1], g_cfg->upsampling == IG_UP_NEAREST ? "nearest" : "bilinear + IN");
    RUN(test_tiles);
    RUN(test_tiled_driver);
    RUN(test_stride);
    if (g_cfg->upsampling == IG_UP_NEAREST) RUN(test_superres);
    RUN(test_far);
    RUN(test_interp);
    ig_model_free(m);
    return TEST_EXIT();
}
