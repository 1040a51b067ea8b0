/* vk_inrgan.c - the INR-GAN family of the Vulkan backend (vk_backend.c's family table): the
 * generator as a sequence of compute dispatches.
 *
 * Per batch chunk (as many images as fit the memory budget; one submission each):
 *   1. mapping:  fc.comp per mapping layer (z normalisation fused into the first, truncation
 *                into the last)                                   -> w     [B][w_dim]
 *   2. heads:    fc.comp per FMM / ToRGB layer (affine of w)       -> s     [B][s_stride]
 *                (fc.comp, also for step 1: a tiled GEMM over 64 rows x 32 images per
 *                workgroup, so each head matrix is read once per 32 images of a dispatch)
 *   3. weights:  wgen.comp per FMM layer: rownorm(Ws (1 + L R/sqrt r))  -> gw [B][gw_stride]
 *                (fused mode: only the row norms                   -> rn [B][rn_stride]);
 *                one workgroup per 32 rows of one image, L and R in shared memory, rows
 *                written contiguous in the storage precision
 *   4. levels:   level.comp per level: every layer and ToRGB of the level for each pixel in
 *                one dispatch (level_coop.comp with cooperative matrices: 16 pixels per
 *                subgroup). Up-sampling of features and rgb follows the plan's index/weight
 *                maps (nearest or bilinear, any tile or stride). Models with instance norm
 *                split a level before each normalised layer: norm.comp (pass 1: per-row
 *                mean/M2, pass 2: merge -> 1/(std+eps)); when the plan is not the whole native
 *                image, a statistics pass over the native plan runs first and the render pass
 *                reads its factors.
 *   5. readback of the last level's rgb [B][H*W][3] -> out [N][3][H][W].
 * The "gemm" level kernel (ig_vk_desc.level_kernel, INRGAN_VK_KERNEL=gemm; nearest or
 * bilinear models, weight-generation pass, fp32 or fp16 storage; with instance norm the
 * statistics pass, where a render needs one, still runs level.comp) replaces step 4 by one
 * tiled-GEMM dispatch per layer over a level's computed pixels for a group of images
 * (layer_gemm.comp, vk_inrgan_gemm.c): activations channel-major [B][C][P] (P: the level's
 * pixels padded to its tile set's width), the embeddings uploaded channel-major too. An
 * up-sampling conv0 is the exact coarse trick: W[:, :c_prev] x on the coarse grid (no
 * epilogue), then W[:, c_prev:] E on the fine grid with the coarse product gathered through the
 * plan's maps in the epilogue (nearest: one tap; bilinear: four). Instance norm: norm.comp over
 * the layer's channel-major input, its factors folded into W's columns as the GEMM loads them.
 * ToRGB is fused into the epilogue of the layer before it
 * (per output tile partial sums; not on the coop tile set, which runs it separately), and
 * rgb_accum.comp adds the partials (or the whole ToRGB) into rgb planes [B][3][P], the first
 * of a level starting from the gathered (up-sampled) coarse rgb.
 * Renders it cannot take (model, precision, a level too large for one descriptor window) run
 * the per-pixel kernel; ig_vk_level_kernel_used says which ran. The "fused" level kernel
 * (INRGAN_VK_KERNEL=fused, vk_inrgan_tile.c) is the gemm kernel with the levels whose widths
 * fit shared memory (a suffix: FFHQ-256's levels 2-3) replaced by one level_tile.comp dispatch
 * each (after the coarse product), activations kept in shared memory across the level.
 * Interpolation: z space is slerped on the host; w space maps both latents and lerps w
 * (lerp.comp); params space also runs heads and weights for both and lerps s and W.
 * Features and rgb are pixel-major ([pixel][channel]) so that any band of rows is one
 * contiguous range: every descriptor window stays within maxStorageBufferRange by splitting
 * dispatches into image groups, or for very large levels into row bands of one image.
 *
 * Uploaded once and cached while unchanged: the model (mapping, affine heads, shared weights
 * and biases; fp32) and the plan's embeddings (computed on the host by ig_embed_level, stored
 * pixel-major in the storage precision).
 */
#include "vk_inrgan.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed.h"
#include "lower.h"
#include "model.h"
#include "records/level.h"
#include "records/norm.h"
#include "records/wgen.h"
#include "safetensors.h"

static uint64_t ig__plan_fp(const ig_plan *p, uint64_t model_fp, bool f16) {
    uint64_t h = ig__vk_fnv(1469598103934665603ull, &model_fp, sizeof model_fp);
    h = ig__vk_fnv(h, &f16, sizeof f16);
    h = ig__vk_fnv(h, &p->n_levels, sizeof p->n_levels);
    int cm = (int)p->const_mode;
    h = ig__vk_fnv(h, &cm, sizeof cm);
    for (int l = 0; l < p->n_levels; l++) {
        const ig_level_plan *lp = &p->levels[l];
        int dims[4] = {lp->width, lp->height, lp->full_width, lp->full_height};
        h = ig__vk_fnv(h, dims, sizeof dims);
        h = ig__vk_fnv(h, lp->xs, (size_t)lp->width * sizeof *lp->xs);
        h = ig__vk_fnv(h, lp->ys, (size_t)lp->height * sizeof *lp->ys);
        if (lp->cols) h = ig__vk_fnv(h, lp->cols, (size_t)lp->width * sizeof *lp->cols);
        if (lp->rows) h = ig__vk_fnv(h, lp->rows, (size_t)lp->height * sizeof *lp->rows);
        if (l > 0 && lp->r0) {
            h = ig__vk_fnv(h, lp->r0, (size_t)lp->height * sizeof *lp->r0);
            h = ig__vk_fnv(h, lp->c0, (size_t)lp->width * sizeof *lp->c0);
            h = ig__vk_fnv(h, lp->rw, (size_t)lp->height * sizeof *lp->rw);
            h = ig__vk_fnv(h, lp->cw, (size_t)lp->width * sizeof *lp->cw);
        }
    }
    return h;
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

/* The family's release (vk_backend.c's table): the cached model and plans. */
void ig__vk_inrgan_release(ig_vk_context *ctx) {
    ig__plan_free(ctx, ctx->plan);
    ctx->plan = NULL;
    ig__plan_free(ctx, ctx->plan_stats);
    ctx->plan_stats = NULL;
    ig__model_free(ctx, ctx->model);
    ctx->model = NULL;
}

/* The op list in model order (the CPU backend's order). */
static uint32_t ig__pad16(uint32_t v) { return (v + 15u) / 16u * 16u; }

static ig_result ig__model_ops(const ig_vk_context *ctx, const ig_model *m, ig__vk_model *vm,
                               ig_error *err) {
    const ig_config *c = &m->cfg;
    ig_lowering *lw = malloc(sizeof *lw);
    if (!lw) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "model ops");
    ig_lower(c, lw);
    /* the coopmat kernel keeps two [16][xs] fp16 tiles in shared memory */
    uint32_t xs = 16;
    for (int q = 0; q < lw->n_ops; q++) {
        const ig_lop *lo = &lw->ops[q];
        uint32_t w = (uint32_t)(lo->c_x > lo->c_out ? lo->c_x : lo->c_out) + (uint32_t)lo->c_e;
        if (lo->kind != IG_LOP_TORGB && ig__pad16(w) > xs) xs = ig__pad16(w);
    }
    vm->xs = xs;
    vm->coop = ctx->coopmat &&
               2ull * 16 * xs * 2 + 256 * 4 + 48 * 4 <= ctx->props.limits.maxComputeSharedMemorySize;
    ig_result res = IG_OK;
    int n = 0;
    uint32_t gw = 0, rn = 0;
    vm->cmax = 1;
    vm->emax = 1;
    for (int q = 0; q < lw->n_ops && res == IG_OK; q++) {
        const ig_lop *lo = &lw->ops[q];
        const ig_layer *L = ig_lower_layer(m, lo);
        if (n >= IG__MAX_OPS || !L) {
            res = ig_error_set(err, IG_ERR_UNSUPPORTED, "too many layers");
            break;
        }
        ig__vk_op *op = &vm->ops[n++];
        memset(op, 0, sizeof *op);
        op->block = lo->block;
        op->level = lo->level;
        op->L = L;
        op->s_off = (uint32_t)lo->s_off;
        op->s_len = (uint32_t)lo->s_len;
        if (lo->kind != IG_LOP_TORGB) {
            op->type = IG__OP_FMM;
            op->c_x = lo->c_x;
            op->c_e = lo->c_e;
            op->c_out = L->c_out;
            op->in_norm = lo->in_norm;
            op->inv_off = (uint32_t)lo->inv_off;
            if (L->c_in != lo->c_in || L->c_out != lo->c_out)
                res = ig_error_set(err, IG_ERR_UNSUPPORTED, "block %s: layer input %d != %d + %d",
                                   c->blocks[lo->block].name, L->c_in, lo->c_x, lo->c_e);
            op->gw_off = gw;
            op->kpad = ig__pad16((uint32_t)L->c_in);
            op->npad = ig__pad16((uint32_t)L->c_out);
            gw += vm->coop ? op->kpad * op->npad : (uint32_t)(L->c_in * L->c_out);
            op->rn_off = rn;
            rn += (uint32_t)L->c_out;
            op->head_wgain = (float)(1.0 / sqrt((double)c->w_dim));
            op->head_bgain = 1.0f;
            if (lo->c_x > vm->cmax) vm->cmax = lo->c_x;
            if (L->c_out > vm->cmax) vm->cmax = L->c_out;
            if (lo->c_e > vm->emax) vm->emax = lo->c_e;
        } else {
            op->type = IG__OP_TORGB;
            op->c_x = L->c_in;
            op->c_out = 3;
            double g = 1.0 / sqrt((double)L->c_in);
            op->head_wgain = (float)(g / sqrt((double)c->w_dim));
            op->head_bgain = (float)g;
        }
    }
    /* array sizes of the level kernel: powers of two (>= 32), so that models of similar
     * width share one pipeline (fewer driver compilations) */
    int cm = 32, em = 32;
    while (cm < vm->cmax) cm *= 2;
    while (em < vm->emax) em *= 2;
    vm->cmax = cm;
    vm->emax = em;
    vm->n_ops = n;
    vm->inv_len = (uint32_t)lw->inv_len;
    vm->s_stride = (uint32_t)lw->s_stride;
    vm->gw_stride = gw;
    vm->rn_stride = rn;
    free(lw);
    return res;
}

