/* test_vk_cips.c - CIPS (CIPSskip and CIPSres) renders on the Vulkan backend against the CPU
 * reference (ig_cpu_render, src/cpu/cpu_cips.c), under the validation layer.
 *
 * Models: tiny random ones from ig_model_create_random (size 8 / hidden 16; the same with w_avg
 * and truncation 0.7; size 16 / hidden 32 / channels 32,32,16 on a 24-point grid; channels 72,20
 * with hidden 40 (several and partial GEMM tiles); one without mapping layers), with the zero-initialised tensors (biases, w_avg) and the noise weights made
 * random so that every offset matters. CIPSres (residual blocks, one final ToRGB): channels 16,8
 * (an identity block, then a 1x1 skip), 32,32,16 on a 24-point grid (two identity blocks, then
 * a skip), 72,20 with hidden 40 (a skip over partial GEMM tiles).
 * Cases: batches of 1 and 3, zero and seeded noise (distinct seeds per image), a non-native
 * non-square view, a tile (equal to the crop of the whole Vulkan render), stride 2, w / params /
 * z interpolation at t = 0.3 with the endpoints t = 0 and 1 equal to the plain renders, pixel
 * chunks and image groups forced by a small storage range, batches split by a small heap
 * budget (CIPSskip and CIPSres), an fp16 context (fp16 storage: "cips-gemm-f16"), switching model families on one context, and a
 * Vulkan allocation failure injected at every allocation of a first render. test_fast: every tile
 * set (small, large) in fp32 and fp16 storage and the coop tile set's scalar twin
 * (INRGAN_VK_COOP_EMU=1), with the kernel name / tile set / precision each render reports.
 * Tolerance: max |vk - cpu| <= 1e-4 * max(1, max |cpu|) (vk_test_compare), 2e-2 with fp16
 * storage; equalities between Vulkan renders (tiles, endpoints, chunking, tile sets of one
 * precision) are exact.
 */
#include "model.h"
#include "vk_test.h"

#define TOL 1e-4
#define TOL16 2e-2 /* fp16 storage (activations, per-image weights, the first layer's input) */

static double g_tol = TOL; /* parity's tolerance: TOL, or TOL16 on fp16 contexts */

static const char *cfg_small =
    "{\"format_version\":1,\"family\":\"cips\",\"arch\":\"CIPSskip\",\"size\":8,\"coords_size\":8,"
    "\"hidden_size\":16,\"style_dim\":16,\"n_mlp\":2,\"lr_mlp\":0.01,\"channels\":[16,8],\"emb_size\":8,"
    "\"coords\":\"linspace_y_down\",\"emb_sampling\":\"bilinear_border_align_corners_false\","
    "\"noise\":\"random\",\"truncation_psi\":1.0,\"has_w_avg\":false}";
static const char *cfg_trunc =
    "{\"format_version\":1,\"family\":\"cips\",\"arch\":\"CIPSskip\",\"size\":8,\"coords_size\":8,"
    "\"hidden_size\":16,\"style_dim\":16,\"n_mlp\":2,\"lr_mlp\":0.01,\"channels\":[16,8],\"emb_size\":8,"
    "\"coords\":\"linspace_y_down\",\"emb_sampling\":\"bilinear_border_align_corners_false\","
    "\"noise\":\"random\",\"truncation_psi\":0.7,\"has_w_avg\":true}";
static const char *cfg_wide =
    "{\"format_version\":1,\"family\":\"cips\",\"arch\":\"CIPSskip\",\"size\":16,\"coords_size\":24,"
    "\"hidden_size\":32,\"style_dim\":32,\"n_mlp\":2,\"lr_mlp\":0.01,\"channels\":[32,32,16],\"emb_size\":16,"
    "\"coords\":\"linspace_y_down\",\"emb_sampling\":\"bilinear_border_align_corners_false\","
    "\"noise\":\"zero\",\"truncation_psi\":1.0,\"has_w_avg\":false}";
static const char *cfg_nomap =
    "{\"format_version\":1,\"family\":\"cips\",\"arch\":\"CIPSskip\",\"size\":4,\"coords_size\":6,"
    "\"hidden_size\":8,\"style_dim\":8,\"n_mlp\":0,\"lr_mlp\":0.01,\"channels\":[12],\"emb_size\":4,"
    "\"coords\":\"linspace_y_down\",\"emb_sampling\":\"bilinear_border_align_corners_false\","
    "\"noise\":\"random\",\"truncation_psi\":1.0,\"has_w_avg\":false}";

/* c_out 72 (two output tiles, the second partial), conv1 c_in 80 (five K steps), c_in 20
 * (a partial K step), 100 pixels (two pixel tiles) */
static const char *cfg_odd =
    "{\"format_version\":1,\"family\":\"cips\",\"arch\":\"CIPSskip\",\"size\":8,\"coords_size\":10,"
    "\"hidden_size\":40,\"style_dim\":24,\"n_mlp\":1,\"lr_mlp\":0.01,\"channels\":[72,20],\"emb_size\":8,"
    "\"coords\":\"linspace_y_down\",\"emb_sampling\":\"bilinear_border_align_corners_false\","
    "\"noise\":\"random\",\"truncation_psi\":1.0,\"has_w_avg\":false}";

