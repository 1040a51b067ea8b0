/* cpu_inrgan.c - the INR-GAN family of the CPU backend (cpu_backend.c's family table).
 *
 * Per image: mapping MLP -> truncation -> per-layer factor heads -> FMM weights
 * W = rownorm(W_s * (1 + L R / sqrt(r))) and ToRGB weights -> levels -> image
 * (reference section 1.12). Activations are channel-major [C][H*W]. Upsampling conv0 layers use
 * the exact "coarse trick" (reference section 2.4): W_prev x_prev is computed on the coarse grid
 * and upsampled, W_emb E is added on the fine grid. Multithreaded over pixels; every output
 * element has one fixed summation order, so results do not depend on the thread count. */
#include "cpu_gemm.h"
#include "cpu_internal.h"
#include "embed.h"
#include "lower.h"
#include "model.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define IG_SQRT2 1.41421356237309504880f

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

/* Full FMM weight [c_out][c_in] from the layer's styles s = A w / sqrt(w_dim) + a:
 * W = rownorm(W_s * (1 + L R / sqrt(r))), eps on the norm. */
static void ig__fmm_weight(const ig_layer *L, const float *s, int rank, float *out) {
    int ci = L->c_in, co = L->c_out;
    const float *Lf = s, *Rf = s + (size_t)co * rank;
    float inv = (float)(1.0 / sqrt((double)rank));
    for (int o = 0; o < co; o++) {
        float *row = out + (size_t)o * ci;
        const float *ws = L->weight->data + (size_t)o * ci;
        memset(row, 0, (size_t)ci * sizeof *row);
        for (int k = 0; k < rank; k++) ig_axpy(Lf[(size_t)o * rank + k] * inv, Rf + (size_t)k * ci, row, ci);
        for (int i = 0; i < ci; i++) row[i] = ws[i] * (1.0f + row[i]);
        float norm = sqrtf(ig_dot(row, row, ci));
        float scale = 1.0f / (norm + 1e-8f);
        for (int i = 0; i < ci; i++) row[i] *= scale;
    }
}

static size_t ig__packed_size(int m, int k) { return (size_t)((m + 3) / 4) * 4 * (size_t)k; }

typedef struct ig__gen_ctx {
    const ig_model *model;
    const float *styles; /* this image's styles, all layers in ig__layer_list order */
    const size_t *offset; /* where each layer's styles start */
    ig__image_w *iw;
    const ig_layer *const *layers;
    ig__layer_w **slots;
    const bool *split; /* upsampling conv0: split columns [prev | emb] */
    const int *prev_c;
    const bool *is_rgb;
    atomic_bool failed; /* set by any worker thread */
} ig__gen_ctx;

static void ig__gen_task(void *vctx, size_t i0, size_t i1) {
    ig__gen_ctx *g = vctx;
    const ig_config *c = &g->model->cfg;
    for (size_t t = i0; t < i1; t++) {
        const ig_layer *L = g->layers[t];
        ig__layer_w *lw = g->slots[t];
        if (g->is_rgb[t]) {
            const float *s = g->styles + g->offset[t];
            lw->rgb = malloc((size_t)3 * L->c_in * sizeof *lw->rgb);
            if (!lw->rgb) { atomic_store(&g->failed, true); continue; }
            float gain = (float)(1.0 / sqrt((double)L->c_in));
            for (int o = 0; o < 3; o++)
                for (int i = 0; i < L->c_in; i++)
                    lw->rgb[(size_t)o * L->c_in + i] = L->weight->data[(size_t)o * L->c_in + i] * (s[i] * gain);
            continue;
        }
        int ci = L->c_in, co = L->c_out;
        const float *s = g->styles + g->offset[t];
        float *full = malloc((size_t)co * ci * sizeof *full);
        if (!full) { atomic_store(&g->failed, true); continue; }
        ig__fmm_weight(L, s, c->rank, full);
        if (g->split[t]) {
            int cp = g->prev_c[t], ce = ci - cp;
            lw->packed = malloc(ig__packed_size(co, cp) * sizeof(float));
            lw->packed_emb = malloc(ig__packed_size(co, ce) * sizeof(float));
            if (!lw->packed || !lw->packed_emb) { free(full); atomic_store(&g->failed, true); continue; }
            /* the two column blocks [x_prev | E] of the normalised rows, packed in place */
            ig_gemm_pack(full, (size_t)ci, co, cp, lw->packed);
            ig_gemm_pack(full + cp, (size_t)ci, co, ce, lw->packed_emb);
        } else {
            lw->full = full;
            full = NULL;
        }
        free(full);
    }
}