static ig_result ig__model_upload(ig_vk_context *ctx, const ig_model *m, uint64_t fp,
                                  ig_error *err) {
    const ig_config *c = &m->cfg;
    ig_vk_uploads ups = {0};
    ig__vk_model *vm = calloc(1, sizeof *vm);
    if (!vm) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "model upload");
    vm->fp = fp;
    vm->arena.device = true;
    ig_result res = ig__model_ops(ctx, m, vm, err);
    if (res != IG_OK) goto done;

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
        if (res != IG_OK) goto done;
    } else {
        vm->arena.block_size = 256ull << 20;
    }

    /* mapping: W_0 b_0 W_1 b_1 ... w_avg */
    res = ig__vk_arena_alloc(ctx, &vm->arena, map_floats * 4, &vm->map, err);
    if (res != IG_OK) goto done;
    float *p;
    res = ig__vk_upload_ptr(ctx, &ups, &vm->map, 0, map_floats * 4, (void **)&p, err);
    if (res != IG_OK) goto done;
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
    if (res != IG_OK) goto done;
    res = ig__vk_upload_ptr(ctx, &ups, &vm->params, 0, params * 4, (void **)&p, err);
    if (res != IG_OK) goto done;
    for (int k = 0; k < vm->n_ops; k++) {
        const ig__vk_op *op = &vm->ops[k];
        memcpy(p + op->ws_off, op->L->weight->data, (size_t)op->L->weight->numel * 4);
        memcpy(p + op->b_off, op->L->bias->data, (size_t)op->L->bias->numel * 4);
    }
    for (int k = 0; k < vm->n_ops; k++) {
        ig__vk_op *op = &vm->ops[k];
        uint64_t wn = (uint64_t)op->s_len * c->w_dim;
        res = ig__vk_arena_alloc(ctx, &vm->arena, (wn + op->s_len) * 4, &op->head, err);
        if (res != IG_OK) goto done;
        res = ig__vk_upload_ptr(ctx, &ups, &op->head, 0, (wn + op->s_len) * 4, (void **)&p, err);
        if (res != IG_OK) goto done;
        memcpy(p, op->L->affine_w->data, (size_t)wn * 4);
        memcpy(p + wn, op->L->affine_b->data, (size_t)op->s_len * 4);
    }
done:
    res = ig__vk_uploads_end(ctx, &ups, res, err);
    if (res == IG_OK)
        ctx->model = vm;
    else
        ig__model_free(ctx, vm);
    return res;
}

static ig_result ig__plan_upload(ig_vk_context *ctx, const ig_model *m, const ig_plan *plan,
                                 uint64_t fp, ig__vk_plan **out, ig_error *err) {
    ig_vk_uploads ups = {0};
    ig__vk_plan *vp = calloc(1, sizeof *vp);
    float *tmp = NULL;
    if (!vp) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "plan upload");
    vp->fp = fp;
    vp->arena.device = true;
    vp->n_levels = plan->n_levels;
    vp->gemm = ig__vk_gemm_model(ctx, &m->cfg, ctx->model);
    vp->gemm_only = m->cfg.upsampling != IG_UP_NEAREST || m->cfg.instance_norm;
    ig_result res = IG_OK;
    uint32_t es = ctx->fp16 ? 2 : 4;
    uint64_t total = 0;
    for (int l = 0; l < plan->n_levels; l++) { /* the gemm kernel's tile set per level */
        uint64_t px = (uint64_t)plan->levels[l].width * plan->levels[l].height;
        vp->tile[l] = vp->gemm ? ig__vk_gemm_level_tile(ctx, ctx->model, l, px) : IG__TILE_SMALL;
        if (vp->tile[l] < 0) vp->gemm = false;
    }
    for (int l = 0; l < plan->n_levels; l++) {
        vp->w[l] = plan->levels[l].width;
        vp->h[l] = plan->levels[l].height;
        vp->ce[l] = ig_embed_channels(m, l);
        if (!vp->gemm) vp->tile[l] = IG__TILE_SMALL;
        vp->pp[l] = ig__pad_tile((uint64_t)vp->w[l] * vp->h[l], vp->tile[l]);
        total += (uint64_t)vp->w[l] * vp->h[l] * (uint64_t)vp->ce[l] * es + ctx->align;
        if (vp->gemm) total += (uint64_t)vp->pp[l] * vp->ce[l] * es + ctx->align;
        if (l > 0) total += ((uint64_t)vp->w[l] + vp->h[l]) * 16 + ctx->align;
    }
    if (total <= ctx->max_alloc) {
        res = ig__vk_arena_reserve(ctx, &vp->arena, total, err);
        if (res != IG_OK) goto done;
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
            goto done;
        }
        memcpy(vp->r0[l], lp->r0, nh * sizeof(int));
        memcpy(vp->r1[l], lp->r1, nh * sizeof(int));
        res = ig__vk_arena_alloc(ctx, &vp->arena, (nh + nw) * 16, &vp->maps[l], err);
        if (res != IG_OK) goto done;
        uint32_t *q;
        res = ig__vk_upload_ptr(ctx, &ups, &vp->maps[l], 0, (nh + nw) * 16, (void **)&q, err);
        if (res != IG_OK) goto done;
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
            goto done;
        }
        res = ig_embed_level(m, plan, l, tmp, err);
        if (res != IG_OK) goto done;
        res = ig__vk_arena_alloc(ctx, &vp->arena, px * ce * es, &vp->emb[l], err);
        if (res != IG_OK) goto done;
        void *dst;
        res = ig__vk_upload_ptr(ctx, &ups, &vp->emb[l], 0, px * ce * es, &dst, err);
        if (res != IG_OK) goto done;
        /* [C][H*W] -> [H*W][C] */
        for (size_t q = 0; q < px; q++)
            for (size_t k = 0; k < ce; k++) {
                float v = tmp[k * px + q];
                if (es == 2)
                    ((uint16_t *)dst)[q * ce + k] = ig_float_to_half(v);
                else
                    ((float *)dst)[q * ce + k] = v;
            }
        if (vp->gemm) { /* [C][H*W] as is, rows padded to pp with zeros */
            size_t pp = vp->pp[l];
            res = ig__vk_arena_alloc(ctx, &vp->arena, pp * ce * es, &vp->emb_cm[l], err);
            if (res != IG_OK) goto done;
            res = ig__vk_upload_ptr(ctx, &ups, &vp->emb_cm[l], 0, pp * ce * es, &dst, err);
            if (res != IG_OK) goto done;
            memset(dst, 0, pp * ce * es);
            for (size_t k = 0; k < ce; k++)
                for (size_t q = 0; q < px; q++) {
                    float v = tmp[k * px + q];
                    if (es == 2)
                        ((uint16_t *)dst)[k * pp + q] = ig_float_to_half(v);
                    else
                        ((float *)dst)[k * pp + q] = v;
                }
        }
        free(tmp);
        tmp = NULL;
        /* one level at a time, so the staging memory stays one level's size */
        res = ig__vk_flush_uploads(ctx, &ups, err);
        if (res != IG_OK) goto done;
    }
done:
    free(tmp);
    res = ig__vk_uploads_end(ctx, &ups, res, err);
    if (res == IG_OK)
        *out = vp;
    else
        ig__plan_free(ctx, vp);
    return res;
}

/* ---- the dispatch list (planned here, recorded by vk_disp.c) ------------------------------- */

/* The coopmat kernel's workgroup is one subgroup (NV cooperative matrices are per subgroup). */
static uint32_t ig__coop_wg(const ig_vk_context *ctx) {
    uint32_t sg = ctx->info.subgroup_size;
    if (ctx->coop_emu || sg < 8 || sg > ctx->props.limits.maxComputeWorkGroupSize[0]) sg = 32;
    return sg;
}

/* ---- per-render layout --------------------------------------------------------------------- */

static ig_result ig__sections(const ig__vk_model *vm, const ig__vk_plan *vp, ig__work *wk,
                              int pass, ig_error *err) {
    int n = 0, k = 0, cur_feat = -1, cur_rgb = -1;
    for (int l = 0; l < vp->n_levels; l++) {
        int first = k;
        while (k < vm->n_ops && vm->ops[k].level == l) k++;
        if (k == first) return ig_error_set(err, IG_ERR_UNSUPPORTED, "level %d has no layers", l);
        int a = first;
        while (a < k) {
            int b = a + 1;
            while (b < k && !(vm->ops[b].type == IG__OP_FMM && vm->ops[b].in_norm)) b++;
            ig__section *s = &wk->sec[pass][n];
            memset(s, 0, sizeof *s);
            s->level = l;
            s->op0 = a;
            s->op1 = b;
            if (a == first) {
                s->in_mode = l == 0 ? IG__IN_NONE : IG__IN_UP; /* through the plan's maps */
                s->rgb_mode = s->in_mode;
                s->rin = cur_rgb;
                s->rout = cur_rgb < 0 ? 0 : 1 - cur_rgb;
                cur_rgb = s->rout;
            } else {
                s->in_mode = IG__IN_SAME;
                s->rgb_mode = IG__IN_SAME;
                s->rin = s->rout = cur_rgb; /* in place: each pixel reads then writes itself */
            }
            s->c_fin = s->in_mode == IG__IN_NONE ? 0 : vm->ops[a].c_x;
            s->fin = s->in_mode == IG__IN_NONE ? -1 : cur_feat;
            int cx = s->c_fin;
            for (int q = a; q < b; q++)
                if (vm->ops[q].type == IG__OP_FMM) cx = vm->ops[q].c_out;
            s->c_fout = cx;
            s->store = b < k || l + 1 < vp->n_levels;
            s->norm_next = b < k;
            s->fout = s->store ? (cur_feat < 0 ? 0 : 1 - cur_feat) : -1;
            if (s->store) cur_feat = s->fout;
            n++;
            a = b;
        }
    }
    if (k != vm->n_ops)
        return ig_error_set(err, IG_ERR_UNSUPPORTED, "blocks beyond the plan's %d levels",
                            vp->n_levels);
    wk->n_sec[pass] = n;
    return IG_OK;
}