/* CIPSres: linears.0 32 -> 16, block 0 16 -> 16 (identity), block 1 16 -> 8 (1x1 skip) */
static const char *cfg_res_small =
    "{\"format_version\":1,\"family\":\"cips\",\"arch\":\"CIPSres\",\"size\":8,\"coords_size\":8,"
    "\"hidden_size\":16,\"style_dim\":16,\"n_mlp\":2,\"lr_mlp\":0.01,\"channels\":[16,8],\"emb_size\":8,"
    "\"coords\":\"linspace_y_down\",\"emb_sampling\":\"bilinear_border_align_corners_false\","
    "\"noise\":\"random\",\"truncation_psi\":1.0,\"has_w_avg\":false}";
/* CIPSres: blocks 32 -> 32, 32 -> 32 (identities), 32 -> 16 (skip), w_avg */
static const char *cfg_res_wide =
    "{\"format_version\":1,\"family\":\"cips\",\"arch\":\"CIPSres\",\"size\":16,\"coords_size\":24,"
    "\"hidden_size\":32,\"style_dim\":32,\"n_mlp\":2,\"lr_mlp\":0.01,\"channels\":[32,32,16],\"emb_size\":16,"
    "\"coords\":\"linspace_y_down\",\"emb_sampling\":\"bilinear_border_align_corners_false\","
    "\"noise\":\"random\",\"truncation_psi\":0.7,\"has_w_avg\":true}";
/* CIPSres: block 1 72 -> 20 through a skip with two output tiles in, a partial K step out */
static const char *cfg_res_odd =
    "{\"format_version\":1,\"family\":\"cips\",\"arch\":\"CIPSres\",\"size\":8,\"coords_size\":10,"
    "\"hidden_size\":40,\"style_dim\":24,\"n_mlp\":1,\"lr_mlp\":0.01,\"channels\":[72,20],\"emb_size\":8,"
    "\"coords\":\"linspace_y_down\",\"emb_sampling\":\"bilinear_border_align_corners_false\","
    "\"noise\":\"random\",\"truncation_psi\":1.0,\"has_w_avg\":false}";

static const uint32_t seeds[3] = {11, 2024, 7};

static bool ends_with(const char *s, const char *tail) {
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

/* A random model whose zero / constant initialisations are replaced by random values. */
static ig_model *make_model(const char *json, uint64_t seed) {
    ig_model *m = NULL;
    ig_error err = {0};
    ig_result r = ig_model_create_random(json, seed, &m, &err);
    CHECK_MSG(r == IG_OK, "model: %s", err.msg);
    if (r != IG_OK) return NULL;
    uint64_t s = seed * 31 + 5;
    for (int i = 0; i < m->n_tensors; i++) {
        ig_tensor *t = &m->tensors[i];
        float *x = (float *)t->data;
        double scale = 0;
        if (ends_with(t->name, "noise.weight")) scale = 0.3;
        else if (ends_with(t->name, "modulation.bias")) scale = 0.2;
        else if (strcmp(t->name, "w_avg") == 0) scale = 0.5;
        else if (strncmp(t->name, "style.", 6) == 0 && ends_with(t->name, "bias")) scale = 30; /* x lr 0.01 */
        else if (ends_with(t->name, "bias")) scale = 0.3;
        for (int64_t k = 0; k < t->numel && scale > 0; k++) x[k] += (float)(vk_test_randn(&s) * scale);
    }
    return m;
}

static ig_vk_context *make_ctx(ig_vk_desc d) {
    ig_vk_context *ctx = NULL;
    ig_error err = {0};
    CHECK_MSG(ig_vk_context_create(&d, &ctx, &err) == IG_OK, "context: %s", err.msg);
    return ctx;
}

static size_t plan_floats(const ig_plan *p, int count) { return (size_t)count * 3 * p->width * p->height; }

/* CPU and Vulkan renders of rd; returns the error (or 1e30 when a render failed). Keeps the two
 * images in *cpu / *vk when asked (caller frees). */
static double parity(ig_vk_context *ctx, const ig_render_desc *rd, const char *what, float **cpu, float **vk) {
    size_t n = plan_floats(rd->plan, rd->count);
    float *ref = malloc(n * sizeof *ref), *got = malloc(n * sizeof *got);
    ig_error err = {0};
    double e = 1e30;
    ig_result r = ig_cpu_render(rd, ref, &err);
    CHECK_MSG(r == IG_OK, "%s: cpu: %s", what, err.msg);
    memset(got, 0xff, n * sizeof *got);
    ig_result v = ig_vk_render(ctx, rd, got, &err);
    CHECK_MSG(v == IG_OK, "%s: vk: %s", what, err.msg);
    if (r == IG_OK && v == IG_OK) {
        e = vk_test_compare(got, ref, n);
        printf("  %s: max rel error %.3g\n", what, e);
        CHECK_MSG(e <= g_tol, "%s: error %.3g > %.3g", what, e, g_tol);
    }
    if (cpu) *cpu = ref;
    else free(ref);
    if (vk) *vk = got;
    else free(got);
    return e;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= d)) d = e;
    }
    return d;
}

