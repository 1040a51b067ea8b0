/* vk_inrgan_gemm.c - the INR-GAN family's "gemm" level kernel (ig_vk_desc.level_kernel,
 * INRGAN_VK_KERNEL=gemm; nearest or bilinear models, with or without instance norm (a render
 * that needs the statistics pass runs that pass per pixel first), weight-generation pass, fp32 or
 * fp16 storage): one tiled-GEMM dispatch per layer over a level's computed pixels for a group
 * of images (layer_gemm.comp), activations channel-major [B][C][P] (P: the level's pixels
 * padded to its tile's BN), up-sampling conv0 as the exact coarse trick, ToRGB fused into the
 * epilogue of the layer before it as per-tile partial sums, added up by rgb_accum.comp
 * (vk_inrgan.c's header comment has the whole pipeline). Tile sets: small
 * (64 x 64, 16 x 16 invocations of 4 x 4) and large (128 x 128, 16 x 16 invocations of 8 x 8),
 * both with K steps of 16, chosen per level (ig__vk_gemm_level_tile), and the cooperative-matrix
 * tile set (coop). Also ig_vk_gemm_time: one layer timed alone (inrgan bench --gemm-sweep). */
#include "vk_inrgan.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "records/gemm.h"
#include "records/norm.h"
#include "records/rgb.h"
#include "safetensors.h" /* ig_float_to_half */

const ig__gemm_tile ig__gemm_tiles[IG__N_TILES] = {
    [IG__TILE_SMALL] = {"small", 16, 16, 16, 4, 4},
    [IG__TILE_LARGE] = {"large", 16, 16, 16, 8, 8},
    [IG__TILE_COOP] = {"coop", 16, 16, 16, 8, 8},
};

/* norm.comp's second pass for images [n0, n0 + k): their row partials in wk->part (H rows of
 * C channels) merged into inv[n][inv_off + c] = 1 / (sigma + 1e-8). False when the builder is
 * out of room (it holds the error). Here rather than in vk_inrgan.c, whose per-pixel path
 * calls it too, so that this file does not call back into vk_inrgan.c (ctest include_cycles). */
bool ig__vk_plan_norm2(ig__vk_builder *b, const ig__work *wk, uint32_t C, uint32_t W, uint32_t H,
                       uint32_t inv_off, uint32_t n0, uint32_t k) {
    uint64_t pimg = wk->part_img / 4, is = wk->inv_img / 4;
    ig__vk_disp *d;
    uint32_t *m = ig__vk_disp_new(b, IG_SH_NORM2, IGR_NORM2_WORDS, &d);
    if (!m) return false;
    m[IGR_NORM2_c] = C;
    m[IGR_NORM2_w] = W;
    m[IGR_NORM2_h] = H;
    m[IGR_NORM2_n_img] = k;
    m[IGR_NORM2_p_base] = ig__vk_bind(b, d, 2, &wk->part, (uint64_t)n0 * pimg * 4,
                                      ((uint64_t)(k - 1) * pimg + (uint64_t)H * C * 2) * 4, 4);
    m[IGR_NORM2_p_stride] = (uint32_t)pimg;
    m[IGR_NORM2_inv_base] = ig__vk_bind(b, d, 3, &wk->inv, ((uint64_t)n0 * is + inv_off) * 4,
                                        ((uint64_t)(k - 1) * is + C) * 4, 4);
    m[IGR_NORM2_inv_stride] = (uint32_t)is;
    d->gx = ig__vk_groups(C, IG_VK_WG);
    d->gy = k;
    return true;
}

/* The KHR variant's shaders (level, raw), where this build has them (IG_SHADER_REQ ...
 * KHR_COOPMAT: compiled out when the shader compiler lacks GL_KHR_cooperative_matrix; the coop
 * tile set then runs only as the scalar twin, INRGAN_VK_COOP_EMU=1). */
static bool ig__coop_khr_shaders(int *level, int *raw) {
    *level = IG_SH_GEMM_LEVEL_COOP;
    *raw = IG_SH_GEMM_RAW_COOP;
    return ig__vk_shader_built(IG_SH_GEMM_LEVEL_COOP) && ig__vk_shader_built(IG_SH_GEMM_RAW_COOP);
}

/* Whether the KHR variant runs here: the device's KHR cooperative matrices with the 16 x 16 x 16
 * fp16 x fp16 -> fp32 subgroup shape (vk_ctx.c: ctx->gemm_coop_khr), the variant built, fp16
 * storage, 256 invocations a whole number of subgroups of >= 8. */
static bool ig__coop_khr(const ig_vk_context *ctx) {
    int lv, rw;
    uint32_t sg = ctx->info.subgroup_size;
    return ctx->gemm_coop_khr && ctx->fp16 && ig__coop_khr_shaders(&lv, &rw) && sg >= 8 &&
           sg <= 256 && 256 % sg == 0;
}

/* The coop tile's subgroup grid: SGM x SGN subgroups over the 128 x 128 tile (ids 6, 7). */
static void ig__coop_grid(const ig_vk_context *ctx, uint32_t *sgm, uint32_t *sgn) {
    uint32_t sg = ctx->info.subgroup_size, nsg = sg >= 8 && sg <= 256 ? 256 / sg : 8;
    *sgm = 1;
    while (*sgm * *sgm * 2 <= nsg) *sgm *= 2; /* 8 -> 2 x 4, 4 -> 2 x 2, 16 -> 4 x 4 */
    *sgn = nsg / *sgm;
}

/* layer_gemm.comp's shared memory: scalar: per buffer BK rows of W (BM / 4 + 1 vec4) and of X
 * (BN / 4); KHR: per buffer fp16 W [BM][BK + 8] and X [BK][BN + 8], and 1 KiB per subgroup. */