enum { IG__MAXL = IG_MAX_BLOCKS * (3 + IG_MAX_EXTRA) };

/* Every modulated layer in the lowering's order (src/lower.h), with where its styles start in a
 * style vector. */
typedef struct ig__layer_list {
    int n;
    const ig_layer *layer[IG__MAXL];
    bool is_rgb[IG__MAXL], split[IG__MAXL];
    int prev_c[IG__MAXL], block[IG__MAXL], kind[IG__MAXL]; /* kind: 0 conv0, 1 conv1, 2+k extra k, -1 torgb */
    size_t offset[IG__MAXL + 1];
    size_t n_stats; /* instance-norm sigmas per image */
} ig__layer_list;

static ig_result ig__layer_list_make(const ig_model *m, ig__layer_list *l, ig_error *err) {
    ig_lowering *lw = malloc(sizeof *lw);
    if (!lw) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "layer list");
    ig_lower(&m->cfg, lw);
    l->n = lw->n_ops;
    l->offset[0] = 0;
    for (int n = 0; n < lw->n_ops; n++) {
        const ig_lop *op = &lw->ops[n];
        l->layer[n] = ig_lower_layer(m, op);
        l->is_rgb[n] = op->kind == IG_LOP_TORGB;
        l->split[n] = op->coarse;
        l->prev_c[n] = op->c_x;
        l->block[n] = op->block;
        l->kind[n] = op->kind == IG_LOP_TORGB ? -1 : op->kind == IG_LOP_EXTRA ? 2 + op->index : op->kind == IG_LOP_CONV1;
        l->offset[n + 1] = (size_t)(op->s_off + op->s_len);
    }
    l->n_stats = (size_t)lw->inv_len;
    free(lw);
    return IG_OK;
}

static ig__layer_w *ig__slot(ig__image_w *iw, const ig__layer_list *l, int t) {
    int b = l->block[t], k = l->kind[t];
    return k == -1 ? &iw->torgb[b] : k == 0 ? &iw->conv0[b] : k == 1 ? &iw->conv1[b] : &iw->extra[b][k - 2];
}

static void ig__image_w_free(const ig__layer_list *l, ig__image_w *iw) {
    for (int t = 0; t < l->n; t++) {
        ig__layer_w *w = ig__slot(iw, l, t);
        free(w->full);
        free(w->packed);
        free(w->packed_emb);
        free(w->rgb);
    }
    memset(iw, 0, sizeof *iw);
}

/* a = (1 - t) a + t b over every generated array (t = 0 and 1 exact). */
static void ig__lerp(float *a, const float *b, size_t n, double t) {
    if (!a || !b || t == 0) return;
    for (size_t k = 0; k < n; k++) a[k] = t == 1 ? b[k] : (float)((1 - t) * a[k] + t * b[k]);
}

static void ig__image_w_lerp(const ig__layer_list *l, ig__image_w *a, ig__image_w *b, double t) {
    for (int q = 0; q < l->n; q++) {
        ig__layer_w *x = ig__slot(a, l, q), *y = ig__slot(b, l, q);
        int ci = l->layer[q]->c_in, co = l->layer[q]->c_out, cp = l->prev_c[q];
        if (l->is_rgb[q]) {
            ig__lerp(x->rgb, y->rgb, (size_t)3 * ci, t);
        } else if (l->split[q]) { /* upsampling conv0: [W_prev | W_emb], packed */
            ig__lerp(x->packed, y->packed, ig__packed_size(co, cp), t);
            ig__lerp(x->packed_emb, y->packed_emb, ig__packed_size(co, ci - cp), t);
        } else {
            ig__lerp(x->full, y->full, (size_t)co * ci, t);
        }
    }
}

/* styles[v][...] = A w_v / sqrt(w_dim) + a for every layer and every w (each affine matrix is
 * read once per batch, not once per image). Threads split the rows. */
typedef struct ig__style_ctx {
    const ig_model *m;
    const ig__layer_list *l;
    const float *ws;
    int nw;
    float *styles;
    const int *row_layer;
} ig__style_ctx;

