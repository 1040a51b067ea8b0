/* cpu_backend.c - the C reference backend and the fallback where no GPU exists.
 *
 * Per image: mapping MLP -> truncation -> per-layer factor heads -> FMM weights
 * W = rownorm(W_s * (1 + L R / sqrt(r))) and ToRGB weights -> levels -> image
 * (reference section 1.12). Activations are channel-major [C][H*W]. Upsampling conv0 layers use
 * the exact "coarse trick" (reference section 2.4): W_prev x_prev is computed on the coarse grid
 * and upsampled, W_emb E is added on the fine grid. Multithreaded over pixels; every output
 * element has one fixed summation order, so results do not depend on the thread count. */
#include "cpu_gemm.h"
#include "embed.h"
#include "model.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IG_SQRT2 1.41421356237309504880f

/* ---- a tiny parallel-for ------------------------------------------------------------- */

typedef void (*ig__task_fn)(void *ctx, size_t i0, size_t i1);

typedef struct ig__job {
    ig__task_fn fn;
    void *ctx;
    size_t n, chunk;
    int index;
} ig__job;

static void *ig__job_main(void *arg) {
    ig__job *j = arg;
    size_t i0 = (size_t)j->index * j->chunk, i1 = i0 + j->chunk;
    if (i1 > j->n) i1 = j->n;
    if (i0 < i1) j->fn(j->ctx, i0, i1);
    return NULL;
}

/* Runs fn over [0, n) split in `threads` contiguous chunks (chunk boundaries multiples of
 * `align`). Falls back to the calling thread if a thread cannot be created. */
static void ig__parallel(int threads, size_t n, size_t align, ig__task_fn fn, void *ctx) {
    if (threads > 64) threads = 64;
    size_t chunk = (n + (size_t)threads - 1) / (size_t)threads;
    chunk = (chunk + align - 1) / align * align;
    if (threads <= 1 || chunk >= n) {
        fn(ctx, 0, n);
        return;
    }
    pthread_t tid[64];
    ig__job jobs[64];
    bool started[64];
    int nt = (int)((n + chunk - 1) / chunk);
    for (int t = 0; t < nt; t++) {
        jobs[t] = (ig__job){fn, ctx, n, chunk, t};
        started[t] = t > 0 && pthread_create(&tid[t], NULL, ig__job_main, &jobs[t]) == 0;
    }
    ig__job_main(&jobs[0]);
    for (int t = 1; t < nt; t++) {
        if (started[t]) pthread_join(tid[t], NULL);
        else ig__job_main(&jobs[t]);
    }
}

/* ---- per-image weights ------------------------------------------------------------------- */

typedef struct ig__layer_w {
    float *full;       /* FMM: rownormed W [c_out][c_in] (packed per image: IN may scale it) */
    float *packed;     /* upsampling conv0: the x_prev columns, packed for ig_gemm_run */
    float *packed_emb; /* upsampling conv0: the E columns, packed */
    float *rgb;     /* ToRGB: [3][c_in] modulated weights */
} ig__layer_w;

typedef struct ig__image_w {
    ig__layer_w conv0[IG_MAX_BLOCKS], conv1[IG_MAX_BLOCKS], extra[IG_MAX_BLOCKS][IG_MAX_EXTRA],
        torgb[IG_MAX_BLOCKS];
} ig__image_w;

/* s = A w / sqrt(w_dim) + a */
static void ig__affine(const ig_layer *L, const float *w, int w_dim, float *s, int n) {
    double g = 1.0 / sqrt((double)w_dim);
    for (int o = 0; o < n; o++) {
        const float *a = L->affine_w->data + (size_t)o * w_dim;
        double acc = 0;
        for (int k = 0; k < w_dim; k++) acc += (double)a[k] * w[k];
        s[o] = (float)(acc * g + L->affine_b->data[o]);
    }
}