/* Native view: batches 1 and 3, zero and seeded noise; seeded noise changes the image. */
static void native_cases(ig_vk_context *ctx, ig_model *m, const char *label) {
    const ig_config *c = ig_model_config(m);
    ig_plan plan;
    ig_error err = {0};
    CHECK(ig_plan_init(&plan, c, ig_view_native(), c->resolution, c->resolution, &err) == IG_OK);
    float *z = vk_test_latents(3, c->z_dim);
    float *vz = NULL, *vs = NULL;
    for (int noise = 0; noise < 2; noise++) {
        for (int count = 1; count <= 3; count += 2) {
            char what[128];
            snprintf(what, sizeof what, "%s native %dx%d batch %d noise %s", label, plan.width, plan.height, count,
                     noise ? "seeded" : "zero");
            ig_render_desc rd = {.model = m, .plan = &plan, .z = z, .count = count, .psi = c->truncation_psi,
                                 .threads = 2, .noise = noise ? IG_NOISE_SEEDED : IG_NOISE_ZERO,
                                 .noise_seed = noise ? seeds : NULL};
            float *got = NULL;
            parity(ctx, &rd, what, NULL, &got);
            if (count == 3) {
                if (noise) vs = got;
                else vz = got;
            } else {
                free(got);
            }
        }
    }
    if (vz && vs) {
        double d = max_diff(vz, vs, plan_floats(&plan, 3));
        printf("  %s: seeded vs zero noise differ by %.3g\n", label, d);
        CHECK_MSG(d > 1e-3, "%s: seeded noise changed nothing (%.3g)", label, d);
    }
    free(vz);
    free(vs);
    free(z);
    ig_plan_free(&plan);
}

/* A non-native, non-square view (partly outside [-1, 1]: the embedding's border rule), a tile
 * that must equal the crop of the whole render, and stride 2. */
static void view_cases(ig_vk_context *ctx, ig_model *m, const char *label) {
    const ig_config *c = ig_model_config(m);
    ig_error err = {0};
    float *z = vk_test_latents(2, c->z_dim);
    ig_plan_desc views[] = {
        {.view = {-0.8, -1.3, 1.25, 0.6}, .width = 20, .height = 12},
        {.view = {-1, -1, 1, 1}, .width = 32, .height = 32, .stride = 2},
    };
    const char *names[] = {"view 20x12", "stride 2 of 32x32"};
    for (int v = 0; v < 2; v++) {
        ig_plan plan;
        CHECK(ig_plan_make(&plan, c, &views[v], &err) == IG_OK);
        char what[128];
        snprintf(what, sizeof what, "%s %s (%dx%d) batch 2 seeded", label, names[v], plan.width, plan.height);
        ig_render_desc rd = {.model = m, .plan = &plan, .z = z, .count = 2, .psi = c->truncation_psi, .threads = 2,
                             .noise = IG_NOISE_SEEDED, .noise_seed = seeds};
        parity(ctx, &rd, what, NULL, NULL);
        ig_plan_free(&plan);
    }
    /* tile of a 28x20 image: 9x7 at (13, 5) */
    ig_plan_desc whole_d = {.view = {-1, -1, 1, 1}, .width = 28, .height = 20};
    ig_plan_desc tile_d = whole_d;
    tile_d.tile_x = 13, tile_d.tile_y = 5, tile_d.tile_w = 9, tile_d.tile_h = 7;
    ig_plan whole, tile;
    CHECK(ig_plan_make(&whole, c, &whole_d, &err) == IG_OK);
    CHECK(ig_plan_make(&tile, c, &tile_d, &err) == IG_OK);
    CHECK(tile.width == 9 && tile.height == 7);
    ig_render_desc rw = {.model = m, .plan = &whole, .z = z, .count = 2, .psi = c->truncation_psi, .threads = 2,
                         .noise = IG_NOISE_SEEDED, .noise_seed = seeds};
    ig_render_desc rt = rw;
    rt.plan = &tile;
    float *vw = NULL, *vt = NULL;
    char what[128];
    snprintf(what, sizeof what, "%s whole 28x20", label);
    parity(ctx, &rw, what, NULL, &vw);
    snprintf(what, sizeof what, "%s tile 9x7 at (13,5)", label);
    parity(ctx, &rt, what, NULL, &vt);
    double d = 0;
    for (int n = 0; n < 2; n++)
        for (int ch = 0; ch < 3; ch++)
            for (int i = 0; i < 7; i++)
                for (int jj = 0; jj < 9; jj++) {
                    float a = vt[((size_t)(n * 3 + ch) * 7 + i) * 9 + jj];
                    float b = vw[((size_t)(n * 3 + ch) * 20 + 5 + i) * 28 + 13 + jj];
                    double e = fabs((double)a - b);
                    if (!(e <= d)) d = e;
                }
    printf("  %s: tile vs crop of the whole render: max diff %.3g\n", label, d);
    CHECK_MSG(d == 0, "%s: tile differs from the crop (%.3g)", label, d);
    free(vw);
    free(vt);
    ig_plan_free(&whole);
    ig_plan_free(&tile);
    free(z);
}

/* Interpolation in each space, t = 0.3, 0, 1 for the three images of one render; the endpoints
 * must equal the plain renders of z_a (t = 0) and z_b (t = 1) exactly. */