/* Per-image bytes of the work buffers (sizes from the sections of both passes). */
static uint64_t ig__work_sizes(const ig_vk_context *ctx, const ig_config *c,
                               const ig__vk_model *vm, ig__work *wk) {
    uint64_t es = wk->es;
    if (!wk->gemm) wk->feat_img = wk->rgb_img = wk->part_img = 0; /* gemm: ig__gemm_layout */
    for (int pass = 0; pass < 2; pass++) {
        /* gemm: its statistics pass runs the per-pixel kernel in the same buffers */
        if (wk->gemm && !(pass == IG__PASS_STATS && wk->stats)) continue;
        const ig__vk_plan *vp = wk->vp[pass];
        for (int i = 0; i < wk->n_sec[pass]; i++) {
            const ig__section *s = &wk->sec[pass][i];
            uint64_t px = (uint64_t)vp->w[s->level] * vp->h[s->level];
            if (s->store && px * s->c_fout * es > wk->feat_img) wk->feat_img = px * s->c_fout * es;
            if (px * 12 > wk->rgb_img) wk->rgb_img = px * 12;
            if (s->norm_next) {
                uint64_t pb = (uint64_t)vp->h[s->level] * s->c_fout * 8;
                if (pb > wk->part_img) wk->part_img = pb;
            }
        }
    }
    wk->inv_img = (uint64_t)vm->inv_len * 4;
    uint64_t a = ctx->align;
    uint64_t gw = wk->fused ? (uint64_t)vm->rn_stride * 4 : (uint64_t)vm->gw_stride * es;
    return (uint64_t)c->z_dim * 4 * wk->mz + 2ull * c->w_dim * 4 * wk->mz +
           (uint64_t)vm->s_stride * 4 * wk->mw + gw * wk->mw + 2 * wk->feat_img +
           2 * wk->rgb_img + wk->part_img + wk->inv_img + 14 * a; /* alignment slack */
}

/* ---- planning the dispatches ------------------------------------------------------------------ */

/* Per FMM / ToRGB layer, its affine head of w: s[n][s_off ...] (one fc.comp layer each). */
static void ig__plan_heads(ig__vk_builder *b, const ig__chunk *ch) {
    const ig__vk_model *vm = ch->vm;
    ig__work *wk = ch->wk;
    uint32_t in = (uint32_t)ch->c->w_dim;
    for (int q = 0; q < vm->n_ops; q++) {
        const ig__vk_op *op = &vm->ops[q];
        ig__vk_fc fc = {.in_dim = in, .rows = op->s_len, .n = (uint32_t)(ch->B * wk->mw),
                        .wgain = op->head_wgain, .bgain = op->head_bgain,
                        .w = &op->head, .bias = &op->head, .b_off = (uint64_t)op->s_len * in,
                        .x = &wk->h[wk->w_buf], .x_stride = in, .y = &wk->s, .y_off = op->s_off,
                        .y_stride = vm->s_stride, .group = ch->kv};
        ig__vk_plan_fc(b, &fc);
    }
}

/* wgen.comp's WG_RS (specialization constant 0): the floats of R it stages at once, what the
 * device's shared memory holds beside its other 2,080 floats and 32 spare, at most 8,192 (the
 * whole R of every FFHQ / churches layer), a multiple of 32: 1,984 with Vulkan's minimum
 * 16 KiB, 6,080 with lavapipe's 32 KiB, 8,192 with 48 KiB. */
static uint32_t ig__wgen_rs(const ig_vk_context *ctx) {
    uint64_t fl = ctx->props.limits.maxComputeSharedMemorySize / 4;
    uint64_t rs = fl >= 2112 + 32 ? (fl - 2112) & ~31ull : 32;
    return (uint32_t)(rs > 8192 ? 8192 : rs);
}

static void ig__plan_wgen(ig__vk_builder *b, const ig__chunk *ch) {
    const ig_config *c = ch->c;
    const ig__vk_model *vm = ch->vm;
    ig__work *wk = ch->wk;
    const ig_vk_context *ctx = b->ctx;
    bool fused = wk->fused;
    uint32_t es = fused ? 4 : wk->es;
    int shader = fused ? IG_SH_WNORM : (wk->es == 2 ? IG_SH_WGEN_F16 : IG_SH_WGEN);
    uint64_t ss = vm->s_stride;
    uint64_t os = fused ? vm->rn_stride : vm->gw_stride;
    int N = ch->B * wk->mw;
    for (int q = 0; q < vm->n_ops; q++) {
        const ig__vk_op *op = &vm->ops[q];
        if (op->type != IG__OP_FMM) continue;
        uint32_t wrow = (uint32_t)(op->c_x + op->c_e), cout = (uint32_t)op->c_out;
        uint32_t ostride = vm->coop ? op->kpad : wrow;
        uint32_t rows_max = (uint32_t)(ctx->range / ((uint64_t)wrow * 4));
        if (!fused && (uint64_t)ostride * es * rows_max > ctx->range)
            rows_max = (uint32_t)(ctx->range / ((uint64_t)ostride * es));
        if (rows_max > cout) rows_max = cout;
        for (uint32_t o0 = 0; o0 < cout; o0 += rows_max) {
            uint32_t rows = cout - o0 < rows_max ? cout - o0 : rows_max;
            for (int n0 = 0; n0 < N; n0 += (int)ch->kv) {
                uint32_t k = ig__vk_min32((uint64_t)(N - n0), ch->kv);
                ig__vk_disp *d;
                uint32_t *m = ig__vk_disp_new(b, shader, IGR_WGEN_WORDS, &d);
                if (!m) return;
                m[IGR_WGEN_wrow] = wrow;
                m[IGR_WGEN_cout] = cout;
                m[IGR_WGEN_n_img] = k;
                m[IGR_WGEN_rank] = (uint32_t)c->rank;
                m[IGR_WGEN_isr] = ig__vk_fbits((float)(1.0 / sqrt((double)c->rank)));
                m[IGR_WGEN_ws_base] = ig__vk_bind(b, d, 1, &ch->vm->params,
                                                  ((uint64_t)op->ws_off + (uint64_t)o0 * wrow) * 4,
                                                  (uint64_t)rows * wrow * 4, 4);
                m[IGR_WGEN_s_base] = ig__vk_bind(b, d, 2, &wk->s,
                                                 ((uint64_t)n0 * ss + op->s_off) * 4,
                                                 ((uint64_t)(k - 1) * ss + op->s_len) * 4, 4);
                m[IGR_WGEN_s_stride] = (uint32_t)ss;
                if (fused) {
                    m[IGR_WGEN_out_base] = ig__vk_bind(b, d, 3, &wk->gw,
                                                       ((uint64_t)n0 * os + op->rn_off + o0) * 4,
                                                       ((uint64_t)(k - 1) * os + rows) * 4, 4);
                } else {
                    m[IGR_WGEN_out_base] = ig__vk_bind(b, d, 3, &wk->gw,
                            ((uint64_t)n0 * os + op->gw_off + (uint64_t)o0 * ostride) * es,
                            ((uint64_t)(k - 1) * os + (uint64_t)rows * ostride) * es, es);
                }
                m[IGR_WGEN_out_stride] = (uint32_t)os;
                m[IGR_WGEN_o0] = o0;
                m[IGR_WGEN_rows] = rows;
                m[IGR_WGEN_out_row_stride] = vm->coop ? ostride : 0;
                d->spec[0] = ig__wgen_rs(ctx); /* 32 rows of one image per workgroup */
                d->gx = ig__vk_groups(rows, 32);
                d->gy = k;
            }
        }
    }
}

/* The section's slices of the per-image factor vector s and of the generated weights (or row
 * norms): its ops are consecutive, so each is one contiguous range per image. */
typedef struct ig__slices {
    uint32_t s0, s_len, g0, g_len; /* elements */
} ig__slices;

static ig__slices ig__section_slices(const ig__work *wk, const ig__vk_model *vm,
                                     const ig__section *sec) {
    ig__slices sl = {UINT32_MAX, 0, UINT32_MAX, 0};
    uint32_t s_end = 0, g_end = 0;
    for (int q = sec->op0; q < sec->op1; q++) {
        const ig__vk_op *op = &vm->ops[q];
        if (op->s_off < sl.s0) sl.s0 = op->s_off;
        if (op->s_off + op->s_len > s_end) s_end = op->s_off + op->s_len;
        if (op->type != IG__OP_FMM) continue;
        uint32_t g = wk->fused ? op->rn_off : op->gw_off;
        uint32_t gl = wk->fused  ? (uint32_t)op->c_out
                      : vm->coop ? op->kpad * op->npad
                                 : (uint32_t)(op->c_out * (op->c_x + op->c_e));
        if (g < sl.g0) sl.g0 = g;
        if (g + gl > g_end) g_end = g + gl;
    }
    sl.s_len = s_end - sl.s0;
    if (sl.g0 == UINT32_MAX) sl.g0 = 0; /* a section of ToRGB only */
    sl.g_len = g_end > sl.g0 ? g_end - sl.g0 : 0;
    return sl;
}

