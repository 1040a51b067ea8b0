/* vk_inrgan_tile.c - the INR-GAN family's "fused" level kernel (ig_vk_desc.level_kernel =
 * IG_VK_KERNEL_FUSED, INRGAN_VK_KERNEL=fused): the gemm kernel (vk_inrgan_gemm.c) plus, for the
 * levels whose widths fit, one dispatch per level that keeps the activations in shared memory
 * (level_tile.comp, tiny-cuda-nn style: a workgroup owns a tile of T pixels of one image, runs
 * every layer and ToRGB of the level, weights streamed from global memory).
 *
 * The fused levels are the longest suffix of the plan's levels that fit (widths shrink with the
 * level: FFHQ-256's levels 2 and 3); the levels before them run on the gemm kernel unchanged
 * (ig__vk_plan_gemm_levels over a copy of the model cut after their ops). A fused level > 0
 * first gets the exact coarse trick's coarse product W[:, :c_prev] X_prev from layer_gemm.comp
 * (IG_EPI_NONE, ig__vk_gemm_coarse) into the free activation buffer; level_tile.comp gathers it
 * in its first layer, reads the embedding channel-major, writes rgb [3][P] once per pixel (from
 * the coarse rgb gathered through the maps, like rgb_accum.comp's mode 2) and, when a later
 * level needs them, its last layer's features [C][P] over the coarse input it no longer needs.
 * Same model restrictions and buffers as the gemm kernel (ig__vk_gemm_model, _layout).
 * The "fused16" kernel (IG_VK_KERNEL_FUSED16, INRGAN_VK_KERNEL=fused16) is the same with the
 * activations kept as fp16 in shared memory (level_tile.comp -DIG_F16: tiles of twice the
 * pixels; fp32 arithmetic, fp32 in global memory; results within fp16 storage's tolerance). */
#include "vk_inrgan.h"

#include <stdlib.h>
#include <string.h>

#include "records/tile.h"

#define IG__TILE_MAXW 256u /* widest level fused (CS): wider ones stay on the gemm kernel */
#define IG__TILE_KB 8u     /* level_tile.comp's KB */

/* ops [*op0, *op1) of level l */
static void ig__level_ops(const ig__vk_model *vm, int l, int *op0, int *op1) {
    int a = 0;
    while (a < vm->n_ops && vm->ops[a].level < l) a++;
    int e = a;
    while (e < vm->n_ops && vm->ops[e].level == l) e++;
    *op0 = a;
    *op1 = e;
}

/* Shared-memory bytes of level_tile.comp for spec {T, CS, CO}, activations of es bytes. */
static uint64_t ig__tile_shared(uint32_t t, uint32_t cs, uint32_t co, uint32_t es) {
    return 2ull * cs * t * es + 4ull * ((uint64_t)IG__TILE_KB * (co + 4) + 3ull * t);
}

/* The variant: fp16 activations in shared memory for the "fused16" kernel. */
static int ig__tile_shader(const ig_vk_context *ctx) {
    return ctx->level_fused16 ? IG_SH_LEVEL_TILE_F16 : IG_SH_LEVEL_TILE;
}

/* level_tile.comp's specialization constants for level l: {T, CS, CO}; false when the level is
 * too wide or no tile of 8 pixels fits the device's shared memory. */
