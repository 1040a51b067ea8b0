/* vk_render.c - the INR-GAN generator as a sequence of compute dispatches.
 *
 * Per batch chunk (as many images as fit the memory budget; one submission each):
 *   1. mapping:  fc.comp per mapping layer (z normalisation fused into the first, truncation
 *                into the last)                                   -> w     [B][w_dim]
 *   2. heads:    fc.comp per FMM / ToRGB layer (affine of w)       -> s     [B][s_stride]
 *   3. weights:  wgen.comp per FMM layer: rownorm(Ws (1 + L R/sqrt r))  -> gw [B][gw_stride]
 *                (fused mode: only the row norms                   -> rn [B][rn_stride])
 *   4. levels:   level.comp per level: every layer and ToRGB of the level for each pixel in
 *                one dispatch. Models with instance norm split a level before each normalised
 *                layer: norm.comp (pass 1: per-row mean/M2, pass 2: merge -> 1/(std+eps)).
 *   5. readback of the last level's rgb [B][H*W][3] -> out [N][3][H][W].
 * Features and rgb are pixel-major ([pixel][channel]) so that any band of rows is one
 * contiguous range: every descriptor window stays within maxStorageBufferRange by splitting
 * dispatches into image groups, or for very large levels into row bands of one image.
 *
 * Uploaded once and cached while unchanged: the model (mapping, affine heads, shared weights
 * and biases; fp32) and the plan's embeddings (computed on the host by ig_embed_level, stored
 * pixel-major in the storage precision).
 */
#include "vk_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed.h"
#include "model.h"

#define IG__MAX_OPS (IG_MAX_BLOCKS * (3 + IG_MAX_EXTRA))
#define IG__WG 64u

enum { IG__OP_FMM = 1, IG__OP_TORGB = 2 };
enum { IG__IN_NONE = 0, IG__IN_NEAREST = 1, IG__IN_BILINEAR = 2, IG__IN_SAME = 3 };

/* ---- cached uploads ------------------------------------------------------------------------- */

typedef struct ig__vk_op {
    int type, block, level;
    int c_x, c_e, c_out; /* FMM input = [x (c_x); embedding (c_e)]; TORGB: c_x = c_in */
    bool in_norm;
    const ig_layer *L;
    uint32_t s_off, s_len; /* the affine head's output inside the per-image s vector */
    uint32_t gw_off;       /* per-image generated weights (pass mode) */
    uint32_t kpad, npad;   /* coopmat layout: [npad][kpad], multiples of 16, zero padded */
    uint32_t rn_off;       /* per-image row norms (fused mode) */
    uint32_t ws_off, b_off; /* in params: Ws or W_rgb, bias */
    uint32_t inv_off;      /* instance norm: its factors inside the per-image inv vector */
    float head_wgain, head_bgain;
    ig_vk_buf head;        /* [s_len][w_dim] weights then [s_len] bias */
} ig__vk_op;

struct ig__vk_model {
    uint64_t fp;
    ig_vk_arena arena;
    int n_ops;
    ig__vk_op ops[IG__MAX_OPS];
    ig_vk_buf map; /* mapping W_l, b_l ..., w_avg (floats) */
    uint32_t map_w[IG_MAX_MAPPING], map_b[IG_MAX_MAPPING], avg;
    ig_vk_buf params;
    uint32_t params_len;
    uint32_t s_stride, gw_stride, rn_stride;
    uint32_t inv_len;   /* instance-norm factors per image (all normalised layers) */
    int cmax, emax;
    bool coop;     /* levels run on level_coop.comp (padded weights) */
    uint32_t xs;   /* its shared-memory row stride */
};

struct ig__vk_plan {
    uint64_t fp;
    ig_vk_arena arena;
    int n_levels;
    int w[IG_MAX_BLOCKS], h[IG_MAX_BLOCKS], ce[IG_MAX_BLOCKS]; /* computed grid, embedding */
    ig_vk_buf emb[IG_MAX_BLOCKS];  /* [h*w][ce], storage precision */
    /* levels > 0: the plan's up-sampling maps, rows [h][4] then columns [w][4] of uint32
     * {index 0, index 1, weight (float bits), 0} into the previous level's computed grid */
    ig_vk_buf maps[IG_MAX_BLOCKS];
    int *r0[IG_MAX_BLOCKS], *r1[IG_MAX_BLOCKS]; /* host copies of the row maps */
};