static uint64_t ig__tile_shared(const ig_vk_context *ctx, int t, uint32_t nbuf) {
    const ig__gemm_tile *g = &ig__gemm_tiles[t];
    if (t == IG__TILE_COOP && ig__coop_khr(ctx))
        return (uint64_t)nbuf * (ig__tile_bm(t) * (g->bk + 8) + g->bk * (ig__tile_bn(t) + 8)) * 2 +
               256ull / ctx->info.subgroup_size * 1024;
    return (uint64_t)nbuf * g->bk * (ig__tile_bm(t) / 4 + 1 + ig__tile_bn(t) / 4) * 16 +
           3ull * ig__tile_bn(t) / 4 * 16; /* + the fused ToRGB's sums */
}

/* The ToRGB that FMM q's dispatch computes in its epilogue (the op right after it in its level;
 * not on the coop tile set), or NULL. */
static const ig__vk_op *ig__fused_rgb(const ig__vk_model *vm, const ig__vk_plan *vp, int q) {
    const ig__vk_op *op = &vm->ops[q], *nx = q + 1 < vm->n_ops ? &vm->ops[q + 1] : NULL;
    if (op->type != IG__OP_FMM || !nx || nx->type != IG__OP_TORGB || nx->level != op->level ||
        nx->c_x != op->c_out || vp->tile[op->level] == IG__TILE_COOP)
        return NULL;
    return nx;
}

bool ig__vk_gemm_tile_fits(const ig_vk_context *ctx, int t, uint32_t *nbuf) {
    const VkPhysicalDeviceLimits *lim = &ctx->props.limits;
    const ig__gemm_tile *g = &ig__gemm_tiles[t];
    uint32_t nb = ig__tile_shared(ctx, t, 2) <= lim->maxComputeSharedMemorySize ? 2 : 1;
    if (nbuf) *nbuf = nb;
    if (t == IG__TILE_COOP && !(ctx->fp16 && (ig__coop_khr(ctx) || ctx->gemm_coop_emu)))
        return false;
    return g->wx <= lim->maxComputeWorkGroupSize[0] && g->wy <= lim->maxComputeWorkGroupSize[1] &&
           g->wx * g->wy <= lim->maxComputeWorkGroupInvocations &&
           ig__tile_shared(ctx, t, nb) <= lim->maxComputeSharedMemorySize;
}

int ig__vk_gemm_level_tile(const ig_vk_context *ctx, const ig__vk_model *vm, int l, uint64_t px) {
    if (ctx->gemm_tile >= 0) /* INRGAN_VK_GEMM_TILE */
        return ig__vk_gemm_tile_fits(ctx, ctx->gemm_tile, NULL) ? ctx->gemm_tile : -1;
    if (ig__vk_gemm_tile_fits(ctx, IG__TILE_COOP, NULL)) return IG__TILE_COOP;
    int cmax = 0;
    for (int q = 0; q < vm->n_ops; q++)
        if (vm->ops[q].level == l && vm->ops[q].type == IG__OP_FMM && vm->ops[q].c_out > cmax)
            cmax = vm->ops[q].c_out;
    if (px >= 1024 && cmax >= 128 && ig__vk_gemm_tile_fits(ctx, IG__TILE_LARGE, NULL))
        return IG__TILE_LARGE;
    return ig__vk_gemm_tile_fits(ctx, IG__TILE_SMALL, NULL) ? IG__TILE_SMALL : -1;
}

void ig__vk_gemm_spec(const ig_vk_context *ctx, int t, uint32_t spec[8]) {
    const ig__gemm_tile *g = &ig__gemm_tiles[t];
    uint32_t nbuf = 1;
    ig__vk_gemm_tile_fits(ctx, t, &nbuf);
    spec[0] = g->wx;
    spec[1] = g->wy;
    spec[2] = g->bk;
    spec[3] = g->tm;
    spec[4] = g->tn;
    spec[5] = nbuf;
    spec[6] = spec[7] = 1; /* the KHR variant's subgroup grid (unused by the scalar kernel) */
    if (t == IG__TILE_COOP) ig__coop_grid(ctx, &spec[6], &spec[7]);
}

const char *ig__vk_gemm_kernel_name(const ig_vk_context *ctx, const ig__vk_plan *vp) {
    for (int l = 0; l < vp->n_levels; l++)
        if (vp->tile[l] == IG__TILE_COOP) return ig__coop_khr(ctx) ? "gemm-coop-khr" : "gemm-coop-emu";
    return ctx->fp16 ? "gemm-f16" : "gemm";
}

const char *ig__vk_gemm_tiles_used(const ig__vk_plan *vp, int n_levels) {
    static const char *names[] = {"", "small", "large", "small+large", "coop", "small+coop",
                                  "large+coop", "small+large+coop"};
    unsigned used = 0;
    for (int l = 0; l < n_levels; l++) used |= 1u << vp->tile[l];
    return names[used & 7u];
}

/* The shader of a layer dispatch over tile t's grid (IG_SH_GEMM_RAW or IG_SH_GEMM_LEVEL asked). */
static int ig__sh_gemm(const ig_vk_context *ctx, int t, int shader) {
    int lv, rw;
    if (t == IG__TILE_COOP && ig__coop_khr(ctx) && ig__coop_khr_shaders(&lv, &rw))
        return shader == IG_SH_GEMM_RAW ? rw : lv;
    if (shader == IG_SH_GEMM_RAW) return ctx->fp16 ? IG_SH_GEMM_RAW_F16 : IG_SH_GEMM_RAW;
    return ctx->fp16 ? IG_SH_GEMM_LEVEL_F16 : IG_SH_GEMM_LEVEL;
}
static int ig__sh_rgb(const ig_vk_context *ctx) { return ctx->fp16 ? IG_SH_GEMM_RGB_F16 : IG_SH_GEMM_RGB; }