typedef struct ig__tiling {
    uint32_t k;    /* images per group (full rows), or 1 with bands */
    uint32_t band; /* rows per band (H when not banded) */
} ig__tiling;

/* Chooses image groups (all rows) or, when one image does not fit, row bands of one image so
 * that every window of a section dispatch (and its norm passes) fits the storage range. */
static ig_result ig__tile_section(const ig__chunk *ch, const ig__vk_plan *vp,
                                  const ig__section *s, const ig__slices *sl, ig__tiling *t,
                                  ig_error *err) {
    const ig_vk_context *ctx = ch->ctx;
    const ig__vk_model *vm = ch->vm;
    const ig__work *wk = ch->wk;
    uint64_t R = ctx->range, es = wk->es;
    int l = s->level;
    uint32_t H = (uint32_t)vp->h[l], W = (uint32_t)vp->w[l];
    uint32_t Wi = s->in_mode == IG__IN_SAME ? W : (l > 0 ? (uint32_t)vp->w[l - 1] : 0);
    uint32_t Hi = s->in_mode == IG__IN_SAME ? H : (l > 0 ? (uint32_t)vp->h[l - 1] : 0);
    uint64_t ce = (uint64_t)vm->ops[s->op0].c_e;
    uint64_t gw = (uint64_t)sl->g_len * (wk->fused ? 4 : es);
    uint64_t fixed[] = {(uint64_t)sl->s_len * 4, gw, wk->inv_img, (uint64_t)W * 16,
                        s->norm_next ? (uint64_t)H * s->c_fout * 8 : 0};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (fixed[i] > R)
            return ig_error_set(err, IG_ERR_OUT_OF_DEVICE_MEMORY,
                                "per-image data of %" PRIu64 " bytes exceeds the storage buffer "
                                "range of %s (%" PRIu64 " bytes); try a smaller --size or --tile",
                                fixed[i], ctx->info.name, (uint64_t)R);
    uint64_t gstride = wk->fused ? (uint64_t)vm->rn_stride * 4 : (uint64_t)vm->gw_stride * es;
    uint64_t per[] = {s->in_mode == IG__IN_NONE ? 0 : wk->feat_img, s->store ? wk->feat_img : 0,
                      wk->rgb_img, (uint64_t)vm->s_stride * 4, gstride, wk->inv_img,
                      s->norm_next ? wk->part_img : 0};
    uint64_t mx = 1;
    for (size_t i = 0; i < sizeof per / sizeof per[0]; i++)
        if (per[i] > mx) mx = per[i];
    uint64_t max_px = (uint64_t)ctx->props.limits.maxComputeWorkGroupCount[0] *
                      (vm->coop ? 16u : IG_VK_WG);
    if ((uint64_t)H * W * ce * es <= R && mx <= R && (uint64_t)H * W <= max_px &&
        (uint64_t)H * 16 <= R) {
        uint64_t k = R / mx;
        t->k = ig__vk_min32(k, (uint64_t)ch->B);
        if (t->k > ch->kv) t->k = ch->kv;
        t->band = H;
        return IG_OK;
    }
    /* one image at a time: whole when it fits, else bands of rows */
    t->k = 1;
    for (uint32_t rows = H; rows >= 1; rows--) {
        uint32_t in_n = s->in_mode == IG__IN_SAME ? rows : rows + 1; /* <= 2 taps, monotone */
        if (in_n > Hi) in_n = Hi;
        uint64_t need[] = {(uint64_t)rows * W * ce * es,
                           s->in_mode == IG__IN_NONE ? 0 : (uint64_t)in_n * Wi * s->c_fin * es,
                           s->store ? (uint64_t)rows * W * s->c_fout * es : 0,
                           (uint64_t)in_n * Wi * 12, (uint64_t)rows * W * 12, (uint64_t)rows * 16,
                           s->norm_next ? (uint64_t)rows * s->c_fout * 8 : 0};
        bool ok = (uint64_t)rows * W <= max_px;
        for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
            if (need[i] > R) ok = false;
        if (ok) {
            t->band = rows;
            return IG_OK;
        }
    }
    return ig_error_set(err, IG_ERR_OUT_OF_DEVICE_MEMORY,
                        "one row of level %d (%u pixels) exceeds the storage buffer range of %s "
                        "(%" PRIu64 " bytes)",
                        l, W, ctx->info.name, (uint64_t)R);
}

/* The levels of one pass: pass IG__PASS_STATS runs the native statistics plan and keeps only
 * the instance-norm factors; IG__PASS_RENDER runs the render's plan (with its own norm passes
 * when there was no statistics pass). */
