/* test_core.c - host-only unit tests: result table, latents, seeds, fp16, safetensors,
 * plan coordinates, .npy and PNG writing. */
#include "ig_test.h"
#include "inrgan.h"
#include "ig_parse.h"
#include "noise.h"
#include "safetensors.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_result_table(void) {
    for (int r = 0; r < IG_RESULT_COUNT; r++) {
        CHECK(strncmp(ig_result_name((ig_result)r), "IG_", 3) == 0);
        CHECK(strlen(ig_result_description((ig_result)r)) > 3);
        int e = ig_result_exit_code((ig_result)r);
        CHECK(e == (r == IG_OK ? 0 : e) && (e == 0 || e == 1 || e == 2 || e == 130));
        CHECK(r == IG_OK || e != 0);
        for (int q = 0; q < r; q++) CHECK(strcmp(ig_result_name((ig_result)q), ig_result_name((ig_result)r)) != 0);
    }
    CHECK(strcmp(ig_result_name(IG_ERR_MODEL_WRONG_SHAPE), "IG_ERR_MODEL_WRONG_SHAPE") == 0);
    ig_error err = {0};
    CHECK(ig_error_set(&err, IG_ERR_IO, "x=%d", 5) == IG_ERR_IO && err.code == IG_ERR_IO && strcmp(err.msg, "x=5") == 0);
}

static void test_parse(void) {
    ig_error err;
    int64_t v;
    int i, w, h;
    double d;
    ig_view view;
    CHECK(ig_parse_int64("--reps", "12", 1, 100, &v, &err) == IG_OK && v == 12);
    CHECK(ig_parse_int64("--reps", "-3", -5, 5, &v, &err) == IG_OK && v == -3);
    const char *bad[] = {"", "2junk", "4294967298", " 2", "2 ", "+2", "0x10", "1e3", "-", "99999999999999999999999"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        CHECK(ig_parse_int("--reps", bad[k], 1, 1000, &i, &err) == IG_ERR_USAGE);
        CHECK(strstr(err.msg, "--reps") && strstr(err.msg, bad[k]));
    }
    CHECK(ig_parse_int("--threads", "1024", 1, 1024, &i, &err) == IG_OK && i == 1024);
    CHECK(ig_parse_size("--size", "640x480", 65535, &w, &h, &err) == IG_OK && w == 640 && h == 480);
    CHECK(ig_parse_size("--size", "4294967360x4294967360", 65535, &w, &h, &err) == IG_ERR_SIZE);
    CHECK(strstr(err.msg, "4294967360x4294967360") != NULL);
    CHECK(ig_parse_size("--size", "99999999999x5", 65535, &w, &h, &err) == IG_ERR_SIZE);
    CHECK(strstr(err.msg, "99999999999x5") && !strstr(err.msg, "1215752191"));
    CHECK(ig_parse_size("--size", "0x5", 65535, &w, &h, &err) == IG_ERR_SIZE);
    CHECK(ig_parse_size("--size", "5x5x", 65535, &w, &h, &err) == IG_ERR_USAGE);
    CHECK(ig_parse_size("--size", "5", 65535, &w, &h, &err) == IG_ERR_USAGE);
    CHECK(ig_parse_double("--t", "0.25", 0, 1, &d, &err) == IG_OK && d == 0.25);
    CHECK(ig_parse_double("--t", "nan", 0, 1, &d, &err) == IG_ERR_USAGE);
    CHECK(ig_parse_double("--t", "0x1p-2", 0, 1, &d, &err) == IG_ERR_USAGE);
    CHECK(ig_parse_double("--t", "1.5", 0, 1, &d, &err) == IG_ERR_USAGE);
    CHECK(ig_parse_view("--view", "-1,-1,1,1", &view, &err) == IG_OK && view.x1 == 1);
    CHECK(ig_parse_view("--view", "0,0,0,0", &view, &err) == IG_ERR_VIEW);
    CHECK(ig_parse_view("--view", "1,0,0,1", &view, &err) == IG_ERR_VIEW);
    CHECK(ig_parse_view("--view", "0,0,1", &view, &err) == IG_ERR_USAGE);
    CHECK(ig_parse_view("--view", "0,0,1,1,", &view, &err) == IG_ERR_USAGE);
}