static void ig__style_task(void *vctx, size_t r0, size_t r1) {
    ig__style_ctx *c = vctx;
    int w_dim = c->m->cfg.w_dim;
    float g = (float)(1.0 / sqrt((double)w_dim));
    size_t total = c->l->offset[c->l->n];
    for (size_t r = r0; r < r1; r++) {
        int t = c->row_layer[r];
        const ig_layer *L = c->l->layer[t];
        size_t o = r - c->l->offset[t];
        const float *a = L->affine_w->data + o * (size_t)w_dim;
        for (int v = 0; v < c->nw; v++)
            c->styles[(size_t)v * total + r] = ig_dot(a, c->ws + (size_t)v * w_dim, w_dim) * g + L->affine_b->data[o];
    }
}

static ig_result ig__styles(const ig_model *m, const ig__layer_list *l, const float *ws, int nw, int threads,
                            float *styles, ig_error *err) {
    size_t total = l->offset[l->n];
    int *row_layer = malloc(total * sizeof *row_layer);
    if (!row_layer) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "style rows");
    for (int t = 0; t < l->n; t++)
        for (size_t r = l->offset[t]; r < l->offset[t + 1]; r++) row_layer[r] = t;
    ig__style_ctx c = {m, l, ws, nw, styles, row_layer};
    ig_cpu_parallel(threads, total, 64, ig__style_task, &c);
    free(row_layer);
    return IG_OK;
}

static ig_result ig__generate(const ig_model *m, const ig__layer_list *l, const float *styles, int threads,
                              ig__image_w *iw, ig_error *err) {
    ig__layer_w *slots[IG__MAXL];
    memset(iw, 0, sizeof *iw);
    for (int t = 0; t < l->n; t++) slots[t] = ig__slot(iw, l, t);
    ig__gen_ctx g = {m, styles, l->offset, iw, l->layer, slots, l->split, l->prev_c, l->is_rgb, false};
    ig_cpu_parallel(threads, (size_t)l->n, 1, ig__gen_task, &g);
    if (atomic_load(&g.failed)) {
        ig__image_w_free(l, iw);
        return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "generated weights");
    }
    return IG_OK;
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
    ig_gemm_run(g->packed, g->m, g->k, g->x, g->ldx, g->y, g->ldy, p0, p1, g->accumulate, g->bias);
}

static void ig__gemm(int threads, const float *packed, int m, int k, const float *x, float *y,
                     size_t pixels, int accumulate, const float *bias) {
    ig__gemm_ctx g = {packed, m, k, x, pixels, y, pixels, accumulate, bias};
    ig_cpu_parallel(threads, pixels, 16, ig__gemm_task, &g);
}

/* Up-sampling through the plan's maps: dst[c][i][j] = bilinear mix of src (the previous
 * level's computed grid, [c][hc][wc]) at rows (r0, r1, rw)[i] and columns (c0, c1, cw)[j].
 * Nearest maps (weights 0) copy the value exactly. */
static void ig__upsample(const float *src, int channels, int wc, int hc, const ig_level_plan *fine, float *dst) {
    int H = fine->height, W = fine->width;
    for (int ch = 0; ch < channels; ch++) {
        const float *sp = src + (size_t)ch * hc * wc;
        float *d = dst + (size_t)ch * H * W;
        for (int i = 0; i < H; i++) {
            const float *top = sp + (size_t)fine->r0[i] * wc, *bot = sp + (size_t)fine->r1[i] * wc;
            float ly = fine->rw[i];
            float *dr = d + (size_t)i * W;
            for (int j = 0; j < W; j++) {
                float lx = fine->cw[j];
                int a = fine->c0[j], b = fine->c1[j];
                if (lx == 0 && ly == 0) {
                    dr[j] = top[a];
                } else {
                    float t = top[a] * (1 - lx) + top[b] * lx;
                    float u = bot[a] * (1 - lx) + bot[b] * lx;
                    dr[j] = t * (1 - ly) + u * ly;
                }
            }
        }
    }
}

/* Instance norm (-bil models), folded into the layer: W[o][c] / (sigma_c + 1e-8), sigma the
 * unbiased std of channel c over the whole image. sigma comes from `stats_in` when given (a
 * statistics pass), else it is computed from x and, if `stats_out`, recorded. */