ig_result ig__vk_gemm_prepare(ig_vk_context *ctx, const ig__vk_plan *vp, ig_error *err) {
    VkPipeline p;
    uint32_t wg = IG_VK_WG, spec[8];
    ig_result res = ig__vk_pipeline_get(ctx, ig__sh_rgb(ctx), &wg, 1, &p, err);
    if (res == IG_OK) res = ig__vk_pipeline_get(ctx, IG_SH_GEMM_RGB_PART, &wg, 1, &p, err);
    for (int l = 0; l < vp->n_levels && res == IG_OK; l++) {
        int t = vp->tile[l];
        ig__vk_gemm_spec(ctx, t, spec);
        res = ig__vk_pipeline_get(ctx, ig__sh_gemm(ctx, t, IG_SH_GEMM_LEVEL), spec, 8, &p, err);
        if (res == IG_OK && t != IG__TILE_COOP) /* the layers with a fused ToRGB */
            res = ig__vk_pipeline_get(ctx, ctx->fp16 ? IG_SH_GEMM_LEVEL_RGB_F16 : IG_SH_GEMM_LEVEL_RGB,
                                      spec, 8, &p, err);
        if (res == IG_OK && l + 1 < vp->n_levels) /* the next level's coarse product */
            res = ig__vk_pipeline_get(ctx, ig__sh_gemm(ctx, t, IG_SH_GEMM_RAW), spec, 8, &p, err);
    }
    return res;
}

/* Whether the gemm level kernel can render this model on this context: asked for, with the
 * weight-generation pass (fp32 or fp16 storage), nearest or bilinear up-sampling (bilinear: the
 * coarse product and the running rgb gathered with four taps), with or without instance norm
 * (never on a level's first layer, conv0: the statistics of its input are taken over the
 * level's grid by norm.comp and folded into W's columns as the GEMM loads them; a render that
 * needs the separate statistics pass, a view, tile or stride, takes the factors from that pass,
 * which runs the per-pixel kernel over the native plan first),
 * and the layer structure the coarse trick expects (each level > 0 opens with an up-sampling
 * conv0; every other layer reads only the previous layer's features, level 0's first only the
 * embedding). */
bool ig__vk_gemm_model(const ig_vk_context *ctx, const ig_config *c, const ig__vk_model *vm) {
    if (!ctx->level_gemm || ctx->fused_fmm || vm->coop) return false;
    for (int q = 0; q < vm->n_ops; q++) {
        const ig__vk_op *op = &vm->ops[q];
        bool first = q == 0 || vm->ops[q - 1].level != op->level;
        if (first && op->type != IG__OP_FMM) return false;
        if (first && op->in_norm) return false;
        if (op->type != IG__OP_FMM) continue;
        if (first && op->level == 0 && op->c_x != 0) return false;
        if (first && op->level > 0 && !(c->blocks[op->block].upsamples && op->c_x > 0))
            return false;
        if (!first && (op->c_e != 0 || op->c_x == 0)) return false;
    }
    return true;
}

/* Sizes of the gemm kernel's buffers (per image: activations = the widest [C][pp] a layer
 * reads or writes, the coarse product included, in the storage precision; rgb = fp32 [3][pp]
 * of the largest level) into wk, and whether every descriptor window of one image fits the
 * storage range and every dispatch the workgroup-count limits (else the render runs the per-pixel kernel). */
bool ig__vk_gemm_layout(const ig_vk_context *ctx, const ig__vk_model *vm,
                            const ig__vk_plan *vp, ig__work *wk) {
    const VkPhysicalDeviceLimits *lim = &ctx->props.limits;
    uint64_t act = 16, pmax = 0, R = ctx->range, es = ctx->fp16 ? 2 : 4;
    for (int q = 0; q < vm->n_ops; q++) {
        const ig__vk_op *op = &vm->ops[q];
        int l = op->level;
        uint64_t pp = vp->pp[l], c = (uint64_t)(op->c_x > op->c_out ? op->c_x : op->c_out);
        if (c * pp > act) act = c * pp;
        if (op->type == IG__OP_FMM && l > 0 && op->c_x > 0 && (q == 0 || vm->ops[q - 1].level != l)) {
            uint64_t pc = vp->pp[l - 1]; /* the coarse product of an up-sampling conv0 */
            if ((uint64_t)op->c_out * pc > act) act = (uint64_t)op->c_out * pc;
        }
        /* its dispatches: this level's tile, the coarse product the previous level's */
        for (int t = l > 0 ? l - 1 : l; t <= l && op->type == IG__OP_FMM; t++)
            if (ig__vk_groups((uint64_t)op->c_out, ig__tile_bm(vp->tile[t])) >
                lim->maxComputeWorkGroupCount[1])
                return false;
    }
    for (int l = 0; l < vp->n_levels; l++) {
        if (vp->pp[l] > pmax) pmax = vp->pp[l];
        if ((uint64_t)vp->pp[l] * vp->ce[l] * es > R) return false;
        if (vp->pp[l] / ig__tile_bn(vp->tile[l]) > lim->maxComputeWorkGroupCount[0]) return false;
    }
    wk->feat_img = act * es;
    wk->rgb_img = 3 * pmax * 4;
    wk->part_img = 16;
    for (int q = 0; q < vm->n_ops; q++) /* instance norm: [h][c_x][2] row partials (norm.comp) */
        if (vm->ops[q].type == IG__OP_FMM && vm->ops[q].in_norm) {
            uint64_t b = (uint64_t)vp->h[vm->ops[q].level] * (uint64_t)vm->ops[q].c_x * 8;
            if (b > wk->part_img) wk->part_img = b;
        }
    for (int q = 0; q < vm->n_ops; q++) /* fused ToRGB: [output tiles][3][pp] fp32 */
        if (ig__fused_rgb(vm, vp, q)) {
            int l = vm->ops[q].level;
            uint64_t b = (uint64_t)ig__vk_groups((uint64_t)vm->ops[q].c_out, ig__tile_bm(vp->tile[l])) *
                         3 * vp->pp[l] * 4;
            if (b > wk->part_img) wk->part_img = b;
        }
    return wk->feat_img <= R && wk->rgb_img <= R && wk->part_img <= R &&
           (uint64_t)vm->inv_len * 4 <= R && (uint64_t)vm->gw_stride * es <= R &&
           (uint64_t)vm->s_stride * 4 <= R;
}