static void interp_cases(ig_vk_context *ctx, ig_model *m, const char *label) {
    const ig_config *c = ig_model_config(m);
    ig_error err = {0};
    ig_plan plan;
    CHECK(ig_plan_init(&plan, c, ig_view_native(), c->resolution, c->resolution, &err) == IG_OK);
    float *za = vk_test_latents(6, c->z_dim), *zb = za + 3 * (size_t)c->z_dim;
    const float t[3] = {0.3f, 0.0f, 1.0f};
    size_t img = plan_floats(&plan, 1);
    ig_render_desc ra = {.model = m, .plan = &plan, .z = za, .count = 3, .psi = c->truncation_psi, .threads = 2,
                         .noise = IG_NOISE_SEEDED, .noise_seed = seeds};
    ig_render_desc rb = ra;
    rb.z = zb;
    float *pa = malloc(3 * img * sizeof *pa), *pb = malloc(3 * img * sizeof *pb);
    CHECK(ig_vk_render(ctx, &ra, pa, &err) == IG_OK);
    CHECK(ig_vk_render(ctx, &rb, pb, &err) == IG_OK);
    const char *names[] = {"z", "w", "params"};
    for (int s = 0; s < 3; s++) {
        ig_render_desc ri = ra;
        ri.z_b = zb;
        ri.t = t;
        ri.space = (ig_space)s;
        char what[128];
        snprintf(what, sizeof what, "%s %s interpolation t = 0.3, 0, 1", label, names[s]);
        float *got = NULL;
        parity(ctx, &ri, what, NULL, &got);
        if (!got) continue;
        double d0 = max_diff(got + img, pa + img, img), d1 = max_diff(got + 2 * img, pb + 2 * img, img);
        double dm = max_diff(got, pa, img);
        CHECK_MSG(d0 == 0 && d1 == 0, "%s: endpoints differ from the plain renders (t=0: %.3g, t=1: %.3g)", what, d0,
                  d1);
        CHECK_MSG(dm > 1e-4, "%s: t = 0.3 equals the plain render", what);
        free(got);
    }
    free(pa);
    free(pb);
    free(za);
    ig_plan_free(&plan);
}

static void test_small(void) {
    ig_model *m = make_model(cfg_small, 1);
    if (!m) return;
    ig_vk_context *ctx = make_ctx(vk_test_desc());
    if (ctx) {
        native_cases(ctx, m, "small");
        view_cases(ctx, m, "small");
        interp_cases(ctx, m, "small");
        /* no w_avg: truncation is refused, as on the CPU */
        ig_plan plan;
        ig_error err = {0};
        CHECK(ig_plan_init(&plan, ig_model_config(m), ig_view_native(), 8, 8, &err) == IG_OK);
        float *z = vk_test_latents(1, 16), out[3 * 64];
        ig_render_desc rd = {.model = m, .plan = &plan, .z = z, .count = 1, .psi = 0.7};
        CHECK(ig_vk_render(ctx, &rd, out, &err) == IG_ERR_INVALID_ARGUMENT);
        free(z);
        ig_plan_free(&plan);
        vk_test_ctx_ok(ctx);
    }
    ig_vk_context_destroy(ctx);
    ig_model_free(m);
}

static void test_truncation(void) {
    ig_model *m = make_model(cfg_trunc, 2);
    if (!m) return;
    ig_vk_context *ctx = make_ctx(vk_test_desc());
    if (ctx) {
        native_cases(ctx, m, "w_avg psi 0.7");
        interp_cases(ctx, m, "w_avg psi 0.7");
        /* psi 1 with w_avg: no truncation (the CPU path skips the lerp) */
        ig_plan plan;
        ig_error err = {0};
        CHECK(ig_plan_init(&plan, ig_model_config(m), ig_view_native(), 8, 8, &err) == IG_OK);
        float *z = vk_test_latents(2, 16);
        ig_render_desc rd = {.model = m, .plan = &plan, .z = z, .count = 2, .psi = 1.0, .threads = 2};
        parity(ctx, &rd, "w_avg psi 1 (model noise: seeded, seed 0)", NULL, NULL);
        free(z);
        ig_plan_free(&plan);
        vk_test_ctx_ok(ctx);
    }
    ig_vk_context_destroy(ctx);
    ig_model_free(m);
}

static void test_wide(void) {
    ig_model *m = make_model(cfg_wide, 3);
    if (!m) return;
    ig_vk_context *ctx = make_ctx(vk_test_desc());
    if (ctx) {
        native_cases(ctx, m, "wide");
        view_cases(ctx, m, "wide");
        vk_test_ctx_ok(ctx);
    }
    ig_vk_context_destroy(ctx);
    ig_model_free(m);
}

static void test_odd(void) {
    ig_model *m = make_model(cfg_odd, 7);
    if (!m) return;
    ig_vk_context *ctx = make_ctx(vk_test_desc());
    if (ctx) {
        native_cases(ctx, m, "odd");
        vk_test_ctx_ok(ctx);
    }
    ig_vk_context_destroy(ctx);
    ig_model_free(m);
}