static ig_result ig__plan_levels(ig__vk_builder *b, const ig__chunk *ch, int pass, ig_error *err) {
    const ig__vk_model *vm = ch->vm;
    ig__work *wk = ch->wk;
    const ig__vk_plan *vp = wk->vp[pass];
    ig_vk_context *ctx = b->ctx;
    const ig_config *c = ch->c;
    uint32_t es = wk->es;
    bool fused = wk->fused;
    bool own_norm = pass == IG__PASS_STATS || !wk->stats;
    int shader = fused ? (es == 2 ? IG_SH_LEVEL_FUSED_F16 : IG_SH_LEVEL_FUSED)
                       : (es == 2 ? IG_SH_LEVEL_F16 : IG_SH_LEVEL);
    if (vm->coop) shader = ctx->coop_emu ? IG_SH_LEVEL_COOP_EMU : IG_SH_LEVEL_COOP;
    uint32_t px_per_group = vm->coop ? 16u : IG_VK_WG;
    uint64_t ss = vm->s_stride;
    uint64_t gs = fused ? vm->rn_stride : vm->gw_stride;
    uint32_t ges = fused ? 4 : es;
    uint64_t is = vm->inv_len;

    for (int si = 0; si < wk->n_sec[pass]; si++) {
        const ig__section *s = &wk->sec[pass][si];
        ig__slices sl = ig__section_slices(wk, vm, s);
        ig__tiling t = {1, 1};
        ig_result res = ig__tile_section(ch, vp, s, &sl, &t, err);
        if (res != IG_OK) return res;

        /* the section's shared weights and biases: one contiguous range of params, bound as
         * its own window; op records with offsets relative to it (same for every dispatch) */
        const ig__vk_op *last_op = &vm->ops[s->op1 - 1];
        uint32_t p0 = vm->ops[s->op0].ws_off;
        uint64_t p_len = (uint64_t)last_op->b_off + (uint64_t)last_op->L->bias->numel - p0;
        if (p_len * 4 > ctx->range)
            return ig_error_set(err, IG_ERR_UNSUPPORTED,
                                "the shared weights of level %d (%" PRIu64 " bytes) exceed the "
                                "storage buffer range of %s (%" PRIu64 " bytes)",
                                s->level, p_len * 4, ctx->info.name, (uint64_t)ctx->range);
        uint32_t n_ops = (uint32_t)(s->op1 - s->op0);
        uint32_t op_rec[IGR_LEVEL_OP_WORDS * IG__MAX_OPS];
        for (int q = s->op0; q < s->op1; q++) {
            const ig__vk_op *op = &vm->ops[q];
            uint32_t *m = op_rec + IGR_LEVEL_OP_WORDS * (uint32_t)(q - s->op0);
            memset(m, 0, IGR_LEVEL_OP_WORDS * sizeof *m);
            m[IGR_LEVEL_OP_kind] = (uint32_t)op->type;
            m[IGR_LEVEL_OP_c_x] = (uint32_t)op->c_x;
            m[IGR_LEVEL_OP_c_e] = (uint32_t)op->c_e;
            m[IGR_LEVEL_OP_c_out] = (uint32_t)op->c_out;
            m[IGR_LEVEL_OP_gw_off] = op->gw_off - sl.g0;
            m[IGR_LEVEL_OP_b_off] = op->b_off - p0;
            m[IGR_LEVEL_OP_in_norm] = op->in_norm ? 1u : 0u;
            m[IGR_LEVEL_OP_s_off] = op->s_off - sl.s0;
            m[IGR_LEVEL_OP_rn_off] = op->rn_off - sl.g0;
            m[IGR_LEVEL_OP_ws_off] = op->ws_off - p0;
            m[IGR_LEVEL_OP_kpad] = op->kpad;
            m[IGR_LEVEL_OP_npad] = op->npad;
            m[IGR_LEVEL_OP_inv_off] = op->inv_off;
        }
        int l = s->level;
        b->level_tag = l + 1; /* per-phase device time (vk_disp.c) */
        uint32_t H = (uint32_t)vp->h[l], W = (uint32_t)vp->w[l];
        bool up = s->in_mode == IG__IN_UP;
        uint32_t Hi = up ? (uint32_t)vp->h[l - 1] : H, Wi = up ? (uint32_t)vp->w[l - 1] : W;
        uint64_t fimg = wk->feat_img / es, rimg = wk->rgb_img / 4; /* per-image strides */
        uint32_t ce = (uint32_t)vm->ops[s->op0].c_e;

        for (int n0 = 0; n0 < ch->B; n0 += (int)t.k) {
            uint32_t k = ig__vk_min32((uint64_t)(ch->B - n0), t.k);
            for (uint32_t r0 = 0; r0 < H; r0 += t.band) {
                uint32_t rows = H - r0 < t.band ? H - r0 : t.band;
                /* this dispatch's records: the section's ops, then the dispatch record */
                ig__vk_disp *d;
                uint32_t *m = ig__vk_disp_new(b, shader,
                                              IGR_LEVEL_OP_WORDS * n_ops + IGR_LEVEL_WORDS, &d);
                if (!m) return IG_OK; /* b->oom reported by the caller */
                uint32_t start = d->meta_start;
                memcpy(m, op_rec, IGR_LEVEL_OP_WORDS * n_ops * sizeof *op_rec);
                d->rec = start + IGR_LEVEL_OP_WORDS * n_ops;
                m += IGR_LEVEL_OP_WORDS * n_ops;
                if (vm->coop) {
                    d->spec[0] = ig__coop_wg(ctx);
                    d->spec[1] = vm->xs;
                    d->n_spec = 2;
                } else {
                    d->spec[1] = (uint32_t)vm->cmax;
                    d->spec[2] = (uint32_t)vm->emax;
                    d->n_spec = 3;
                }
                m[IGR_LEVEL_op_first] = ig__vk_meta_rel(b, start, start);
                m[IGR_LEVEL_op_count] = n_ops;
                m[IGR_LEVEL_in_mode] = (uint32_t)s->in_mode;
                m[IGR_LEVEL_rgb_mode] = (uint32_t)s->rgb_mode;
                m[IGR_LEVEL_store_feat] = s->store ? 1u : 0u;
                m[IGR_LEVEL_c_fin] = (uint32_t)s->c_fin;
                m[IGR_LEVEL_c_fout] = (uint32_t)s->c_fout;
                m[IGR_LEVEL_c_emb] = ce;
                m[IGR_LEVEL_h] = H;
                m[IGR_LEVEL_w] = W;
                m[IGR_LEVEL_hc] = Hi;
                m[IGR_LEVEL_wc] = Wi;
                m[IGR_LEVEL_row0] = r0;
                m[IGR_LEVEL_rows] = rows;
                m[IGR_LEVEL_n_img] = k;
                m[IGR_LEVEL_params_base] = ig__vk_bind(b, d, 1, &vm->params, (uint64_t)p0 * 4,
                                                       p_len * 4, 4);
                m[IGR_LEVEL_s_base] = ig__vk_bind(b, d, 2, &wk->s, ((uint64_t)n0 * ss + sl.s0) * 4,
                                                  ((uint64_t)(k - 1) * ss + sl.s_len) * 4, 4);
                m[IGR_LEVEL_s_stride] = (uint32_t)ss;
                if (sl.g_len > 0)
                    m[IGR_LEVEL_gw_base] = ig__vk_bind(b, d, 3, &wk->gw,
                                                       ((uint64_t)n0 * gs + sl.g0) * ges,
                                                       ((uint64_t)(k - 1) * gs + sl.g_len) * ges,
                                                       ges);
                else
                    ig__vk_bind_dummy(b, d, 3);
                m[IGR_LEVEL_gw_stride] = (uint32_t)gs;
                if (ce > 0)
                    m[IGR_LEVEL_e_base] = ig__vk_bind(b, d, 4, &vp->emb[l],
                                                      (uint64_t)r0 * W * ce * es,
                                                      (uint64_t)rows * W * ce * es, es);
                else
                    ig__vk_bind_dummy(b, d, 4);
                if (s->in_mode != IG__IN_NONE) {
                    /* input rows of the band: through the row map, or the same rows */
                    uint32_t i0 = r0, i1 = r0 + rows - 1;
                    if (up) {
                        i0 = UINT32_MAX;
                        i1 = 0;
                        for (uint32_t i = r0; i < r0 + rows; i++) {
                            if ((uint32_t)vp->r0[l][i] < i0) i0 = (uint32_t)vp->r0[l][i];
                            if ((uint32_t)vp->r1[l][i] > i1) i1 = (uint32_t)vp->r1[l][i];
                        }
                    }
                    if (t.band == H) { /* whole images: whole input grids */
                        i0 = 0;
                        i1 = Hi - 1;
                    }
                    uint32_t in_n = i1 - i0 + 1;
                    m[IGR_LEVEL_in_row0] = i0;
                    m[IGR_LEVEL_fin_base] = ig__vk_bind(b, d, 5, &wk->feat[s->fin],
                            ((uint64_t)n0 * fimg + (uint64_t)i0 * Wi * s->c_fin) * es,
                            ((uint64_t)(k - 1) * fimg + (uint64_t)in_n * Wi * s->c_fin) * es, es);
                    m[IGR_LEVEL_fin_stride] = (uint32_t)fimg;
                    m[IGR_LEVEL_rin_row0] = i0;
                    m[IGR_LEVEL_rin_base] = ig__vk_bind(b, d, 7, &wk->rgb[s->rin],
                            ((uint64_t)n0 * rimg + (uint64_t)i0 * Wi * 3) * 4,
                            ((uint64_t)(k - 1) * rimg + (uint64_t)in_n * Wi * 3) * 4, 4);
                    m[IGR_LEVEL_rin_stride] = (uint32_t)rimg;
                } else {
                    ig__vk_bind_dummy(b, d, 5);
                    ig__vk_bind_dummy(b, d, 7);
                }
                if (up) {
                    m[IGR_LEVEL_rowmap_base] = ig__vk_bind(b, d, 10, &vp->maps[l],
                                                           (uint64_t)r0 * 16, (uint64_t)rows * 16,
                                                           4);
                    m[IGR_LEVEL_colmap_base] = ig__vk_bind(b, d, 11, &vp->maps[l], (uint64_t)H * 16,
                                                           (uint64_t)W * 16, 4);
                } else {
                    ig__vk_bind_dummy(b, d, 10);
                    ig__vk_bind_dummy(b, d, 11);
                }
                if (s->store) {
                    m[IGR_LEVEL_fout_base] = ig__vk_bind(b, d, 6, &wk->feat[s->fout],
                            ((uint64_t)n0 * fimg + (uint64_t)r0 * W * s->c_fout) * es,
                            ((uint64_t)(k - 1) * fimg + (uint64_t)rows * W * s->c_fout) * es, es);
                    m[IGR_LEVEL_fout_stride] = (uint32_t)fimg;
                } else {
                    ig__vk_bind_dummy(b, d, 6);
                }
                m[IGR_LEVEL_rout_base] = ig__vk_bind(b, d, 8, &wk->rgb[s->rout],
                        ((uint64_t)n0 * rimg + (uint64_t)r0 * W * 3) * 4,
                        ((uint64_t)(k - 1) * rimg + (uint64_t)rows * W * 3) * 4, 4);
                m[IGR_LEVEL_rout_stride] = (uint32_t)rimg;
                if (vm->ops[s->op0].in_norm) {
                    m[IGR_LEVEL_inv_base] = ig__vk_bind(b, d, 9, &wk->inv, (uint64_t)n0 * is * 4,
                                                        (uint64_t)k * is * 4, 4);
                    m[IGR_LEVEL_inv_stride] = (uint32_t)is;
                } else {
                    ig__vk_bind_dummy(b, d, 9);
                }
                m[IGR_LEVEL_rank] = (uint32_t)c->rank;
                m[IGR_LEVEL_isr] = ig__vk_fbits((float)(1.0 / sqrt((double)c->rank)));
                d->gx = ig__vk_groups((uint64_t)rows * W, px_per_group);
                d->gy = k;
            }
        }

        if (!s->norm_next || !own_norm) continue;
        /* instance norm of the section's output, for the next section's first layer */
        uint32_t C = (uint32_t)s->c_fout;
        uint32_t inv_off = vm->ops[s->op1].inv_off;
        uint64_t pimg = wk->part_img / 4;
        for (int n0 = 0; n0 < ch->B; n0 += (int)t.k) {
            uint32_t k = ig__vk_min32((uint64_t)(ch->B - n0), t.k);
            for (uint32_t r0 = 0; r0 < H; r0 += t.band) {
                uint32_t rows = H - r0 < t.band ? H - r0 : t.band;
                ig__vk_disp *d;
                uint32_t *m = ig__vk_disp_new(b, es == 2 ? IG_SH_NORM1_F16 : IG_SH_NORM1,
                                              IGR_NORM1_WORDS, &d);
                if (!m) return IG_OK;
                m[IGR_NORM1_c] = C;
                m[IGR_NORM1_w] = W;
                m[IGR_NORM1_rows] = rows;
                m[IGR_NORM1_n_img] = k;
                m[IGR_NORM1_f_base] = ig__vk_bind(b, d, 1, &wk->feat[s->fout],
                        ((uint64_t)n0 * fimg + (uint64_t)r0 * W * C) * es,
                        ((uint64_t)(k - 1) * fimg + (uint64_t)rows * W * C) * es, es);
                m[IGR_NORM1_f_stride] = (uint32_t)fimg;
                m[IGR_NORM1_p_base] = ig__vk_bind(b, d, 2, &wk->part,
                        ((uint64_t)n0 * pimg + (uint64_t)r0 * C * 2) * 4,
                        ((uint64_t)(k - 1) * pimg + (uint64_t)rows * C * 2) * 4, 4);
                m[IGR_NORM1_p_stride] = (uint32_t)pimg;
                m[IGR_NORM1_prow0] = 0;
                d->gx = ig__vk_groups(C, IG_VK_WG);
                d->gy = rows;
                d->gz = k;
            }
        }
        uint64_t pk = wk->part_img > is * 4 ? wk->part_img : is * 4;
        uint32_t k2 = ig__vk_min32(ctx->range / (pk ? pk : 1), ch->kv);
        if (k2 < 1) k2 = 1; /* part_img and inv_img <= range were checked above */
        for (int n0 = 0; n0 < ch->B; n0 += (int)k2)
            if (!ig__vk_plan_norm2(b, wk, C, W, H, inv_off, (uint32_t)n0,
                                   ig__vk_min32((uint64_t)(ch->B - n0), k2)))
                return IG_OK;
    }
    return IG_OK;
}