/* One layer_gemm.comp dispatch for images [n0, n0 + k): Y = W[:, col : col + K] X over P
 * (padded) pixels of level l, W the per-image weight of FMM `op`. IG_SH_GEMM_LEVEL adds the
 * bias, and with `a` the coarse product [c_out][a_P] gathered through the level's maps, before
 * lrelu * sqrt(2); IG_SH_GEMM_RAW stores the product as is (the _F16 twins: fp16 storage).
 * x_img: X's per-image stride in elements (0: shared, the embedding). */
typedef struct ig__gemm_io {
    const ig_vk_buf *x, *y, *a;
    uint64_t x_img;
    uint32_t P, a_P;
    int tile; /* the tile set of the level whose grid it runs over */
} ig__gemm_io;

static void ig__gemm_layer(ig__vk_builder *b, const ig__chunk *ch, int shader, const ig__vk_op *op,
                           uint32_t col, uint32_t K, const ig__gemm_io *io, uint32_t n0,
                           uint32_t k, const ig__vk_op *rgb) {
    const ig__work *wk = ch->wk;
    const ig__vk_plan *vp = wk->vp[IG__PASS_RENDER];
    const ig__vk_model *vm = ch->vm;
    int l = op->level;
    const ig_vk_context *ctx = b->ctx;
    uint32_t es = (uint32_t)wk->es;
    uint64_t A = wk->feat_img / es, gs = vm->gw_stride, P = io->P;
    uint32_t cout = (uint32_t)op->c_out, wrow = (uint32_t)(op->c_x + op->c_e);
    ig__vk_disp *d;
    int sh = ig__sh_gemm(ctx, io->tile, shader);
    if (rgb) sh = ctx->fp16 ? IG_SH_GEMM_LEVEL_RGB_F16 : IG_SH_GEMM_LEVEL_RGB;
    uint32_t *m = ig__vk_disp_new(b, sh, rgb ? IGR_GEMM_RGB_WORDS : IGR_GEMM_ADD_WORDS, &d);
    if (!m) return; /* raw: reads its head */
    ig__vk_gemm_spec(ctx, io->tile, d->spec);
    d->n_spec = 8;
    m[IGR_GEMM_c_in] = K;
    m[IGR_GEMM_c_out] = cout;
    m[IGR_GEMM_p4] = (uint32_t)(P / 4);
    if (K > 0)
        m[IGR_GEMM_x_base] = ig__vk_bind(b, d, 1, io->x, (uint64_t)n0 * io->x_img * es,
                                         ((uint64_t)(k - 1) * io->x_img + (uint64_t)K * P) * es,
                                         4 * es);
    else
        ig__vk_bind_dummy(b, d, 1);
    m[IGR_GEMM_x_img] = (uint32_t)(io->x_img / 4);
    m[IGR_GEMM_y_base] = ig__vk_bind(b, d, 2, io->y, (uint64_t)n0 * A * es,
                                     ((uint64_t)(k - 1) * A + (uint64_t)cout * P) * es, 4 * es);
    m[IGR_GEMM_y_img] = (uint32_t)(A / 4);
    /* W from column col to the end of the op's weights (the base then points at column col) */
    m[IGR_GEMM_w_base] = ig__vk_bind(b, d, 3, &wk->gw, ((uint64_t)n0 * gs + op->gw_off + col) * es,
                                     ((uint64_t)(k - 1) * gs + (uint64_t)cout * wrow - col) * es,
                                     es);
    m[IGR_GEMM_w_img] = (uint32_t)gs;
    m[IGR_GEMM_w_row] = wrow;
    d->gx = (uint32_t)(P / ig__tile_bn(io->tile));
    d->gy = ig__vk_groups(cout, ig__tile_bm(io->tile));
    d->gz = k;
    if (shader == IG_SH_GEMM_RAW) return;
    uint32_t H = (uint32_t)vp->h[l], W = (uint32_t)vp->w[l];
    m[IGR_GEMM_ADD_b_base] = ig__vk_bind(b, d, 4, &vm->params, (uint64_t)op->b_off * 4,
                                         (uint64_t)cout * 4, 4);
    m[IGR_GEMM_ADD_add_on] = io->a ? 1u : 0u;
    if (io->a) {
        m[IGR_GEMM_ADD_a_base] = ig__vk_bind(b, d, 5, io->a, (uint64_t)n0 * A * es,
                                             ((uint64_t)(k - 1) * A + (uint64_t)cout * io->a_P) * es,
                                             es);
        m[IGR_GEMM_ADD_rowmap_base] = ig__vk_bind(b, d, 6, &vp->maps[l], 0, (uint64_t)H * 16, 4);
        m[IGR_GEMM_ADD_colmap_base] = ig__vk_bind(b, d, 7, &vp->maps[l], (uint64_t)H * 16,
                                                  (uint64_t)W * 16, 4);
    } else {
        ig__vk_bind_dummy(b, d, 5);
        ig__vk_bind_dummy(b, d, 6);
        ig__vk_bind_dummy(b, d, 7);
    }
    m[IGR_GEMM_ADD_a_img] = (uint32_t)A;
    m[IGR_GEMM_ADD_a_p] = io->a_P;
    m[IGR_GEMM_ADD_width] = W;
    m[IGR_GEMM_ADD_wc] = l > 0 ? (uint32_t)vp->w[l - 1] : 0;
    m[IGR_GEMM_ADD_np] = H * W;
    if (op->in_norm) { /* the factors norm.comp wrote for this layer's input (ig__gemm_norm) */
        uint64_t is = wk->inv_img / 4;
        m[IGR_GEMM_ADD_norm_on] = 1;
        m[IGR_GEMM_ADD_inv_base] = ig__vk_bind(b, d, 11, &wk->inv, ((uint64_t)n0 * is + op->inv_off) * 4,
                                               ((uint64_t)(k - 1) * is + K) * 4, 4);
        m[IGR_GEMM_ADD_inv_img] = (uint32_t)is;
    } else {
        ig__vk_bind_dummy(b, d, 11);
    }
    if (!rgb) return;
    /* the fused ToRGB: its factors s, W_rgb [3][c_out], the partial sums [gy][3][P] */
    uint64_t ss = vm->s_stride, PI = wk->part_img / 4;
    m[IGR_GEMM_RGB_s_base] = ig__vk_bind(b, d, 8, &wk->s, ((uint64_t)n0 * ss + rgb->s_off) * 4,
                                         ((uint64_t)(k - 1) * ss + cout) * 4, 4);
    m[IGR_GEMM_RGB_s_img] = (uint32_t)ss;
    m[IGR_GEMM_RGB_p_base] = ig__vk_bind(b, d, 9, &wk->part, (uint64_t)n0 * PI * 4,
                                         ((uint64_t)(k - 1) * PI + (uint64_t)d->gy * 3 * P) * 4, 16);
    m[IGR_GEMM_RGB_p_img] = (uint32_t)(PI / 4);
    m[IGR_GEMM_RGB_wrgb_base] = ig__vk_bind(b, d, 10, &vm->params, (uint64_t)rgb->ws_off * 4,
                                            3ull * cout * 4, 4);
}

