/* vk_test.h - helpers shared by the Vulkan tests in tests/vk/.
 *
 *   vk_test_init()        pins the lavapipe ICD and the validation layer in memory (LSan: their
 *                         globals stay reachable after the loader dlcloses them), reads
 *                         INRGAN_TEST_GPU (default "llvmpipe")
 *   vk_test_desc()        a context desc: that device, validation on, a private pipeline cache
 *   vk_test_ctx_ok()      checks a context saw no validation errors
 *   vk_test_model_write() writes a tiny random model (safetensors) from a spec
 *   vk_test_compare()     max abs difference relative to max(1, max|ref|)
 *   vk_test_check_render() renders with the CPU backend and a context, compares, checks the
 *                         level kernel (and gemm tile sets) that ran
 *   vk_test_check_groups() a batch of 3 under a small storage range (image groups)
 *   vk_test_check_kernel_env() INRGAN_VK_KERNEL turns a level kernel on
 *
 * Tests run against lavapipe (VK_DRIVER_FILES=.../lvp_icd.x86_64.json, set by
 * tests/vk_tests.cmake) with the Khronos validation layer; scripts/gpu-check.sh runs the same
 * binaries on an NVIDIA GPU with INRGAN_TEST_GPU=nvidia.
 */
#ifndef VK_TEST_H
#define VK_TEST_H

#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ig_test.h"
#include "ig_vk.h"
#include "ig_vk_test.h"
#include "inrgan.h"

#define VK_TEST_FN static inline __attribute__((unused))

#ifndef VK_TEST_TMP
#define VK_TEST_TMP "/tmp"
#endif

#ifndef IG_TEST_DATA
#define IG_TEST_DATA "tests/data"
#endif

static const char *vk_test_gpu = "llvmpipe";

/* A file in the test scratch folder: $INRGAN_TEST_TMP, else the build's vk-test-tmp (the
 * binaries also run from a copy on the GPU machine, scripts/gpu-check.sh). */
VK_TEST_FN const char *vk_test_path(const char *name) {
    static char ring[8][1024];
    static int next;
    const char *dir = getenv("INRGAN_TEST_TMP");
    char *b = ring[next++ & 7];
    snprintf(b, sizeof ring[0], "%s/%s", dir && *dir ? dir : VK_TEST_TMP, name);
    return b;
}

/* A file of tests/data ($INRGAN_TEST_DATA overrides the folder). */
VK_TEST_FN const char *vk_test_data(const char *name) {
    static char ring[4][1024];
    static int next;
    const char *dir = getenv("INRGAN_TEST_DATA");
    char *b = ring[next++ & 3];
    snprintf(b, sizeof ring[0], "%s/%s", dir && *dir ? dir : IG_TEST_DATA, name);
    return b;
}

VK_TEST_FN void vk_test_init(void) {
    /* Keep the ICD and the layer mapped after vkDestroyInstance: lavapipe leaves memory
     * referenced from its globals, which LeakSanitizer reports once the loader unloads it. */
    const char *libs[] = {"libvulkan_lvp.so", "libVkLayer_khronos_validation.so"};
    for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) dlopen(libs[i], RTLD_NOW | RTLD_NODELETE);
    const char *g = getenv("INRGAN_TEST_GPU");
    if (g && *g) vk_test_gpu = g;
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *dir = getenv("INRGAN_TEST_TMP");
    if (dir && *dir) {
        char cmd[1100];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "cannot create %s\n", dir);
    }
}

VK_TEST_FN ig_vk_desc vk_test_desc(void) {
    ig_vk_desc d = {0};
    d.gpu = vk_test_gpu;
    d.validate = !getenv("INRGAN_TEST_NO_VALIDATION"); /* a GPU machine without the layer */
    d.cache_dir = vk_test_path("pipeline-cache");
    return d;
}

VK_TEST_FN void vk_test_ctx_ok(const ig_vk_context *ctx) {
    CHECK_MSG(ig_vk_validation_errors(ctx) == 0, "%u validation error(s), first: %s",
              ig_vk_validation_errors(ctx), ig_vk_validation_message(ctx));
}

/* max |a - ref| / max(1, max |ref|) */
VK_TEST_FN double vk_test_compare(const float *a, const float *ref, size_t n) {
    double mx = 1, d = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(ref[i]) > mx) mx = fabs(ref[i]);
        double e = fabs((double)a[i] - ref[i]);
        if (!(e <= d)) d = e; /* NaN propagates */
    }
    return d / mx;
}

