/* embed.c - coordinate embeddings (reference section 1.8) at the plan's coordinates.
 *
 * Raw features: the log_basis rows, then the random_basis rows, each dotted with (x, y).
 * Channels: sin of every raw feature, cos of every raw feature, then the learned constant,
 * sampled bilinearly at the continuous position of (x, y) in its native grid, clamped to the
 * border (IG_CONST_BORDER) or zero more than one cell outside it (IG_CONST_ZERO). At native
 * grid positions the sample is the stored value exactly. */
#include "embed.h"
#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <stdbool.h>

static int ig__level_block(const ig_config *c, int level) {
    for (int i = 0; i < c->n_blocks; i++)
        if (c->blocks[i].level == level && c->blocks[i].has_embedding) return i;
    return -1;
}

int ig_embed_channels(const ig_model *m, int level) {
    int b = ig__level_block(&m->cfg, level);
    return b < 0 ? 0 : m->cfg.blocks[b].emb.channels;
}

/* Position in a native grid of side g: continuous column/row index, clamped to the border. */
static bool ig__grid_pos(double t, int g, int *i0, int *i1, double *frac) {
    bool inside = t > -1 && t < g;
    if (t <= 0) t = 0;
    if (t >= g - 1) t = g - 1;
    double fl = floor(t);
    double fr = t - fl;
    if (fr < 1e-9) fr = 0; /* native positions: exact */
    if (fr > 1 - 1e-9) { fl += 1; fr = 0; }
    *i0 = (int)fl;
    *i1 = *i0 + 1 < g ? *i0 + 1 : *i0;
    *frac = fr;
    return inside;
}

ig_result ig_embed_level(const ig_model *m, const ig_plan *plan, int level, float *out, ig_error *err) {
    const ig_config *c = &m->cfg;
    int bi = ig__level_block(c, level);
    const ig_block_config *b = &c->blocks[bi];
    const ig_block_tensors *t = &m->blocks[bi];
    const ig_level_plan *lp = &plan->levels[level];
    int W = lp->width, H = lp->height;
    size_t px = (size_t)W * H;
    int n_log = b->emb.n_log, n_raw = n_log + b->emb.random;
    /* sin(a x + b y) = sin(ax) cos(by) + cos(ax) sin(by): one sin/cos per column and per row
     * instead of per pixel (in double, so the result rounds to the same float in practice) */
    double *sx = malloc(sizeof(double) * 2 * ((size_t)W + H)), *cx = sx + W, *sy = cx + W, *cy = sy + H;
    if (!sx) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "embedding tables of level %d", level);
    for (int f = 0; f < n_raw; f++) {
        const float *row = f < n_log ? &t->log_basis->data[2 * f] : &t->random_basis->data[2 * (f - n_log)];
        double a = row[0], bb = row[1];
        for (int j = 0; j < W; j++) { sx[j] = sin(a * lp->xs[j]); cx[j] = cos(a * lp->xs[j]); }
        for (int i = 0; i < H; i++) { sy[i] = sin(bb * lp->ys[i]); cy[i] = cos(bb * lp->ys[i]); }
        float *s = out + (size_t)f * px, *co = out + (size_t)(n_raw + f) * px;
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++) {
                s[(size_t)i * W + j] = (float)(sx[j] * cy[i] + cx[j] * sy[i]);
                co[(size_t)i * W + j] = (float)(cx[j] * cy[i] - sx[j] * sy[i]);
            }
    }
    free(sx);
    int nc = b->emb.constant, g = b->grid;
    if (nc == 0) return IG_OK;
    const float *cst = t->const_embs->data;
    float *dst = out + (size_t)2 * n_raw * px;
    for (int i = 0; i < H; i++) {
        int r0, r1;
        double fy;
        bool in_y = ig__grid_pos((1.0 - lp->ys[i]) * g / 2.0 - 1.0, g, &r0, &r1, &fy);
        for (int j = 0; j < W; j++) {
            int c0, c1;
            double fx;
            bool in_x = ig__grid_pos((lp->xs[j] + 1.0) * g / 2.0, g, &c0, &c1, &fx);
            if (plan->const_mode == IG_CONST_ZERO && !(in_x && in_y)) {
                for (int k = 0; k < nc; k++) dst[(size_t)k * px + (size_t)i * W + j] = 0.0f;
                continue;
            }
            for (int k = 0; k < nc; k++) {
                const float *p = cst + (size_t)k * g * g;
                double v;
                if (fx == 0 && fy == 0) {
                    v = p[(size_t)r0 * g + c0];
                } else {
                    double top = p[(size_t)r0 * g + c0] * (1 - fx) + p[(size_t)r0 * g + c1] * fx;
                    double bot = p[(size_t)r1 * g + c0] * (1 - fx) + p[(size_t)r1 * g + c1] * fx;
                    v = top * (1 - fy) + bot * fy;
                }
                dst[(size_t)k * px + (size_t)i * W + j] = (float)v;
            }
        }
    }
    return IG_OK;
}