static bool ig__tile_spec(const ig_vk_context *ctx, const ig__vk_model *vm, int l,
                          uint32_t spec[3]) {
    int op0, op1;
    ig__level_ops(vm, l, &op0, &op1);
    if (op0 == op1 || vm->ops[op0].type != IG__OP_FMM) return false;
    uint32_t cs = (uint32_t)vm->ops[op0].c_e, co = 1;
    for (int q = op0; q < op1; q++) {
        const ig__vk_op *op = &vm->ops[q];
        uint32_t in = (uint32_t)(q == op0 ? op->c_e : op->c_x);
        if (in > cs) cs = in;
        if (op->type == IG__OP_FMM && (uint32_t)op->c_out > co) co = (uint32_t)op->c_out;
        if ((uint32_t)op->c_out > cs && op->type == IG__OP_FMM) cs = (uint32_t)op->c_out;
    }
    cs = (cs + 7u) / 8u * 8u; /* similar levels share a pipeline */
    co = (co + 7u) / 8u * 8u;
    if (cs > IG__TILE_MAXW || co > IG__TILE_MAXW) return false;
    uint64_t lim = ctx->props.limits.maxComputeSharedMemorySize;
    if (ctx->props.limits.maxComputeWorkGroupInvocations < 256 ||
        ctx->props.limits.maxComputeWorkGroupSize[0] < 256)
        return false;
    for (uint32_t t = 64; t >= 8; t /= 2)
        if (ig__tile_shared(t, cs, co, ctx->level_fused16 ? 2 : 4) <= lim) {
            spec[0] = t;
            spec[1] = cs;
            spec[2] = co;
            return true;
        }
    return false;
}

/* Extents of level l's ops in the per-image weights [gw0, gw1), the params [p0, p1) and the
 * ToRGB factors [s0, s1) (s1 == s0: no ToRGB). */
typedef struct ig__tile_ext {
    int op0, op1;
    uint64_t gw0, gw1, p0, p1, s0, s1;
} ig__tile_ext;

static ig__tile_ext ig__tile_extents(const ig__vk_model *vm, int l) {
    ig__tile_ext e;
    memset(&e, 0, sizeof e);
    ig__level_ops(vm, l, &e.op0, &e.op1);
    bool fmm = false, rgb = false;
    for (int q = e.op0; q < e.op1; q++) {
        const ig__vk_op *op = &vm->ops[q];
        uint64_t pa = op->ws_off < op->b_off ? op->ws_off : op->b_off;
        uint64_t pb = (uint64_t)op->b_off + (uint64_t)op->L->bias->numel;
        if (q == e.op0 || pa < e.p0) e.p0 = pa;
        if (q == e.op0 || pb > e.p1) e.p1 = pb;
        if (op->type == IG__OP_FMM) {
            uint64_t a = op->gw_off, b = a + (uint64_t)op->c_out * (uint64_t)(op->c_x + op->c_e);
            if (!fmm || a < e.gw0) e.gw0 = a;
            if (!fmm || b > e.gw1) e.gw1 = b;
            fmm = true;
        } else {
            uint64_t a = op->s_off, b = a + (uint64_t)op->c_x;
            if (!rgb || a < e.s0) e.s0 = a;
            if (!rgb || b > e.s1) e.s1 = b;
            rgb = true;
        }
    }
    return e;
}

/* The image group of one dispatch (as the gemm kernel's: every per-image window fits). */
static uint32_t ig__tile_group(const ig_vk_context *ctx, const ig__chunk *ch) {
    const ig__work *wk = ch->wk;
    const ig__vk_model *vm = ch->vm;
    const VkPhysicalDeviceLimits *lim = &ctx->props.limits;
    uint64_t mx = wk->feat_img;
    uint64_t per[] = {wk->rgb_img, (uint64_t)vm->gw_stride * 4, (uint64_t)vm->s_stride * 4};
    for (size_t i = 0; i < sizeof per / sizeof per[0]; i++)
        if (per[i] > mx) mx = per[i];
    uint32_t kg = ig__vk_min32(ctx->range / mx, ch->kv);
    kg = ig__vk_min32(kg, lim->maxComputeWorkGroupCount[2]);
    kg = ig__vk_min32(kg, lim->maxComputeWorkGroupCount[1]);
    return kg < 1 ? 1 : kg;
}