/* Full FMM weight [c_out][c_in], row-normalised. */
static void ig__fmm_weight(const ig_layer *L, const float *w, int w_dim, int rank, float *s,
                           float *out) {
    int ci = L->c_in, co = L->c_out;
    ig__affine(L, w, w_dim, s, (ci + co) * rank);
    const float *Lf = s, *Rf = s + (size_t)co * rank;
    double inv = 1.0 / sqrt((double)rank);
    for (int o = 0; o < co; o++) {
        float *row = out + (size_t)o * ci;
        const float *ws = L->weight->data + (size_t)o * ci;
        double norm = 0;
        for (int i = 0; i < ci; i++) {
            double m = 0;
            for (int k = 0; k < rank; k++) m += (double)Lf[(size_t)o * rank + k] * Rf[(size_t)k * ci + i];
            double v = ws[i] * (1.0 + m * inv);
            row[i] = (float)v;
            norm += v * v;
        }
        double scale = 1.0 / (sqrt(norm) + 1e-8);
        for (int i = 0; i < ci; i++) row[i] = (float)(row[i] * scale);
    }
}

static size_t ig__packed_size(int m, int k) { return (size_t)((m + 3) / 4) * 4 * (size_t)k; }

typedef struct ig__gen_ctx {
    const ig_model *model;
    const float *w;
    ig__image_w *iw;
    const ig_layer **layers;
    ig__layer_w **slots;
    bool *split; /* upsampling conv0: split columns [prev | emb] */
    int *prev_c;
    bool *is_rgb;
    bool failed;
} ig__gen_ctx;

static void ig__gen_task(void *vctx, size_t i0, size_t i1) {
    ig__gen_ctx *g = vctx;
    const ig_config *c = &g->model->cfg;
    for (size_t t = i0; t < i1; t++) {
        const ig_layer *L = g->layers[t];
        ig__layer_w *lw = g->slots[t];
        if (g->is_rgb[t]) {
            float *s = malloc((size_t)L->c_in * sizeof *s);
            lw->rgb = malloc((size_t)3 * L->c_in * sizeof *lw->rgb);
            if (!s || !lw->rgb) { free(s); g->failed = true; continue; }
            ig__affine(L, g->w, c->w_dim, s, L->c_in);
            float gain = (float)(1.0 / sqrt((double)L->c_in));
            for (int o = 0; o < 3; o++)
                for (int i = 0; i < L->c_in; i++)
                    lw->rgb[(size_t)o * L->c_in + i] = L->weight->data[(size_t)o * L->c_in + i] * (s[i] * gain);
            free(s);
            continue;
        }
        int ci = L->c_in, co = L->c_out;
        float *s = malloc((size_t)(ci + co) * c->rank * sizeof *s);
        float *full = malloc((size_t)co * ci * sizeof *full);
        if (!s || !full) { free(s); free(full); g->failed = true; continue; }
        ig__fmm_weight(L, g->w, c->w_dim, c->rank, s, full);
        if (g->split[t]) {
            int cp = g->prev_c[t], ce = ci - cp;
            float *a = malloc((size_t)co * cp * sizeof *a), *b = malloc((size_t)co * ce * sizeof *b);
            lw->packed = malloc(ig__packed_size(co, cp) * sizeof(float));
            lw->packed_emb = malloc(ig__packed_size(co, ce) * sizeof(float));
            if (!a || !b || !lw->packed || !lw->packed_emb) {
                free(a); free(b); free(s); free(full); g->failed = true; continue;
            }
            for (int o = 0; o < co; o++) {
                memcpy(a + (size_t)o * cp, full + (size_t)o * ci, (size_t)cp * sizeof(float));
                memcpy(b + (size_t)o * ce, full + (size_t)o * ci + cp, (size_t)ce * sizeof(float));
            }
            ig_gemm_pack(a, co, cp, lw->packed);
            ig_gemm_pack(b, co, ce, lw->packed_emb);
            free(a);
            free(b);
        } else {
            lw->full = full;
            full = NULL;
        }
        free(full);
        free(s);
    }
}

static void ig__image_w_free(const ig_config *c, ig__image_w *iw) {
    for (int i = 0; i < c->n_blocks; i++) {
        ig__layer_w *all[3 + IG_MAX_EXTRA];
        int n = 0;
        all[n++] = &iw->conv0[i];
        all[n++] = &iw->conv1[i];
        all[n++] = &iw->torgb[i];
        for (int k = 0; k < c->blocks[i].extra_convs; k++) all[n++] = &iw->extra[i][k];
        for (int k = 0; k < n; k++) {
            free(all[k]->full);
            free(all[k]->packed);
            free(all[k]->packed_emb);
            free(all[k]->rgb);
        }
    }
    memset(iw, 0, sizeof *iw);
}