static uint64_t ig__fnv(uint64_t h, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t ig__model_fp(const ig_model *m) {
    uint64_t h = 1469598103934665603ull;
    const char *json = m->config_json ? m->config_json : "";
    h = ig__fnv(h, json, strlen(json));
    h = ig__fnv(h, &m->n_tensors, sizeof m->n_tensors);
    for (int i = 0; i < m->n_tensors; i++) {
        const ig_tensor *t = &m->tensors[i];
        h = ig__fnv(h, t->name, strlen(t->name));
        h = ig__fnv(h, &t->numel, sizeof t->numel);
        int64_t step = t->numel / 32 + 1;
        for (int64_t k = 0; k < t->numel; k += step) h = ig__fnv(h, &t->data[k], sizeof(float));
        if (t->numel) h = ig__fnv(h, &t->data[t->numel - 1], sizeof(float));
    }
    return h;
}

static uint64_t ig__plan_fp(const ig_plan *p, uint64_t model_fp, bool f16) {
    uint64_t h = ig__fnv(1469598103934665603ull, &model_fp, sizeof model_fp);
    h = ig__fnv(h, &f16, sizeof f16);
    h = ig__fnv(h, &p->n_levels, sizeof p->n_levels);
    int cm = (int)p->const_mode;
    h = ig__fnv(h, &cm, sizeof cm);
    for (int l = 0; l < p->n_levels; l++) {
        const ig_level_plan *lp = &p->levels[l];
        int dims[4] = {lp->width, lp->height, lp->full_width, lp->full_height};
        h = ig__fnv(h, dims, sizeof dims);
        h = ig__fnv(h, lp->xs, (size_t)lp->width * sizeof *lp->xs);
        h = ig__fnv(h, lp->ys, (size_t)lp->height * sizeof *lp->ys);
        if (lp->cols) h = ig__fnv(h, lp->cols, (size_t)lp->width * sizeof *lp->cols);
        if (lp->rows) h = ig__fnv(h, lp->rows, (size_t)lp->height * sizeof *lp->rows);
        if (l > 0 && lp->r0) {
            h = ig__fnv(h, lp->r0, (size_t)lp->height * sizeof *lp->r0);
            h = ig__fnv(h, lp->c0, (size_t)lp->width * sizeof *lp->c0);
            h = ig__fnv(h, lp->rw, (size_t)lp->height * sizeof *lp->rw);
            h = ig__fnv(h, lp->cw, (size_t)lp->width * sizeof *lp->cw);
        }
    }
    return h;
}

static uint16_t ig__f2h(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, e = (x >> 23) & 0xffu, m = x & 0x7fffffu;
    if (e == 0xffu) return (uint16_t)(sign | 0x7c00u | (m ? 0x200u : 0));
    int32_t he = (int32_t)e - 112;
    if (he >= 0x1f) return (uint16_t)(sign | 0x7c00u);
    if (he <= 0) {
        if (he < -10) return (uint16_t)sign;
        m |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - he);
        uint32_t hm = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (hm & 1u))) hm++;
        return (uint16_t)(sign | hm);
    }
    uint32_t hm = m >> 13, rem = m & 0x1fffu;
    uint32_t h = sign | ((uint32_t)he << 10) | hm;
    if (rem > 0x1000u || (rem == 0x1000u && (hm & 1u))) h++;
    return (uint16_t)h;
}

/* ---- uploads through staging (or in place on UMA devices) ------------------------------------ */

typedef struct ig__upload {
    ig_vk_buf dst;
    VkDeviceSize off;
    ig_vk_buf src; /* staging */
} ig__upload;

typedef struct ig__uploads {
    ig__upload *u;
    int n, cap;
} ig__uploads;

/* Returns a host pointer where `bytes` for dst+off must be written. */
static ig_result ig__upload_ptr(ig_vk_context *ctx, ig__uploads *ups, const ig_vk_buf *dst,
                                VkDeviceSize off, VkDeviceSize bytes, void **ptr, ig_error *err) {
    if (dst->map) {
        *ptr = dst->map + off;
        return IG_OK;
    }
    if (ups->n == ups->cap) {
        int cap = ups->cap ? 2 * ups->cap : 32;
        ig__upload *u = realloc(ups->u, (size_t)cap * sizeof *u);
        if (!u) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "upload list");
        ups->u = u;
        ups->cap = cap;
    }
    ig__upload *u = &ups->u[ups->n];
    ig_result res = ig__vk_arena_alloc(ctx, &ctx->stage, bytes, &u->src, err);
    if (res != IG_OK) return res;
    u->src.size = bytes;
    u->dst = *dst;
    u->off = off;
    ups->n++;
    *ptr = u->src.map;
    return IG_OK;
}