int ig__vk_tile_from(const ig_vk_context *ctx, const ig__vk_model *vm, const ig__vk_plan *vp,
                     const ig__work *wk) {
    int from = vp->n_levels;
    /* fp32 gemm buffers only (level_tile.comp reads and writes them as fp32) */
    if (!ctx->level_fused || !wk->gemm || wk->es != 4) return from;
    if (vp->gemm_only) return from; /* level_tile.comp: nearest (one tap), no instance norm */
    for (int l = vp->n_levels - 1; l >= 0; l--) {
        uint32_t spec[3];
        if (!ig__tile_spec(ctx, vm, l, spec)) break;
        ig__tile_ext e = ig__tile_extents(vm, l);
        uint64_t np = (uint64_t)vp->w[l] * vp->h[l];
        /* a tile of T pixels never reads past the level's padded pixels: pp is a multiple of
         * its gemm tile set's BN (64 or 128), T <= 64 a power of two */
        if (vp->pp[l] % spec[0] != 0 ||ig__vk_groups(np, spec[0]) > ctx->props.limits.maxComputeWorkGroupCount[0] ||
            (e.p1 - e.p0) * 4 > ctx->range)
            break;
        from = l;
    }
    return from;
}

ig_result ig__vk_tile_prepare(ig_vk_context *ctx, ig_error *err) {
    const ig__vk_model *vm = ctx->model;
    const ig__vk_plan *vp = ctx->plan;
    ig_result res = IG_OK;
    if (!ctx->level_fused || !vp || !vp->gemm || vp->gemm_only || ctx->fp16)
        return IG_OK; /* fp32 storage, nearest without instance norm only */
    for (int l = vp->n_levels - 1; l >= 0 && res == IG_OK; l--) {
        uint32_t spec[3];
        if (!ig__tile_spec(ctx, vm, l, spec)) break;
        VkPipeline p;
        res = ig__vk_pipeline_get(ctx, ig__tile_shader(ctx), spec, 3, &p, err);
    }
    return res;
}

/* The feature buffer holding the last activations after the gemm kernel ran ops [0, n) (its
 * ping-pong rule: level 0's first layer writes feat[0], an up-sampling conv0 writes over its
 * input, every other layer into the other buffer). */
static int ig__gemm_cur(const ig__vk_model *vm, int n) {
    int cur = 0;
    for (int q = 0; q < n; q++) {
        const ig__vk_op *op = &vm->ops[q];
        if (op->type != IG__OP_FMM) continue;
        bool first = q == 0 || vm->ops[q - 1].level != op->level;
        if (first && op->level == 0) cur = 0;
        else if (!first) cur = 1 - cur;
    }
    return cur;
}