static ig_result ig__generate(const ig_model *m, const float *w, int threads, ig__image_w *iw,
                              ig_error *err) {
    const ig_config *c = &m->cfg;
    enum { MAXL = IG_MAX_BLOCKS * (3 + IG_MAX_EXTRA) };
    const ig_layer *layers[MAXL];
    ig__layer_w *slots[MAXL];
    bool split[MAXL], is_rgb[MAXL];
    int prev_c[MAXL], n = 0;
    memset(iw, 0, sizeof *iw);
    for (int i = 0; i < c->n_blocks; i++) {
        const ig_block_tensors *t = &m->blocks[i];
        if (t->has_conv0) {
            layers[n] = &t->conv0; slots[n] = &iw->conv0[i]; is_rgb[n] = false;
            split[n] = c->blocks[i].upsamples; prev_c[n] = c->blocks[i - 1].channels; n++;
        }
        layers[n] = &t->conv1; slots[n] = &iw->conv1[i]; is_rgb[n] = false; split[n] = false; n++;
        for (int k = 0; k < c->blocks[i].extra_convs; k++) {
            layers[n] = &t->extra[k]; slots[n] = &iw->extra[i][k]; is_rgb[n] = false; split[n] = false; n++;
        }
        layers[n] = &t->torgb; slots[n] = &iw->torgb[i]; is_rgb[n] = true; split[n] = false; n++;
    }
    ig__gen_ctx g = {m, w, iw, layers, slots, split, prev_c, is_rgb, false};
    ig__parallel(threads, (size_t)n, 1, ig__gen_task, &g);
    if (g.failed) {
        ig__image_w_free(c, iw);
        return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "generated weights");
    }
    return IG_OK;
}

/* ---- mapping ------------------------------------------------------------------------------ */

static void ig__mapping(const ig_model *m, const float *z, double psi, float *w_out) {
    const ig_config *c = &m->cfg;
    int n = c->w_dim > c->z_dim ? c->w_dim : c->z_dim;
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    if (!x || !y) { free(x); free(y); memset(w_out, 0, (size_t)c->w_dim * sizeof *w_out); return; }
    double ms = 0;
    for (int k = 0; k < c->z_dim; k++) ms += (double)z[k] * z[k];
    double inv = 1.0 / sqrt(ms / c->z_dim + 1e-8);
    for (int k = 0; k < c->z_dim; k++) x[k] = (float)(z[k] * inv);
    int in = c->z_dim;
    double lr = c->mapping_lr_multiplier;
    for (int l = 0; l < c->mapping_layers; l++) {
        double wg = lr / sqrt((double)in);
        for (int o = 0; o < c->w_dim; o++) {
            const float *row = m->map_w[l]->data + (size_t)o * in;
            double acc = 0;
            for (int k = 0; k < in; k++) acc += (double)row[k] * x[k];
            double v = acc * wg + m->map_b[l]->data[o] * lr;
            y[o] = (float)((v < 0 ? 0.2 * v : v) * 1.4142135623730951);
        }
        memcpy(x, y, (size_t)c->w_dim * sizeof *x);
        in = c->w_dim;
    }
    for (int k = 0; k < c->w_dim; k++) {
        double a = m->w_avg->data[k];
        w_out[k] = (float)(a + psi * (x[k] - a));
    }
    free(x);
    free(y);
}

/* ---- synthesis helpers ----------------------------------------------------------------------- */

typedef struct ig__gemm_ctx {
    const float *packed;
    int m, k;
    const float *x;
    size_t ldx;
    float *y;
    size_t ldy;
    int accumulate;
    const float *bias; /* when non-NULL: y = lrelu(y + bias) * sqrt2 after the sum */
} ig__gemm_ctx;

static void ig__gemm_task(void *vctx, size_t p0, size_t p1) {
    ig__gemm_ctx *g = vctx;
    /* pixel sub-tiles keep the X rows of a tile hot in cache across output panels */
    const size_t tile = 256;
    for (size_t a = p0; a < p1; a += tile) {
        size_t b = a + tile < p1 ? a + tile : p1;
        ig_gemm_run(g->packed, g->m, g->k, g->x, g->ldx, g->y, g->ldy, a, b, g->accumulate);
        if (g->bias)
            for (int o = 0; o < g->m; o++) {
                float *row = g->y + (size_t)o * g->ldy;
                float bo = g->bias[o];
                for (size_t p = a; p < b; p++) {
                    float v = row[p] + bo;
                    row[p] = (v < 0 ? v * 0.2f : v) * IG_SQRT2;
                }
            }
    }
}