static void ig__record_uploads(ig_vk_context *ctx, const ig__uploads *ups) {
    if (ups->n == 0) return;
    for (int i = 0; i < ups->n; i++) {
        const ig__upload *u = &ups->u[i];
        VkBufferCopy c = {.srcOffset = u->src.off, .dstOffset = u->dst.off + u->off,
                          .size = u->src.size};
        ctx->vk.vkCmdCopyBuffer(ctx->cmd, u->src.buf, u->dst.buf, 1, &c);
    }
    /* the copies above before any shader reads them */
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_SHADER_READ_BIT};
    ctx->vk.vkCmdPipelineBarrier(ctx->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT,
                                 VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, NULL, 0,
                                 NULL);
}

static ig_result ig__begin(ig_vk_context *ctx, ig_error *err) {
    ig_result res = IG_OK;
    IG_VK_CHECK(ctx->vk.vkResetCommandBuffer(ctx->cmd, 0));
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    IG_VK_CHECK(ctx->vk.vkBeginCommandBuffer(ctx->cmd, &bi));
    return IG_OK;
fail:
    return res;
}

static ig_result ig__end_submit(ig_vk_context *ctx, ig_error *err) {
    ig_result res = IG_OK;
    IG_VK_CHECK(ctx->vk.vkEndCommandBuffer(ctx->cmd));
    return ig__vk_submit_wait(ctx, err);
fail:
    return res;
}

/* Submits pending staging copies (model / plan uploads) and frees the staging memory. */
static ig_result ig__flush_uploads(ig_vk_context *ctx, ig__uploads *ups, ig_error *err) {
    ig_result res = IG_OK;
    if (ups->n > 0) {
        res = ig__begin(ctx, err);
        if (res == IG_OK) {
            ig__record_uploads(ctx, ups);
            res = ig__end_submit(ctx, err);
        }
    }
    ig__vk_arena_free(ctx, &ctx->stage);
    ups->n = 0;
    return res;
}

/* ---- model ------------------------------------------------------------------------------------ */

static void ig__model_free(ig_vk_context *ctx, ig__vk_model *vm) {
    if (!vm) return;
    ig__vk_arena_free(ctx, &vm->arena);
    free(vm);
}

static void ig__plan_free(ig_vk_context *ctx, ig__vk_plan *vp) {
    if (!vp) return;
    ig__vk_arena_free(ctx, &vp->arena);
    for (int l = 0; l < IG_MAX_BLOCKS; l++) {
        free(vp->r0[l]);
        free(vp->r1[l]);
    }
    free(vp);
}

void ig__vk_render_release(ig_vk_context *ctx) {
    ig__plan_free(ctx, ctx->plan);
    ctx->plan = NULL;
    ig__plan_free(ctx, ctx->plan_stats);
    ctx->plan_stats = NULL;
    ig__model_free(ctx, ctx->model);
    ctx->model = NULL;
    ig__vk_arena_free(ctx, &ctx->work);
    ig__vk_arena_free(ctx, &ctx->stage);
    ctx->work_size = 0;
}

void ig_vk_context_trim(ig_vk_context *ctx) {
    if (!ctx || !ctx->device) return;
    ctx->vk.vkDeviceWaitIdle(ctx->device);
    ig__vk_render_release(ctx);
}

/* The op list in model order (the CPU backend's order). */
static uint32_t ig__pad16(uint32_t v) { return (v + 15u) / 16u * 16u; }