/* One level_tile.comp dispatch: level l for images [n0, n0 + k). */
static void ig__tile_level(ig__vk_builder *b, const ig__chunk *ch, int l, const uint32_t spec[3],
                           int cur, int rc, bool store, uint32_t n0, uint32_t k) {
    const ig__work *wk = ch->wk;
    const ig__vk_plan *vp = wk->vp[IG__PASS_RENDER];
    const ig__vk_model *vm = ch->vm;
    ig__tile_ext e = ig__tile_extents(vm, l);
    uint32_t nops = (uint32_t)(e.op1 - e.op0);
    uint64_t A = wk->feat_img / 4, RI = wk->rgb_img / 4, gs = vm->gw_stride, ss = vm->s_stride;
    uint32_t P = vp->pp[l], H = (uint32_t)vp->h[l], W = (uint32_t)vp->w[l], np = H * W;
    const ig__vk_op *op0 = &vm->ops[e.op0];
    bool rgb = e.s1 > e.s0, up = l > 0;
    ig__vk_disp *d;
    uint32_t *m = ig__vk_disp_new(b, ig__tile_shader(b->ctx),
                                  IGR_TILE_WORDS + nops * IGR_TILE_OP_WORDS, &d);
    if (!m) return;
    memcpy(d->spec, spec, 3 * sizeof *spec);
    d->n_spec = 3;
    m[IGR_TILE_n_ops] = nops;
    m[IGR_TILE_p4] = P / 4;
    m[IGR_TILE_np] = np;
    m[IGR_TILE_width] = W;
    m[IGR_TILE_wc] = up ? (uint32_t)vp->w[l - 1] : 0;
    m[IGR_TILE_mode] = up ? 2u : 1u;
    if (vp->ce[l] > 0)
        m[IGR_TILE_e_base] = ig__vk_bind(b, d, 1, &vp->emb_cm[l], 0,
                                         (uint64_t)vp->ce[l] * P * 4, 16);
    else
        ig__vk_bind_dummy(b, d, 1);
    uint32_t cout0 = (uint32_t)op0->c_out, Pc = up ? vp->pp[l - 1] : 0;
    if (up) {
        m[IGR_TILE_a_base] = ig__vk_bind(b, d, 2, &wk->feat[1 - cur], (uint64_t)n0 * A * 4,
                                         ((uint64_t)(k - 1) * A + (uint64_t)cout0 * Pc) * 4, 4);
        m[IGR_TILE_rowmap_base] = ig__vk_bind(b, d, 6, &vp->maps[l], 0, ((uint64_t)H + W) * 16, 4);
        m[IGR_TILE_colmap_base] = m[IGR_TILE_rowmap_base] + 4 * H;
    } else {
        ig__vk_bind_dummy(b, d, 2);
        ig__vk_bind_dummy(b, d, 6);
    }
    m[IGR_TILE_a_img] = (uint32_t)A;
    m[IGR_TILE_a_p] = Pc;
    m[IGR_TILE_w_base] = ig__vk_bind(b, d, 3, &wk->gw, ((uint64_t)n0 * gs + e.gw0) * 4,
                                     ((uint64_t)(k - 1) * gs + e.gw1 - e.gw0) * 4, 4);
    m[IGR_TILE_w_img] = (uint32_t)gs;
    m[IGR_TILE_p_base] = ig__vk_bind(b, d, 4, &vm->params, e.p0 * 4, (e.p1 - e.p0) * 4, 4);
    if (rgb) {
        m[IGR_TILE_s_base] = ig__vk_bind(b, d, 5, &wk->s, ((uint64_t)n0 * ss + e.s0) * 4,
                                         ((uint64_t)(k - 1) * ss + e.s1 - e.s0) * 4, 4);
        uint32_t out = up ? 1u - (uint32_t)rc : 0u;
        m[IGR_TILE_o_base] = ig__vk_bind(b, d, 8, &wk->rgb[out], (uint64_t)n0 * RI * 4,
                                         ((uint64_t)(k - 1) * RI + 2ull * P + np) * 4, 4);
    } else {
        ig__vk_bind_dummy(b, d, 5);
        ig__vk_bind_dummy(b, d, 8);
    }
    m[IGR_TILE_s_img] = (uint32_t)ss;
    m[IGR_TILE_o_img] = (uint32_t)RI;
    m[IGR_TILE_o_p] = P;
    m[IGR_TILE_rgb_on] = rgb ? 1u : 0u;
    if (rgb && up) {
        m[IGR_TILE_c_base] = ig__vk_bind(b, d, 7, &wk->rgb[rc], (uint64_t)n0 * RI * 4,
                                         ((uint64_t)(k - 1) * RI + 3ull * Pc) * 4, 4);
    } else {
        ig__vk_bind_dummy(b, d, 7);
        if (rgb) m[IGR_TILE_mode] = 1; /* no coarse rgb to start from */
    }
    m[IGR_TILE_c_img] = (uint32_t)RI;
    m[IGR_TILE_c_p] = Pc;
    uint32_t clast = 0;
    for (int q = e.op0; q < e.op1; q++) {
        const ig__vk_op *op = &vm->ops[q];
        uint32_t *o = m + IGR_TILE_WORDS + (uint32_t)(q - e.op0) * IGR_TILE_OP_WORDS;
        o[IGR_TILE_OP_kind] = (uint32_t)op->type;
        o[IGR_TILE_OP_b_off] = (uint32_t)(op->b_off - e.p0);
        if (op->type == IG__OP_FMM) {
            uint32_t col = q == e.op0 ? (uint32_t)op->c_x : 0;
            o[IGR_TILE_OP_c_in] = (uint32_t)(q == e.op0 ? op->c_e : op->c_x);
            o[IGR_TILE_OP_c_out] = (uint32_t)op->c_out;
            o[IGR_TILE_OP_w_off] = (uint32_t)(op->gw_off + col - e.gw0);
            o[IGR_TILE_OP_w_row] = (uint32_t)(op->c_x + op->c_e);
            o[IGR_TILE_OP_add] = q == e.op0 && up ? 1u : 0u;
            clast = (uint32_t)op->c_out;
        } else {
            o[IGR_TILE_OP_c_in] = (uint32_t)op->c_x;
            o[IGR_TILE_OP_c_out] = 3;
            o[IGR_TILE_OP_w_off] = (uint32_t)(op->s_off - e.s0);
            o[IGR_TILE_OP_wr_off] = (uint32_t)(op->ws_off - e.p0);
        }
    }
    m[IGR_TILE_store] = store ? 1u : 0u;
    if (store)
        m[IGR_TILE_f_base] = ig__vk_bind(b, d, 9, &wk->feat[cur], (uint64_t)n0 * A * 4,
                                         ((uint64_t)(k - 1) * A + (uint64_t)clast * P) * 4, 16);
    else
        ig__vk_bind_dummy(b, d, 9);
    m[IGR_TILE_f_img] = (uint32_t)(A / 4);
    d->gx = ig__vk_groups(np, spec[0]);
    d->gy = k;
}