/* Renders `count` images of plan with the CPU backend and with ctx (psi 0.7; with zb:
 * interpolated towards zb at t = 0.3, 1.0, 0.6 in `space`), prints the error, and checks
 * max rel error <= tol, that ctx ran the level kernel `kernel` and, when want_tiles is not NULL,
 * the gemm tile sets want_tiles (ig_vk_render_report.gemm_tiles). keep (when not NULL) gets the
 * Vulkan images. */
VK_TEST_FN void vk_test_check_render(ig_vk_context *ctx, const ig_model *m, const ig_plan *plan,
                                     const float *z, const float *zb, int space, int count,
                                     const char *kernel, const char *label, double tol,
                                     const char *want_tiles, float *keep) {
    ig_error err = {0};
    size_t n = (size_t)count * 3 * plan->width * plan->height;
    float *ref = malloc(n * sizeof *ref);
    float *got = malloc(n * sizeof *got);
    const float t[3] = {0.3f, 1.0f, 0.6f};
    ig_render_desc rd = {.model = m, .plan = plan, .z = z, .count = count, .psi = 0.7,
                         .threads = 1};
    if (zb) {
        rd.z_b = zb;
        rd.t = t;
        rd.space = (ig_space)space;
    }
    ig_result r1 = ig_cpu_render(&rd, ref, &err);
    CHECK_MSG(r1 == IG_OK, "%s: cpu: %s", label, err.msg);
    memset(got, 0xff, n * sizeof *got);
    ig_result r2 = ig_vk_render(ctx, &rd, got, &err);
    CHECK_MSG(r2 == IG_OK, "%s: vulkan: %s", label, err.msg);
    if (r1 == IG_OK && r2 == IG_OK) {
        double e = vk_test_compare(got, ref, n);
        const char *used = ig_vk_level_kernel_used(ctx);
        ig_vk_render_report rep;
        ig_vk_last_render_report(ctx, &rep);
        printf("  %s (%dx%d, batch %d, %s kernel%s%s): max rel error %.3g\n", label, plan->width,
               plan->height, count, used, *rep.gemm_tiles ? ", tiles " : "", rep.gemm_tiles, e);
        CHECK_MSG(e <= tol, "%s: error %.3g > %g", label, e, tol);
        CHECK_MSG(strcmp(used, kernel) == 0, "%s: ran the %s kernel, expected %s", label, used,
                  kernel);
        if (want_tiles)
            CHECK_MSG(strcmp(rep.gemm_tiles, want_tiles) == 0, "%s: tiles %s, expected %s", label,
                      rep.gemm_tiles, want_tiles);
        if (keep) memcpy(keep, got, n * sizeof *got);
    }
    free(ref);
    free(got);
}

/* ---- tiny random models ------------------------------------------------------------------- */

typedef struct vk_test_block {
    const char *name;
    int grid, channels, extra;
    int emb_k, emb_diag, emb_random, emb_const; /* emb_k < 0: no embedding */
} vk_test_block;

typedef struct vk_test_spec {
    int z_dim, w_dim, map_layers, rank;
    const char *upsampling;
    int instance_norm;
    double psi;
    int n_blocks;
    vk_test_block blocks[8];
} vk_test_spec;

typedef struct vk_test_tensor {
    char name[160];
    int ndim;
    int64_t shape[4];
    float *data;
    int64_t n;
} vk_test_tensor;

typedef struct vk_test_writer {
    vk_test_tensor t[256];
    int n;
    uint64_t rng;
} vk_test_writer;

VK_TEST_FN double vk_test_randn(uint64_t *s) {
    double u[2];
    for (int i = 0; i < 2; i++) {
        *s += 0x9E3779B97F4A7C15ull;
        uint64_t z = *s;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        u[i] = ((double)(z >> 11) + 0.5) / 9007199254740992.0;
    }
    return sqrt(-2 * log(u[0])) * cos(6.283185307179586 * u[1]);
}