static void test_no_mapping(void) {
    ig_model *m = make_model(cfg_nomap, 4);
    if (!m) return;
    ig_vk_context *ctx = make_ctx(vk_test_desc());
    if (ctx) {
        native_cases(ctx, m, "no mapping");
        interp_cases(ctx, m, "no mapping");
        vk_test_ctx_ok(ctx);
    }
    ig_vk_context_destroy(ctx);
    ig_model_free(m);
}

/* A storage range of ~20 KB: pixel chunks of 64, one image per activation window. Then small
 * heap budgets: batches split into several submissions (or a clean out-of-memory error). All
 * renders equal the unconstrained one exactly. */
/* env: "TILE" for INRGAN_VK_GEMM_TILE=TILE, "emu" for INRGAN_VK_COOP_EMU=1, NULL neither, with
 * fp16 storage when f16; the chunked and split renders must equal the reference exactly. */
static void chunk_cases(const char *json, uint64_t seed, bool f16, const char *env) {
    ig_model *m = make_model(json, seed);
    if (!m) return;
    if (env && strcmp(env, "emu") == 0) setenv("INRGAN_VK_COOP_EMU", "1", 1);
    else if (env) setenv("INRGAN_VK_GEMM_TILE", env, 1);
    g_tol = f16 ? TOL16 : TOL;
    const ig_config *c = ig_model_config(m);
    ig_error err = {0};
    ig_plan plan;
    CHECK(ig_plan_init(&plan, c, ig_view_native(), c->resolution, c->resolution, &err) == IG_OK);
    size_t n = plan_floats(&plan, 3);
    float *z = vk_test_latents(3, c->z_dim);
    ig_render_desc rd = {.model = m, .plan = &plan, .z = z, .count = 3, .psi = c->truncation_psi, .threads = 2,
                         .noise = IG_NOISE_SEEDED, .noise_seed = seeds};
    float *ref = NULL;
    uint64_t peak = 0;
    ig_vk_desc d0 = vk_test_desc();
    if (f16) d0.precision = IG_VK_PRECISION_FP16;
    ig_vk_context *ctx = make_ctx(d0);
    if (ctx) {
        parity(ctx, &rd, "chunks: reference", NULL, &ref);
        ig_vk_render_report rep;
        ig_vk_last_render_report(ctx, &rep);
        printf("  %s, tile set %s\n", ig_vk_level_kernel_used(ctx), rep.gemm_tiles);
        ig_vk_mem_stats st;
        ig_vk_memory_stats(ctx, &st);
        CHECK_MSG(st.submissions == 1, "one submission expected, got %u", st.submissions);
        peak = st.peak_device_bytes;
        vk_test_ctx_ok(ctx);
    }
    ig_vk_context_destroy(ctx);
    if (!ref) goto done;
    {
        ig_vk_desc d = d0;
        d.cap_buffer_range = 20000;
        ctx = make_ctx(d);
        float *got = malloc(n * sizeof *got);
        if (ctx) {
            CHECK_MSG(ig_vk_render(ctx, &rd, got, &err) == IG_OK, "small range: %s", err.msg);
            ig_vk_mem_stats st;
            ig_vk_memory_stats(ctx, &st);
            double dd = max_diff(got, ref, n);
            printf("  range 20000: %u dispatches, largest window %u bytes, diff %.3g\n", st.dispatches,
                   st.max_binding_bytes, dd);
            CHECK(st.max_binding_bytes <= 20000);
            CHECK_MSG(dd == 0, "chunked render differs (%.3g)", dd);
            vk_test_ctx_ok(ctx);
        }
        ig_vk_context_destroy(ctx);
        free(got);
    }
    {
        /* budgets below the unconstrained render's peak, until one splits the batch */
        bool split = false;
        float *got = malloc(n * sizeof *got);
        printf("  unconstrained peak: %llu device bytes\n", (unsigned long long)peak);
        double f = 1;
        for (int k = 1; k <= 16 && !split; k++) {
            f *= 0.88;
            uint64_t cap = (uint64_t)((double)peak * f);
            ig_vk_desc d = d0;
            d.cap_heap_bytes = cap;
            ctx = make_ctx(d);
            if (!ctx) break;
            memset(got, 0xff, n * sizeof *got);
            ig_result r = ig_vk_render(ctx, &rd, got, &err);
            ig_vk_mem_stats st;
            ig_vk_memory_stats(ctx, &st);
            if (r == IG_OK) {
                double dd = max_diff(got, ref, n);
                printf("  heap %llu: %u submission(s), diff %.3g\n", (unsigned long long)cap, st.submissions, dd);
                CHECK_MSG(dd == 0, "heap cap %llu: render differs (%.3g)", (unsigned long long)cap, dd);
                if (st.submissions > 1) split = true;
            } else {
                printf("  heap %llu: %s\n", (unsigned long long)cap, err.msg);
                CHECK_MSG(r == IG_ERR_OUT_OF_DEVICE_MEMORY, "heap cap %llu: %s", (unsigned long long)cap, err.msg);
            }
            vk_test_ctx_ok(ctx);
            ig_vk_context_destroy(ctx);
        }
        /* required on lavapipe; a GPU may round allocations so coarsely that no budget splits */
        if (strcmp(vk_test_gpu, "llvmpipe") == 0) CHECK_MSG(split, "no heap cap split the batch");
        else if (!split) printf("  no heap cap split the batch on this device\n");
        free(got);
    }
done:
    unsetenv("INRGAN_VK_COOP_EMU");
    unsetenv("INRGAN_VK_GEMM_TILE");
    g_tol = TOL;
    free(ref);
    free(z);
    ig_plan_free(&plan);
    ig_model_free(m);
}