static void test_latents(void) {
    enum { D = 512, N = 200 };
    float a[D], b[D];
    ig_latent_from_seed(7, a, D);
    ig_latent_from_seed(7, b, D);
    CHECK(memcmp(a, b, sizeof a) == 0);
    ig_latent_from_seed(8, b, D);
    CHECK(memcmp(a, b, sizeof a) != 0);
    double sum = 0, sq = 0;
    for (int s = 0; s < N; s++) {
        ig_latent_from_seed((uint32_t)s, a, D);
        for (int k = 0; k < D; k++) { CHECK(isfinite(a[k])); sum += a[k]; sq += (double)a[k] * a[k]; }
    }
    double mean = sum / (N * D), var = sq / (N * D) - mean * mean;
    CHECK_MSG(fabs(mean) < 0.01 && fabs(var - 1) < 0.02, "mean %g var %g", mean, var);
    /* odd z_dim: a prefix of the even stream */
    float c[5], d[6];
    ig_latent_from_seed(3, c, 5);
    ig_latent_from_seed(3, d, 6);
    CHECK(memcmp(c, d, sizeof c) == 0);
}

static void test_seeds(void) {
    uint32_t *s;
    int n;
    ig_error err;
    CHECK(ig_seeds_parse("0-3,7,4294967295", &s, &n, &err) == IG_OK && n == 6);
    CHECK(s[0] == 0 && s[3] == 3 && s[4] == 7 && s[5] == 4294967295u);
    free(s);
    const char *bad[] = {"", "3-1", "a", "1,", ",1", "-1", "4294967296", "1-", "1..3", "0-1000000000"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_MSG(ig_seeds_parse(bad[i], &s, &n, &err) == IG_ERR_SEEDS, "'%s'", bad[i]);
        CHECK(s == NULL && n == 0);
    }
}

static void test_half(void) {
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue; /* NaN payloads */
        float f = ig_half_to_float((uint16_t)h);
        CHECK_MSG(ig_float_to_half(f) == h, "half 0x%04x -> %g", h, f);
    }
    CHECK(ig_float_to_half(1.0f) == 0x3c00 && ig_float_to_half(-2.0f) == 0xc000);
    CHECK(ig_float_to_half(65520.0f) == 0x7c00);           /* rounds to Inf */
    CHECK(ig_float_to_half(1.0f + 1.0f / 2048) == 0x3c00); /* tie to even */
    CHECK(ig_float_to_half(1.0f + 3.0f / 2048) == 0x3c02);
}

static void test_safetensors_roundtrip(void) {
    char path[] = "/tmp/ig-test-st-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    float a[6] = {1, -2, 3.5f, 0.25f, 1e-3f, 7}, b[4] = {0.5f, -0.125f, 2, 1024};
    int64_t sa[2] = {2, 3}, sb[1] = {4};
    ig_st_write_entry e[2] = {{"alpha", IG_ST_F32, 2, sa, a}, {"beta.x", IG_ST_F16, 1, sb, b}};
    const char *k[1] = {"inrgan"}, *v[1] = {"{\"x\": 1}"};
    for (int unaligned = 0; unaligned < 2; unaligned++) {
        ig_error err = {0};
        CHECK(ig_st_write(path, e, 2, k, v, 1, unaligned, &err) == IG_OK);
        ig_st_file f;
        CHECK_MSG(ig_st_open(path, &f, &err) == IG_OK, "%s", err.msg);
        if (err.code) continue;
        CHECK(f.count == 2);
        const ig_st_entry *ea = ig_st_find(&f, "alpha"), *eb = ig_st_find(&f, "beta.x");
        CHECK(ea && eb && ea->ndim == 2 && ea->shape[1] == 3 && eb->dtype == IG_ST_F16);
        CHECK(unaligned ? (ea->begin % 2 == 1) : ea->begin == 0);
        float ra[6], rb[4];
        ig_st_read_f32(&f, ea, ra);
        ig_st_read_f32(&f, eb, rb);
        CHECK(memcmp(ra, a, sizeof a) == 0 && memcmp(rb, b, sizeof b) == 0);
        CHECK(ig_st_metadata(&f, "inrgan") && strcmp(ig_st_metadata(&f, "inrgan"), v[0]) == 0);
        CHECK(ig_st_metadata(&f, "other") == NULL);
        ig_st_close(&f);
    }
    remove(path);
}