/* kind: 0 randn*scale + offset, 1 log basis rows (closed form) */
VK_TEST_FN float *vk_test_add(vk_test_writer *w, const char *name, int ndim, int64_t d0, int64_t d1,
                          int64_t d2, int64_t d3, double scale, double offset) {
    vk_test_tensor *t = &w->t[w->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    int64_t d[4] = {d0, d1, d2, d3};
    t->n = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = d[i];
        t->n *= d[i];
    }
    t->data = malloc((size_t)(t->n ? t->n : 1) * sizeof(float));
    for (int64_t i = 0; i < t->n; i++) t->data[i] = (float)(vk_test_randn(&w->rng) * scale + offset);
    return t->data;
}

VK_TEST_FN void vk_test_layer(vk_test_writer *w, const char *prefix, int c_out, int c_in, int rank,
                          int w_dim, int torgb) {
    char n[128];
    int64_t heads = torgb ? c_in : (int64_t)(c_in + c_out) * rank;
    snprintf(n, sizeof n, "%s.weight", prefix);
    vk_test_add(w, n, 4, torgb ? 3 : c_out, c_in, 1, 1, 1, 0);
    snprintf(n, sizeof n, "%s.bias", prefix);
    vk_test_add(w, n, 1, torgb ? 3 : c_out, 0, 0, 0, 0.2, 0);
    snprintf(n, sizeof n, "%s.affine.weight", prefix);
    vk_test_add(w, n, 2, heads, w_dim, 0, 0, 1, 0);
    snprintf(n, sizeof n, "%s.affine.bias", prefix);
    vk_test_add(w, n, 1, heads, 0, 0, 0, 0.1, torgb ? 1.0 : 0.0);
}