/* Loop iterations one invocation of each kernel performs (upper estimates, every loop of the
 * shader counted), checked against ctx->loop_limit (llvmpipe's hard cap). */
static uint64_t ig__section_loops(const ig_vk_context *ctx, const ig__work *wk,
                                  const ig__vk_model *vm, const ig_config *c,
                                  const ig__section *s) {
    uint64_t it = 0;
    if (vm->coop) { /* per thread of the workgroup: its share of every 16x16 tile */
        uint64_t wg = ig__coop_wg(ctx), per = (256 + wg - 1) / wg;
        it += (16ull * vm->xs + wg - 1) / wg + 48 / wg + 2;
        for (int q = s->op0; q < s->op1; q++) {
            const ig__vk_op *op = &vm->ops[q];
            if (op->type == IG__OP_FMM)
                it += (uint64_t)op->npad / 16 * (per * (op->kpad + 1) + per + 1) +
                      (16ull * op->c_x + wg - 1) / wg + 1;
            else
                it += (48 + wg - 1) / wg * ((uint64_t)op->c_x + 1) + 1;
        }
        return it + (16ull * vm->xs + wg - 1) / wg + 48 / wg + 2;
    }
    it += (uint64_t)s->c_fin + (uint64_t)vm->ops[s->op0].c_e + (uint64_t)s->c_fout + 8;
    for (int q = s->op0; q < s->op1; q++) {
        const ig__vk_op *op = &vm->ops[q];
        uint64_t ci = (uint64_t)op->c_x + (uint64_t)op->c_e;
        if (op->type == IG__OP_FMM)
            it += (uint64_t)op->c_out * (wk->fused ? ci * ((uint64_t)c->rank + 1) + 3 : ci + 2) +
                  (uint64_t)op->c_out + (uint64_t)op->c_x + 2;
        else
            it += 3 * ((uint64_t)op->c_x + 1) + 1;
    }
    (void)ctx;
    return it;
}

static ig_result ig__check_loops(const ig_vk_context *ctx, const ig_config *c,
                                 const ig__vk_model *vm, const ig__work *wk, ig_error *err) {
    if (!ctx->loop_limit) return IG_OK;
    uint64_t lim = ctx->loop_limit;
    const char *what = NULL;
    uint64_t worst = 0;
    int level = -1;
    uint64_t fc = 2ull * (uint64_t)(c->z_dim > c->w_dim ? c->z_dim : c->w_dim) + 2;
    if (fc > worst) worst = fc, what = "the mapping / affine heads";
    for (int q = 0; q < vm->n_ops; q++) {
        const ig__vk_op *op = &vm->ops[q];
        if (op->type != IG__OP_FMM) continue;
        uint64_t w = 2ull * ((uint64_t)op->c_x + op->c_e) * ((uint64_t)c->rank + 1) + 2;
        if (w > worst) worst = w, what = "the FMM weight generation";
    }
    for (int q = 0; q < vm->n_ops && wk->gemm; q++) { /* K steps of BK; ToRGB: c_in */
        const ig__vk_op *op = &vm->ops[q];
        uint64_t bk = ig__gemm_tiles[wk->vp[IG__PASS_RENDER]->tile[op->level]].bk;
        uint64_t g = op->type == IG__OP_FMM
                         ? ((uint64_t)op->c_x + op->c_e + bk - 1) / bk + 8
                         : (uint64_t)op->c_x + 1;
        if (g > worst) worst = g, what = "the gemm level kernel", level = op->level;
        if (op->type == IG__OP_FMM && op->in_norm) { /* norm.comp on its input (ig__gemm_norm) */
            const ig__vk_plan *vp = wk->vp[IG__PASS_RENDER];
            uint64_t nrm = 2ull * (uint64_t)vp->w[op->level] + (uint64_t)vp->h[op->level];
            if (nrm > worst) worst = nrm, what = "the instance-norm statistics", level = op->level;
        }
    }
    for (int pass = 0; pass < 2; pass++) {
        if (pass == IG__PASS_STATS && !wk->stats) continue;
        if (pass == IG__PASS_RENDER && wk->gemm) continue;
        const ig__vk_plan *vp = wk->vp[pass];
        for (int i = 0; i < wk->n_sec[pass]; i++) {
            const ig__section *s = &wk->sec[pass][i];
            uint64_t v = ig__section_loops(ctx, wk, vm, c, s);
            if (v > worst) worst = v, what = "the level kernel", level = s->level;
            if (s->norm_next) {
                uint64_t nrm = 2ull * (uint64_t)vp->w[s->level] + (uint64_t)vp->h[s->level];
                if (nrm > worst) worst = nrm, what = "the instance-norm statistics", level = s->level;
            }
        }
    }
    if (worst <= lim) return IG_OK;
    char where[32] = "";
    if (level >= 0) snprintf(where, sizeof where, " of level %d", level);
    return ig_error_set(err, IG_ERR_UNSUPPORTED,
                        "%s%s needs about %" PRIu64 " loop iterations per shader invocation; "
                        "%s stops every invocation's loops after 65535 and would compute a wrong "
                        "image: use --backend cpu (faster than llvmpipe anyway) or a GPU",
                        what, where, worst, ctx->info.name);
}

/* Everything of one chunk, in order. */
static ig_result ig__plan_all(ig__vk_builder *b, const ig__chunk *ch, ig_error *err) {
    ig__work *wk = ch->wk;
    const ig__vk_model *vm = ch->vm;
    uint32_t B = (uint32_t)ch->B, wd = (uint32_t)ch->c->w_dim;
    /* interpolation: the B endpoints b after the B vectors a */
    wk->w_buf = ig__vk_plan_mapping(b, ch->c, &vm->map, vm->map_w, vm->map_b, vm->avg, true, &wk->z,
                                    wk->h, (uint32_t)(ch->B * wk->mz), ch->psi, ch->kv);
    if (wk->interp == 1 + IG_SPACE_W) /* w = lerp(w_a, w_b, t) */
        ig__vk_plan_lerp(b, &wk->h[wk->w_buf], (uint64_t)B * wd, wd, wd, 4, B, ch->t);
    ig__plan_heads(b, ch);
    ig__plan_wgen(b, ch);
    if (wk->interp == 1 + IG_SPACE_PARAMS) { /* every generated weight = lerp(a, b, t) */
        ig__vk_plan_lerp(b, &wk->s, (uint64_t)B * vm->s_stride, vm->s_stride, vm->s_stride, 4, B,
                         ch->t);
        ig__vk_plan_lerp(b, &wk->gw, (uint64_t)B * vm->gw_stride, vm->gw_stride, vm->gw_stride,
                         wk->es, B, ch->t);
    }
    if (wk->gemm) {
        /* instance norm of a view or tile: the per-pixel statistics pass over the native plan
         * writes the factors (wk->inv) that the gemm layers read */
        if (wk->stats) {
            ig_result res = ig__plan_levels(b, ch, IG__PASS_STATS, err);
            if (res != IG_OK) return res;
        }
        if (wk->tile_from < wk->vp[IG__PASS_RENDER]->n_levels)
            ig__vk_plan_tile_levels(b, ch);
        else
            ig__vk_plan_gemm_levels(b, ch);
        return IG_OK;
    }
    ig_result res = IG_OK;
    if (wk->stats) res = ig__plan_levels(b, ch, IG__PASS_STATS, err);
    if (res == IG_OK) res = ig__plan_levels(b, ch, IG__PASS_RENDER, err);
    return res;
}

/* Estimated FLOPs of the chunk's dispatches (where INRGAN_VK_SUBMIT_MS may split its
 * submission, vk_disp.c): each level's layers at its computed pixels (nominal, both passes'
 * dispatches of a level share its estimate), the mapping, heads and weight generation as the
 * dispatches outside the levels. */
static void ig__chunk_flops(ig__vk_builder *b, const ig__chunk *ch) {
    ig_lowering *lw = malloc(sizeof *lw);
    if (!lw) return; /* no estimate: no split */
    const ig_config *c = ch->c;
    const ig__vk_plan *vp = ch->wk->vp[IG__PASS_RENDER];
    ig_lower(c, lw);
    for (int l = 0; l < vp->n_levels && l < IG_MAX_BLOCKS; l++) {
        double px[IG_MAX_BLOCKS] = {0};
        px[l] = (double)vp->w[l] * vp->h[l];
        ig__vk_disp_spread_flop(b, l + 1, ig_lower_flops(lw, px, false) * ch->B);
    }
    double hyper = 0;
    for (int l = 0; l < lw->n_map; l++) hyper += 2.0 * lw->map_in[l] * lw->map_out;
    hyper += 2.0 * c->w_dim * (double)lw->s_stride;
    for (int q = 0; q < lw->n_ops; q++)
        if (lw->ops[q].kind != IG_LOP_TORGB) hyper += 2.0 * c->rank * lw->ops[q].c_in * lw->ops[q].c_out;
    ig__vk_disp_spread_flop(b, 0, hyper * ch->B * ch->wk->mz);
    free(lw);
}

/* The nominal FLOPs of one image's most expensive level of the plan (a level's dispatch covers
 * a group of images: the unit a split submission cannot cut). */