static ig_config tiny_config(void) {
    ig_config c;
    memset(&c, 0, sizeof c);
    c.n_levels = 3;
    c.level_grid[0] = 8; c.level_grid[1] = 16; c.level_grid[2] = 32;
    return c;
}

static void test_plan(void) {
    ig_config cfg = tiny_config();
    ig_plan p;
    ig_error err;
    CHECK(ig_plan_init(&p, &cfg, ig_view_native(), 32, 32, &err) == IG_OK);
    for (int l = 0; l < 3; l++) {
        int n = 8 << l;
        CHECK(p.levels[l].width == n && p.levels[l].height == n);
        for (int k = 0; k < n; k++) {
            CHECK(p.levels[l].xs[k] == 2.0 * k / n - 1.0);             /* t_k = 2k/n - 1 */
            CHECK(p.levels[l].ys[k] == 2.0 * (n - 1 - k) / n - 1.0);   /* y up */
        }
    }
    for (int l = 0; l + 1 < 3; l++)
        for (int k = 0; k < p.levels[l].width; k++) {
            CHECK(p.levels[l + 1].xs[2 * k] == p.levels[l].xs[k]);
            CHECK(p.levels[l + 1].ys[2 * k + 1] == p.levels[l].ys[k]);
        }
    ig_plan_free(&p);
    CHECK(ig_plan_init(&p, &cfg, ig_view_native(), 0, 32, &err) == IG_ERR_SIZE);
    /* sizes the levels do not divide: the grid is padded (the view extended at the same pitch)
     * and the output is its top-left part */
    ig_plan q;
    CHECK(ig_plan_init(&p, &cfg, ig_view_native(), 30, 32, &err) == IG_OK);
    CHECK(ig_plan_init(&q, &cfg, (ig_view){-1, -1, 1 + 2.0 / 30 * 2, 1}, 32, 32, &err) == IG_OK);
    CHECK(p.width == 30 && p.levels[2].full_width == 32 && p.levels[0].width == 8);
    for (int j = 0; j < 30; j++) CHECK(fabs(p.levels[2].xs[j] - q.levels[2].xs[j]) < 1e-12);
    ig_plan_free(&p);
    ig_plan_free(&q);
    /* a tile is a sub-list of the whole grid with identical coordinates, at every level */
    ig_plan_desc td = {.width = 32, .height = 32, .tile_x = 5, .tile_y = 9, .tile_w = 7, .tile_h = 11};
    CHECK(ig_plan_make(&p, &cfg, &td, &err) == IG_OK);
    CHECK(ig_plan_init(&q, &cfg, ig_view_native(), 32, 32, &err) == IG_OK);
    CHECK(p.width == 7 && p.height == 11 && !p.whole && q.whole);
    for (int l = 0; l < 3; l++) {
        for (int j = 0; j < p.levels[l].width; j++)
            CHECK(p.levels[l].xs[j] == q.levels[l].xs[p.levels[l].cols[j]]);
        for (int i = 0; i < p.levels[l].height; i++)
            CHECK(p.levels[l].ys[i] == q.levels[l].ys[p.levels[l].rows[i]]);
    }
    CHECK(p.levels[1].cols[0] == 2 && p.levels[1].width == 4); /* columns 5..11 need 2..5 */
    ig_plan_free(&p);
    ig_plan_free(&q);
    /* strided: every 4th pixel, and only their ancestors below */
    ig_plan_desc sd = {.width = 32, .height = 32, .stride = 4};
    CHECK(ig_plan_make(&p, &cfg, &sd, &err) == IG_OK);
    CHECK(p.width == 8 && p.levels[2].cols[1] == 4 && p.levels[1].width == 8 && p.levels[0].width == 8);
    ig_plan_free(&p);
    sd.tile_w = 9;
    CHECK(ig_plan_make(&p, &cfg, &sd, &err) == IG_ERR_SIZE);
    CHECK(ig_plan_init(&p, &cfg, ig_view_native(), 1 << 30, 32, &err) == IG_ERR_SIZE);
    ig_view inv = {1, -1, -1, 1}, nan = {NAN, -1, 1, 1};
    CHECK(ig_plan_init(&p, &cfg, inv, 32, 32, &err) == IG_ERR_VIEW);
    CHECK(ig_plan_init(&p, &cfg, nan, 32, 32, &err) == IG_ERR_VIEW);
}