/* Writes the model; returns 0 on success. */
VK_TEST_FN int vk_test_model_write(const char *path, const vk_test_spec *s, uint64_t seed) {
    vk_test_writer *w = calloc(1, sizeof *w);
    if (!w) return -1;
    w->rng = seed * 7919 + 17;
    char cfg[4096];
    int o = snprintf(cfg, sizeof cfg,
                     "{\"format_version\": 1, \"family\": \"inrgan\", \"resolution\": %d, "
                     "\"z_dim\": %d, \"w_dim\": %d, \"mapping\": {\"num_layers\": %d, "
                     "\"lr_multiplier\": 0.01}, \"rank\": %d, \"upsampling\": \"%s\", "
                     "\"instance_norm\": %s, \"num_ws\": 8, \"truncation_psi\": %g, \"blocks\": [",
                     s->blocks[s->n_blocks - 1].grid, s->z_dim, s->w_dim, s->map_layers, s->rank,
                     s->upsampling, s->instance_norm ? "true" : "false", s->psi);
    int prev_c = 0, prev_grid = 0, emb_c = 0;
    for (int i = 0; i < s->n_blocks; i++) {
        const vk_test_block *b = &s->blocks[i];
        char p[64];
        o += snprintf(cfg + o, sizeof cfg - (size_t)o,
                      "%s{\"name\": \"%s\", \"grid\": %d, \"channels\": %d, \"extra_convs\": %d",
                      i ? ", " : "", b->name, b->grid, b->channels, b->extra);
        if (b->emb_k >= 0) {
            o += snprintf(cfg + o, sizeof cfg - (size_t)o,
                          ", \"embedding\": {\"log_freqs\": %d, \"diagonal\": %s, \"random\": %d, "
                          "\"const\": %d}",
                          b->emb_k, b->emb_diag ? "true" : "false", b->emb_random, b->emb_const);
            int n_log = b->emb_k * (b->emb_diag ? 4 : 2);
            emb_c = 2 * (n_log + b->emb_random) + b->emb_const;
            if (i == 0)
                snprintf(p, sizeof p, "synthesis.%s.input.input.coord_fuser", b->name);
            else
                snprintf(p, sizeof p, "synthesis.%s.coord_fuser", b->name);
            char n[128];
            if (b->emb_const > 0) {
                snprintf(n, sizeof n, "%s.const_embs", p);
                vk_test_add(w, n, 4, 1, b->emb_const, b->grid, b->grid, 1, 0);
            }
            if (n_log > 0) {
                snprintf(n, sizeof n, "%s.log_basis", p);
                float *lb = vk_test_add(w, n, 2, n_log, 2, 0, 0, 0, 0);
                int r = 0;
                for (int k = 0; k < b->emb_k; k++, r++) lb[2 * r + 1] = (float)(1.5707963 * (1 << k));
                for (int k = 0; k < b->emb_k; k++, r++) lb[2 * r] = (float)(1.5707963 * (1 << k));
                if (b->emb_diag) {
                    for (int k = 0; k < b->emb_k; k++, r++) {
                        lb[2 * r] = (float)(-0.78539816 * (1 << k));
                        lb[2 * r + 1] = (float)(0.78539816 * (1 << k));
                    }
                    for (int k = 0; k < b->emb_k; k++, r++)
                        lb[2 * r] = lb[2 * r + 1] = (float)(0.78539816 * (1 << k));
                }
            }
            if (b->emb_random > 0) {
                snprintf(n, sizeof n, "%s.random_basis", p);
                vk_test_add(w, n, 2, b->emb_random, 2, 0, 0, 3.1622776601683795, 0);
            }
        }
        o += snprintf(cfg + o, sizeof cfg - (size_t)o, "}");
        int C = b->channels;
        char lp[96];
        if (i == 0) {
            snprintf(lp, sizeof lp, "synthesis.%s.conv1", b->name);
            vk_test_layer(w, lp, C, emb_c, s->rank, s->w_dim, 0);
        } else {
            int up = b->grid == 2 * prev_grid;
            snprintf(lp, sizeof lp, "synthesis.%s.conv0", b->name);
            vk_test_layer(w, lp, C, prev_c + (up ? emb_c : 0), s->rank, s->w_dim, 0);
            snprintf(lp, sizeof lp, "synthesis.%s.conv1", b->name);
            vk_test_layer(w, lp, C, C, s->rank, s->w_dim, 0);
        }
        for (int k = 0; k < b->extra; k++) {
            snprintf(lp, sizeof lp, "synthesis.%s.extra_convs.%d", b->name, k);
            vk_test_layer(w, lp, C, C, s->rank, s->w_dim, 0);
        }
        snprintf(lp, sizeof lp, "synthesis.%s.torgb", b->name);
        vk_test_layer(w, lp, 3, C, s->rank, s->w_dim, 1);
        prev_c = C;
        prev_grid = b->grid;
    }
    o += snprintf(cfg + o, sizeof cfg - (size_t)o, "]}");
    for (int l = 0; l < s->map_layers; l++) {
        char n[64];
        snprintf(n, sizeof n, "mapping.fc%d.weight", l);
        vk_test_add(w, n, 2, s->w_dim, l ? s->w_dim : s->z_dim, 0, 0, 100, 0);
        snprintf(n, sizeof n, "mapping.fc%d.bias", l);
        vk_test_add(w, n, 1, s->w_dim, 0, 0, 0, 10, 0);
    }
    vk_test_add(w, "mapping.w_avg", 1, s->w_dim, 0, 0, 0, 0.5, 0);

    /* header */
    size_t cap = 65536 + strlen(cfg) * 2;
    char *h = malloc(cap);
    size_t hn = 0;
    hn += (size_t)snprintf(h + hn, cap - hn, "{\"__metadata__\": {\"inrgan\": \"");
    for (const char *c = cfg; *c; c++) {
        if (*c == '"' || *c == '\\') h[hn++] = '\\';
        h[hn++] = *c;
    }
    hn += (size_t)snprintf(h + hn, cap - hn, "\"}");
    uint64_t off = 0;
    for (int i = 0; i < w->n; i++) {
        const vk_test_tensor *t = &w->t[i];
        hn += (size_t)snprintf(h + hn, cap - hn, ", \"%s\": {\"dtype\": \"F32\", \"shape\": [",
                               t->name);
        for (int k = 0; k < t->ndim; k++)
            hn += (size_t)snprintf(h + hn, cap - hn, "%s%lld", k ? ", " : "",
                                   (long long)t->shape[k]);
        hn += (size_t)snprintf(h + hn, cap - hn, "], \"data_offsets\": [%llu, %llu]}",
                               (unsigned long long)off,
                               (unsigned long long)(off + (uint64_t)t->n * 4));
        off += (uint64_t)t->n * 4;
    }
    hn += (size_t)snprintf(h + hn, cap - hn, "}");
    FILE *f = fopen(path, "wb");
    int rc = -1;
    if (f) {
        uint64_t len = hn;
        uint8_t le[8];
        for (int i = 0; i < 8; i++) le[i] = (uint8_t)(len >> (8 * i));
        fwrite(le, 1, 8, f);
        fwrite(h, 1, hn, f);
        for (int i = 0; i < w->n; i++) fwrite(w->t[i].data, 4, (size_t)w->t[i].n, f);
        rc = fclose(f) == 0 ? 0 : -1;
    }
    free(h);
    for (int i = 0; i < w->n; i++) free(w->t[i].data);
    free(w);
    return rc;
}