static ig_result ig__model_ops(const ig_vk_context *ctx, const ig_model *m, ig__vk_model *vm,
                               ig_error *err) {
    const ig_config *c = &m->cfg;
    /* the coopmat kernel keeps two [16][xs] fp16 tiles in shared memory */
    uint32_t xs = 16;
    for (int i = 0; i < c->n_blocks; i++) {
        uint32_t w = (uint32_t)c->blocks[i].channels;
        if (i > 0 && (uint32_t)c->blocks[i - 1].channels > w) w = (uint32_t)c->blocks[i - 1].channels;
        w += c->blocks[i].has_embedding ? (uint32_t)c->blocks[i].emb.channels : 0;
        if (ig__pad16(w) > xs) xs = ig__pad16(w);
    }
    vm->xs = xs;
    vm->coop = ctx->coopmat &&
               2ull * 16 * xs * 2 + 256 * 4 + 48 * 4 <= ctx->props.limits.maxComputeSharedMemorySize;
    int n = 0;
    uint32_t s = 0, gw = 0, rn = 0, inv = 0;
    vm->cmax = 1;
    vm->emax = 1;
    for (int i = 0; i < c->n_blocks; i++) {
        const ig_block_config *bc = &c->blocks[i];
        const ig_block_tensors *t = &m->blocks[i];
        int C = bc->channels, level = bc->level;
        int ce_level = 0;
        for (int j = 0; j < c->n_blocks; j++)
            if (c->blocks[j].level == level && c->blocks[j].has_embedding)
                ce_level = c->blocks[j].emb.channels;
        const ig_layer *fmm[2 + IG_MAX_EXTRA];
        int cx[2 + IG_MAX_EXTRA], cex[2 + IG_MAX_EXTRA];
        bool nrm[2 + IG_MAX_EXTRA];
        int nf = 0;
        if (i == 0) {
            fmm[nf] = &t->conv1, cx[nf] = 0, cex[nf] = ce_level, nrm[nf++] = false;
        } else {
            if (!t->has_conv0)
                return ig_error_set(err, IG_ERR_UNSUPPORTED, "block %s has no conv0", bc->name);
            int cp = c->blocks[i - 1].channels;
            fmm[nf] = &t->conv0, cx[nf] = cp, cex[nf] = bc->upsamples ? ce_level : 0,
            nrm[nf++] = false;
            fmm[nf] = &t->conv1, cx[nf] = C, cex[nf] = 0, nrm[nf++] = c->instance_norm;
        }
        for (int k = 0; k < bc->extra_convs; k++)
            fmm[nf] = &t->extra[k], cx[nf] = C, cex[nf] = 0, nrm[nf++] = c->instance_norm;
        for (int k = 0; k <= nf; k++) {
            if (n >= IG__MAX_OPS) return ig_error_set(err, IG_ERR_UNSUPPORTED, "too many layers");
            ig__vk_op *op = &vm->ops[n++];
            memset(op, 0, sizeof *op);
            op->block = i;
            op->level = level;
            if (k < nf) {
                const ig_layer *L = fmm[k];
                op->type = IG__OP_FMM;
                op->L = L;
                op->c_x = cx[k];
                op->c_e = cex[k];
                op->c_out = L->c_out;
                op->in_norm = nrm[k];
                if (op->in_norm) {
                    op->inv_off = inv;
                    inv += (uint32_t)cx[k];
                }
                if (L->c_in != cx[k] + cex[k] || L->c_out != C)
                    return ig_error_set(err, IG_ERR_UNSUPPORTED,
                                        "block %s: layer input %d != %d + %d", bc->name, L->c_in,
                                        cx[k], cex[k]);
                op->s_len = (uint32_t)((L->c_in + L->c_out) * c->rank);
                op->gw_off = gw;
                op->kpad = ig__pad16((uint32_t)L->c_in);
                op->npad = ig__pad16((uint32_t)L->c_out);
                gw += vm->coop ? op->kpad * op->npad : (uint32_t)(L->c_in * L->c_out);
                op->rn_off = rn;
                rn += (uint32_t)L->c_out;
                op->head_wgain = (float)(1.0 / sqrt((double)c->w_dim));
                op->head_bgain = 1.0f;
                if (cx[k] > vm->cmax) vm->cmax = cx[k];
                if (L->c_out > vm->cmax) vm->cmax = L->c_out;
                if (cex[k] > vm->emax) vm->emax = cex[k];
            } else {
                const ig_layer *L = &t->torgb;
                op->type = IG__OP_TORGB;
                op->L = L;
                op->c_x = L->c_in;
                op->c_out = 3;
                op->s_len = (uint32_t)L->c_in;
                double g = 1.0 / sqrt((double)L->c_in);
                op->head_wgain = (float)(g / sqrt((double)c->w_dim));
                op->head_bgain = (float)g;
            }
            op->s_off = s;
            s += op->s_len;
        }
    }
    vm->n_ops = n;
    vm->inv_len = inv;
    vm->s_stride = s;
    vm->gw_stride = gw;
    vm->rn_stride = rn;
    return IG_OK;
}