static void ig__pack_layer(const float *full, int co, int ci, const float *x, size_t px, bool instance_norm,
                           const double *stats_in, double *stats_out, float *packed, float *scratch) {
    const float *w = full;
    if (instance_norm) {
        for (int c = 0; c < ci; c++) {
            double sd;
            if (stats_in) {
                sd = stats_in[c];
            } else {
                const float *xc = x + (size_t)c * px;
                double mean = 0, ss = 0;
                for (size_t p = 0; p < px; p++) mean += xc[p];
                mean /= (double)px;
                for (size_t p = 0; p < px; p++) ss += (xc[p] - mean) * (xc[p] - mean);
                sd = px > 1 ? sqrt(ss / (double)(px - 1)) : NAN;
                if (stats_out) stats_out[c] = sd;
            }
            double inv = 1.0 / (sd + 1e-8);
            for (int o = 0; o < co; o++) scratch[(size_t)o * ci + c] = (float)(full[(size_t)o * ci + c] * inv);
        }
        w = scratch;
    }
    ig_gemm_pack(w, (size_t)ci, co, ci, packed);
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

/* One image through one plan. stats_in / stats_out: instance-norm sigmas of every IN layer in
 * order (conv1 of each block but the first, then its extra convs), see ig__pack_layer. */
static ig_result ig__synthesize(const ig_render_desc *d, const ig_plan *plan, int threads, const ig__image_w *iw,
                                float *const *emb, ig__bufs *b, int index, const double *stats_in, double *stats_out,
                                float *out) {
    const ig_model *m = d->model;
    const ig_config *c = &m->cfg;
    bool in = c->instance_norm;
    int level = 0;
    size_t px = (size_t)plan->levels[0].width * plan->levels[0].height;
    for (int i = 0; i < c->n_blocks; i++) {
        const ig_block_config *bc = &c->blocks[i];
        const ig_block_tensors *t = &m->blocks[i];
        int co = bc->channels;
        if (i == 0) {
            ig__pack_layer(iw->conv1[0].full, co, t->conv1.c_in, emb[0], px, false, NULL, NULL, b->packed, b->scratch);
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
                /* coarse trick: up(W_prev x) + W_emb E */
                ig__gemm(threads, iw->conv0[i].packed, co, cp, b->x, b->coarse, cpx, 0, NULL);
                ig__upsample(b->coarse, co, coarse->width, coarse->height, fine, b->y);
                ig__gemm(threads, iw->conv0[i].packed_emb, co, bc->emb.channels, emb[level], b->y, px, 1,
                         t->conv0.bias->data);
                ig__upsample(b->rgb, 3, coarse->width, coarse->height, fine, b->rgb2);
                float *tmp = b->rgb; b->rgb = b->rgb2; b->rgb2 = tmp;
            } else {
                ig__pack_layer(iw->conv0[i].full, co, cp, b->x, px, false, NULL, NULL, b->packed, b->scratch);
                ig__gemm(threads, b->packed, co, cp, b->x, b->y, px, 0, t->conv0.bias->data);
            }
            ig__pack_layer(iw->conv1[i].full, co, co, b->y, px, in, stats_in, stats_out, b->packed, b->scratch);
            if (in) { if (stats_in) stats_in += co; if (stats_out) stats_out += co; }
            ig__gemm(threads, b->packed, co, co, b->y, b->x, px, 0, t->conv1.bias->data);
        }
        for (int k = 0; k < bc->extra_convs; k++) {
            ig__pack_layer(iw->extra[i][k].full, co, co, b->x, px, in, stats_in, stats_out, b->packed, b->scratch);
            if (in) { if (stats_in) stats_in += co; if (stats_out) stats_out += co; }
            ig__gemm(threads, b->packed, co, co, b->x, b->y, px, 0, t->extra[k].bias->data);
            float *tmp = b->x; b->x = b->y; b->y = tmp;
        }
        ig__torgb(iw->torgb[i].rgb, t->torgb.bias->data, co, b->x, px, b->rgb);
        if (d->on_block && out) {
            const ig_level_plan *lp = &plan->levels[level];
            d->on_block(d->user, index, bc->name, co, lp->height, lp->width, b->x, b->rgb);
        }
    }
    if (out) memcpy(out, b->rgb, 3 * px * sizeof(float));
    return IG_OK;
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

/* Largest activation [C x px] and weight buffers a plan needs. */
static void ig__plan_sizes(const ig_model *m, const ig_plan *plan, size_t *max_act, size_t *max_w) {
    const ig_config *c = &m->cfg;
    for (int i = 0; i < c->n_blocks; i++) {
        int level = c->blocks[i].level;
        size_t px = (size_t)plan->levels[level].width * plan->levels[level].height;
        size_t ch = (size_t)c->blocks[i].channels;
        if (i > 0 && c->blocks[i - 1].channels > (int)ch) ch = (size_t)c->blocks[i - 1].channels;
        if (px * ch > *max_act) *max_act = px * ch;
        if (px * 3 > *max_act) *max_act = px * 3;
        size_t ci = (size_t)m->blocks[i].conv1.c_in > ch ? (size_t)m->blocks[i].conv1.c_in : ch;
        size_t wsz = ig__packed_size((int)ch, (int)ci);
        if (wsz > *max_w) *max_w = wsz;
    }
}

/* One worker renders a contiguous range of images with `threads` threads inside. */
typedef struct ig__worker {
    const ig_render_desc *d;
    const ig_plan *stats_plan;   /* instance-norm statistics pass, or NULL */
    float *const *emb, *const *stats_emb;
    const ig__layer_list *layers;
    const float *styles, *styles_b; /* [count][total]; styles_b: params-space endpoints or NULL */
    int threads;                 /* threads inside one image */
    size_t n0, n1;               /* images [n0, n1) */
    size_t max_act, max_w;
    float *out;
    ig_result result;
    ig_error err;
} ig__worker;

static void ig__worker_run(ig__worker *wk) {
    const ig_render_desc *d = wk->d;
    size_t out_px = (size_t)d->plan->width * d->plan->height, total = wk->layers->offset[wk->layers->n];
    ig__bufs b = {0};
    double *stats = wk->stats_plan ? malloc((wk->layers->n_stats + 1) * sizeof *stats) : NULL;
    b.x = ig__alloc(wk->max_act);
    b.y = ig__alloc(wk->max_act);
    b.coarse = ig__alloc(wk->max_act);
    b.rgb = ig__alloc(wk->max_act);
    b.rgb2 = ig__alloc(wk->max_act);
    b.packed = ig__alloc(wk->max_w);
    b.scratch = ig__alloc(wk->max_w);
    ig_result r = IG_OK;
    if (!b.x || !b.y || !b.coarse || !b.rgb || !b.rgb2 || !b.packed || !b.scratch || (wk->stats_plan && !stats))
        r = ig_error_set(&wk->err, IG_ERR_OUT_OF_MEMORY, "CPU backend buffers for %dx%d", d->plan->width,
                         d->plan->height);
    for (size_t n = wk->n0; n < wk->n1 && r == IG_OK; n++) {
        ig__image_w iw;
        r = ig__generate(d->model, wk->layers, wk->styles + n * total, wk->threads, &iw, &wk->err);
        if (r != IG_OK) break;
        if (wk->styles_b) { /* IG_SPACE_PARAMS: lerp every generated weight */
            ig__image_w iwb;
            r = ig__generate(d->model, wk->layers, wk->styles_b + n * total, wk->threads, &iwb, &wk->err);
            if (r != IG_OK) { ig__image_w_free(wk->layers, &iw); break; }
            ig__image_w_lerp(wk->layers, &iw, &iwb, d->t[n]);
            ig__image_w_free(wk->layers, &iwb);
        }
        if (wk->stats_plan)
            ig__synthesize(d, wk->stats_plan, wk->threads, &iw, wk->stats_emb, &b, (int)n, NULL, stats, NULL);
        r = ig__synthesize(d, d->plan, wk->threads, &iw, wk->emb, &b, (int)n, stats, NULL, wk->out + n * 3 * out_px);
        ig__image_w_free(wk->layers, &iw);
    }
    wk->result = r;
    free(stats);
    ig__bufs_free(&b);
}

static void ig__workers_task(void *vctx, size_t i0, size_t i1) {
    ig__worker *wk = vctx;
    for (size_t i = i0; i < i1; i++) ig__worker_run(&wk[i]);
}

/* Embeddings do not depend on z: once per render and plan. */
static ig_result ig__embeddings(const ig_model *m, const ig_plan *plan, float **emb, ig_error *err) {
    for (int l = 0; l < m->cfg.n_levels; l++) {
        size_t px = (size_t)plan->levels[l].width * plan->levels[l].height;
        emb[l] = ig__alloc((size_t)ig_embed_channels(m, l) * px);
        if (!emb[l]) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "embedding of level %d", l);
        ig_result r = ig_embed_level(m, plan, l, emb[l], err);
        if (r != IG_OK) return r;
    }
    return IG_OK;
}