void ig__vk_plan_tile_levels(ig__vk_builder *b, const ig__chunk *ch) {
    const ig_vk_context *ctx = b->ctx;
    const ig__vk_model *vm = ch->vm;
    ig__work *wk = ch->wk;
    const ig__vk_plan *vp = wk->vp[IG__PASS_RENDER];
    int from = wk->tile_from, op0, op1;
    ig__level_ops(vm, from, &op0, &op1);
    int cur = 0, rc = 0;
    if (from > 0) { /* the levels before: the gemm kernel over the model cut after their ops */
        ig__vk_model *cut = malloc(sizeof *cut);
        if (!cut) {
            b->oom = true;
            return;
        }
        memcpy(cut, vm, sizeof *cut);
        cut->n_ops = op0;
        ig__chunk c2 = *ch;
        c2.vm = cut;
        ig__vk_plan_gemm_levels(b, &c2);
        free(cut);
        cur = ig__gemm_cur(vm, op0);
        rc = wk->gemm_rgb;
    }
    uint32_t kg = ig__tile_group(ctx, ch);
    for (int l = from; l < vp->n_levels; l++) {
        uint32_t spec[3];
        if (!ig__tile_spec(ctx, vm, l, spec)) { /* ig__vk_tile_from checked every level */
            b->oom = true;
            return;
        }
        ig__level_ops(vm, l, &op0, &op1);
        ig__tile_ext e = ig__tile_extents(vm, l);
        b->level_tag = l + 1;
        for (uint32_t n0 = 0; n0 < (uint32_t)ch->B; n0 += kg) {
            uint32_t k = ig__vk_min32((uint64_t)ch->B - n0, kg);
            if (l > 0) /* the coarse product of the up-sampling conv0 into the free buffer */
                ig__vk_gemm_coarse(b, ch, &vm->ops[op0], &wk->feat[cur], &wk->feat[1 - cur], n0,
                                   k);
            ig__tile_level(b, ch, l, spec, cur, rc, l + 1 < vp->n_levels, n0, k);
        }
        if (e.s1 > e.s0) rc = l > 0 ? 1 - rc : 0;
    }
    wk->gemm_rgb = rc;
}
