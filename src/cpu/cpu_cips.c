/* cpu_cips.c - the CIPS generator on the CPU (reference section 5, docs/cips.md).
 *
 * Per image: styles s = M w / sqrt(S) + m of every layer, the demodulated weights W'' (ToRGB:
 * modulated only), packed for ig_gemm_run. Per pixel (all independent): the input
 * [sin(B p' + c), E(p')], then the first layer and the ModFC pairs, y = lrelu(W'' x + a n + b)
 * sqrt(2) with n the seeded noise (src/noise.h) or 0. CIPSskip: after each pair
 * rgb += W_rgb x + b_rgb. CIPSres: each pair is a residual block x = (pair(x) + skip(x)) / sqrt(2)
 * (skip: W_s / sqrt(c_in) x where the width changes, else x), then one final ToRGB.
 * Threads take contiguous runs of pixel chunks; each pixel is computed by the same instructions
 * wherever it falls, so tiles, strides and thread counts give identical values. */
#include "cips.h"
#include "cpu_gemm.h"
#include "cpu_internal.h"
#include "lower.h"
#include "noise.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define IG__CHUNK 128 /* pixels per GEMM call: [2 hidden][128] floats of input stay in L2 */
#define IG__SQRT2 1.41421356237309504880f

typedef struct ig__cips_w {
    float *packed[IG_CIPS_MAX_CONVS]; /* W'' packed for ig_gemm_run */
    float *rgb[IG_MAX_CIPS_PAIRS];    /* [3][c] */
} ig__cips_w;

static void ig__cips_w_free(ig__cips_w *w) {
    for (int i = 0; i < IG_CIPS_MAX_CONVS; i++) free(w->packed[i]);
    for (int i = 0; i < IG_MAX_CIPS_PAIRS; i++) free(w->rgb[i]);
    memset(w, 0, sizeof *w);
}

/* The weights of one layer from w (and, in params space, lerped towards those of w_b). */
static bool ig__cips_layer_weight(const ig_model *m, const ig_cips_layer *L, bool demod, const float *w,
                                  const float *w_b, double t, float *out) {
    size_t n = (size_t)L->c_out * L->c_in;
    float *s = malloc((size_t)L->c_in * sizeof *s);
    float *b = w_b ? malloc(n * sizeof *b) : NULL;
    bool ok = s && (!w_b || b);
    if (ok) {
        ig_cips_style(m, L, w, s);
        ig_cips_weight(L, s, demod, out);
        if (w_b && t != 0) {
            ig_cips_style(m, L, w_b, s);
            ig_cips_weight(L, s, demod, b);
            for (size_t k = 0; k < n; k++) out[k] = t == 1 ? b[k] : (float)((1 - t) * out[k] + t * b[k]);
        }
    }
    free(s);
    free(b);
    return ok;
}

typedef struct ig__cips_gen {
    const ig_model *m;
    const float *w, *w_b;
    double t;
    ig__cips_w *out;
    atomic_bool failed; /* set by any worker thread */
} ig__cips_gen;

/* task t < n_convs: conv t; else ToRGB t - n_convs */
static void ig__cips_gen_task(void *vctx, size_t t0, size_t t1) {
    ig__cips_gen *g = vctx;
    const ig_cips_tensors *ct = &g->m->cips;
    for (size_t t = t0; t < t1; t++) {
        bool rgb = (int)t >= ct->n_convs;
        const ig_cips_layer *L = rgb ? &ct->rgb[t - (size_t)ct->n_convs] : &ct->conv[t];
        float *full = malloc((size_t)L->c_out * L->c_in * sizeof *full);
        if (!full || !ig__cips_layer_weight(g->m, L, !rgb, g->w, g->w_b, g->t, full)) {
            free(full);
            atomic_store(&g->failed, true);
            continue;
        }
        if (rgb) {
            g->out->rgb[t - (size_t)ct->n_convs] = full;
            continue;
        }
        float *packed = malloc((size_t)((L->c_out + 3) / 4) * 4 * L->c_in * sizeof *packed);
        if (packed) ig_gemm_pack(full, (size_t)L->c_in, L->c_out, L->c_in, packed);
        else atomic_store(&g->failed, true);
        g->out->packed[t] = packed;
        free(full);
    }
}