static void ig__gemm(int threads, const float *packed, int m, int k, const float *x, float *y,
                     size_t pixels, int accumulate, const float *bias) {
    ig__gemm_ctx g = {packed, m, k, x, pixels, y, pixels, accumulate, bias};
    ig__parallel(threads, pixels, 16, ig__gemm_task, &g);
}

/* ×2 upsampling of [c][h][w] -> [c][2h][2w]: nearest, or bilinear with align_corners=True. */
static void ig__up2(const float *src, int c, int h, int w, ig_upsampling mode, float *dst) {
    int H = 2 * h, W = 2 * w;
    for (int ch = 0; ch < c; ch++) {
        const float *s = src + (size_t)ch * h * w;
        float *d = dst + (size_t)ch * H * W;
        for (int i = 0; i < H; i++) {
            if (mode == IG_UP_NEAREST) {
                const float *sr = s + (size_t)(i >> 1) * w;
                for (int j = 0; j < W; j++) d[(size_t)i * W + j] = sr[j >> 1];
                continue;
            }
            double fy = H > 1 ? (double)i * (h - 1) / (H - 1) : 0;
            int y0 = (int)fy, y1 = y0 + 1 < h ? y0 + 1 : y0;
            float ly = (float)(fy - y0);
            for (int j = 0; j < W; j++) {
                double fx = W > 1 ? (double)j * (w - 1) / (W - 1) : 0;
                int x0 = (int)fx, x1 = x0 + 1 < w ? x0 + 1 : x0;
                float lx = (float)(fx - x0);
                float top = s[(size_t)y0 * w + x0] * (1 - lx) + s[(size_t)y0 * w + x1] * lx;
                float bot = s[(size_t)y1 * w + x0] * (1 - lx) + s[(size_t)y1 * w + x1] * lx;
                d[(size_t)i * W + j] = top * (1 - ly) + bot * ly;
            }
        }
    }
}

/* Instance norm folded into the layer: W[o][c] / (std_unbiased(x_c) + 1e-8), then packed. */
static void ig__pack_layer(const float *full, int co, int ci, const float *x, size_t px,
                           bool instance_norm, float *packed, float *scratch) {
    const float *w = full;
    if (instance_norm) {
        for (int c = 0; c < ci; c++) {
            const float *xc = x + (size_t)c * px;
            double mean = 0, ss = 0;
            for (size_t p = 0; p < px; p++) mean += xc[p];
            mean /= (double)px;
            for (size_t p = 0; p < px; p++) ss += (xc[p] - mean) * (xc[p] - mean);
            double sd = px > 1 ? sqrt(ss / (double)(px - 1)) : NAN;
            double inv = 1.0 / (sd + 1e-8);
            for (int o = 0; o < co; o++) scratch[(size_t)o * ci + c] = (float)(full[(size_t)o * ci + c] * inv);
        }
        w = scratch;
    }
    ig_gemm_pack(w, co, ci, packed);
}

/* rgb[3][px] += Wt x + b */
static void ig__torgb(const float *wt, const float *bias, int ci, const float *x, size_t px, float *rgb) {
    for (int o = 0; o < 3; o++) {
        float *r = rgb + (size_t)o * px;
        for (int c = 0; c < ci; c++) {
            float wv = wt[(size_t)o * ci + c];
            const float *xc = x + (size_t)c * px;
            for (size_t p = 0; p < px; p++) r[p] += wv * xc[p];
        }
        for (size_t p = 0; p < px; p++) r[p] += bias[o];
    }
}

/* ---- one image ------------------------------------------------------------------------------ */

typedef struct ig__bufs {
    float *x, *y, *coarse, *rgb, *rgb2, *packed, *scratch;
} ig__bufs;