/* ToRGB `op` of level l (rgb_accum.comp, IG_RGB_MOD) for images [n0, n0 + k): reads the
 * activations x, writes rgb `out`; mode 1 starts from 0, 2 from the coarse rgb `prev` gathered
 * through the maps, 0 accumulates. */
static void ig__gemm_rgb(ig__vk_builder *b, const ig__chunk *ch, const ig__vk_op *op,
                         const ig_vk_buf *x, const ig_vk_buf *out, const ig_vk_buf *prev,
                         uint32_t mode, uint32_t n0, uint32_t k, uint32_t parts) {
    const ig__work *wk = ch->wk;
    const ig__vk_plan *vp = wk->vp[IG__PASS_RENDER];
    const ig__vk_model *vm = ch->vm;
    int l = op->level;
    uint32_t es = (uint32_t)wk->es;
    uint64_t A = wk->feat_img / es, RI = wk->rgb_img / 4, ss = vm->s_stride, P = vp->pp[l];
    uint32_t cin = (uint32_t)op->c_x, H = (uint32_t)vp->h[l], W = (uint32_t)vp->w[l];
    uint32_t np = H * W;
    ig__vk_disp *d;
    int sh = ig__sh_rgb(b->ctx);
    if (parts) { /* the partial sums of the fused ToRGB (fp32) instead of the activations */
        sh = IG_SH_GEMM_RGB_PART;
        x = &wk->part;
        es = 4;
        A = wk->part_img / 4;
        cin = parts;
    }
    uint32_t *m = ig__vk_disp_new(b, sh, IGR_RGB_MOD_WORDS, &d);
    if (!m) return;
    m[IGR_RGB_c_in] = cin;
    m[IGR_RGB_p] = (uint32_t)P;
    m[IGR_RGB_np] = np;
    m[IGR_RGB_x_base] = ig__vk_bind(b, d, 1, x, (uint64_t)n0 * A * es,
                                    ((uint64_t)(k - 1) * A + (parts ? 3ull : 1ull) * cin * P) * es,
                                    es);
    m[IGR_RGB_x_img] = (uint32_t)A;
    m[IGR_RGB_w_base] = ig__vk_bind(b, d, 2, &wk->s, ((uint64_t)n0 * ss + op->s_off) * 4,
                                    ((uint64_t)(k - 1) * ss + (uint32_t)op->c_x) * 4, 4);
    m[IGR_RGB_w_img] = (uint32_t)ss;
    /* W_rgb [3][cin] then the bias: one range of params */
    m[IGR_RGB_MOD_wrgb_base] = ig__vk_bind(b, d, 3, &vm->params, (uint64_t)op->ws_off * 4,
                                           (3ull * (uint32_t)op->c_x + 3) * 4, 4);
    m[IGR_RGB_b_base] = m[IGR_RGB_MOD_wrgb_base] + (op->b_off - op->ws_off);
    m[IGR_RGB_mode] = mode;
    m[IGR_RGB_n_img] = k;
    for (uint32_t o = 0; o < 3; o++)
        m[IGR_RGB_out_r + o] = ig__vk_bind(b, d, 4 + o, out, ((uint64_t)n0 * RI + o * P) * 4,
                                           ((uint64_t)(k - 1) * RI + np) * 4, 4);
    m[IGR_RGB_out_img] = (uint32_t)RI;
    if (mode == 2) {
        uint32_t Pc = vp->pp[l - 1];
        m[IGR_RGB_MOD_width] = W;
        m[IGR_RGB_MOD_wc] = (uint32_t)vp->w[l - 1];
        m[IGR_RGB_MOD_rowmap_base] = ig__vk_bind(b, d, 8, &vp->maps[l], 0, (uint64_t)H * 16, 4);
        m[IGR_RGB_MOD_colmap_base] = ig__vk_bind(b, d, 9, &vp->maps[l], (uint64_t)H * 16,
                                                 (uint64_t)W * 16, 4);
        m[IGR_RGB_MOD_c_base] = ig__vk_bind(b, d, 7, prev, (uint64_t)n0 * RI * 4,
                                            ((uint64_t)(k - 1) * RI + 3ull * Pc) * 4, 4);
        m[IGR_RGB_MOD_c_img] = (uint32_t)RI;
        m[IGR_RGB_MOD_c_p] = Pc;
    } else {
        ig__vk_bind_dummy(b, d, 7);
        ig__vk_bind_dummy(b, d, 8);
        ig__vk_bind_dummy(b, d, 9);
    }
    d->gx = ig__vk_groups(np, IG_VK_WG);
    d->gy = k;
}

/* Instance norm of FMM `op`'s input x (channel-major [c_x][pp] of level l, the H x W image
 * without its padding) for images [n0, n0 + k): norm.comp's row partials (channel-major
 * reads) into wk->part, merged into inv[n][op->inv_off + c] = 1 / (sigma + 1e-8), which the
 * layer's dispatch folds into W's columns. */