static ig_result ig__model_upload(ig_vk_context *ctx, const ig_model *m, uint64_t fp,
                                  ig_error *err) {
    const ig_config *c = &m->cfg;
    ig__uploads ups = {0};
    ig__vk_model *vm = calloc(1, sizeof *vm);
    if (!vm) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "model upload");
    vm->fp = fp;
    vm->arena.device = true;
    ig_result res = ig__model_ops(ctx, m, vm, err);
    if (res != IG_OK) goto fail;

    /* sizes: one block for the whole model when it fits */
    uint64_t map_floats = (uint64_t)c->w_dim;
    for (int l = 0; l < c->mapping_layers; l++)
        map_floats += (uint64_t)m->map_w[l]->numel + (uint64_t)m->map_b[l]->numel;
    uint64_t params = 0, heads = 0;
    for (int k = 0; k < vm->n_ops; k++) {
        ig__vk_op *op = &vm->ops[k];
        op->ws_off = (uint32_t)params;
        params += (uint64_t)op->L->weight->numel;
        op->b_off = (uint32_t)params;
        params += (uint64_t)op->L->bias->numel;
        heads += ((uint64_t)op->s_len * (c->w_dim + 1) * 4 + ctx->align);
    }
    vm->params_len = (uint32_t)params;
    uint64_t total = map_floats * 4 + params * 4 + heads + 4 * ctx->align;
    if (total <= ctx->max_alloc) {
        res = ig__vk_arena_reserve(ctx, &vm->arena, total, err);
        if (res != IG_OK) goto fail;
    } else {
        vm->arena.block_size = 256ull << 20;
    }

    /* mapping: W_0 b_0 W_1 b_1 ... w_avg */
    res = ig__vk_arena_alloc(ctx, &vm->arena, map_floats * 4, &vm->map, err);
    if (res != IG_OK) goto fail;
    float *p;
    res = ig__upload_ptr(ctx, &ups, &vm->map, 0, map_floats * 4, (void **)&p, err);
    if (res != IG_OK) goto fail;
    uint32_t at = 0;
    for (int l = 0; l < c->mapping_layers; l++) {
        vm->map_w[l] = at;
        memcpy(p + at, m->map_w[l]->data, (size_t)m->map_w[l]->numel * 4);
        at += (uint32_t)m->map_w[l]->numel;
        vm->map_b[l] = at;
        memcpy(p + at, m->map_b[l]->data, (size_t)m->map_b[l]->numel * 4);
        at += (uint32_t)m->map_b[l]->numel;
    }
    vm->avg = at;
    memcpy(p + at, m->w_avg->data, (size_t)c->w_dim * 4);

    res = ig__vk_arena_alloc(ctx, &vm->arena, params * 4, &vm->params, err);
    if (res != IG_OK) goto fail;
    res = ig__upload_ptr(ctx, &ups, &vm->params, 0, params * 4, (void **)&p, err);
    if (res != IG_OK) goto fail;
    for (int k = 0; k < vm->n_ops; k++) {
        const ig__vk_op *op = &vm->ops[k];
        memcpy(p + op->ws_off, op->L->weight->data, (size_t)op->L->weight->numel * 4);
        memcpy(p + op->b_off, op->L->bias->data, (size_t)op->L->bias->numel * 4);
    }
    for (int k = 0; k < vm->n_ops; k++) {
        ig__vk_op *op = &vm->ops[k];
        uint64_t wn = (uint64_t)op->s_len * c->w_dim;
        res = ig__vk_arena_alloc(ctx, &vm->arena, (wn + op->s_len) * 4, &op->head, err);
        if (res != IG_OK) goto fail;
        res = ig__upload_ptr(ctx, &ups, &op->head, 0, (wn + op->s_len) * 4, (void **)&p, err);
        if (res != IG_OK) goto fail;
        memcpy(p, op->L->affine_w->data, (size_t)wn * 4);
        memcpy(p + wn, op->L->affine_b->data, (size_t)op->s_len * 4);
    }
    res = ig__flush_uploads(ctx, &ups, err);
    if (res != IG_OK) goto fail;
    free(ups.u);
    ctx->model = vm;
    return IG_OK;
fail:
    ig__vk_arena_free(ctx, &ctx->stage);
    free(ups.u);
    ig__model_free(ctx, vm);
    return res;
}