static ig_result ig__synthesize(const ig_render_desc *d, int threads, const ig__image_w *iw,
                                float *const *emb, ig__bufs *b, int index, float *out, ig_error *err) {
    const ig_model *m = d->model;
    const ig_config *c = &m->cfg;
    const ig_plan *plan = d->plan;
    (void)err;
    int level = 0;
    size_t px = (size_t)plan->levels[0].width * plan->levels[0].height;
    for (int i = 0; i < c->n_blocks; i++) {
        const ig_block_config *bc = &c->blocks[i];
        const ig_block_tensors *t = &m->blocks[i];
        int co = bc->channels;
        if (i == 0) {
            ig__pack_layer(iw->conv1[0].full, co, t->conv1.c_in, emb[0], px, false, b->packed, b->scratch);
            ig__gemm(threads, b->packed, co, t->conv1.c_in, emb[0], b->x, px, 0, t->conv1.bias->data);
            memset(b->rgb, 0, 3 * px * sizeof(float));
        } else {
            int cp = c->blocks[i - 1].channels;
            if (bc->upsamples) {
                const ig_level_plan *coarse = &plan->levels[level];
                level++;
                const ig_level_plan *fine = &plan->levels[level];
                size_t cpx = px;
                px = (size_t)fine->width * fine->height;
                /* coarse trick: up2(W_prev x) + W_emb E */
                ig__gemm(threads, iw->conv0[i].packed, co, cp, b->x, b->coarse, cpx, 0, NULL);
                ig__up2(b->coarse, co, coarse->height, coarse->width, c->upsampling, b->y);
                ig__gemm(threads, iw->conv0[i].packed_emb, co, bc->emb.channels, emb[level], b->y, px, 1,
                         t->conv0.bias->data);
                ig__up2(b->rgb, 3, coarse->height, coarse->width, c->upsampling, b->rgb2);
                float *tmp = b->rgb; b->rgb = b->rgb2; b->rgb2 = tmp;
            } else {
                ig__pack_layer(iw->conv0[i].full, co, cp, b->x, px, false, b->packed, b->scratch);
                ig__gemm(threads, b->packed, co, cp, b->x, b->y, px, 0, t->conv0.bias->data);
            }
            ig__pack_layer(iw->conv1[i].full, co, co, b->y, px, c->instance_norm, b->packed, b->scratch);
            ig__gemm(threads, b->packed, co, co, b->y, b->x, px, 0, t->conv1.bias->data);
        }
        for (int k = 0; k < bc->extra_convs; k++) {
            ig__pack_layer(iw->extra[i][k].full, co, co, b->x, px, c->instance_norm, b->packed, b->scratch);
            ig__gemm(threads, b->packed, co, co, b->x, b->y, px, 0, t->extra[k].bias->data);
            float *tmp = b->x; b->x = b->y; b->y = tmp;
        }
        ig__torgb(iw->torgb[i].rgb, t->torgb.bias->data, co, b->x, px, b->rgb);
        if (d->on_block) {
            const ig_level_plan *lp = &plan->levels[level];
            d->on_block(d->user, index, bc->name, co, lp->height, lp->width, b->x, b->rgb);
        }
    }
    memcpy(out, b->rgb, 3 * px * sizeof(float));
    return IG_OK;
}

static int ig__default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

static void *ig__alloc(size_t floats) {
    /* 64-byte aligned: a 16-pixel strip of a row is exactly one cache line */
    size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
    return aligned_alloc(64, bytes ? bytes : 64);
}

static void ig__bufs_free(ig__bufs *b) {
    free(b->x); free(b->y); free(b->coarse); free(b->rgb); free(b->rgb2); free(b->packed); free(b->scratch);
    memset(b, 0, sizeof *b);
}

/* One worker renders a contiguous range of images with `threads` threads inside. */
typedef struct ig__worker {
    const ig_render_desc *d;
    float *const *emb;
    int threads;      /* threads inside one image */
    size_t n0, n1;    /* images [n0, n1) */
    size_t max_act, max_w, out_px;
    float *out;
    ig_result result;
    ig_error err;
} ig__worker;