static void test_chunks(void) {
    printf("  CIPSskip\n");
    chunk_cases(cfg_wide, 5, false, NULL);
    printf("  CIPSres\n");
    chunk_cases(cfg_res_wide, 10, false, NULL);
    printf("  CIPSres, fp16 storage, large tile set\n");
    chunk_cases(cfg_res_wide, 10, true, "large");
    printf("  CIPSskip, coop tile set's scalar twin\n");
    chunk_cases(cfg_wide, 5, true, "emu");
}

/* An fp16 context renders CIPS in fp32; prepare + gpu time; repeated renders reuse the upload;
 * INR-GAN and CIPS models alternate on one context. */
static void test_context(void) {
    ig_model *m = make_model(cfg_small, 6);
    if (!m) return;
    const ig_config *c = ig_model_config(m);
    ig_error err = {0};
    ig_plan plan;
    CHECK(ig_plan_init(&plan, c, ig_view_native(), c->resolution, c->resolution, &err) == IG_OK);
    float *z = vk_test_latents(3, c->z_dim);
    double gms = -2;
    ig_render_desc rd = {.model = m, .plan = &plan, .z = z, .count = 3, .psi = 1.0, .threads = 2,
                         .noise = IG_NOISE_SEEDED, .noise_seed = seeds, .gpu_ms = &gms};
    ig_vk_desc d = vk_test_desc();
    d.precision = IG_VK_PRECISION_FP16;
    ig_vk_context *ctx = make_ctx(d);
    if (ctx) {
        CHECK_MSG(ig_vk_prepare(ctx, &rd, &err) == IG_OK, "prepare: %s", err.msg);
        ig_vk_mem_stats s0, s1;
        ig_vk_memory_stats(ctx, &s0);
        g_tol = TOL16;
        parity(ctx, &rd, "fp16 context (CIPS in fp16 storage)", NULL, NULL);
        printf("  gpu ms %.3f\n", gms);
        CHECK_MSG(strcmp(ig_vk_level_kernel_used(ctx), "cips-gemm-f16") == 0, "kernel %s",
                  ig_vk_level_kernel_used(ctx));
        CHECK_MSG(strcmp(ig_vk_render_precision(ctx, m), "fp16") == 0, "precision %s",
                  ig_vk_render_precision(ctx, m));
        CHECK(gms >= 0);
        ig_vk_memory_stats(ctx, &s0);
        parity(ctx, &rd, "fp16 context, again", NULL, NULL);
        g_tol = TOL;
        ig_vk_memory_stats(ctx, &s1);
        CHECK_MSG(s0.device_bytes == s1.device_bytes && s0.blocks == s1.blocks,
                  "a repeated render changed device memory (%llu -> %llu bytes)",
                  (unsigned long long)s0.device_bytes, (unsigned long long)s1.device_bytes);
        vk_test_ctx_ok(ctx);
    }
    ig_vk_context_destroy(ctx);

    /* families alternating on one context */
    vk_test_spec spec = vk_test_spec_tiny("nearest", 0, 0);
    const char *path = vk_test_path("cips_switch_inrgan.safetensors");
    ig_model *g = NULL;
    ig_plan gplan;
    CHECK(vk_test_model_write(path, &spec, 9) == 0);
    if (vk_test_load(path, &g, &gplan, 0) == 0) {
        float *gz = vk_test_latents(1, ig_model_config(g)->z_dim);
        ig_render_desc gd = {.model = g, .plan = &gplan, .z = gz, .count = 1,
                             .psi = ig_model_config(g)->truncation_psi, .threads = 2};
        rd.gpu_ms = NULL;
        ctx = make_ctx(vk_test_desc());
        if (ctx) {
            parity(ctx, &rd, "switch: cips", NULL, NULL);
            parity(ctx, &gd, "switch: inr-gan", NULL, NULL);
            parity(ctx, &rd, "switch: cips again", NULL, NULL);
            parity(ctx, &gd, "switch: inr-gan again", NULL, NULL);
            vk_test_ctx_ok(ctx);
        }
        ig_vk_context_destroy(ctx);
        free(gz);
        ig_plan_free(&gplan);
        ig_model_free(g);
    }
    free(z);
    ig_plan_free(&plan);
    ig_model_free(m);
}

/* Allocation-failure injection: the k-th Vulkan allocation or creation of a first CIPS render
 * fails, for every k; each must end in a clean IG_ERR_OUT_OF_DEVICE_MEMORY, and the context
 * must render correctly afterwards. */