static void ig__gemm_norm(ig__vk_builder *b, const ig__chunk *ch, const ig__vk_op *op,
                          const ig_vk_buf *x, uint32_t n0, uint32_t k) {
    const ig__work *wk = ch->wk;
    const ig__vk_plan *vp = wk->vp[IG__PASS_RENDER];
    int l = op->level;
    uint32_t es = (uint32_t)wk->es, C = (uint32_t)op->c_x, H = (uint32_t)vp->h[l],
             W = (uint32_t)vp->w[l];
    uint64_t A = wk->feat_img / es, P = vp->pp[l], pimg = wk->part_img / 4;
    ig__vk_disp *d;
    uint32_t *m = ig__vk_disp_new(b, es == 2 ? IG_SH_NORM1_F16 : IG_SH_NORM1, IGR_NORM1_WORDS, &d);
    if (!m) return;
    m[IGR_NORM1_c] = C;
    m[IGR_NORM1_w] = W;
    m[IGR_NORM1_rows] = H;
    m[IGR_NORM1_n_img] = k;
    m[IGR_NORM1_f_base] = ig__vk_bind(b, d, 1, x, (uint64_t)n0 * A * es,
                                      ((uint64_t)(k - 1) * A + (uint64_t)C * P) * es, es);
    m[IGR_NORM1_f_stride] = (uint32_t)A;
    m[IGR_NORM1_cm_p] = (uint32_t)P;
    m[IGR_NORM1_p_base] = ig__vk_bind(b, d, 2, &wk->part, (uint64_t)n0 * pimg * 4,
                                      ((uint64_t)(k - 1) * pimg + (uint64_t)H * C * 2) * 4, 4);
    m[IGR_NORM1_p_stride] = (uint32_t)pimg;
    m[IGR_NORM1_prow0] = 0;
    d->gx = ig__vk_groups(C, IG_VK_WG);
    d->gy = H;
    d->gz = k;
    ig__vk_plan_norm2(b, wk, C, W, H, (uint32_t)op->inv_off, n0, k);
}

/* Every level of the render's plan on the gemm kernel, per group of images: activations
 * ping-pong between feat[0] and feat[1] (an up-sampling conv0 writes its coarse product into
 * the free buffer, then its output over the coarse input it no longer needs), rgb between
 * rgb[0] and rgb[1] (once per level). */
void ig__vk_plan_gemm_levels(ig__vk_builder *b, const ig__chunk *ch) {
    const ig_vk_context *ctx = b->ctx;
    const ig__vk_model *vm = ch->vm;
    ig__work *wk = ch->wk;
    const ig__vk_plan *vp = wk->vp[IG__PASS_RENDER];
    const VkPhysicalDeviceLimits *lim = &ctx->props.limits;
    uint64_t mx = wk->feat_img, es = wk->es;
    uint64_t per[] = {wk->rgb_img, (uint64_t)vm->gw_stride * es, (uint64_t)vm->s_stride * 4,
                      wk->part_img, wk->inv_img};
    for (size_t i = 0; i < sizeof per / sizeof per[0]; i++)
        if (per[i] > mx) mx = per[i];
    uint32_t kg = ig__vk_min32(ctx->range / mx, ch->kv); /* >= 1: ig__gemm_layout */
    kg = ig__vk_min32(kg, lim->maxComputeWorkGroupCount[2]);
    kg = ig__vk_min32(kg, lim->maxComputeWorkGroupCount[1]);
    if (kg < 1) kg = 1;
    for (uint32_t n0 = 0; n0 < (uint32_t)ch->B; n0 += kg) {
        uint32_t k = ig__vk_min32((uint64_t)ch->B - n0, kg);
        int cur = 0, rc = 0;
        bool rgb_started = false;
        for (int q = 0; q < vm->n_ops; q++) {
            const ig__vk_op *op = &vm->ops[q];
            int l = op->level;
            b->level_tag = l + 1; /* per-phase device time (vk_disp.c) */
            bool first = q == 0 || vm->ops[q - 1].level != l;
            if (first) rgb_started = false;
            if (op->type == IG__OP_TORGB) {
                /* fused into the previous layer: the sums of its output tiles' partials */
                uint32_t parts = q > 0 && ig__fused_rgb(vm, vp, q - 1)
                                     ? ig__vk_groups((uint64_t)vm->ops[q - 1].c_out,
                                                     ig__tile_bm(vp->tile[l]))
                                     : 0;
                if (rgb_started) {
                    ig__gemm_rgb(b, ch, op, &wk->feat[cur], &wk->rgb[rc], NULL, 0, n0, k, parts);
                } else if (l == 0) {
                    rc = 0;
                    ig__gemm_rgb(b, ch, op, &wk->feat[cur], &wk->rgb[rc], NULL, 1, n0, k, parts);
                } else {
                    ig__gemm_rgb(b, ch, op, &wk->feat[cur], &wk->rgb[1 - rc], &wk->rgb[rc], 2,
                                 n0, k, parts);
                    rc = 1 - rc;
                }
                rgb_started = true;
                continue;
            }
            uint32_t P = vp->pp[l], cx = (uint32_t)op->c_x, ce = (uint32_t)op->c_e;
            const ig__vk_op *frgb = ig__fused_rgb(vm, vp, q);
            if (first && l > 0) { /* up-sampling conv0: the coarse trick */
                ig__gemm_io coarse = {&wk->feat[cur], &wk->feat[1 - cur], NULL,
                                      wk->feat_img / es, vp->pp[l - 1], 0, vp->tile[l - 1]};
                ig__gemm_layer(b, ch, IG_SH_GEMM_RAW, op, 0, cx, &coarse, n0, k, NULL);
                ig__gemm_io fine = {&vp->emb_cm[l], &wk->feat[cur], &wk->feat[1 - cur], 0, P,
                                    vp->pp[l - 1], vp->tile[l]};
                ig__gemm_layer(b, ch, IG_SH_GEMM_LEVEL, op, cx, ce, &fine, n0, k, frgb);
            } else if (first) { /* level 0's first layer: the embedding only */
                cur = 0;
                ig__gemm_io io = {&vp->emb_cm[l], &wk->feat[cur], NULL, 0, P, 0, vp->tile[l]};
                ig__gemm_layer(b, ch, IG_SH_GEMM_LEVEL, op, 0, ce, &io, n0, k, frgb);
            } else {
                /* the factors: from the statistics pass when there was one, else its input's */
                if (op->in_norm && !wk->stats) ig__gemm_norm(b, ch, op, &wk->feat[cur], n0, k);
                ig__gemm_io io = {&wk->feat[cur], &wk->feat[1 - cur], NULL, wk->feat_img / es, P,
                                  0, vp->tile[l]};
                ig__gemm_layer(b, ch, IG_SH_GEMM_LEVEL, op, 0, cx, &io, n0, k, frgb);
                cur = 1 - cur;
            }
        }
        wk->gemm_rgb = rc;
    }
}