static ig_result ig__plan_upload(ig_vk_context *ctx, const ig_model *m, const ig_plan *plan,
                                 uint64_t fp, ig__vk_plan **out, ig_error *err) {
    ig__uploads ups = {0};
    ig__vk_plan *vp = calloc(1, sizeof *vp);
    float *tmp = NULL;
    if (!vp) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "plan upload");
    vp->fp = fp;
    vp->arena.device = true;
    vp->n_levels = plan->n_levels;
    ig_result res = IG_OK;
    uint32_t es = ctx->fp16 ? 2 : 4;
    uint64_t total = 0;
    for (int l = 0; l < plan->n_levels; l++) {
        vp->w[l] = plan->levels[l].width;
        vp->h[l] = plan->levels[l].height;
        vp->ce[l] = ig_embed_channels(m, l);
        total += (uint64_t)vp->w[l] * vp->h[l] * (uint64_t)vp->ce[l] * es + ctx->align;
        if (l > 0) total += ((uint64_t)vp->w[l] + vp->h[l]) * 16 + ctx->align;
    }
    if (total <= ctx->max_alloc) {
        res = ig__vk_arena_reserve(ctx, &vp->arena, total, err);
        if (res != IG_OK) goto fail;
    } else {
        vp->arena.block_size = 256ull << 20;
    }
    for (int l = 1; l < plan->n_levels; l++) {
        const ig_level_plan *lp = &plan->levels[l];
        size_t nh = (size_t)lp->height, nw = (size_t)lp->width;
        vp->r0[l] = malloc(nh * sizeof(int));
        vp->r1[l] = malloc(nh * sizeof(int));
        if (!vp->r0[l] || !vp->r1[l] || !lp->r0 || !lp->c0) {
            res = ig_error_set(err, lp->r0 ? IG_ERR_OUT_OF_MEMORY : IG_ERR_INVALID_ARGUMENT,
                               "plan maps of level %d", l);
            goto fail;
        }
        memcpy(vp->r0[l], lp->r0, nh * sizeof(int));
        memcpy(vp->r1[l], lp->r1, nh * sizeof(int));
        res = ig__vk_arena_alloc(ctx, &vp->arena, (nh + nw) * 16, &vp->maps[l], err);
        if (res != IG_OK) goto fail;
        uint32_t *q;
        res = ig__upload_ptr(ctx, &ups, &vp->maps[l], 0, (nh + nw) * 16, (void **)&q, err);
        if (res != IG_OK) goto fail;
        for (size_t i = 0; i < nh; i++) {
            q[4 * i] = (uint32_t)lp->r0[i];
            q[4 * i + 1] = (uint32_t)lp->r1[i];
            memcpy(&q[4 * i + 2], &lp->rw[i], 4);
            q[4 * i + 3] = 0;
        }
        q += 4 * nh;
        for (size_t j = 0; j < nw; j++) {
            q[4 * j] = (uint32_t)lp->c0[j];
            q[4 * j + 1] = (uint32_t)lp->c1[j];
            memcpy(&q[4 * j + 2], &lp->cw[j], 4);
            q[4 * j + 3] = 0;
        }
    }
    for (int l = 0; l < plan->n_levels; l++) {
        size_t px = (size_t)vp->w[l] * vp->h[l], ce = (size_t)vp->ce[l];
        if (ce == 0) continue;
        tmp = malloc(px * ce * sizeof *tmp);
        if (!tmp) {
            res = ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "embedding of level %d", l);
            goto fail;
        }
        ig_embed_level(m, plan, l, tmp);
        res = ig__vk_arena_alloc(ctx, &vp->arena, px * ce * es, &vp->emb[l], err);
        if (res != IG_OK) goto fail;
        void *dst;
        res = ig__upload_ptr(ctx, &ups, &vp->emb[l], 0, px * ce * es, &dst, err);
        if (res != IG_OK) goto fail;
        /* [C][H*W] -> [H*W][C] */
        for (size_t q = 0; q < px; q++)
            for (size_t k = 0; k < ce; k++) {
                float v = tmp[k * px + q];
                if (es == 2)
                    ((uint16_t *)dst)[q * ce + k] = ig__f2h(v);
                else
                    ((float *)dst)[q * ce + k] = v;
            }
        free(tmp);
        tmp = NULL;
        /* one level at a time, so the staging memory stays one level's size */
        res = ig__flush_uploads(ctx, &ups, err);
        if (res != IG_OK) goto fail;
    }
    res = ig__flush_uploads(ctx, &ups, err);
    if (res != IG_OK) goto fail;
    free(ups.u);
    *out = vp;
    return IG_OK;