static void test_alloc_injection(void) {
    ig_model *m = make_model(cfg_small, 8);
    if (!m) return;
    const ig_config *c = ig_model_config(m);
    ig_error err = {0};
    ig_plan plan;
    CHECK(ig_plan_init(&plan, c, ig_view_native(), c->resolution, c->resolution, &err) == IG_OK);
    float *z = vk_test_latents(2, c->z_dim);
    size_t n = plan_floats(&plan, 2);
    float *ref = malloc(n * sizeof *ref), *got = malloc(n * sizeof *got);
    ig_render_desc rd = {.model = m, .plan = &plan, .z = z, .count = 2, .psi = 1.0, .noise = IG_NOISE_SEEDED,
                         .noise_seed = seeds};
    ig_vk_context *ctx = make_ctx(vk_test_desc());
    uint32_t total = 0;
    if (ctx) {
        uint32_t a0 = ig_vk_alloc_count(ctx);
        CHECK_MSG(ig_vk_render(ctx, &rd, ref, &err) == IG_OK, "%s", err.msg);
        total = ig_vk_alloc_count(ctx) - a0;
        vk_test_ctx_ok(ctx);
    }
    ig_vk_context_destroy(ctx);
    printf("  %u allocations in the first render\n", total);
    CHECK(total >= 8);
    for (uint32_t k = 1; k <= total; k++) {
        ctx = make_ctx(vk_test_desc());
        if (!ctx) break;
        ig_vk_set_fail_alloc(ctx, (int)k);
        ig_result r = ig_vk_render(ctx, &rd, got, &err);
        CHECK_MSG(r == IG_ERR_OUT_OF_DEVICE_MEMORY, "k=%u: %s: %s", k, ig_result_name(r), err.msg);
        CHECK_MSG(strstr(err.msg, "injected") != NULL && strstr(err.msg, "VK_ERROR_") != NULL, "k=%u: %s", k,
                  err.msg);
        if (k <= 2 || k == total) printf("  k=%u: %s\n", k, err.msg);
        ig_vk_set_fail_alloc(ctx, 0);
        memset(got, 0, n * sizeof *got);
        r = ig_vk_render(ctx, &rd, got, &err);
        CHECK_MSG(r == IG_OK, "k=%u: render after the failure: %s", k, err.msg);
        if (r == IG_OK) CHECK_MSG(memcmp(got, ref, n * sizeof *got) == 0, "k=%u: output differs", k);
        vk_test_ctx_ok(ctx);
        ig_vk_context_destroy(ctx);
    }
    free(ref);
    free(got);
    free(z);
    ig_plan_free(&plan);
    ig_model_free(m);
}

/* CIPSres: residual blocks with identity and 1x1 skips, one final ToRGB; prepare builds its
 * pipelines; a CIPSskip model and a CIPSres one alternate on one context. */
static void test_res(void) {
    ig_model *m = make_model(cfg_res_small, 11);
    ig_model *w = make_model(cfg_res_wide, 12);
    ig_model *o = make_model(cfg_res_odd, 13);
    ig_model *k = make_model(cfg_small, 14);
    ig_vk_context *ctx = m && w && o && k ? make_ctx(vk_test_desc()) : NULL;
    if (ctx) {
        ig_error err = {0};
        ig_plan plan;
        CHECK(ig_plan_init(&plan, ig_model_config(m), ig_view_native(), 8, 8, &err) == IG_OK);
        float *z = vk_test_latents(1, 16);
        ig_render_desc rd = {.model = m, .plan = &plan, .z = z, .count = 1, .psi = 1.0, .threads = 2};
        CHECK_MSG(ig_vk_prepare(ctx, &rd, &err) == IG_OK, "prepare: %s", err.msg);
        native_cases(ctx, m, "res small");
        view_cases(ctx, m, "res small");
        interp_cases(ctx, m, "res small");
        native_cases(ctx, w, "res w_avg psi 0.7");
        view_cases(ctx, w, "res w_avg psi 0.7");
        interp_cases(ctx, w, "res w_avg psi 0.7");
        native_cases(ctx, o, "res odd");
        /* CIPSskip and CIPSres on one context (the upload is replaced each time) */
        ig_render_desc rk = rd;
        rk.model = k;
        parity(ctx, &rk, "switch: skip", NULL, NULL);
        parity(ctx, &rd, "switch: res", NULL, NULL);
        parity(ctx, &rk, "switch: skip again", NULL, NULL);
        free(z);
        ig_plan_free(&plan);
        vk_test_ctx_ok(ctx);
    }
    ig_vk_context_destroy(ctx);
    ig_model_free(m);
    ig_model_free(w);
    ig_model_free(o);
    ig_model_free(k);
}

/* The fast paths: each tile set (INRGAN_VK_GEMM_TILE small, large) in fp32 (1e-4) and in fp16
 * storage (2e-2), and the coop tile set's scalar twin (fp16, INRGAN_VK_COOP_EMU=1, 2e-2), on
 * CIPSskip with partial tiles, CIPSres with a 1x1 skip over partial tiles and CIPSres with
 * w_avg: batches 1 and 3, zero and seeded noise, views, a tile equal to the crop of the whole
 * render (exact); the kernel name, tile set and precision the render reports; and the tile sets
 * of one precision give the same bits (the K order of every sum is the same). */
