/* lower.c - the one lowering of a config (lower.h) and the counts read from it (docs/cli.md
 * "Counting", docs/cips.md). */
#include "lower.h"

#include <string.h>

static ig_lop *ig__add(ig_lowering *lw, ig_lop_kind kind, int block, int level, int c_x, int c_e, int c_out) {
    ig_lop *op = &lw->ops[lw->n_ops++];
    memset(op, 0, sizeof *op);
    op->kind = kind;
    op->block = block;
    op->level = level;
    op->c_x = c_x;
    op->c_e = c_e;
    op->c_in = c_x + c_e;
    op->c_out = c_out;
    return op;
}

/* A modulated op: its styles next in the style vector, its parameters W, bias, head (+ noise). */
static void ig__styled(ig_lowering *lw, ig_lop *op, int64_t s_len, int w_dim, int noise) {
    op->s_off = lw->s_stride;
    op->s_len = s_len;
    lw->s_stride += s_len;
    op->params = (int64_t)op->c_in * op->c_out + op->c_out + s_len * (w_dim + 1) + noise;
}

/* INR-GAN (docs/model-format.md): per block conv0 (blocks > 0), conv1, extra convs, ToRGB. */
static void ig__lower_inrgan(const ig_config *c, ig_lowering *lw) {
    for (int i = 0; i < c->n_blocks; i++) {
        const ig_block_config *b = &c->blocks[i];
        int *lc = &lw->level_channels[b->level];
        if (b->channels > *lc) *lc = b->channels;
        if (b->has_embedding) {
            lw->level_emb[b->level] = b->emb.channels;
            lw->params += (int64_t)b->emb.constant * b->grid * b->grid; /* const_embs */
        }
    }
    for (int i = 0; i < c->n_blocks; i++) {
        const ig_block_config *b = &c->blocks[i];
        int C = b->channels, lv = b->level;
        ig_lop *op;
        if (i > 0) {
            op = ig__add(lw, IG_LOP_CONV0, i, lv, c->blocks[i - 1].channels, b->upsamples ? b->emb.channels : 0, C);
            op->coarse = b->upsamples;
            ig__styled(lw, op, (int64_t)(op->c_in + C) * c->rank, c->w_dim, 0);
        }
        op = ig__add(lw, IG_LOP_CONV1, i, lv, i == 0 ? 0 : C, i == 0 ? b->emb.channels : 0, C);
        op->in_norm = c->instance_norm && i > 0;
        ig__styled(lw, op, (int64_t)(op->c_in + C) * c->rank, c->w_dim, 0);
        for (int k = 0; k < b->extra_convs; k++) {
            op = ig__add(lw, IG_LOP_EXTRA, i, lv, C, 0, C);
            op->index = k;
            op->in_norm = c->instance_norm;
            ig__styled(lw, op, (int64_t)2 * C * c->rank, c->w_dim, 0);
        }
        op = ig__add(lw, IG_LOP_TORGB, i, lv, C, 0, 3);
        ig__styled(lw, op, C, c->w_dim, 0);
    }
    for (int k = 0; k < lw->n_ops; k++) {
        ig_lop *op = &lw->ops[k];
        if (!op->in_norm) continue;
        op->inv_off = lw->inv_len;
        lw->inv_len += op->c_x;
    }
}

/* CIPS (docs/cips.md): LFF, conv1 / linears.0, the pairs; styles of every StyledConv, then of
 * every ToRGB (the layout of the backends' modulation heads). */