static int dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void test_files(void) {
    char dir[] = "/tmp/ig-test-out-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    float img[3 * 4 * 2];
    for (int i = 0; i < 24; i++) img[i] = (float)i / 12 - 1;
    int64_t shape[3] = {3, 2, 4};
    ig_error err;
    snprintf(path, sizeof path, "%s/a.npy", dir);
    CHECK(ig_npy_write(path, img, 3, shape, &err) == IG_OK);
    int nd;
    int64_t sh[8];
    float *back;
    CHECK(ig_npy_read(path, &nd, sh, &back, &err) == IG_OK);
    CHECK(nd == 3 && sh[0] == 3 && sh[1] == 2 && sh[2] == 4 && memcmp(back, img, sizeof img) == 0);
    free(back);
    uint8_t rgb[24];
    ig_image_to_rgb8(img, 4, 2, rgb);
    CHECK(rgb[0] == 0 && rgb[1] == (uint8_t)(8.0f / 12 * 127.5f + 0.5f)); /* planar -> interleaved */
    float edge[3] = {1.0f, -1.0f, 0.0f};
    uint8_t e8[3];
    ig_image_to_rgb8(edge, 1, 1, e8);
    CHECK(e8[0] == 255 && e8[1] == 0 && e8[2] == 128);
    snprintf(path, sizeof path, "%s/a.png", dir);
    CHECK(ig_png_write(path, rgb, 4, 2, &err) == IG_OK);
    CHECK(dir_entries(dir) == 2); /* no temporary files left */
    snprintf(path, sizeof path, "%s/missing/b.png", dir);
    CHECK(ig_png_write(path, rgb, 4, 2, &err) == IG_ERR_OUTPUT);
    CHECK(dir_entries(dir) == 2);
    snprintf(path, sizeof path, "rm -rf %s", dir);
    CHECK(system(path) == 0);
}

/* The seeded noise of src/noise.h: values pinned from its Python twin (cips.engine_noise),
 * and its moments over a 256x256 grid. */
static void test_noise(void) {
    CHECK(ig_noise_value(7, 3, 0, 0) == -0x1.8e44p-2f);
    CHECK(ig_noise_value(7, 3, 0, 1) == -0x1.ed7p-4f);
    CHECK(ig_noise_value(0, 0, 0, 0) == -0x1.2847p+1f);
    CHECK(ig_noise_value(123456, 14, 1023, 511) == -0x1.0232p+0f);
    CHECK(ig_noise_value(4294967295u, 2, 65535, 70000) == 0x1.8535p+0f);
    double s = 0, ss = 0;
    int n = 256 * 256;
    for (int i = 0; i < 256; i++)
        for (int j = 0; j < 256; j++) {
            double v = ig_noise_value(5, 1, (uint32_t)i, (uint32_t)j);
            s += v;
            ss += v * v;
        }
    double mean = s / n, var = ss / n - mean * mean;
    CHECK_MSG(fabs(mean) < 0.02 && fabs(var - 1) < 0.02, "mean %g var %g", mean, var);
    CHECK(ig_noise_value(5, 1, 3, 4) != ig_noise_value(5, 2, 3, 4));
    CHECK(ig_noise_value(5, 1, 3, 4) != ig_noise_value(6, 1, 3, 4));
    CHECK(ig_noise_value(5, 1, 3, 4) != ig_noise_value(5, 1, 4, 3));
}