typedef struct ig__cips_px {
    const ig_model *m;
    float *const *skip; /* CIPSres: packed W_s / sqrt(c_in) of each block, NULL = identity */
    const ig_cips_axes *axes;
    const ig__cips_w *w;
    bool noise;
    uint32_t seed;
    float *out; /* this image: [3][H*W] */
    int max_c;
    atomic_bool failed; /* set by any worker thread */
} ig__cips_px;

/* rgb[3][np] += W_rgb x + b (accumulated in k order) */
static void ig__cips_torgb(const float *wr, const float *br, int ci, const float *x, int np, float *rgb) {
    for (int o = 0; o < 3; o++)
        for (int p = 0; p < np; p++) {
            float acc = 0;
            for (int k = 0; k < ci; k++) acc += wr[(size_t)o * ci + k] * x[(size_t)k * IG__CHUNK + p];
            rgb[o * IG__CHUNK + p] += acc + br[o];
        }
}

static void ig__cips_chunk(const ig__cips_px *c, size_t p0, int np, float *x, float *y, float *spare, float *rgb) {
    const ig_model *m = c->m;
    const ig_cips_tensors *ct = &m->cips;
    const ig_cips_axes *a = c->axes;
    size_t W = (size_t)a->width, px = W * (size_t)a->height;
    for (int p = 0; p < np; p++) {
        size_t q = p0 + (size_t)p;
        ig_cips_input(m, a, (int)(q / W), (int)(q % W), x + p, IG__CHUNK);
    }
    memset(rgb, 0, 3 * IG__CHUNK * sizeof *rgb);
    bool res = m->cfg.cips.res;
    float *block_in = NULL;
    for (int t = 0; t < ct->n_convs; t++) {
        const ig_cips_layer *L = &ct->conv[t];
        if (res && t % 2 == 1) { /* a residual block starts: keep its input */
            block_in = x;
            x = spare;
            spare = block_in;
            memcpy(x, block_in, (size_t)L->c_in * IG__CHUNK * sizeof *x);
        }
        ig_gemm_run(c->w->packed[t], L->c_out, L->c_in, x, IG__CHUNK, y, IG__CHUNK, 0, (size_t)np, 0, NULL);
        float nw = L->noise_w->data[0];
        for (int p = 0; p < np; p++) {
            size_t q = p0 + (size_t)p;
            float n = c->noise ? ig_noise_value(c->seed, (uint32_t)t, a->row[q / W], a->col[q % W]) : 0.0f;
            for (int o = 0; o < L->c_out; o++) {
                float v = y[(size_t)o * IG__CHUNK + p] + nw * n + L->bias->data[o];
                y[(size_t)o * IG__CHUNK + p] = (v < 0 ? 0.2f * v : v) * IG__SQRT2;
            }
        }
        float *tmp = x; x = y; y = tmp;
        if (t < 2 || t % 2 == 1) continue;
        int i = t / 2 - 1, co = L->c_out; /* pair i ends here */
        if (!res) {
            ig__cips_torgb(c->w->rgb[i], ct->rgb[i].bias->data, co, x, np, rgb);
            continue;
        }
        const float *sk = block_in;
        if (c->skip[i]) {
            ig_gemm_run(c->skip[i], co, (int)ct->skip[i]->shape[1], block_in,
                        IG__CHUNK, y, IG__CHUNK, 0, (size_t)np, 0, NULL);
            sk = y;
        }
        for (int o = 0; o < co; o++)
            for (int p = 0; p < np; p++)
                x[(size_t)o * IG__CHUNK + p] = (x[(size_t)o * IG__CHUNK + p] + sk[(size_t)o * IG__CHUNK + p]) *
                                               (float)(1.0 / IG__SQRT2);
    }
    if (res) ig__cips_torgb(c->w->rgb[0], ct->rgb[0].bias->data, ct->rgb[0].c_in, x, np, rgb);
    for (int o = 0; o < 3; o++) memcpy(c->out + (size_t)o * px + p0, rgb + o * IG__CHUNK, (size_t)np * sizeof *rgb);
}

static void ig__cips_px_task(void *vctx, size_t c0, size_t c1) {
    ig__cips_px *c = vctx;
    size_t px = (size_t)c->axes->width * c->axes->height;
    size_t n = (size_t)c->max_c * IG__CHUNK;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *spare = malloc(n * sizeof *spare);
    float *rgb = malloc(3 * IG__CHUNK * sizeof *rgb);
    if (!x || !y || !spare || !rgb) atomic_store(&c->failed, true);
    for (size_t k = c0; k < c1 && x && y && spare && rgb; k++) {
        size_t p0 = k * IG__CHUNK;
        int np = (int)(px - p0 < IG__CHUNK ? px - p0 : IG__CHUNK);
        ig__cips_chunk(c, p0, np, x, y, spare, rgb);
    }
    free(x);
    free(y);
    free(spare);
    free(rgb);
}