static void ig__lower_cips(const ig_config *c, ig_lowering *lw) {
    const ig_cips_config *k = &c->cips;
    int H = k->hidden, S = c->w_dim, n_convs = 1 + 2 * k->n_pairs;
    ig_lop *op = ig__add(lw, IG_LOP_LFF, 0, 0, 2, 0, H);
    op->params = 3 * (int64_t)H;
    lw->params += (int64_t)H * k->size * k->size; /* emb.input */
    lw->widest = 2 * H;
    int cin = 2 * H;
    ig_lop *rgb[IG_MAX_CIPS_PAIRS];
    int n_rgb = 0;
    for (int i = 0; i < n_convs; i++) {
        int co = k->channels[i == 0 ? 0 : (i - 1) / 2];
        op = ig__add(lw, IG_LOP_MODFC, i, 0, i == 0 ? H : cin, i == 0 ? H : 0, co);
        ig__styled(lw, op, cin, S, 1);
        if (co > lw->widest) lw->widest = co;
        if (k->res && i % 2 == 1 && cin != co) { /* block (i+1)/2 changes the width */
            op = ig__add(lw, IG_LOP_SKIP, i / 2, 0, cin, 0, co);
            op->params = (int64_t)cin * co;
        }
        if (!k->res && i > 0 && i % 2 == 0) { /* to_rgbs.K after linears.2K+1 */
            rgb[n_rgb] = ig__add(lw, IG_LOP_TORGB, n_rgb, 0, co, 0, 3);
            n_rgb++;
        }
        cin = co;
    }
    if (k->res) rgb[n_rgb++] = ig__add(lw, IG_LOP_TORGB, 0, 0, cin, 0, 3); /* to_rgb_last */
    for (int i = 0; i < n_rgb; i++) ig__styled(lw, rgb[i], rgb[i]->c_in, S, 0);
}

void ig_lower(const ig_config *c, ig_lowering *lw) {
    memset(lw, 0, sizeof *lw);
    lw->family = c->kind;
    lw->n_levels = c->n_levels;
    for (int l = 0; l < c->n_levels; l++) {
        lw->level_grid[l] = c->level_grid[l];
        lw->level_channels[l] = 3;
        lw->level_act[l] = 3;
    }
    lw->n_map = c->mapping_layers;
    lw->map_out = c->w_dim;
    for (int l = 0; l < c->mapping_layers; l++) {
        lw->map_in[l] = l == 0 && c->kind != IG_FAMILY_CIPS ? c->z_dim : c->w_dim;
        lw->params += (int64_t)lw->map_out * (lw->map_in[l] + 1);
    }
    if (c->kind == IG_FAMILY_CIPS) ig__lower_cips(c, lw);
    else ig__lower_inrgan(c, lw);
    for (int k = 0; k < lw->n_ops; k++) {
        const ig_lop *op = &lw->ops[k];
        int *a = &lw->level_act[op->level];
        bool fmm = op->kind == IG_LOP_CONV0 || op->kind == IG_LOP_CONV1 || op->kind == IG_LOP_EXTRA;
        if (fmm && op->c_x > *a) *a = op->c_x;
        if (fmm && op->c_out > *a) *a = op->c_out;
        lw->params += op->params;
    }
}

double ig_lower_flops(const ig_lowering *lw, const double *px, bool coarse) {
    double macs = 0;
    for (int k = 0; k < lw->n_ops; k++) {
        const ig_lop *op = &lw->ops[k];
        double p = px[op->level];
        if (coarse && op->coarse)
            macs += px[op->level - 1] * op->c_x * op->c_out + p * op->c_e * op->c_out;
        else
            macs += p * op->c_in * op->c_out;
    }
    return 2.0 * macs;
}

double ig_lower_tile_bytes_per_pixel(const ig_lowering *lw, int count, int workers, int stride) {
    if (lw->family == IG_FAMILY_CIPS) /* CPU: weights per image and small per-thread buffers;
        Vulkan: input + 2 activations of the widest layer per image (its own pixel chunking keeps
        within the device) */
        return 4.0 * 3.0 * lw->widest * workers + 12.0 * count;
    /* the CPU backend's buffers (src/cpu/cpu_backend.c ig__plan_sizes, ig__embeddings): per
     * worker 5 activation buffers of the widest level activation, the embeddings of every level,
     * and the float output of every image. A level l below the top holds 4^-(levels above) of the
     * top's points (with stride s: s^2 times that, at most 1, as every output pixel may need its
     * own coarse point). */
    int L = lw->n_levels;
    double act = 3, emb = 0;
    for (int l = 0; l < L; l++) {
        double scale = (double)stride * stride / (double)(1ull << (2 * (L - 1 - l)));
        if (scale > 1) scale = 1;
        emb += scale * lw->level_emb[l];
        if (scale * lw->level_act[l] > act) act = scale * lw->level_act[l];
    }
    return 4.0 * (5.0 * act * workers + emb) + 12.0 * count;
}