static void test_fast(void) {
    static const struct {
        const char *tile; /* INRGAN_VK_GEMM_TILE, NULL: automatic */
        bool f16, emu;
        const char *kernel, *tiles;
    } cf[] = {
        {"small", false, false, "cips-gemm", "small"},
        {"large", false, false, "cips-gemm", "large"},
        {"small", true, false, "cips-gemm-f16", "small"},
        {"large", true, false, "cips-gemm-f16", "large"},
        {NULL, true, true, "cips-gemm-coop-emu", "coop"},
    };
    enum { NC = sizeof cf / sizeof cf[0] };
    ig_model *o = make_model(cfg_odd, 21);
    ig_model *ro = make_model(cfg_res_odd, 22);
    ig_model *rw = make_model(cfg_res_wide, 23);
    float *z = vk_test_latents(3, 32);
    float *keep[NC] = {0};
    ig_plan plan;
    ig_error err = {0};
    ig_plan_desc pd = {.view = {-1, -1, 1, 1}, .width = 28, .height = 20};
    bool planned = ro && ig_plan_make(&plan, ig_model_config(ro), &pd, &err) == IG_OK;
    for (int i = 0; i < NC && o && ro && rw && planned; i++) {
        if (cf[i].tile) setenv("INRGAN_VK_GEMM_TILE", cf[i].tile, 1);
        if (cf[i].emu) setenv("INRGAN_VK_COOP_EMU", "1", 1);
        ig_vk_desc d = vk_test_desc();
        d.precision = cf[i].f16 ? IG_VK_PRECISION_FP16 : IG_VK_PRECISION_FP32;
        ig_vk_context *ctx = make_ctx(d);
        unsetenv("INRGAN_VK_GEMM_TILE");
        unsetenv("INRGAN_VK_COOP_EMU");
        if (!ctx) continue;
        if (cf[i].f16 && ig_vk_context_precision(ctx) != IG_VK_PRECISION_FP16) {
            printf("  %s: no fp16 storage on this device, skipped\n", cf[i].kernel);
            ig_vk_context_destroy(ctx);
            continue;
        }
        g_tol = cf[i].f16 ? TOL16 : TOL;
        char label[64];
        snprintf(label, sizeof label, "%s/%s", cf[i].kernel, cf[i].tiles);
        ig_render_desc rd = {.model = ro, .plan = &plan, .z = z, .count = 3, .psi = 1.0, .threads = 2,
                             .noise = IG_NOISE_SEEDED, .noise_seed = seeds};
        char what[128];
        snprintf(what, sizeof what, "%s res odd 28x20 batch 3 seeded", label);
        parity(ctx, &rd, what, NULL, &keep[i]);
        CHECK_MSG(strcmp(ig_vk_level_kernel_used(ctx), cf[i].kernel) == 0, "%s: kernel %s", label,
                  ig_vk_level_kernel_used(ctx));
        ig_vk_render_report rep;
        ig_vk_last_render_report(ctx, &rep);
        CHECK_MSG(rep.gemm_tiles && strcmp(rep.gemm_tiles, cf[i].tiles) == 0, "%s: tiles %s", label,
                  rep.gemm_tiles ? rep.gemm_tiles : "(null)");
        CHECK_MSG(strcmp(ig_vk_render_precision(ctx, ro), cf[i].f16 ? "fp16" : "fp32") == 0, "%s: precision %s",
                  label, ig_vk_render_precision(ctx, ro));
        char l2[96];
        snprintf(l2, sizeof l2, "%s skip odd", label);
        native_cases(ctx, o, l2);
        view_cases(ctx, o, l2);
        snprintf(l2, sizeof l2, "%s res odd", label);
        native_cases(ctx, ro, l2);
        view_cases(ctx, ro, l2);
        snprintf(l2, sizeof l2, "%s res w_avg psi 0.7", label);
        native_cases(ctx, rw, l2);
        vk_test_ctx_ok(ctx);
        ig_vk_context_destroy(ctx);
        g_tol = TOL;
    }
    /* the same bits from every tile set of one precision */
    for (int i = 1; i < NC; i++) {
        int ref = cf[i].f16 ? 2 : 0;
        if (i == ref || !keep[i] || !keep[ref]) continue;
        double dd = max_diff(keep[i], keep[ref], plan_floats(&plan, 3));
        printf("  %s/%s vs %s/%s: max diff %.3g\n", cf[i].kernel, cf[i].tiles, cf[ref].kernel, cf[ref].tiles, dd);
        CHECK_MSG(dd == 0, "%s/%s differs from %s/%s (%.3g)", cf[i].kernel, cf[i].tiles, cf[ref].kernel,
                  cf[ref].tiles, dd);
    }
    for (int i = 0; i < NC; i++) free(keep[i]);
    if (planned) ig_plan_free(&plan);
    free(z);
    ig_model_free(o);
    ig_model_free(ro);
    ig_model_free(rw);
}

int main(void) {
    vk_test_init();
    {
        ig_vk_context *ctx = make_ctx(vk_test_desc());
        if (ctx) printf("%s\n", ig_vk_context_summary(ctx));
        ig_vk_context_destroy(ctx);
    }
    RUN(test_small);
    RUN(test_truncation);
    RUN(test_wide);
    RUN(test_odd);
    RUN(test_no_mapping);
    RUN(test_res);
    RUN(test_chunks);
    RUN(test_context);
    RUN(test_fast);
    RUN(test_alloc_injection);
    return TEST_EXIT();
}