/* CIPS configs: counts of the released architecture, and the checks of the loader. */
static void test_cips_config(void) {
    char *json = ig_config_builtin("cips256");
    ig_config c;
    ig_error err;
    CHECK(json && ig_config_from_json(json, &c, &err) == IG_OK);
    CHECK(c.kind == IG_FAMILY_CIPS && c.resolution == 256 && c.n_levels == 1 && c.cips.n_pairs == 7);
    CHECK(ig_config_param_count(&c) == 44317092);
    CHECK(ig_cips_macs_per_pixel(&c) == 3401344.0); /* python: cips.macs_per_pixel */
    CHECK(fabs(ig_config_model_flops(&c) - 2.0 * 3401344.0 * 65536) < 1);
    free(json);
    static const struct { const char *from, *to; ig_result want; } bad[] = {
        {"\"size\":16", "\"size\":12", IG_ERR_MODEL_CONFIG_VALUE},
        {"\"channels\":[32,32,16]", "\"channels\":[32,32]", IG_ERR_MODEL_CONFIG_FIELD},
        {"\"truncation_psi\":1", "\"truncation_psi\":0.7", IG_ERR_MODEL_CONFIG_VALUE},
        {"\"arch\":\"CIPSskip\"", "\"arch\":\"CIPSdeep\"", IG_ERR_MODEL_CONFIG_VALUE},
        {"\"noise\":\"random\"", "\"noise\":\"fresh\"", IG_ERR_MODEL_CONFIG_VALUE},
        {"\"emb_size\":16", "\"emb_size\":32", IG_ERR_MODEL_CONFIG_VALUE},
        {"\"coords_size\":16", "\"coords_size\":1", IG_ERR_MODEL_CONFIG_VALUE},
        {"\"hidden_size\":32,", "", IG_ERR_MODEL_CONFIG_FIELD},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json = ig_config_builtin("tiny-cips");
        char *at = json ? strstr(json, bad[i].from) : NULL;
        CHECK_MSG(at != NULL, "%s not in the tiny-cips config", bad[i].from);
        if (!at) { free(json); continue; }
        char buf[2048];
        snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - json), json, bad[i].to, at + strlen(bad[i].from));
        ig_result r = ig_config_from_json(buf, &c, &err);
        CHECK_MSG(r == bad[i].want, "%s -> %s: got %s (%s)", bad[i].from, bad[i].to, ig_result_name(r), err.msg);
        free(json);
    }
}

/* CIPS on the CPU: thread count, tiles, strides, noise and params-space endpoints. */
static float *cips_render(const ig_model *m, const ig_plan_desc *pd, ig_noise noise, const uint32_t *seeds,
                          int threads, const float *zb, const float *t, ig_space space, int *w, int *h) {
    ig_plan plan;
    ig_error err;
    if (ig_plan_make(&plan, ig_model_config(m), pd, &err) != IG_OK) return NULL;
    const ig_config *c = ig_model_config(m);
    float *z = malloc(2 * (size_t)c->z_dim * sizeof *z);
    ig_latent_from_seed(1, z, c->z_dim);
    ig_latent_from_seed(2, z + c->z_dim, c->z_dim);
    float *out = malloc(2 * 3 * (size_t)plan.width * plan.height * sizeof *out);
    ig_render_desc d = {.model = m, .plan = &plan, .z = z, .count = 2, .psi = 1.0, .threads = threads,
                        .noise = noise, .noise_seed = seeds, .z_b = zb, .t = t, .space = space};
    if (ig_cpu_render(&d, out, &err) != IG_OK) {
        fprintf(stderr, "cips render: %s\n", err.msg);
        free(out);
        out = NULL;
    }
    *w = plan.width;
    *h = plan.height;
    ig_plan_free(&plan);
    free(z);
    return out;
}