static ig_result ig__cips_render_ws(const ig_render_desc *d, int threads, const float *ws, const float *ws_b,
                                    float *out, ig_error *err) {
    const ig_model *m = d->model;
    const ig_config *c = &m->cfg;
    ig_cips_axes axes;
    ig_result r = ig_cips_axes_make(m, d->plan, &axes, err);
    if (r != IG_OK) return r;
    ig_lowering *lw = malloc(sizeof *lw);
    if (!lw) {
        ig_cips_axes_free(&axes);
        return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "CIPS layout");
    }
    ig_lower(c, lw);
    int max_c = lw->widest; /* the widest StyledConv input or output */
    free(lw);
    size_t px = (size_t)axes.width * axes.height, chunks = (px + IG__CHUNK - 1) / IG__CHUNK;
    bool noise = ig_noise_active(c, d->noise);
    /* CIPSres skips: W_s / sqrt(c_in), the same for every image */
    float *skip[IG_MAX_CIPS_PAIRS] = {0};
    for (int i = 0; i < c->cips.n_pairs && r == IG_OK; i++) {
        const ig_tensor *t = m->cips.skip[i];
        if (!t) continue;
        int co = (int)t->shape[0], ci = (int)t->shape[1];
        float *scaled = malloc((size_t)co * ci * sizeof *scaled);
        skip[i] = malloc((size_t)((co + 3) / 4) * 4 * ci * sizeof(float));
        if (scaled && skip[i]) {
            float g = (float)(1.0 / sqrt((double)ci));
            for (size_t k = 0; k < (size_t)co * ci; k++) scaled[k] = t->data[k] * g;
            ig_gemm_pack(scaled, (size_t)ci, co, ci, skip[i]);
        } else {
            r = ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "CIPS skip weights");
        }
        free(scaled);
    }
    for (int n = 0; n < d->count && r == IG_OK; n++) {
        ig__cips_w w = {0};
        ig__cips_gen g = {m, ws + (size_t)n * c->w_dim, ws_b ? ws_b + (size_t)n * c->w_dim : NULL,
                          ws_b ? d->t[n] : 0.0, &w, false};
        ig_cpu_parallel(threads, (size_t)(m->cips.n_convs + m->cips.n_rgb), 1, ig__cips_gen_task, &g);
        if (atomic_load(&g.failed)) {
            r = ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "CIPS weights of image %d", n);
        } else {
            ig__cips_px pc = {m, skip, &axes, &w, noise, d->noise_seed ? d->noise_seed[n] : 0u,
                              out + (size_t)n * 3 * px, max_c, false};
            ig_cpu_parallel(threads, chunks, 1, ig__cips_px_task, &pc);
            if (atomic_load(&pc.failed)) r = ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "CIPS pixel buffers");
        }
        ig__cips_w_free(&w);
    }
    for (int i = 0; i < IG_MAX_CIPS_PAIRS; i++) free(skip[i]);
    ig_cips_axes_free(&axes);
    return r;
}

/* The family's render (cpu_backend.c's table): d checked there, threads resolved. */
ig_result ig_cpu_cips_render(const ig_render_desc *d, int threads, float *out, ig_error *err) {
    const ig_model *m = d->model;
    const ig_config *c = &m->cfg;
    ig_result rp = ig_model_check_psi(m, d->psi, err);
    if (rp != IG_OK) return rp;
    float *ws = malloc((size_t)d->count * c->w_dim * sizeof *ws), *ws_b = malloc((size_t)d->count * c->w_dim * sizeof *ws);
    float *zt = malloc((size_t)c->z_dim * sizeof *zt);
    ig_result rc = ws && ws_b && zt ? IG_OK : ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "latents of %d images", d->count);
    if (rc == IG_OK) {
        ig_cpu_latents(d, false, ws, ws_b, zt); /* CIPS: no truncation lerp at psi 1 */
        rc = ig__cips_render_ws(d, threads, ws, d->z_b && d->space == IG_SPACE_PARAMS ? ws_b : NULL, out, err);
    }
    free(ws); free(ws_b); free(zt);
    return rc;
}