static double ig__max_level_flops(const ig_config *c, const ig__vk_plan *vp) {
    ig_lowering *lw = malloc(sizeof *lw);
    if (!lw) return 0;
    ig_lower(c, lw);
    double mx = 0;
    for (int l = 0; l < vp->n_levels && l < IG_MAX_BLOCKS; l++) {
        double px[IG_MAX_BLOCKS] = {0};
        px[l] = (double)vp->w[l] * vp->h[l];
        double f = ig_lower_flops(lw, px, false);
        if (f > mx) mx = f;
    }
    free(lw);
    return mx;
}

/* Allocates the chunk's work buffers in ctx->work (one block, reused between renders). */
static ig_result ig__work_alloc(ig_vk_context *ctx, const ig_config *c, const ig__vk_model *vm,
                                ig__work *wk, int B, uint64_t per_image, uint64_t meta_bytes,
                                ig_error *err) {
    uint64_t total = per_image * (uint64_t)B + meta_bytes + 4 * ctx->align + 256;
    ig_result res = ig__vk_work_reserve(ctx, total, err);
    if (res != IG_OK) return res;
    uint64_t es = wk->es;
    uint64_t gw = wk->fused ? (uint64_t)vm->rn_stride * 4 : (uint64_t)vm->gw_stride * es;
    uint64_t bz = (uint64_t)B * wk->mz, bw = (uint64_t)B * wk->mw;
    struct {
        ig_vk_buf *buf;
        uint64_t bytes;
    } list[] = {
        {&wk->z, (uint64_t)c->z_dim * 4 * bz},
        {&wk->h[0], (uint64_t)c->w_dim * 4 * bz},
        {&wk->h[1], (uint64_t)c->w_dim * 4 * bz},
        {&wk->s, (uint64_t)vm->s_stride * 4 * bw},
        {&wk->gw, gw * bw},
        {&wk->feat[0], wk->feat_img * B},
        {&wk->feat[1], wk->feat_img * B},
        {&wk->rgb[0], wk->rgb_img * B},
        {&wk->rgb[1], wk->rgb_img * B},
        {&wk->part, wk->part_img * B},
        {&wk->inv, wk->inv_img * B},
        {&wk->meta, meta_bytes},
        {&wk->dummy, 256},
    };
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) {
        res = ig__vk_arena_alloc(ctx, &ctx->work, list[i].bytes ? list[i].bytes : 16, list[i].buf,
                                 err);
        if (res != IG_OK) return res;
    }
    return IG_OK;
}

/* ---- the render --------------------------------------------------------------------------------- */

static ig_result ig__render_chunk(ig_vk_context *ctx, const ig_render_desc *desc, int n_first,
                                  int B, ig__work *wk, uint64_t per_image, float *out,
                                  ig_error *err) {
    ig_result res = IG_OK;
    const ig_model *m = desc->model;
    const ig_config *c = &m->cfg;
    const ig__vk_model *vm = ctx->model;
    ig__vk_builder b = {.ctx = ctx, .dry = true};
    ig_vk_uploads ups = {0};
    float *tt = NULL;

    /* image group for per-image vectors: every such window of k images fits the range */
    uint64_t es = wk->es;
    uint64_t gwb = wk->fused ? (uint64_t)vm->rn_stride * 4 : (uint64_t)vm->gw_stride * es;
    uint64_t vmax = (uint64_t)c->z_dim * 4;
    if ((uint64_t)c->w_dim * 4 > vmax) vmax = (uint64_t)c->w_dim * 4;
    if ((uint64_t)vm->s_stride * 4 > vmax) vmax = (uint64_t)vm->s_stride * 4;
    if (gwb > vmax) vmax = gwb;
    uint64_t kv = ctx->range / vmax; /* 0: one image at a time, windows of single layers */
    if (kv < 1) kv = 1;
    for (int q = 0; q < vm->n_ops; q++)
        if ((uint64_t)vm->ops[q].s_len * 4 > ctx->range)
            return ig_error_set(err, IG_ERR_UNSUPPORTED,
                                "the affine head of layer %d (%u floats) exceeds the storage "
                                "buffer range of %s (%" PRIu64 " bytes)",
                                q, vm->ops[q].s_len, ctx->info.name, (uint64_t)ctx->range);
    if (desc->z_b) {
        tt = malloc((size_t)B * sizeof *tt);
        if (!tt) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "interpolation positions");
        for (int n = 0; n < B; n++) tt[n] = desc->t[n_first + n];
    }
    ig__chunk ch = {ctx, c, vm, wk, B, desc->psi, tt,
                    ig__vk_min32(kv, (uint64_t)B * (uint64_t)(wk->mz > wk->mw ? wk->mz : wk->mw))};

    /* plan the dispatches first: the meta size decides the work allocation */
    res = ig__plan_all(&b, &ch, err);
    if (res == IG_OK) res = ig__vk_builder_status(&b, err);
    if (res != IG_OK) goto fail;
    /* the windows were computed against placeholder buffers; allocate, then plan again with
     * the real ones (the plan is deterministic, so the meta size does not change) */
    uint64_t meta_bytes = (uint64_t)b.n_meta * 4;
    res = ig__work_alloc(ctx, c, vm, wk, B, per_image, meta_bytes, err);
    if (res != IG_OK) goto fail;
    ig__vk_builder_free(&b);
    b = (ig__vk_builder){.ctx = ctx, .meta_buf = &wk->meta, .dummy = &wk->dummy};
    ctx->stats.max_binding_bytes = 0;
    res = ig__plan_all(&b, &ch, err);
    if (res == IG_OK) ig__chunk_flops(&b, &ch);
    if (res == IG_OK) res = ig__vk_disp_sets(&b, meta_bytes, "", err);
    if (res != IG_OK) goto fail;

    /* inputs: latents (slerp'ed on the host for z-space interpolation; both endpoints when
     * w or params are interpolated on the device) and the records */
    float *zp;
    size_t zrow = (size_t)c->z_dim;
    res = ig__vk_upload_ptr(ctx, &ups, &wk->z, 0, (uint64_t)zrow * 4 * B * wk->mz, (void **)&zp, err);
    if (res != IG_OK) goto fail;
    for (int n = 0; n < B; n++) {
        const float *za = desc->z + (size_t)(n_first + n) * zrow;
        if (desc->z_b && wk->interp == 0)
            ig_latent_slerp(za, desc->z_b + (size_t)(n_first + n) * zrow, desc->t[n_first + n],
                            zp + (size_t)n * zrow, c->z_dim);
        else
            memcpy(zp + (size_t)n * zrow, za, zrow * 4);
        if (wk->mz == 2)
            memcpy(zp + (size_t)(B + n) * zrow, desc->z_b + (size_t)(n_first + n) * zrow, zrow * 4);
    }
    res = ig__vk_disp_upload_meta(&b, &ups, err);
    if (res != IG_OK) goto fail;

    /* the submission; output: the render pass's last rgb (the padding of the coopmat weight
     * layout must read as zeros) */
    const ig__vk_plan *vp = wk->vp[IG__PASS_RENDER];
    const ig__section *last = &wk->sec[IG__PASS_RENDER][wk->n_sec[IG__PASS_RENDER] - 1];
    uint32_t H = (uint32_t)vp->h[vp->n_levels - 1], W = (uint32_t)vp->w[vp->n_levels - 1];
    uint64_t rimg = wk->rgb_img;
    const void *host;
    res = ig__vk_disp_submit(&b, &ups, vm->coop ? &wk->gw : NULL,
                             &wk->rgb[wk->gemm ? wk->gemm_rgb : last->rout], rimg * B, &host, err);
    if (res != IG_OK) goto fail;
    if (!host) { /* ig_vk_render_device: the result stays on the device */
        ig__vk_dev_layout(ctx, (int)H, (int)W, rimg / 4, wk->gemm ? vp->pp[vp->n_levels - 1] : 1,
                          wk->gemm ? 1 : 3);
        goto fail;
    }

    /* [B][H*W][3] (gemm: [B][3][pp]) -> out [N][3][H][W] */
    const float *src = host;
    size_t px = (size_t)H * W, pp = vp->pp[vp->n_levels - 1];
    for (int n = 0; n < B; n++) {
        const float *s = src + (size_t)n * (rimg / 4);
        float *o = out + (size_t)(n_first + n) * 3 * px;
        if (wk->gemm) {
            for (size_t c = 0; c < 3; c++) memcpy(o + c * px, s + c * pp, px * sizeof *o);
            continue;
        }
        for (size_t q = 0; q < px; q++) {
            o[q] = s[3 * q];
            o[px + q] = s[3 * q + 1];
            o[2 * px + q] = s[3 * q + 2];
        }
    }
fail:
    ig__vk_builder_free(&b);
    ig__vk_arena_free(ctx, &ctx->stage);
    free(ups.u);
    free(tt);
    return res;
}

/* Makes sure the model, the plan's embeddings and maps (and those of the statistics plan) are
 * on the device. */