/* ---- one layer timed (inrgan bench --gemm-sweep) ------------------------------------------ */

/* The gemm kernel's name when tile t runs on this context (ig_vk_gemm_time). */
static const char *ig__tile_kernel(const ig_vk_context *ctx, int t) {
    if (t == IG__TILE_COOP) return ig__coop_khr(ctx) ? "gemm-coop-khr" : "gemm-coop-emu";
    return ctx->fp16 ? "gemm-f16" : "gemm";
}

/* The dispatches of one repetition: groups of k images over the same buffers until `batch`
 * images were computed (the layer's real epilogue: bias + lrelu, no gathered addend). */
static void ig__time_plan(ig__vk_builder *b, int t, const ig_vk_buf *x, const ig_vk_buf *w,
                          const ig_vk_buf *y, const ig_vk_buf *bias, uint32_t P, uint32_t cin,
                          uint32_t cout, uint32_t k, uint32_t batch, int reps) {
    const ig_vk_context *ctx = b->ctx;
    uint32_t es = ctx->fp16 ? 2 : 4;
    for (int rep = 0; rep < reps; rep++)
        for (uint32_t n0 = 0; n0 < batch; n0 += k) {
            uint32_t g = ig__vk_min32(batch - n0, k);
            ig__vk_disp *d;
            uint32_t *m = ig__vk_disp_new(b, ig__sh_gemm(ctx, t, IG_SH_GEMM_LEVEL),
                                          IGR_GEMM_ADD_WORDS, &d);
            if (!m) return;
            ig__vk_gemm_spec(ctx, t, d->spec);
            d->n_spec = 8;
            m[IGR_GEMM_c_in] = cin;
            m[IGR_GEMM_c_out] = cout;
            m[IGR_GEMM_p4] = P / 4;
            m[IGR_GEMM_x_base] = ig__vk_bind(b, d, 1, x, 0, (uint64_t)g * cin * P * es, 4 * es);
            m[IGR_GEMM_x_img] = cin * P / 4;
            m[IGR_GEMM_y_base] = ig__vk_bind(b, d, 2, y, 0, (uint64_t)g * cout * P * es, 4 * es);
            m[IGR_GEMM_y_img] = cout * P / 4;
            m[IGR_GEMM_w_base] = ig__vk_bind(b, d, 3, w, 0, (uint64_t)g * cout * cin * es, es);
            m[IGR_GEMM_w_img] = cout * cin;
            m[IGR_GEMM_w_row] = cin;
            m[IGR_GEMM_ADD_b_base] = ig__vk_bind(b, d, 4, bias, 0, (uint64_t)cout * 4, 4);
            m[IGR_GEMM_ADD_add_on] = 0;
            ig__vk_bind_dummy(b, d, 5);
            ig__vk_bind_dummy(b, d, 6);
            ig__vk_bind_dummy(b, d, 7);
            ig__vk_bind_dummy(b, d, 11);
            d->gx = P / ig__tile_bn(t);
            d->gy = ig__vk_groups(cout, ig__tile_bm(t));
            d->gz = g;
        }
}