/* The family's render (cpu_backend.c's table): d checked there, threads resolved. */
ig_result ig_cpu_inrgan_render(const ig_render_desc *d, int threads, float *out, ig_error *err) {
    const ig_model *m = d->model;
    const ig_config *c = &m->cfg;
    const ig_plan *plan = d->plan;
    ig_result r = IG_OK;
    float *emb[IG_MAX_BLOCKS] = {0}, *stats_emb[IG_MAX_BLOCKS] = {0};
    size_t max_act = 0, max_w = 0;
    ig__plan_sizes(m, plan, &max_act, &max_w);

    /* Instance-norm statistics are those of the whole view at the model's native size
     * (docs/coordinates.md): that plan itself computes them; any other plan (other sizes,
     * tiles, strides) takes them from a statistics pass, so tiles equal crops exactly. */
    ig_plan stats_plan = {0};
    ig_plan_desc sd;
    bool need_stats = ig_lower_stats_pass(c, plan, &sd);
    if (need_stats) {
        r = ig_plan_make(&stats_plan, c, &sd, err);
        if (r == IG_OK) {
            ig__plan_sizes(m, &stats_plan, &max_act, &max_w);
            r = ig__embeddings(m, &stats_plan, stats_emb, err);
        }
    }
    if (r == IG_OK) r = ig__embeddings(m, plan, emb, err);
    /* latents and styles of the whole batch first: each affine matrix is read once */
    ig__layer_list layers;
    if (r == IG_OK) r = ig__layer_list_make(m, &layers, err);
    if (r != IG_OK) {
        layers.n = 0;
        layers.offset[0] = 0;
    }
    size_t total = layers.offset[layers.n];
    bool params = d->z_b && d->space == IG_SPACE_PARAMS;
    float *ws = malloc((size_t)d->count * c->w_dim * sizeof *ws), *ws_b = malloc((size_t)d->count * c->w_dim * sizeof *ws);
    float *zt = malloc((size_t)c->z_dim * sizeof *zt);
    float *styles = malloc((size_t)d->count * total * (params ? 2 : 1) * sizeof *styles);
    if (r == IG_OK && (!ws || !ws_b || !zt || !styles))
        r = ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "styles of %d images", d->count);
    if (r == IG_OK) {
        ig_cpu_latents(d, true, ws, ws_b, zt);
        r = ig__styles(m, &layers, ws, d->count, threads, styles, err);
        if (r == IG_OK && params)
            r = ig__styles(m, &layers, ws_b, d->count, threads, styles + (size_t)d->count * total, err);
    }
    if (r == IG_OK) {
        /* batches: one image per worker thread (no synchronisation inside an image); a single
         * image: all threads on its pixels. Either way each value has one summation order. */
        int nw = d->count < threads ? d->count : threads;
        int inner = nw > 1 ? 1 : threads;
        ig__worker wk[64];
        for (int i = 0; i < nw; i++) {
            size_t n0 = (size_t)d->count * i / nw, n1 = (size_t)d->count * (i + 1) / nw;
            wk[i] = (ig__worker){d, need_stats ? &stats_plan : NULL, emb, stats_emb, &layers, styles,
                                 params ? styles + (size_t)d->count * total : NULL, inner, n0, n1,
                                 max_act, max_w, out, IG_OK, {0}};
        }
        ig_cpu_parallel(nw, (size_t)nw, 1, ig__workers_task, wk);
        for (int i = 0; i < nw && r == IG_OK; i++)
            if (wk[i].result != IG_OK) {
                r = wk[i].result;
                if (err) *err = wk[i].err;
            }
    }
    for (int l = 0; l < IG_MAX_BLOCKS; l++) { free(emb[l]); free(stats_emb[l]); }
    free(ws);
    free(ws_b);
    free(zt);
    free(styles);
    ig_plan_free(&stats_plan);
    return r;
}