/* The default tiny spec: 3 levels (4x4, 8x8, 16x16), every code path of a level. */
VK_TEST_FN vk_test_spec vk_test_spec_tiny(const char *upsampling, int instance_norm, int extra) {
    vk_test_spec s = {.z_dim = 16, .w_dim = 16, .map_layers = 2, .rank = 3,
                      .upsampling = upsampling, .instance_norm = instance_norm, .psi = 0.8,
                      .n_blocks = 4};
    s.blocks[0] = (vk_test_block){"b4", 4, 16, 0, 2, 1, 0, 4};
    s.blocks[1] = (vk_test_block){"b8", 4, 16, 0, -1, 0, 0, 0};
    s.blocks[2] = (vk_test_block){"b16", 8, 12, extra, 3, 0, 4, 2};
    s.blocks[3] = (vk_test_block){"b32", 16, 8, extra, 4, 0, 4, 2};
    return s;
}

/* Loads the model and plans its native view; returns 0 on success. */
VK_TEST_FN int vk_test_load(const char *path, ig_model **m, ig_plan *plan, int size) {
    ig_error err = {0};
    if (ig_model_load(path, m, &err) != IG_OK) {
        fprintf(stderr, "model %s: %s\n", path, err.msg);
        return -1;
    }
    const ig_config *c = ig_model_config(*m);
    int s = size ? size : c->resolution;
    if (ig_plan_init(plan, c, ig_view_native(), s, s, &err) != IG_OK) {
        fprintf(stderr, "plan: %s\n", err.msg);
        ig_model_free(*m);
        return -1;
    }
    return 0;
}

VK_TEST_FN float *vk_test_latents(int count, int z_dim) {
    float *z = malloc((size_t)count * z_dim * sizeof *z);
    for (int i = 0; i < count; i++) ig_latent_from_seed((uint32_t)(100 + i), z + (size_t)i * z_dim, z_dim);
    return z;
}

/* INRGAN_VK_KERNEL=kernel turns that level kernel on for a default context (its summary says
 * "kernel=<kernel>"). */
VK_TEST_FN void vk_test_check_kernel_env(const char *kernel) {
    char want[64];
    snprintf(want, sizeof want, "kernel=%s", kernel);
    setenv("INRGAN_VK_KERNEL", kernel, 1);
    ig_vk_desc d = vk_test_desc();
    ig_vk_context *ctx = NULL;
    ig_error err = {0};
    CHECK_MSG(ig_vk_context_create(&d, &ctx, &err) == IG_OK, "context: %s", err.msg);
    unsetenv("INRGAN_VK_KERNEL");
    if (ctx)
        CHECK_MSG(strstr(ig_vk_context_summary(ctx), want) != NULL, "INRGAN_VK_KERNEL=%s: %s",
                  kernel, ig_vk_context_summary(ctx));
    ig_vk_context_destroy(ctx);
}

/* ctx's storage range (`range` bytes) holds the activations of two images but not three:
 * a batch of 3 renders in image groups (vk_test_check_render, no tile-set check), no binding
 * larger than range, no validation errors; then destroys ctx (NULL: nothing rendered). */
VK_TEST_FN void vk_test_check_groups(ig_vk_context *ctx, const ig_model *m, const ig_plan *plan,
                                     uint32_t range, const char *kernel, const char *label,
                                     double tol) {
    if (ctx) {
        float *z = vk_test_latents(3, ig_model_config(m)->z_dim);
        vk_test_check_render(ctx, m, plan, z, NULL, 0, 3, kernel, label, tol, NULL, NULL);
        ig_vk_mem_stats st;
        ig_vk_memory_stats(ctx, &st);
        CHECK_MSG(st.max_binding_bytes <= range, "binding of %u bytes", st.max_binding_bytes);
        free(z);
        vk_test_ctx_ok(ctx);
    }
    ig_vk_context_destroy(ctx);
}

#endif