/* One submission of `reps` repetitions; *ms: its device time (wall time without timestamps). */
static ig_result ig__time_run(ig_vk_context *ctx, int t, ig_vk_arena *ar, const ig_vk_buf *buf,
                              uint32_t P, uint32_t cin, uint32_t cout, uint32_t k, uint32_t batch,
                              int reps, double *ms, ig_error *err) {
    ig__vk_builder b = {.ctx = ctx, .dry = true};
    ig_vk_uploads ups = {0};
    ig_vk_buf meta = {0};
    ig__time_plan(&b, t, &buf[0], &buf[1], &buf[2], &buf[3], P, cin, cout, k, batch, reps);
    ig_result res = ig__vk_builder_status(&b, err);
    uint64_t meta_bytes = (uint64_t)b.n_meta * 4;
    ig__vk_builder_free(&b);
    if (res == IG_OK) res = ig__vk_arena_alloc(ctx, ar, meta_bytes + 256, &meta, err);
    if (res != IG_OK) return res;
    b = (ig__vk_builder){.ctx = ctx, .meta_buf = &meta, .dummy = &buf[4]};
    ig__time_plan(&b, t, &buf[0], &buf[1], &buf[2], &buf[3], P, cin, cout, k, batch, reps);
    res = ig__vk_builder_status(&b, err);
    if (res == IG_OK) res = ig__vk_disp_sets(&b, meta_bytes, "gemm-time ", err);
    if (res == IG_OK) res = ig__vk_disp_upload_meta(&b, &ups, err);
    const void *host = NULL;
    ctx->gpu_ms = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (res == IG_OK) res = ig__vk_disp_submit(&b, &ups, NULL, &buf[2], 16, &host, err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (res == IG_OK)
        *ms = ctx->ts_pool ? ctx->gpu_ms
                           : 1e3 * (double)(t1.tv_sec - t0.tv_sec) + 1e-6 * (double)(t1.tv_nsec - t0.tv_nsec);
    ig__vk_builder_free(&b);
    ig__vk_arena_free(ctx, &ctx->stage);
    free(ups.u);
    return res;
}

ig_result ig_vk_gemm_time(ig_vk_context *ctx, int pixels, int c_in, int c_out, int batch,
                          const char *tile, int reps, double *ms, const char **kernel,
                          ig_error *err) {
    if (ms) *ms = -1;
    if (kernel) *kernel = "";
    if (!ctx || !tile || !ms || pixels < 1 || c_in < 1 || c_out < 1 || batch < 1 || reps < 1 ||
        pixels > (1 << 26) || c_in > 65536 || c_out > 65536)
        return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "ig_vk_gemm_time: bad arguments");
    if (ctx->lost)
        return ig_error_set(err, IG_ERR_DEVICE_LOST, "%s was lost earlier; create a new context",
                            ctx->info.name);
    int t = -1;
    for (int i = 0; i < IG__N_TILES; i++)
        if (strcmp(tile, ig__gemm_tiles[i].name) == 0) t = i;
    if (t < 0)
        return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "ig_vk_gemm_time: tile %s is not small, "
                            "large or coop", tile);
    if (!ig__vk_gemm_tile_fits(ctx, t, NULL))
        return ig_error_set(err, IG_ERR_UNSUPPORTED, "the %s tile does not run on %s (%s)", tile,
                            ctx->info.name,
                            t == IG__TILE_COOP ? "it needs fp16 storage and KHR cooperative "
                                                 "matrices, or INRGAN_VK_COOP_EMU=1"
                                               : "workgroup size or shared memory");
    uint32_t P = ig__pad_tile((uint64_t)pixels, t), cin = (uint32_t)c_in, cout = (uint32_t)c_out;
    uint64_t es = ctx->fp16 ? 2 : 4, R = ctx->range;
    uint64_t per[3] = {(uint64_t)cin * P * es, (uint64_t)cout * P * es, (uint64_t)cout * cin * es};
    uint64_t big = per[0] > per[1] ? per[0] : per[1];
    if (per[2] > big) big = per[2];
    if (big > R || (uint64_t)P / ig__tile_bn(t) > ctx->props.limits.maxComputeWorkGroupCount[0])
        return ig_error_set(err, IG_ERR_UNSUPPORTED, "one image of this layer exceeds the storage "
                            "range or the workgroup counts of %s", ctx->info.name);
    if (ctx->loop_limit && (uint64_t)(cin + 15) / 16 + 8 > ctx->loop_limit)
        return ig_error_set(err, IG_ERR_UNSUPPORTED, "c_in %d exceeds %s's loop limit", c_in,
                            ctx->info.name);
    /* one group of images, its buffers reused by every group: within the range, a quarter of
     * the budget and the workgroup-count limits */
    uint64_t k = R / big, budget = ig__vk_heap_left(ctx) / 4 / (per[0] + per[1] + per[2] + 1);
    if (budget < k) k = budget;
    if ((uint64_t)batch < k) k = (uint64_t)batch;
    k = ig__vk_min32(k, ctx->props.limits.maxComputeWorkGroupCount[2]);
    if (k < 1) k = 1;
    ig_vk_arena ar = {.device = true};
    ig_vk_buf buf[5] = {{0}}; /* x, w, y, bias, dummy */
    uint64_t sizes[5] = {per[0] * k, per[2] * k, per[1] * k, (uint64_t)cout * 4, 256};
    ig_vk_uploads ups = {0};
    ig_result res = IG_OK;
    for (int i = 0; i < 5 && res == IG_OK; i++) res = ig__vk_arena_alloc(ctx, &ar, sizes[i], &buf[i], err);
    /* inputs: small values, no denormals (x, w: fp16 or fp32; bias fp32) */
    for (int i = 0; i < 4 && res == IG_OK; i++) {
        void *p;
        res = ig__vk_upload_ptr(ctx, &ups, &buf[i], 0, sizes[i], &p, err);
        uint64_t n = i == 3 ? cout : sizes[i] / es;
        for (uint64_t j = 0; j < n && res == IG_OK; j++) {
            float v = 0.01f * (float)((int)(j * 7 % 13) - 6);
            if (i < 3 && es == 2)
                ((uint16_t *)p)[j] = ig_float_to_half(v);
            else
                ((float *)p)[j] = v;
        }
    }
    res = ig__vk_uploads_end(ctx, &ups, res, err);
    double warm = 0;
    if (res == IG_OK) /* pipelines, caches, clocks */
        res = ig__time_run(ctx, t, &ar, buf, P, cin, cout, (uint32_t)k, (uint32_t)batch, 1, &warm, err);
    if (res == IG_OK)
        res = ig__time_run(ctx, t, &ar, buf, P, cin, cout, (uint32_t)k, (uint32_t)batch, reps, ms, err);
    if (res == IG_OK) {
        *ms /= reps;
        if (kernel) *kernel = ig__tile_kernel(ctx, t);
    } else {
        *ms = -1;
    }
    if (!ctx->lost) ig__vk_wait_idle(ctx);
    ig__vk_arena_free(ctx, &ar);
    return res;
}

/* The coarse product of up-sampling conv0 `op` alone, over the previous level's grid and tile
 * set as ig__vk_plan_gemm_levels runs it (used by the fused level kernel, vk_inrgan_tile.c). */
void ig__vk_gemm_coarse(ig__vk_builder *b, const ig__chunk *ch, const ig__vk_op *op,
                        const ig_vk_buf *x, const ig_vk_buf *y, uint32_t n0, uint32_t k) {
    const ig__work *wk = ch->wk;
    const ig__vk_plan *vp = wk->vp[IG__PASS_RENDER];
    int lc = op->level - 1;
    ig__gemm_io io = {x, y, NULL, wk->feat_img / (uint64_t)wk->es, vp->pp[lc], 0, vp->tile[lc]};
    ig__gemm_layer(b, ch, IG_SH_GEMM_RAW, op, 0, (uint32_t)op->c_x, &io, n0, k, NULL);
}