static ig_result ig__ensure_uploads(ig_vk_context *ctx, const ig_render_desc *desc,
                                    ig_error *err) {
    if (!ctx || !desc || !desc->model || !desc->plan)
        return ig_error_set(err, IG_ERR_INVALID_ARGUMENT,
                            "ig_vk_render: missing context, model or plan");
    if (ctx->lost)
        return ig_error_set(err, IG_ERR_DEVICE_LOST,
                            "%s was lost earlier; create a new context", ctx->info.name);
    const ig_model *m = desc->model;
    const ig_config *c = &m->cfg;
    const ig_plan *plan = desc->plan;
    if (plan->n_levels != c->n_levels)
        return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "plan was made for another model");
    if (ctx->props.limits.maxComputeWorkGroupInvocations < 256 ||
        ctx->props.limits.maxComputeWorkGroupSize[0] < 256)
        return ig_error_set(err, IG_ERR_UNSUPPORTED,
                            "%s: the hypernetwork kernels (fc.comp, wgen.comp) need workgroups "
                            "of 256 invocations", ctx->info.name);
    ig_result res = IG_OK;
    uint64_t mfp = ig__vk_model_fp(1469598103934665603ull, m);
    if (!ctx->model || ctx->model->fp != mfp) {
        ig__vk_release_cached(ctx);
        res = ig__model_upload(ctx, m, mfp, err);
        if (res != IG_OK) return res;
    }
    /* the gemm kernel's embeddings are part of the upload: a kernel change re-uploads */
    uint64_t pfp = ig__plan_fp(plan, mfp, ctx->fp16) ^ (ctx->level_gemm ? 0x9e3779b97f4a7c15ull : 0);
    if (!ctx->plan || ctx->plan->fp != pfp) {
        ig__plan_free(ctx, ctx->plan);
        ctx->plan = NULL;
        ig__vk_arena_free(ctx, &ctx->work); /* its budget may be needed for the embeddings */
        res = ig__plan_upload(ctx, m, plan, pfp, &ctx->plan, err);
        if (res != IG_OK) return res;
    }
    ig_plan_desc sd;
    if (ig_lower_stats_pass(c, plan, &sd)) { /* the statistics pass's plan (src/lower.h) */
        ig_plan sp;
        res = ig_plan_make(&sp, c, &sd, err);
        if (res != IG_OK) return res;
        uint64_t sfp = ig__plan_fp(&sp, mfp, ctx->fp16);
        if (!ctx->plan_stats || ctx->plan_stats->fp != sfp) {
            ig__plan_free(ctx, ctx->plan_stats);
            ctx->plan_stats = NULL;
            ig__vk_arena_free(ctx, &ctx->work);
            res = ig__plan_upload(ctx, m, &sp, sfp, &ctx->plan_stats, err);
        }
        ig_plan_free(&sp);
    }
    return res;
}

/* The family's prepare (vk_backend.c's table). */
ig_result ig__vk_inrgan_prepare(ig_vk_context *ctx, const ig_render_desc *desc, ig_error *err) {
    ig_result res = ig__ensure_uploads(ctx, desc, err);
    if (res != IG_OK) return res;
    const ig__vk_model *vm = ctx->model;
    bool f16 = ctx->fp16, fused = ctx->fused_fmm;
    struct {
        int id, n;
        uint32_t spec[3];
    } need[6] = {
        {IG_SH_FC, 0, {0, 0, 0}}, /* a fixed-size kernel */
        {fused ? IG_SH_WNORM : (f16 ? IG_SH_WGEN_F16 : IG_SH_WGEN), 1, {ig__wgen_rs(ctx), 0, 0}},
        {fused ? (f16 ? IG_SH_LEVEL_FUSED_F16 : IG_SH_LEVEL_FUSED)
               : (f16 ? IG_SH_LEVEL_F16 : IG_SH_LEVEL),
         3, {IG_VK_WG, (uint32_t)vm->cmax, (uint32_t)vm->emax}},
        {f16 ? IG_SH_NORM1_F16 : IG_SH_NORM1, 1, {IG_VK_WG, 0, 0}},
        {IG_SH_NORM2, 1, {IG_VK_WG, 0, 0}},
        {0, 0, {0, 0, 0}},
    };
    if (vm->coop) {
        need[2].id = ctx->coop_emu ? IG_SH_LEVEL_COOP_EMU : IG_SH_LEVEL_COOP;
        need[2].n = 2;
        need[2].spec[0] = ig__coop_wg(ctx);
        need[2].spec[1] = vm->xs;
    }
    int n = desc->model->cfg.instance_norm ? 5 : 3;
    for (int i = 0; i < n && res == IG_OK; i++) {
        VkPipeline p;
        res = ig__vk_pipeline_get(ctx, need[i].id, need[i].spec, need[i].n, &p, err);
    }
    /* the gemm kernel's (a render may still fall back to the per-pixel one created above) */
    if (ctx->plan->gemm && res == IG_OK) res = ig__vk_gemm_prepare(ctx, ctx->plan, err);
    if (res == IG_OK) res = ig__vk_tile_prepare(ctx, err); /* the fused kernel's, when asked */
    return res;
}

/* The family's render (vk_backend.c's table). */
ig_result ig__vk_inrgan_render(ig_vk_context *ctx, const ig_render_desc *desc, float *out,
                               ig_error *err) {
    if (!ctx || !desc || !desc->z || desc->count < 1 || !out)
        return ig_error_set(err, IG_ERR_INVALID_ARGUMENT,
                            "ig_vk_render: missing context, z or output");
    if (desc->z_b && !desc->t)
        return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "ig_vk_render: z_b without t");
    ig_result res = ig__ensure_uploads(ctx, desc, err);
    if (res != IG_OK) return res;
    const ig_model *m = desc->model;
    const ig_config *c = &m->cfg;
    ig__vk_render_begin(ctx);

    ig__work *wk = calloc(1, sizeof *wk);
    if (!wk) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "render state");
    wk->es = ctx->fp16 ? 2 : 4;
    wk->interp = desc->z_b && desc->space != IG_SPACE_Z ? 1 + (int)desc->space : 0;
    wk->mz = wk->interp ? 2 : 1;
    wk->mw = wk->interp == 1 + IG_SPACE_PARAMS ? 2 : 1;
    /* params-space interpolation mixes whole weights: the fused kernel has none to mix */
    wk->fused = ctx->fused_fmm && wk->interp != 1 + IG_SPACE_PARAMS;
    wk->stats = ig_lower_stats_pass(c, desc->plan, NULL);
    wk->vp[IG__PASS_RENDER] = ctx->plan;
    wk->vp[IG__PASS_STATS] = wk->stats ? ctx->plan_stats : ctx->plan;
    res = ig__sections(ctx->model, ctx->plan, wk, IG__PASS_RENDER, err);
    if (res == IG_OK && wk->stats)
        res = ig__sections(ctx->model, ctx->plan_stats, wk, IG__PASS_STATS, err);
    /* the gemm level kernel when asked for and the model and plan allow it */
    wk->gemm = ctx->plan->gemm && !wk->fused && ig__vk_gemm_layout(ctx, ctx->model, ctx->plan, wk);
    /* the fused kernel on the levels >= tile_from (none: n_levels), the gemm kernel before */
    wk->tile_from = ig__vk_tile_from(ctx, ctx->model, ctx->plan, wk);
    bool fused = wk->gemm && wk->tile_from < ctx->plan->n_levels;
    ctx->kernel_used = !wk->gemm ? (ctx->model->coop ? "coopmat" : "pixel")
                       : fused   ? (ctx->level_fused16 ? "fused16" : "fused")
                                 : ig__vk_gemm_kernel_name(ctx, ctx->plan);
    /* the layer_gemm.comp dispatches of a fused render: the levels before tile_from and the
     * coarse products over levels [tile_from - 1, n_levels - 1) (the last level's grid: none) */
    if (wk->gemm)
        ctx->report.gemm_tiles =
            ig__vk_gemm_tiles_used(ctx->plan, fused ? ctx->plan->n_levels - 1 : ctx->plan->n_levels);
    if (res == IG_OK) res = ig__check_loops(ctx, c, ctx->model, wk, err);
    if (res != IG_OK) goto done;
    uint64_t per_image = ig__work_sizes(ctx, c, ctx->model, wk);

    /* batch chunk from the budget: what is free now plus the current work block */
    uint64_t have = ig__vk_heap_left(ctx) + (ctx->work.head ? ctx->work.head->mem_size : 0);
    uint64_t fixed = 64 * 1024 + 8 * ctx->align;  /* records, dummy, slack */
    uint64_t per = per_image + 4096; /* + dispatch records per image */
    int B = desc->count;
    if (have < fixed + per) {
        res = ig_error_set(err, IG_ERR_OUT_OF_DEVICE_MEMORY,
                           "one image needs %" PRIu64 " bytes of work memory but only %" PRIu64
                           " of the device budget (%" PRIu64 ") are free; try a smaller --size "
                           "or --tile",
                           fixed + per, have, (uint64_t)ctx->heap_budget);
        goto done;
    }
    uint64_t fit = (have - fixed) / per;
    const char *limit = ""; /* what shrank the chunk, for ig_vk_render_report */
    if (fit < (uint64_t)B) B = (int)fit, limit = "device memory budget";
    if ((uint64_t)B * per > ctx->max_alloc / 2) {
        uint64_t cap = ctx->max_alloc / 2 / per;
        B = (int)(cap < 1 ? 1 : cap), limit = "maxMemoryAllocationSize";
    }
    /* a submission is split only between dispatches (vk_disp.c): the images of one level's
     * dispatch must fit the submission time target themselves */
    double target_ms, rate, lvl = ig__max_level_flops(c, ctx->plan);
    if (wk->stats && ctx->plan_stats) { /* the statistics pass's levels are dispatched too */
        double ls = ig__max_level_flops(c, ctx->plan_stats);
        if (ls > lvl) lvl = ls;
    }
    res = ig__vk_submit_budget(ctx, &target_ms, &rate, err);
    if (res != IG_OK) goto done;
    if (target_ms > 0 && lvl > 0 && (double)B * lvl > target_ms * rate) {
        double cap = target_ms * rate / lvl;
        B = cap < 1 ? 1 : (int)cap, limit = "submission time";
    }
    ig__vk_note_chunk(ctx, B, limit);
    for (int n0 = 0; n0 < desc->count && res == IG_OK; n0 += B) {
        int k = desc->count - n0 < B ? desc->count - n0 : B;
        res = ig__render_chunk(ctx, desc, n0, k, wk, per_image, out, err);
    }
done:
    free(wk);
    return ig__vk_render_end(ctx, desc, res);
}