static void test_cips_cpu(void) {
    char *json = ig_config_builtin("tiny-cips");
    ig_model *m = NULL;
    ig_error err;
    CHECK(ig_model_create_random(json, 3, &m, &err) == IG_OK);
    free(json);
    if (!m) return;
    uint32_t seeds[2] = {11, 12};
    int w, h, w2, h2;
    ig_plan_desc whole = {.width = 21, .height = 13};
    float *a = cips_render(m, &whole, IG_NOISE_MODEL, seeds, 1, NULL, NULL, IG_SPACE_Z, &w, &h);
    float *b = cips_render(m, &whole, IG_NOISE_SEEDED, seeds, 2, NULL, NULL, IG_SPACE_Z, &w2, &h2);
    CHECK(a && b && w == 21 && h == 13 && memcmp(a, b, 2 * 3 * 21 * 13 * sizeof *a) == 0);
    float *zero = cips_render(m, &whole, IG_NOISE_ZERO, seeds, 2, NULL, NULL, IG_SPACE_Z, &w2, &h2);
    CHECK(zero && memcmp(a, zero, 3 * 21 * 13 * sizeof *a) != 0);
    /* a tile is an exact crop; a stride an exact subsample (noise at global positions) */
    ig_plan_desc tile = {.width = 21, .height = 13, .tile_x = 5, .tile_y = 3, .tile_w = 9, .tile_h = 7};
    float *t = cips_render(m, &tile, IG_NOISE_SEEDED, seeds, 2, NULL, NULL, IG_SPACE_Z, &w2, &h2);
    bool same = t != NULL;
    for (int n = 0; same && n < 2; n++)
        for (int ch = 0; ch < 3; ch++)
            for (int i = 0; i < 7; i++)
                for (int j = 0; j < 9; j++)
                    same = same && t[((n * 3 + ch) * 7 + i) * 9 + j] == a[((n * 3 + ch) * 13 + 3 + i) * 21 + 5 + j];
    CHECK(same);
    ig_plan_desc strided = {.width = 21, .height = 13, .stride = 3};
    float *s = cips_render(m, &strided, IG_NOISE_SEEDED, seeds, 2, NULL, NULL, IG_SPACE_Z, &w2, &h2);
    same = s != NULL && w2 == 7 && h2 == 5;
    for (int n = 0; same && n < 2; n++)
        for (int ch = 0; ch < 3; ch++)
            for (int i = 0; i < 5; i++)
                for (int j = 0; j < 7; j++)
                    same = same && s[((n * 3 + ch) * 5 + i) * 7 + j] == a[((n * 3 + ch) * 13 + 3 * i) * 21 + 3 * j];
    CHECK(same);
    /* params space: t = 0 and 1 are the endpoints exactly, t = 0.5 lies elsewhere */
    const ig_config *c = ig_model_config(m);
    float *zb = malloc(2 * (size_t)c->z_dim * sizeof *zb);
    ig_latent_from_seed(2, zb, c->z_dim);
    ig_latent_from_seed(1, zb + c->z_dim, c->z_dim);
    float t01[2] = {0.0f, 1.0f}, half[2] = {0.5f, 0.5f};
    float *p = cips_render(m, &whole, IG_NOISE_ZERO, seeds, 2, zb, t01, IG_SPACE_PARAMS, &w2, &h2);
    size_t img = 3 * 21 * 13;
    CHECK(p && zero && memcmp(p, zero, img * sizeof *p) == 0 && memcmp(p + img, zero, img * sizeof *p) == 0);
    float *q = cips_render(m, &whole, IG_NOISE_ZERO, seeds, 2, zb, half, IG_SPACE_PARAMS, &w2, &h2);
    CHECK(q && zero && memcmp(q, zero, img * sizeof *q) != 0);
    free(a); free(b); free(zero); free(t); free(s); free(p); free(q); free(zb);
    ig_model_free(m);
}

int main(void) {
    RUN(test_result_table);
    RUN(test_parse);
    RUN(test_latents);
    RUN(test_seeds);
    RUN(test_half);
    RUN(test_safetensors_roundtrip);
    RUN(test_plan);
    RUN(test_files);
    RUN(test_noise);
    RUN(test_cips_config);
    RUN(test_cips_cpu);
    return TEST_EXIT();
}