fail:
    free(tmp);
    ig__vk_arena_free(ctx, &ctx->stage);
    free(ups.u);
    ig__plan_free(ctx, vp);
    return res;
}

/* ---- the dispatch list ----------------------------------------------------------------------- */

typedef struct ig__disp {
    int shader;
    uint32_t spec[3];
    int n_spec;
    VkPipeline pipe;
    uint32_t rec;                   /* record: meta word index */
    uint32_t meta_start, meta_len;  /* the dispatch's own records, bound at binding 0 */
    uint32_t gx, gy, gz;
    uint32_t used; /* bitmask of bindings */
    ig__vk_window win[IG_VK_BINDINGS];
} ig__disp;

typedef struct ig__builder {
    ig_vk_context *ctx;
    ig__disp *d;
    int n, cap;
    uint32_t *meta;
    uint32_t n_meta, cap_meta;
    bool oom;
    bool dry; /* first pass: count records and dispatches, no buffers yet */
    ig_vk_buf dummy;
} ig__builder;

static ig__disp *ig__disp_new(ig__builder *b, int shader) {
    if (b->n == b->cap) {
        int cap = b->cap ? 2 * b->cap : 64;
        ig__disp *d = realloc(b->d, (size_t)cap * sizeof *d);
        if (!d) {
            b->oom = true;
            return NULL;
        }
        b->d = d;
        b->cap = cap;
    }
    ig__disp *d = &b->d[b->n++];
    memset(d, 0, sizeof *d);
    d->shader = shader;
    d->spec[0] = IG__WG;
    d->n_spec = 1;
    d->gy = d->gz = 1;
    return d;
}

/* Reserves `n` meta words; returns their offset (or UINT32_MAX on failure). */
static uint32_t ig__meta(ig__builder *b, uint32_t n) {
    if (b->n_meta + n > b->cap_meta) {
        uint32_t cap = b->cap_meta ? 2 * b->cap_meta : 1024;
        while (cap < b->n_meta + n) cap *= 2;
        uint32_t *m = realloc(b->meta, (size_t)cap * 4);
        if (!m) {
            b->oom = true;
            return UINT32_MAX;
        }
        b->meta = m;
        b->cap_meta = cap;
    }
    uint32_t at = b->n_meta;
    memset(b->meta + at, 0, (size_t)n * 4);
    b->n_meta += n;
    return at;
}

/* Index of meta word x inside the binding-0 window that starts at word `start` (the meta
 * buffer itself is aligned, so the window's alignment slack is known while planning). */
static uint32_t ig__meta_rel(const ig__builder *b, uint32_t start, uint32_t x) {
    return x - start + (uint32_t)((start * 4ull) % b->ctx->align) / 4;
}

/* A record of n words for dispatch d (its whole meta window). */
static uint32_t ig__record_new(ig__builder *b, ig__disp *d, uint32_t n) {
    uint32_t r = ig__meta(b, n);
    if (d && r != UINT32_MAX) {
        d->rec = r;
        d->meta_start = r;
        d->meta_len = n;
    }
    return r;
}

static uint32_t ig__fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Binds [byte_off, byte_off + len) of buf at `binding`; returns the element base. */
static uint32_t ig__bind(ig__builder *b, ig__disp *d, uint32_t binding, const ig_vk_buf *buf,
                         VkDeviceSize byte_off, VkDeviceSize len, uint32_t es) {
    uint32_t base = 0;
    d->used |= 1u << binding;
    if (b->dry) return 0;
    d->win[binding] = ig__vk_window_of(b->ctx, buf, byte_off, len, es, &base);
    return base;
}

static void ig__bind_dummy(ig__builder *b, ig__disp *d, uint32_t binding) {
    ig__bind(b, d, binding, &b->dummy, 0, 16, 4);
}

static uint32_t ig__groups(uint64_t n, uint32_t wg) { return (uint32_t)((n + wg - 1) / wg); }

/* The coopmat kernel's workgroup is one subgroup (NV cooperative matrices are per subgroup). */
static uint32_t ig__coop_wg(const ig_vk_context *ctx) {
    uint32_t sg = ctx->info.subgroup_size;
    if (ctx->coop_emu || sg < 8 || sg > ctx->props.limits.maxComputeWorkGroupSize[0]) sg = 32;
    return sg;
}