static void ig__worker_run(ig__worker *wk) {
    size_t n0 = wk->n0, n1 = wk->n1;
    const ig_render_desc *d = wk->d;
    const ig_config *c = &d->model->cfg;
    ig__bufs b = {0};
    float *w = malloc((size_t)c->w_dim * sizeof *w);
    b.x = ig__alloc(wk->max_act);
    b.y = ig__alloc(wk->max_act);
    b.coarse = ig__alloc(wk->max_act);
    b.rgb = ig__alloc(3 * wk->out_px);
    b.rgb2 = ig__alloc(3 * wk->out_px);
    b.packed = ig__alloc(wk->max_w);
    b.scratch = ig__alloc(wk->max_w);
    ig_result r = IG_OK;
    if (!w || !b.x || !b.y || !b.coarse || !b.rgb || !b.rgb2 || !b.packed || !b.scratch)
        r = ig_error_set(&wk->err, IG_ERR_OUT_OF_MEMORY, "CPU backend buffers for %dx%d", d->plan->width,
                         d->plan->height);
    for (size_t n = n0; n < n1 && r == IG_OK; n++) {
        ig__image_w iw;
        ig__mapping(d->model, d->z + n * (size_t)c->z_dim, d->psi, w);
        r = ig__generate(d->model, w, wk->threads, &iw, &wk->err);
        if (r != IG_OK) break;
        r = ig__synthesize(d, wk->threads, &iw, wk->emb, &b, (int)n, wk->out + n * 3 * wk->out_px, &wk->err);
        ig__image_w_free(c, &iw);
    }
    wk->result = r;
    free(w);
    ig__bufs_free(&b);
}

static void ig__workers_task(void *vctx, size_t i0, size_t i1) {
    ig__worker *wk = vctx;
    for (size_t i = i0; i < i1; i++) ig__worker_run(&wk[i]);
}

ig_result ig_cpu_render(const ig_render_desc *d, float *out, ig_error *err) {
    if (!d || !d->model || !d->plan || !d->z || d->count < 1 || !out)
        return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "ig_cpu_render: missing model, plan, z or output");
    const ig_model *m = d->model;
    const ig_config *c = &m->cfg;
    const ig_plan *plan = d->plan;
    if (plan->n_levels != c->n_levels)
        return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "plan was made for another model");
    int threads = d->threads > 0 ? d->threads : ig__default_threads();

    /* sizes: the largest activation and weight buffers over all blocks */
    size_t max_act = 0, max_w = 0;
    for (int i = 0; i < c->n_blocks; i++) {
        int level = c->blocks[i].level;
        size_t px = (size_t)plan->levels[level].width * plan->levels[level].height;
        size_t ch = (size_t)c->blocks[i].channels;
        if (i > 0 && c->blocks[i - 1].channels > (int)ch) ch = (size_t)c->blocks[i - 1].channels;
        if (px * ch > max_act) max_act = px * ch;
        size_t ci = (size_t)m->blocks[i].conv1.c_in > ch ? (size_t)m->blocks[i].conv1.c_in : ch;
        size_t wsz = ig__packed_size((int)ch, (int)ci);
        if (wsz > max_w) max_w = wsz;
    }
    size_t out_px = (size_t)plan->width * plan->height;
    float *emb[IG_MAX_BLOCKS] = {0};
    ig_result r = IG_OK;
    /* embeddings do not depend on z: once per render */
    for (int l = 0; l < c->n_levels && r == IG_OK; l++) {
        size_t px = (size_t)plan->levels[l].width * plan->levels[l].height;
        emb[l] = ig__alloc((size_t)ig_embed_channels(m, l) * px);
        if (!emb[l]) r = ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "embedding of level %d", l);
        else ig_embed_level(m, plan, l, emb[l]);
    }
    if (r == IG_OK) {
        /* batches: one image per worker thread (no synchronisation inside an image); a single
         * image: all threads on its pixels. Either way each value has one summation order. */
        int nw = d->count < threads ? d->count : threads;
        int inner = nw > 1 ? 1 : threads;
        ig__worker wk[64];
        for (int i = 0; i < nw; i++) {
            size_t n0 = (size_t)d->count * i / nw, n1 = (size_t)d->count * (i + 1) / nw;
            wk[i] = (ig__worker){d, emb, inner, n0, n1, max_act, max_w, out_px, out, IG_OK, {0}};
        }
        ig__parallel(nw, (size_t)nw, 1, ig__workers_task, wk);
        for (int i = 0; i < nw && r == IG_OK; i++)
            if (wk[i].result != IG_OK) {
                r = wk[i].result;
                if (err) *err = wk[i].err;
            }
    }
    for (int l = 0; l < IG_MAX_BLOCKS; l++) free(emb[l]);
    return r;
}