bool ig_lower_stats_pass(const ig_config *c, const ig_plan *plan, ig_plan_desc *stats) {
    bool need = c->instance_norm &&
                !(plan->whole && plan->desc.width == c->resolution && plan->desc.height == c->resolution);
    if (need && stats)
        *stats = (ig_plan_desc){.view = plan->desc.view, .width = c->resolution, .height = c->resolution,
                                .const_mode = plan->const_mode};
    return need;
}

const ig_layer *ig_lower_layer(const ig_model *m, const ig_lop *op) {
    if (m->cfg.kind == IG_FAMILY_CIPS) return NULL;
    const ig_block_tensors *t = &m->blocks[op->block];
    switch (op->kind) {
    case IG_LOP_CONV0: return &t->conv0;
    case IG_LOP_CONV1: return &t->conv1;
    case IG_LOP_EXTRA: return &t->extra[op->index];
    case IG_LOP_TORGB: return &t->torgb;
    default: return NULL;
    }
}

const ig_cips_layer *ig_lower_cips_layer(const ig_model *m, const ig_lop *op) {
    if (m->cfg.kind != IG_FAMILY_CIPS) return NULL;
    if (op->kind == IG_LOP_MODFC) return &m->cips.conv[op->block];
    if (op->kind == IG_LOP_TORGB) return &m->cips.rgb[op->block];
    return NULL;
}

/* ---- the counts of docs/cli.md (public API) ------------------------------------------------- */

static void ig__native_px(const ig_lowering *lw, double *px) {
    for (int l = 0; l < lw->n_levels; l++) px[l] = (double)lw->level_grid[l] * lw->level_grid[l];
}

static void ig__plan_px(const ig_plan *plan, const ig_lowering *lw, double *px) {
    for (int l = 0; l < lw->n_levels; l++) px[l] = (double)plan->levels[l].width * plan->levels[l].height;
}

int64_t ig_config_param_count(const ig_config *c) {
    ig_lowering lw;
    ig_lower(c, &lw);
    return lw.params;
}

static double ig__config_flops(const ig_config *c, bool coarse) {
    ig_lowering lw;
    double px[IG_MAX_BLOCKS];
    ig_lower(c, &lw);
    ig__native_px(&lw, px);
    return ig_lower_flops(&lw, px, coarse);
}

double ig_config_model_flops(const ig_config *c) { return ig__config_flops(c, false); }
double ig_config_executed_flops(const ig_config *c) { return ig__config_flops(c, true); }

double ig_cips_macs_per_pixel(const ig_config *c) {
    if (c->kind != IG_FAMILY_CIPS) return 0;
    ig_lowering lw;
    double px[1] = {1.0};
    ig_lower(c, &lw);
    return ig_lower_flops(&lw, px, false) / 2.0;
}

static double ig__plan_flops(const ig_plan *plan, const ig_config *c, bool coarse) {
    ig_lowering lw;
    double px[IG_MAX_BLOCKS];
    ig_lower(c, &lw);
    ig__plan_px(plan, &lw, px);
    return ig_lower_flops(&lw, px, coarse);
}

double ig_plan_executed_flops(const ig_plan *plan, const ig_config *c) { return ig__plan_flops(plan, c, true); }
double ig_plan_model_flops(const ig_plan *plan, const ig_config *c) { return ig__plan_flops(plan, c, false); }

/* Noise inputs exist in CIPS layers only (a family property, so decided here). */
bool ig_noise_active(const ig_config *cfg, ig_noise noise) {
    if (cfg->kind != IG_FAMILY_CIPS) return false;
    if (noise == IG_NOISE_MODEL) return !cfg->cips.noise_zero;
    return noise == IG_NOISE_SEEDED;
}
