/* vk_cips.c - the CIPS generator (CIPSskip and CIPSres, reference section 5, docs/cips.md) as
 * compute dispatches; it mirrors the CPU reference src/cpu/cpu_cips.c.
 *
 * Per batch of images (as many as the memory budget allows; one submission each):
 *   1. mapping:  fc.comp per mapping layer, PixelNorm fused into the first and the truncation
 *                w_avg + psi (w - w_avg) into the last, only when psi != 1 and the model has
 *                w_avg (as the CPU path)                                    -> w  [B][S]
 *                (n_mlp = 0: w = PixelNorm(z) on the host)
 *   2. styles:   one fc.comp over the modulation heads of all layers (their rows are stored
 *                one after the other): s = M w / sqrt(S) + m                 -> s  [B][s_stride]
 *   3. weights:  cips_wgen.comp per layer: W'' = W / sqrt(c_in) * s, demodulated per row for
 *                conv1 / linears.K, modulated only for to_rgbs.K             -> gw [B][g_stride]
 *   4. pixels, in chunks of P (a multiple of the tile set's BN, 64 or 128) sized from the
 *      budget; activations are channel-major per image, act [B][C_max][P]:
 *        cips_input.comp: [sin(B p' + c); bilinear embedding] of the chunk, computed once and
 *                         read by every image (conv1 reads it with image stride 0)
 *        layer_gemm.comp: conv1, then linears.0 ... as tiled GEMMs with noise + bias + lrelu
 *        rgb_accum.comp:   after linears.2K+1, rgb += W_rgb x + b into rgb [B][3][H*W]
 *      CIPSres (three activation buffers): linears.0, then per residual block K with input x
 *        (kept in its buffer until the block ends): where the width changes the 1x1 skip
 *        (W_s / sqrt(c_in), uploaded with the model, the same for every image) as a GEMM without
 *        epilogue (layer_gemm.comp IG_EPI_NONE, weight stride 0 between images) into a third
 *        buffer; conv1; conv2 (IG_EPI_RES) whose epilogue forms (y + skip) / sqrt(2), skip = the
 *        product or x itself; after the last block one ToRGB (to_rgb_last) writes rgb.
 *   5. readback: rgb already has the render's [N][3][H][W] layout.
 * Interpolation: z space is slerped on the host (as the CPU path); w space maps both latents and
 * lerps w (lerp.comp); params space runs styles and weights for both and lerps W''.
 * Noise: ig_noise_value(seed of the image, layer, global row, global column) in the GEMM
 * epilogue when ig_noise_active(), else 0.
 *
 * Tile sets: the layer GEMMs (and the CIPSres skip) run on one of the gemm level kernel's tile
 * sets (vk_inrgan_gemm.c: small 64 x 64, large 128 x 128, coop), as specialization constants,
 * chosen per render by that kernel's rule (ig__cips_tile: INRGAN_VK_GEMM_TILE, else coop where it
 * runs, else large for >= 1024 pixels and a layer of >= 128 outputs, else small); every tile set
 * sums each output in the same K order, so small and large give the same bits.
 * Precision: the context's storage precision. fp32; or, on fp16 contexts (fp16 storage, also
 * with cooperative matrices), fp16 storage of the activations, the per-image weights and the
 * first layer's input (cips_input / cips_wgen / layer_gemm / rgb_accum -DIG_F16, the CIPSres
 * skips uploaded as fp16), with fp32 arithmetic, fp32 noise, residual and ToRGB sums. The coop
 * tile set (fp16 only) is the KHR cooperative-matrix variant of layer_gemm.comp with the
 * noise / residual epilogues where the device has KHR cooperative matrices and the variant is
 * built, else (INRGAN_VK_COOP_EMU=1) its scalar twin. ig_vk_level_kernel_used names what ran
 * ("cips-gemm", "cips-gemm-f16", "cips-gemm-coop-khr", "cips-gemm-coop-emu"),
 * ig_vk_render_report.gemm_tiles the tile set.
 *
 * The uploaded model (mapping, modulation heads, layer weights and biases, LFF, embedding) is
 * cached in ctx->cips, keyed by a fingerprint of the model; the per-render buffers come from
 * ctx->work (one block, kept between renders) and are shared with vk_inrgan.c, whose caches are
 * released whenever the family changes. Every descriptor window stays within the storage buffer
 * range: dispatches split into image groups, row chunks or channel chunks.
 */
#include "vk_inrgan.h" /* the gemm kernel's tile sets (vk_inrgan_gemm.c) */

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cips.h"
#include "lower.h"
#include "model.h"
#include "records/cips_input.h"
#include "records/cips_wgen.h"
#include "records/gemm.h"
#include "records/rgb.h"
#include "safetensors.h" /* ig_float_to_half */

#define IG__ACT_CAP (1ull << 30)  /* activation memory the pixel chunks aim for (all buffers) */
#define IG__AX 8u                 /* uints per axis entry (cips_input.comp) */

/* One modulated layer: StyledConv (conv1, linears.K) or ToRGB. Offsets are in floats. */
typedef struct ig__cips_op {
    uint32_t c_in, c_out;
    uint32_t w_off, b_off; /* in params: W [c_out][c_in], bias [c_out] */
    uint32_t s_off;        /* its styles in s, and its rows in the modulation heads */
    uint32_t g_off;        /* its weight in the per-image gw */
} ig__cips_op;

/* CIPSres: the 1x1 skip of a residual block that changes the width (c_in = 0: identity). */
typedef struct ig__cips_skip {
    uint32_t c_in, c_out;
    uint32_t w_off; /* in skw (elements): W_s / sqrt(c_in) [c_out][c_in] */
} ig__cips_skip;

struct ig__vk_cips {
    uint64_t fp;
    ig_vk_arena arena;
    ig_vk_buf map;     /* mapping W_0 b_0 W_1 b_1 ... (w_avg) */
    ig_vk_buf mod;     /* modulation weights of every layer [s_stride][S], then biases [s_stride] */
    ig_vk_buf params;  /* layer weights and biases, LFF weight [hidden][2] and bias [hidden],
                        * CIPSres skips */
    ig_vk_buf emb;     /* emb.input [hidden][size][size] */
    ig_vk_buf skw;     /* CIPSres skips W_s / sqrt(c_in), in the storage precision (f16: fp16) */
    uint64_t skw_n;    /* elements of skw */
    bool f16;          /* uploaded for fp16 storage (the context's precision) */
    uint32_t map_w[IG_MAX_MAPPING], map_b[IG_MAX_MAPPING], avg;
    uint32_t lff_w, lff_b;
    int n_convs, n_rgb;
    bool res; /* CIPSres: residual blocks, one ToRGB at the end */
    ig__cips_op conv[IG_CIPS_MAX_CONVS], rgb[IG_MAX_CIPS_PAIRS];
    ig__cips_skip skip[IG_MAX_CIPS_PAIRS];
    uint32_t s_stride, g_stride, cmax, hidden, size;
};

/* ---- the model ------------------------------------------------------------------------------ */

static void ig__cips_free(ig_vk_context *ctx, ig__vk_cips *vc) {
    if (!vc) return;
    ig__vk_arena_free(ctx, &vc->arena);
    free(vc);
}

void ig__vk_cips_release(ig_vk_context *ctx) {
    ig__cips_free(ctx, ctx->cips);
    ctx->cips = NULL;
}

/* Copies a tensor's floats into an upload at float offset `at`. */
static void ig__put(float *dst, uint32_t at, const ig_tensor *t) {
    memcpy(dst + at, t->data, (size_t)t->numel * sizeof(float));
}

static ig_result ig__cips_layout(const ig_vk_context *ctx, const ig_model *m, ig__vk_cips *vc, uint64_t *params,
                                 ig_error *err) {
    const ig_config *c = &m->cfg;
    const ig_cips_tensors *t = &m->cips;
    vc->hidden = (uint32_t)c->cips.hidden;
    vc->size = (uint32_t)c->cips.size;
    vc->n_convs = t->n_convs;
    vc->n_rgb = t->n_rgb;
    vc->res = c->cips.res;
    if (vc->n_convs != 1 + 2 * c->cips.n_pairs || vc->n_rgb != (vc->res ? 1 : c->cips.n_pairs))
        return ig_error_set(err, IG_ERR_UNSUPPORTED, "CIPS model with %d layers and %d ToRGB for %d pairs",
                            vc->n_convs, vc->n_rgb, c->cips.n_pairs);
    /* shapes, style offsets (StyledConvs, then ToRGBs) and the widest layer: the lowering's */
    ig_lowering *lw = malloc(sizeof *lw);
    if (!lw) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "CIPS layout");
    ig_lower(c, lw);
    ig_lop lop[IG_CIPS_MAX_CONVS + IG_MAX_CIPS_PAIRS] = {0}; /* c_out = 0: none */
    for (int q = 0; q < lw->n_ops; q++) {
        const ig_lop *o = &lw->ops[q];
        if (o->kind == IG_LOP_MODFC && o->block < vc->n_convs) lop[o->block] = *o;
        if (o->kind == IG_LOP_TORGB && o->block < vc->n_rgb) lop[vc->n_convs + o->block] = *o;
    }
    uint64_t p = 0, s = (uint64_t)lw->s_stride, g = 0, cmax = (uint64_t)lw->widest;
    free(lw);
    for (int k = 0; k < vc->n_convs + vc->n_rgb; k++) {
        bool rgb = k >= vc->n_convs;
        const ig_cips_layer *L = rgb ? &t->rgb[k - vc->n_convs] : &t->conv[k];
        ig__cips_op *op = rgb ? &vc->rgb[k - vc->n_convs] : &vc->conv[k];
        op->c_in = (uint32_t)L->c_in;
        op->c_out = (uint32_t)L->c_out;
        op->w_off = (uint32_t)p;
        p += (uint64_t)L->weight->numel;
        op->b_off = (uint32_t)p;
        p += (uint64_t)L->bias->numel;
        op->s_off = (uint32_t)lop[k].s_off;
        op->g_off = (uint32_t)g;
        g += (uint64_t)L->c_in * L->c_out;
        if (lop[k].c_in != L->c_in || lop[k].c_out != L->c_out ||
            (uint64_t)L->weight->numel != (uint64_t)L->c_in * L->c_out || L->bias->numel != L->c_out)
            return ig_error_set(err, IG_ERR_UNSUPPORTED, "CIPS layer %d: unexpected tensor sizes", k);
        /* one image's weight of one layer must fit one descriptor window */
        if ((uint64_t)L->c_in * L->c_out * 4 > ctx->range)
            return ig_error_set(err, IG_ERR_UNSUPPORTED,
                                "CIPS layer %d (%d x %d) exceeds the storage buffer range of %s (%" PRIu64 " bytes)",
                                k, L->c_out, L->c_in, ctx->info.name, (uint64_t)ctx->range);
    }
    /* one channel of the embedding and one modulation row must fit a window */
    if ((uint64_t)vc->size * vc->size * 4 > ctx->range || (uint64_t)c->w_dim * 4 > ctx->range)
        return ig_error_set(err, IG_ERR_UNSUPPORTED, "CIPS embedding of %ux%u exceeds the storage buffer range of %s",
                            vc->size, vc->size, ctx->info.name);
    vc->lff_w = (uint32_t)p;
    p += 2ull * vc->hidden;
    vc->lff_b = (uint32_t)p;
    p += vc->hidden;
    uint64_t sp = 0; /* the skips' elements, in skw */
    for (int i = 0; vc->res && i < c->cips.n_pairs; i++) {
        const ig_tensor *w = t->skip[i];
        if (!w) continue;
        ig__cips_skip *sk = &vc->skip[i];
        sk->c_out = (uint32_t)w->shape[0];
        sk->c_in = (uint32_t)w->shape[1];
        sk->w_off = (uint32_t)sp;
        sp += (uint64_t)w->numel;
        if ((uint64_t)w->numel != (uint64_t)sk->c_in * sk->c_out || sk->c_out != vc->conv[2 + 2 * i].c_out ||
            sk->c_in != vc->conv[1 + 2 * i].c_in)
            return ig_error_set(err, IG_ERR_UNSUPPORTED, "CIPS skip %d: unexpected tensor sizes", i);
        if ((uint64_t)w->numel * 4 > ctx->range)
            return ig_error_set(err, IG_ERR_UNSUPPORTED,
                                "CIPS skip %d (%u x %u) exceeds the storage buffer range of %s (%" PRIu64 " bytes)",
                                i, sk->c_out, sk->c_in, ctx->info.name, (uint64_t)ctx->range);
    }
    vc->skw_n = sp;
    if (p > UINT32_MAX || g > UINT32_MAX || sp > UINT32_MAX || s * (uint64_t)c->w_dim > UINT32_MAX)
        return ig_error_set(err, IG_ERR_UNSUPPORTED, "CIPS model too large for 32-bit offsets");
    vc->s_stride = (uint32_t)s;
    vc->g_stride = (uint32_t)g;
    vc->cmax = (uint32_t)cmax;
    *params = p;
    return IG_OK;
}

static ig_result ig__cips_upload(ig_vk_context *ctx, const ig_model *m, uint64_t fp, ig_error *err) {
    const ig_config *c = &m->cfg;
    const ig_cips_tensors *t = &m->cips;
    ig_vk_uploads ups = {0};
    ig__vk_cips *vc = calloc(1, sizeof *vc);
    if (!vc) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "CIPS model upload");
    vc->fp = fp;
    vc->f16 = ctx->fp16;
    vc->arena.device = true;
    uint64_t params = 0;
    ig_result res = ig__cips_layout(ctx, m, vc, &params, err);
    if (res != IG_OK) goto done;
    uint64_t S = (uint64_t)c->w_dim, map = m->w_avg ? S : 0;
    for (int l = 0; l < c->mapping_layers; l++) map += (uint64_t)m->map_w[l]->numel + (uint64_t)m->map_b[l]->numel;
    uint64_t mod = (uint64_t)vc->s_stride * (S + 1), emb = (uint64_t)t->emb->numel;
    if (map > UINT32_MAX || emb > UINT32_MAX) {
        res = ig_error_set(err, IG_ERR_UNSUPPORTED, "CIPS model too large for 32-bit offsets");
        goto done;
    }
    uint64_t es = vc->f16 ? 2 : 4, total = (map + mod + params + emb) * 4 + vc->skw_n * es + 8 * ctx->align;
    if (total <= ctx->max_alloc) {
        res = ig__vk_arena_reserve(ctx, &vc->arena, total, err);
        if (res != IG_OK) goto done;
    } else {
        vc->arena.block_size = 256ull << 20;
    }
    float *p = NULL;
    /* mapping */
    res = ig__vk_arena_alloc(ctx, &vc->arena, (map ? map : 1) * 4, &vc->map, err);
    if (res == IG_OK && map) res = ig__vk_upload_ptr(ctx, &ups, &vc->map, 0, map * 4, (void **)&p, err);
    if (res != IG_OK) goto done;
    uint32_t at = 0;
    for (int l = 0; l < c->mapping_layers; l++) {
        vc->map_w[l] = at;
        ig__put(p, at, m->map_w[l]);
        at += (uint32_t)m->map_w[l]->numel;
        vc->map_b[l] = at;
        ig__put(p, at, m->map_b[l]);
        at += (uint32_t)m->map_b[l]->numel;
    }
    vc->avg = at;
    if (m->w_avg) ig__put(p, at, m->w_avg);
    /* modulation heads, in the order of s */
    res = ig__vk_arena_alloc(ctx, &vc->arena, mod * 4, &vc->mod, err);
    if (res == IG_OK) res = ig__vk_upload_ptr(ctx, &ups, &vc->mod, 0, mod * 4, (void **)&p, err);
    if (res != IG_OK) goto done;
    for (int k = 0; k < vc->n_convs + vc->n_rgb; k++) {
        bool rgb = k >= vc->n_convs;
        const ig_cips_layer *L = rgb ? &t->rgb[k - vc->n_convs] : &t->conv[k];
        const ig__cips_op *op = rgb ? &vc->rgb[k - vc->n_convs] : &vc->conv[k];
        ig__put(p, (uint32_t)(op->s_off * S), L->mod_w);
        ig__put(p, (uint32_t)(vc->s_stride * S + op->s_off), L->mod_b);
    }
    /* layer weights and biases, LFF */
    res = ig__vk_arena_alloc(ctx, &vc->arena, params * 4, &vc->params, err);
    if (res == IG_OK) res = ig__vk_upload_ptr(ctx, &ups, &vc->params, 0, params * 4, (void **)&p, err);
    if (res != IG_OK) goto done;
    for (int k = 0; k < vc->n_convs + vc->n_rgb; k++) {
        bool rgb = k >= vc->n_convs;
        const ig_cips_layer *L = rgb ? &t->rgb[k - vc->n_convs] : &t->conv[k];
        const ig__cips_op *op = rgb ? &vc->rgb[k - vc->n_convs] : &vc->conv[k];
        ig__put(p, op->w_off, L->weight);
        ig__put(p, op->b_off, L->bias);
    }
    ig__put(p, vc->lff_w, t->lff_w);
    ig__put(p, vc->lff_b, t->lff_b);
    /* the skips W_s / sqrt(c_in), as the CPU path, in the storage precision */
    res = ig__vk_arena_alloc(ctx, &vc->arena, (vc->skw_n ? vc->skw_n : 1) * es, &vc->skw, err);
    if (res == IG_OK && vc->skw_n) res = ig__vk_upload_ptr(ctx, &ups, &vc->skw, 0, vc->skw_n * es, (void **)&p, err);
    if (res != IG_OK) goto done;
    for (int i = 0; vc->res && i < c->cips.n_pairs; i++) {
        const ig__cips_skip *sk = &vc->skip[i];
        if (!sk->c_in) continue;
        float g = (float)(1.0 / sqrt((double)sk->c_in));
        for (uint64_t k = 0; k < (uint64_t)sk->c_in * sk->c_out; k++) {
            float v = t->skip[i]->data[k] * g;
            if (vc->f16)
                ((uint16_t *)p)[sk->w_off + k] = ig_float_to_half(v);
            else
                p[sk->w_off + k] = v;
        }
    }
    /* the embedding */
    res = ig__vk_arena_alloc(ctx, &vc->arena, emb * 4, &vc->emb, err);
    if (res == IG_OK) res = ig__vk_upload_ptr(ctx, &ups, &vc->emb, 0, emb * 4, (void **)&p, err);
    if (res != IG_OK) goto done;
    ig__put(p, 0, t->emb);
done:
    res = ig__vk_uploads_end(ctx, &ups, res, err);
    if (res == IG_OK)
        ctx->cips = vc;
    else
        ig__cips_free(ctx, vc);
    return res;
}

/* Checks the arguments and makes sure the model is on the device (dropping the INR-GAN caches
 * of vk_inrgan.c, whose memory the CIPS render may need). */
static ig_result ig__cips_ensure(ig_vk_context *ctx, const ig_render_desc *desc, ig_error *err) {
    if (!ctx || !desc || !desc->model || !desc->plan)
        return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "ig_vk_render: missing context, model or plan");
    if (ctx->lost)
        return ig_error_set(err, IG_ERR_DEVICE_LOST, "%s was lost earlier; create a new context", ctx->info.name);
    const ig_model *m = desc->model;
    if (desc->plan->n_levels != m->cfg.n_levels || desc->plan->n_levels != 1)
        return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "plan was made for another model");
    if (ctx->props.limits.maxComputeWorkGroupInvocations < 256 || ctx->props.limits.maxComputeWorkGroupSize[0] < 256 ||
        ctx->props.limits.maxComputeWorkGroupSize[1] < 16)
        return ig_error_set(err, IG_ERR_UNSUPPORTED, "%s: CIPS kernels need workgroups of 256 invocations",
                            ctx->info.name);
    uint64_t fp = ig__vk_model_fp(ig__vk_fnv(1469598103934665603ull, ctx->fp16 ? "cips16" : "cips", ctx->fp16 ? 6 : 4), m);
    if (ctx->cips && ctx->cips->fp == fp && !ctx->model) return IG_OK;
    ig__vk_release_cached(ctx); /* also frees ctx->cips */
    return ig__cips_upload(ctx, m, fp, err);
}

/* Loop iterations one invocation of each CIPS kernel performs (upper estimates: every loop of
 * the shader counted, unroll hints ignored), against llvmpipe's cap (ctx->loop_limit). Within
 * the config's limits (widths <= 8192) no CIPS model reaches it; the check stays as a guard. */
static ig_result ig__cips_loops(const ig_vk_context *ctx, const ig_config *c, const ig__vk_cips *vc,
                                ig_error *err) {
    if (!ctx->loop_limit) return IG_OK;
    const char *what = "the mapping / modulation";
    uint64_t worst = 2ull * (uint64_t)(c->z_dim > c->w_dim ? c->z_dim : c->w_dim) + 2;
    for (int k = 0; k < vc->n_convs + vc->n_rgb; k++) {
        bool rgb = k >= vc->n_convs;
        const ig__cips_op *op = rgb ? &vc->rgb[k - vc->n_convs] : &vc->conv[k];
        uint64_t ci = op->c_in;
        uint64_t wg = 2 * ((ci + 63) / 64) + 8;
        if (wg > worst) worst = wg, what = "the weight generation";
        uint64_t v = rgb ? ci + 2 : 17 * ((ci + 15) / 16) + 4 + 4 * 7 + 8;
        if (v > worst) worst = v, what = rgb ? "ToRGB" : "the layer kernel";
    }
    if (worst <= ctx->loop_limit) return IG_OK;
    return ig_error_set(err, IG_ERR_UNSUPPORTED,
                        "%s needs about %" PRIu64 " loop iterations per shader invocation; %s stops every "
                        "invocation's loops after 65535 and would compute a wrong image: use --backend cpu "
                        "(faster than llvmpipe anyway) or a GPU",
                        what, worst, ctx->info.name);
}

/* ---- the kernels: tile set and storage precision ----------------------------------------- */

/* Whether the coop tile set runs as the KHR cooperative-matrix variant here (as the gemm level
 * kernel decides, vk_inrgan_gemm.c): the device's KHR cooperative matrices (ctx->gemm_coop_khr),
 * the CIPS variants built (IG_SHADER_REQ ... KHR_COOPMAT), fp16 storage, 256 invocations a whole
 * number of subgroups of >= 8. */
static bool ig__cips_coop_khr(const ig_vk_context *ctx) {
    uint32_t sg = ctx->info.subgroup_size;
    return ctx->gemm_coop_khr && ctx->fp16 && ig__vk_shader_built(IG_SH_CIPS_LAYER_COOP) &&
           ig__vk_shader_built(IG_SH_CIPS_LAYER_RES_COOP) && ig__vk_shader_built(IG_SH_GEMM_RAW_COOP) && sg >= 8 &&
           sg <= 256 && 256 % sg == 0;
}

/* Whether tile set t runs CIPS here: the device's workgroup and shared-memory limits, the coop
 * set only with fp16 storage and the KHR variant or its scalar twin, and one tile of pixels of
 * the widest activations within one descriptor window (else the small set, 64 pixels, may
 * still fit: ig__cjob_fit has the last word). */
static bool ig__cips_tile_ok(const ig_vk_context *ctx, const ig__vk_cips *vc, int t) {
    if (!ig__vk_gemm_tile_fits(ctx, t, NULL)) return false;
    if (t == IG__TILE_COOP && !(vc->f16 && (ig__cips_coop_khr(ctx) || ctx->gemm_coop_emu))) return false;
    return ctx->range / ((uint64_t)vc->cmax * (vc->f16 ? 2 : 4)) >= ig__tile_bn(t);
}

/* The tile set of a render's layer GEMMs (px: the render's pixels), by the gemm level kernel's
 * rule: INRGAN_VK_GEMM_TILE where it runs here, else coop where it runs (fp16 storage with the
 * KHR variant, or its scalar twin under INRGAN_VK_COOP_EMU=1), else large for >= 1024 pixels
 * and a layer of >= 128 outputs, else small. */
static int ig__cips_tile(const ig_vk_context *ctx, const ig__vk_cips *vc, uint64_t px) {
    int t = ctx->gemm_tile;
    if (t >= 0 && t < IG__N_TILES && ig__cips_tile_ok(ctx, vc, t)) return t;
    if (ig__cips_tile_ok(ctx, vc, IG__TILE_COOP)) return IG__TILE_COOP;
    uint32_t cmax = 0;
    for (int k = 0; k < vc->n_convs; k++)
        if (vc->conv[k].c_out > cmax) cmax = vc->conv[k].c_out;
    if (px >= 1024 && cmax >= 128 && ig__cips_tile_ok(ctx, vc, IG__TILE_LARGE)) return IG__TILE_LARGE;
    return IG__TILE_SMALL;
}

/* The shaders of a render on tile set t (f16: fp16 storage). */
typedef struct ig__cips_sh {
    int wgen, input, layer, layer_res, raw, rgb;
} ig__cips_sh;

static ig__cips_sh ig__cips_shaders(const ig_vk_context *ctx, bool f16, int t) {
    ig__cips_sh s = {IG_SH_CIPS_WGEN, IG_SH_CIPS_INPUT, IG_SH_CIPS_LAYER, IG_SH_CIPS_LAYER_RES, IG_SH_GEMM_RAW,
                     IG_SH_CIPS_RGB};
    if (!f16) return s;
    s = (ig__cips_sh){IG_SH_CIPS_WGEN_F16,     IG_SH_CIPS_INPUT_F16, IG_SH_CIPS_LAYER_F16,
                      IG_SH_CIPS_LAYER_RES_F16, IG_SH_GEMM_RAW_F16,   IG_SH_CIPS_RGB_F16};
    if (t == IG__TILE_COOP && ig__cips_coop_khr(ctx)) {
        s.layer = IG_SH_CIPS_LAYER_COOP;
        s.layer_res = IG_SH_CIPS_LAYER_RES_COOP;
        s.raw = IG_SH_GEMM_RAW_COOP;
    }
    return s;
}

/* ig_vk_level_kernel_used's name of a CIPS render: "cips-gemm" (fp32), "cips-gemm-f16" (fp16
 * storage), "cips-gemm-coop-khr" / "cips-gemm-coop-emu" (the coop tile set). */
static const char *ig__cips_kernel_name(const ig_vk_context *ctx, bool f16, int t) {
    if (t == IG__TILE_COOP) return ig__cips_coop_khr(ctx) ? "cips-gemm-coop-khr" : "cips-gemm-coop-emu";
    return f16 ? "cips-gemm-f16" : "cips-gemm";
}

/* ---- the dispatch list (planned here, recorded by vk_disp.c) ------------------------------ */

/* ---- one batch ----------------------------------------------------------------------------- */

typedef struct ig__cjob {
    ig_vk_context *ctx;
    const ig_render_desc *desc;
    const ig_model *m;
    const ig__vk_cips *vc;
    int n_first, B;
    int mz, mw;     /* vectors per image through the mapping / through styles and weights */
    int space;      /* interpolation on the device: -1 none, IG_SPACE_W or IG_SPACE_PARAMS */
    bool host_map;  /* no mapping layers: w = PixelNorm(z) written by the host */
    bool trunc, noise;
    uint32_t W, H, px, P;
    int tile;       /* the layer GEMMs' tile set (vk_inrgan.h IG__TILE_*) */
    uint32_t es;    /* bytes per stored activation / per-image weight: 4, or 2 (fp16 storage) */
    ig__cips_sh sh; /* the shaders */
    int w_buf;      /* which h[] holds w */
    ig_vk_buf meta, z, h[2], s, gw, act[3], rgb, axes, dummy; /* act[2]: CIPSres only */
} ig__cjob;

/* Every layer's styles in one fc.comp layer: the modulation heads' rows are stored one after the
 * other, as the styles in s. */
static void ig__cplan_styles(ig__vk_builder *b, const ig__cjob *j) {
    const ig__vk_cips *vc = j->vc;
    uint32_t in = (uint32_t)j->m->cfg.w_dim, ss = vc->s_stride;
    ig__vk_fc fc = {.in_dim = in, .rows = ss, .n = (uint32_t)(j->B * j->mw),
                    .wgain = (float)(1.0 / sqrt((double)in)), .bgain = 1.0f,
                    .w = &vc->mod, .bias = &vc->mod, .b_off = (uint64_t)ss * in,
                    .x = &j->h[j->w_buf], .x_stride = in, .y = &j->s, .y_stride = ss};
    ig__vk_plan_fc(b, &fc);
}

static void ig__cplan_wgen(ig__vk_builder *b, const ig__cjob *j) {
    const ig__vk_cips *vc = j->vc;
    uint64_t R4 = j->ctx->range / 4, ss = vc->s_stride, gs = vc->g_stride;
    uint32_t N = (uint32_t)(j->B * j->mw);
    uint64_t kmax = j->ctx->props.limits.maxComputeWorkGroupCount[1];
    for (int q = 0; q < vc->n_convs + vc->n_rgb; q++) {
        bool rgb = q >= vc->n_convs;
        const ig__cips_op *op = rgb ? &vc->rgb[q - vc->n_convs] : &vc->conv[q];
        uint32_t ci = op->c_in, co = op->c_out;
        uint32_t rows_max = ig__vk_min32(R4 / ci, co);
        for (uint32_t o0 = 0; o0 < co; o0 += rows_max) {
            uint32_t rows = ig__vk_min32(co - o0, rows_max);
            uint32_t kg = ig__vk_min32(ig__vk_kfit(R4, ss, ci, N), ig__vk_kfit(R4, gs, (uint64_t)rows * ci, kmax));
            for (uint32_t n0 = 0; n0 < N; n0 += kg) {
                uint32_t k = ig__vk_min32(N - n0, kg);
                ig__vk_disp *d;
                uint32_t *m = ig__vk_disp_new(b, j->sh.wgen, IGR_CWGEN_WORDS, &d);
                if (!m) return;
                d->n_spec = 0; /* fixed-size kernel */
                m[IGR_CWGEN_c_in] = ci;
                m[IGR_CWGEN_rows] = rows;
                m[IGR_CWGEN_n_img] = k;
                m[IGR_CWGEN_demod] = rgb ? 0u : 1u;
                m[IGR_CWGEN_g] = ig__vk_fbits((float)(1.0 / sqrt((double)ci))); /* as ig_cips_weight */
                m[IGR_CWGEN_w_base] = ig__vk_bind(b, d, 1, &vc->params,
                                                  ((uint64_t)op->w_off + (uint64_t)o0 * ci) * 4,
                                                  (uint64_t)rows * ci * 4, 4);
                m[IGR_CWGEN_s_base] = ig__vk_bind(b, d, 2, &j->s, ((uint64_t)n0 * ss + op->s_off) * 4,
                                                  ((uint64_t)(k - 1) * ss + ci) * 4, 4);
                m[IGR_CWGEN_s_stride] = (uint32_t)ss;
                m[IGR_CWGEN_out_base] = ig__vk_bind(b, d, 3, &j->gw,
                                                    ((uint64_t)n0 * gs + op->g_off + (uint64_t)o0 * ci) * j->es,
                                                    ((uint64_t)(k - 1) * gs + (uint64_t)rows * ci) * j->es, j->es);
                m[IGR_CWGEN_out_stride] = (uint32_t)gs;
                d->gx = rows;
                d->gy = k;
            }
        }
    }
}

/* The first layer's input of the pixels [q0, q0 + np): Fourier features, then the embedding in
 * channel chunks whose window fits the storage range. */
static void ig__cplan_input(ig__vk_builder *b, const ig__cjob *j, uint32_t q0, uint32_t np) {
    const ig__vk_cips *vc = j->vc;
    uint64_t P = j->P, hd = vc->hidden, S = vc->size, R4 = j->ctx->range / 4;
    uint64_t ax_bytes = ((uint64_t)j->W + j->H) * IG__AX * 4;
    uint32_t ne_max = ig__vk_min32(R4 / (S * S), j->ctx->props.limits.maxComputeWorkGroupCount[1]);
    for (int part = 0; part < 2; part++) {
        uint32_t step = part == 0 ? (uint32_t)hd : ne_max;
        for (uint32_t e0 = 0; e0 < hd; e0 += step) {
            uint32_t ne = ig__vk_min32(hd - e0, step);
            ig__vk_disp *d;
            uint32_t *m = ig__vk_disp_new(b, j->sh.input, IGR_CINPUT_WORDS, &d);
            if (!m) return;
            m[IGR_CINPUT_p] = (uint32_t)P;
            m[IGR_CINPUT_q0] = q0;
            m[IGR_CINPUT_np] = np;
            m[IGR_CINPUT_width] = j->W;
            m[IGR_CINPUT_mode] = (uint32_t)part;
            m[IGR_CINPUT_n_ch] = ne;
            m[IGR_CINPUT_x_base] = ig__vk_bind(b, d, 1, &j->act[0], ((uint64_t)part * hd + e0) * P * j->es,
                                               (uint64_t)ne * P * j->es, j->es);
            m[IGR_CINPUT_col_axes] = ig__vk_bind(b, d, 2, &j->axes, 0, ax_bytes, 4);
            m[IGR_CINPUT_row_axes] = m[IGR_CINPUT_col_axes] + j->W * IG__AX;
            if (part == 0) {
                uint32_t base = ig__vk_bind(b, d, 3, &vc->params, (uint64_t)vc->lff_w * 4, 3 * hd * 4, 4);
                m[IGR_CINPUT_lff_w] = base;
                m[IGR_CINPUT_lff_b] = base + (vc->lff_b - vc->lff_w);
                ig__vk_bind_dummy(b, d, 4);
            } else {
                ig__vk_bind_dummy(b, d, 3);
                m[IGR_CINPUT_emb_base] = ig__vk_bind(b, d, 4, &vc->emb, (uint64_t)e0 * S * S * 4,
                                                     (uint64_t)ne * S * S * 4, 4);
            }
            m[IGR_CINPUT_s] = (uint32_t)S;
            m[IGR_CINPUT_ch0] = e0;
            d->gx = (uint32_t)(P / IG_VK_WG);
            d->gy = ne;
        }
    }
}

/* The part of a layer_gemm.comp dispatch every variant shares, for images [n0, n0 + k): the
 * sizes, X = act[x] (ximg floats between images, 0: one input for all), Y = act[y], the grid. */
static void ig__cplan_gemm_io(ig__vk_builder *b, const ig__cjob *j, ig__vk_disp *d, uint32_t *m, uint64_t ci,
                              uint64_t co, int x, uint64_t ximg, int y, uint32_t n0, uint32_t k) {
    uint64_t P = j->P, CP = (uint64_t)j->vc->cmax * P, es = j->es;
    ig__vk_gemm_spec(j->ctx, j->tile, d->spec); /* the tile set's specialization constants */
    d->n_spec = 8;
    m[IGR_GEMM_c_in] = (uint32_t)ci;
    m[IGR_GEMM_c_out] = (uint32_t)co;
    m[IGR_GEMM_p4] = (uint32_t)(P / 4);
    m[IGR_GEMM_x_base] = ig__vk_bind(b, d, 1, &j->act[x], (uint64_t)n0 * ximg * es,
                                     ((uint64_t)(k - 1) * ximg + ci * P) * es, 4 * (uint32_t)es);
    m[IGR_GEMM_x_img] = (uint32_t)(ximg / 4);
    m[IGR_GEMM_y_base] = ig__vk_bind(b, d, 2, &j->act[y], (uint64_t)n0 * CP * es,
                                     ((uint64_t)(k - 1) * CP + co * P) * es, 4 * (uint32_t)es);
    m[IGR_GEMM_y_img] = (uint32_t)(CP / 4);
    d->gx = (uint32_t)(P / ig__tile_bn(j->tile));
    d->gy = ig__vk_groups(co, ig__tile_bm(j->tile));
    d->gz = k;
}

/* conv t (input in act[x], output to act[y]) for the pixels [q0, q0 + np); rs >= 0: a CIPSres
 * block's conv2, whose output becomes (output + act[rs]) / sqrt(2). */
static void ig__cplan_layer(ig__vk_builder *b, const ig__cjob *j, int t, int x, int y, int rs, uint32_t q0,
                            uint32_t np) {
    const ig__vk_cips *vc = j->vc;
    const ig__cips_op *op = &vc->conv[t];
    uint64_t R4 = j->ctx->range / 4, P = j->P, CP = (uint64_t)vc->cmax * P, gs = vc->g_stride;
    uint64_t ci = op->c_in, co = op->c_out, B = (uint64_t)j->B;
    uint64_t kmax = j->ctx->props.limits.maxComputeWorkGroupCount[2];
    uint32_t kg = ig__vk_min32(ig__vk_kfit(R4, CP, co * P, B), ig__vk_kfit(R4, gs, co * ci, kmax));
    if (t > 0) kg = ig__vk_min32(kg, ig__vk_kfit(R4, CP, ci * P, B));
    uint64_t ximg = t == 0 ? 0 : CP; /* conv1: every image reads the one input */
    uint64_t ax_bytes = ((uint64_t)j->W + j->H) * IG__AX * 4;
    const ig_cips_layer *L = &j->m->cips.conv[t];
    const uint32_t *seeds = j->desc->noise_seed;
    uint32_t at = rs >= 0 ? IGR_GEMM_RES_WORDS : IGR_GEMM_NOISE_WORDS; /* the first seed's word */
    for (uint32_t n0 = 0; n0 < (uint32_t)B; n0 += kg) {
        uint32_t k = ig__vk_min32(B - n0, kg);
        ig__vk_disp *d;
        uint32_t *m = ig__vk_disp_new(b, rs >= 0 ? j->sh.layer_res : j->sh.layer, at + k, &d);
        if (!m) return;
        ig__cplan_gemm_io(b, j, d, m, ci, co, x, ximg, y, n0, k);
        m[IGR_GEMM_w_base] = ig__vk_bind(b, d, 3, &j->gw, ((uint64_t)n0 * gs + op->g_off) * j->es,
                                         ((uint64_t)(k - 1) * gs + co * ci) * j->es, j->es);
        m[IGR_GEMM_w_img] = (uint32_t)gs;
        m[IGR_GEMM_w_row] = (uint32_t)ci; /* W rows are c_in apart */
        m[IGR_GEMM_NOISE_b_base] = ig__vk_bind(b, d, 4, &vc->params, (uint64_t)op->b_off * 4, co * 4, 4);
        m[IGR_GEMM_NOISE_noise_on] = j->noise ? 1u : 0u;
        m[IGR_GEMM_NOISE_noise_w] = ig__vk_fbits(L->noise_w ? L->noise_w->data[0] : 0.0f);
        m[IGR_GEMM_NOISE_noise_layer] = (uint32_t)t;
        m[IGR_GEMM_NOISE_q0] = q0;
        m[IGR_GEMM_NOISE_width] = j->W;
        m[IGR_GEMM_NOISE_col_axes] = ig__vk_bind(b, d, 5, &j->axes, 0, ax_bytes, 4);
        m[IGR_GEMM_NOISE_np] = np;
        m[IGR_GEMM_NOISE_row_axes] = m[IGR_GEMM_NOISE_col_axes] + j->W * IG__AX;
        if (rs >= 0) { /* the residual: laid out as the output */
            m[IGR_GEMM_RES_r_base] = ig__vk_bind(b, d, 6, &j->act[rs], (uint64_t)n0 * CP * j->es,
                                                 ((uint64_t)(k - 1) * CP + co * P) * j->es, 4 * j->es);
            m[IGR_GEMM_RES_r_img] = (uint32_t)(CP / 4);
        }
        for (uint32_t q = 0; q < k; q++) m[at + q] = seeds ? seeds[j->n_first + (int)(n0 + q)] : 0u;
    }
}

/* CIPSres block i's 1x1 skip, act[y] = (W_s / sqrt(c_in)) act[x], for the chunk's pixels: one
 * weight for every image (stride 0), no epilogue. */
static void ig__cplan_skip(ig__vk_builder *b, const ig__cjob *j, int i, int x, int y) {
    const ig__vk_cips *vc = j->vc;
    const ig__cips_skip *sk = &vc->skip[i];
    uint64_t R4 = j->ctx->range / 4, P = j->P, CP = (uint64_t)vc->cmax * P;
    uint64_t ci = sk->c_in, co = sk->c_out, B = (uint64_t)j->B;
    uint64_t kmax = j->ctx->props.limits.maxComputeWorkGroupCount[2];
    uint32_t kg = ig__vk_min32(ig__vk_kfit(R4, CP, ci * P, B), ig__vk_kfit(R4, CP, co * P, kmax));
    for (uint32_t n0 = 0; n0 < (uint32_t)B; n0 += kg) {
        uint32_t k = ig__vk_min32(B - n0, kg);
        ig__vk_disp *d;
        uint32_t *m = ig__vk_disp_new(b, j->sh.raw, IGR_GEMM_WORDS, &d);
        if (!m) return;
        ig__cplan_gemm_io(b, j, d, m, ci, co, x, CP, y, n0, k);
        m[IGR_GEMM_w_base] = ig__vk_bind(b, d, 3, &vc->skw, (uint64_t)sk->w_off * j->es, co * ci * j->es, j->es);
        m[IGR_GEMM_w_img] = 0; /* every image: the same weight */
        m[IGR_GEMM_w_row] = (uint32_t)ci;
    }
}

/* ToRGB i reading act[cur] for the pixels [q0, q0 + np). */
static void ig__cplan_rgb(ig__vk_builder *b, const ig__cjob *j, int i, int cur, uint32_t q0, uint32_t np) {
    const ig__vk_cips *vc = j->vc;
    const ig__cips_op *op = &vc->rgb[i];
    uint64_t R4 = j->ctx->range / 4, P = j->P, CP = (uint64_t)vc->cmax * P, gs = vc->g_stride;
    uint64_t ci = op->c_in, B = (uint64_t)j->B, img = 3ull * j->px;
    uint64_t kmax = j->ctx->props.limits.maxComputeWorkGroupCount[1];
    uint32_t kg = ig__vk_min32(ig__vk_kfit(R4, CP, ci * P, B), ig__vk_kfit(R4, gs, 3 * ci, kmax));
    kg = ig__vk_min32(kg, ig__vk_kfit(R4, img, np, B));
    for (uint32_t n0 = 0; n0 < (uint32_t)B; n0 += kg) {
        uint32_t k = ig__vk_min32(B - n0, kg);
        ig__vk_disp *d;
        uint32_t *m = ig__vk_disp_new(b, j->sh.rgb, IGR_RGB_WORDS, &d);
        if (!m) return;
        m[IGR_RGB_c_in] = (uint32_t)ci;
        m[IGR_RGB_p] = (uint32_t)P;
        m[IGR_RGB_np] = np;
        m[IGR_RGB_x_base] = ig__vk_bind(b, d, 1, &j->act[cur], (uint64_t)n0 * CP * j->es,
                                        ((uint64_t)(k - 1) * CP + ci * P) * j->es, j->es);
        m[IGR_RGB_x_img] = (uint32_t)CP;
        m[IGR_RGB_w_base] = ig__vk_bind(b, d, 2, &j->gw, ((uint64_t)n0 * gs + op->g_off) * j->es,
                                        ((uint64_t)(k - 1) * gs + 3 * ci) * j->es, j->es);
        m[IGR_RGB_w_img] = (uint32_t)gs;
        m[IGR_RGB_b_base] = ig__vk_bind(b, d, 3, &vc->params, (uint64_t)op->b_off * 4, 3 * 4, 4);
        m[IGR_RGB_mode] = i == 0 ? 1u : 0u;
        m[IGR_RGB_n_img] = k;
        for (uint32_t o = 0; o < 3; o++)
            m[IGR_RGB_out_r + o] = ig__vk_bind(b, d, 4 + o, &j->rgb, (((uint64_t)n0 * 3 + o) * j->px + q0) * 4,
                                               ((uint64_t)(k - 1) * img + np) * 4, 4);
        m[IGR_RGB_out_img] = (uint32_t)img;
        d->gx = ig__vk_groups(np, IG_VK_WG);
        d->gy = k;
    }
}

/* Every dispatch of one batch, in order. */
static void ig__cplan_all(ig__vk_builder *b, ig__cjob *j) {
    const ig__vk_cips *vc = j->vc;
    const ig_config *c = &j->m->cfg;
    uint32_t B = (uint32_t)j->B;
    /* interpolation: the B endpoints b after the B vectors a */
    j->w_buf = ig__vk_plan_mapping(b, c, &j->vc->map, j->vc->map_w, j->vc->map_b, j->vc->avg, j->trunc, &j->z, j->h,
                                   (uint32_t)(j->B * j->mz), j->desc->psi, 0);
    if (j->space == IG_SPACE_W) /* w = lerp(w_a, w_b, t) */
        ig__vk_plan_lerp(b, &j->h[j->w_buf], (uint64_t)B * c->w_dim, (uint32_t)c->w_dim, (uint32_t)c->w_dim, 4, B,
                         j->desc->t + j->n_first);
    ig__cplan_styles(b, j);
    ig__cplan_wgen(b, j);
    if (j->space == IG_SPACE_PARAMS) /* every per-image weight = lerp(a, b, t) */
        ig__vk_plan_lerp(b, &j->gw, (uint64_t)B * vc->g_stride, vc->g_stride, vc->g_stride, j->es, B,
                         j->desc->t + j->n_first);
    for (uint32_t q0 = 0; q0 < j->px; q0 += j->P) {
        uint32_t np = ig__vk_min32(j->px - q0, j->P);
        ig__cplan_input(b, j, q0, np);
        int cur = 0; /* the activations x */
        for (int t = 0; t < vc->n_convs; t++) {
            if (vc->res && t % 2 == 1) { /* residual block t / 2, input x kept in act[cur] */
                int i = t / 2, mid = (cur + 1) % 3, other = (cur + 2) % 3;
                bool proj = vc->skip[i].c_in != 0;
                if (proj) ig__cplan_skip(b, j, i, cur, other); /* x no longer needed after conv1 */
                ig__cplan_layer(b, j, t, cur, mid, -1, q0, np);
                ig__cplan_layer(b, j, t + 1, mid, proj ? cur : other, proj ? other : cur, q0, np);
                cur = proj ? cur : other;
                t++;
                continue;
            }
            ig__cplan_layer(b, j, t, cur, (cur + 1) % (vc->res ? 3 : 2), -1, q0, np);
            cur = (cur + 1) % (vc->res ? 3 : 2);
            if (!vc->res && t >= 2 && t % 2 == 0) ig__cplan_rgb(b, j, t / 2 - 1, cur, q0, np);
        }
        if (vc->res) ig__cplan_rgb(b, j, 0, cur, q0, np); /* to_rgb_last */
    }
}

/* Per-image bytes of the buffers that do not scale with the chunk (z, w, styles, weights, rgb). */
static uint64_t ig__cjob_per_image(const ig__cjob *j) {
    const ig_config *c = &j->m->cfg;
    return (uint64_t)c->z_dim * 4 * j->mz + 2ull * c->w_dim * 4 * j->mz + (uint64_t)j->vc->s_stride * 4 * j->mw +
           (uint64_t)j->vc->g_stride * j->es * j->mw + 12ull * j->px;
}

/* The work buffers of a batch of B images with chunks of P pixels, in ctx->work order. */
#define IG__NBUF 12
static void ig__cjob_list(ig__cjob *j, uint64_t meta_bytes, ig_vk_buf *bufs[IG__NBUF], uint64_t bytes[IG__NBUF]) {
    const ig_config *c = &j->m->cfg;
    uint64_t B = (uint64_t)j->B, CP = (uint64_t)j->vc->cmax * j->P, es = j->es;
    ig_vk_buf *b[IG__NBUF] = {&j->meta, &j->z,      &j->h[0], &j->h[1], &j->s,    &j->gw,
                              &j->act[0], &j->act[1], &j->rgb,  &j->axes, &j->dummy, &j->act[2]};
    uint64_t n[IG__NBUF] = {meta_bytes,
                            (uint64_t)c->z_dim * 4 * B * j->mz,
                            (uint64_t)c->w_dim * 4 * B * j->mz,
                            (uint64_t)c->w_dim * 4 * B * j->mz,
                            (uint64_t)j->vc->s_stride * 4 * B * j->mw,
                            (uint64_t)j->vc->g_stride * es * B * j->mw,
                            CP * es * B,
                            CP * es * B,
                            12ull * j->px * B,
                            ((uint64_t)j->W + j->H) * IG__AX * 4,
                            256,
                            j->vc->res ? CP * es * B : 0};
    for (int i = 0; i < IG__NBUF; i++) {
        bufs[i] = b[i];
        bytes[i] = n[i] ? n[i] : 16;
    }
}

static uint64_t ig__cjob_total(ig__cjob *j, uint64_t meta_bytes) {
    ig_vk_buf *bufs[IG__NBUF];
    uint64_t bytes[IG__NBUF], a = j->ctx->align, total = 256;
    ig__cjob_list(j, meta_bytes, bufs, bytes);
    for (int i = 0; i < IG__NBUF; i++) total += (bytes[i] + a - 1) / a * a;
    return total;
}

/* Dry run of the dispatch list: its record words. */
static ig_result ig__cjob_meta(ig__cjob *j, uint64_t *meta_bytes, ig_error *err) {
    ig__vk_builder b = {.ctx = j->ctx, .dry = true};
    ig__cplan_all(&b, j);
    ig_result res = ig__vk_builder_status(&b, err);
    *meta_bytes = (uint64_t)b.n_meta * 4;
    ig__vk_builder_free(&b);
    return res;
}

static ig_result ig__cjob_alloc(ig__cjob *j, uint64_t meta_bytes, ig_error *err) {
    ig_vk_context *ctx = j->ctx;
    uint64_t total = ig__cjob_total(j, meta_bytes);
    ig_result res = ig__vk_work_reserve(ctx, total, err);
    if (res != IG_OK) return res;
    ig_vk_buf *bufs[IG__NBUF];
    uint64_t bytes[IG__NBUF];
    ig__cjob_list(j, meta_bytes, bufs, bytes);
    for (int i = 0; i < IG__NBUF; i++) {
        res = ig__vk_arena_alloc(ctx, &ctx->work, bytes[i], bufs[i], err);
        if (res != IG_OK) return res;
    }
    return IG_OK;
}

/* w = PixelNorm(z), truncated as the CPU mapping does (models without mapping layers). */
static void ig__host_w(const ig_model *m, const float *z, double psi, bool trunc, float *w) {
    const ig_config *c = &m->cfg;
    double ms = 0;
    for (int k = 0; k < c->z_dim; k++) ms += (double)z[k] * z[k];
    double inv = 1.0 / sqrt(ms / c->z_dim + 1e-8);
    for (int k = 0; k < c->w_dim; k++) {
        float x = (float)(z[k] * inv);
        if (!trunc) {
            w[k] = x;
            continue;
        }
        double a = m->w_avg->data[k];
        w[k] = (float)(a + psi * (x - a));
    }
}

/* Writes the batch's inputs: latents (z rows, slerped on the host for z space, both endpoints
 * for device-side interpolation; or w rows without mapping layers) and the plan's axes. */
static ig_result ig__cjob_inputs(ig__cjob *j, const ig_cips_axes *axes, ig_vk_uploads *ups, ig_error *err) {
    const ig_render_desc *desc = j->desc;
    const ig_config *c = &j->m->cfg;
    size_t zd = (size_t)c->z_dim, rows = (size_t)j->B * (size_t)j->mz;
    float *zp = malloc(rows * zd * sizeof *zp);
    if (!zp) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "latents of %d images", j->B);
    for (int n = 0; n < j->B; n++) {
        size_t src = (size_t)(j->n_first + n) * zd;
        if (desc->z_b && desc->space == IG_SPACE_Z)
            ig_latent_slerp(desc->z + src, desc->z_b + src, desc->t[j->n_first + n], zp + (size_t)n * zd, c->z_dim);
        else
            memcpy(zp + (size_t)n * zd, desc->z + src, zd * sizeof *zp);
        if (j->mz == 2) memcpy(zp + (size_t)(j->B + n) * zd, desc->z_b + src, zd * sizeof *zp);
    }
    void *p;
    ig_result res;
    if (j->host_map) {
        size_t wd = (size_t)c->w_dim;
        res = ig__vk_upload_ptr(j->ctx, ups, &j->h[0], 0, rows * wd * 4, &p, err);
        if (res == IG_OK)
            for (size_t r = 0; r < rows; r++)
                ig__host_w(j->m, zp + r * zd, desc->psi, j->trunc, (float *)p + r * wd);
    } else {
        res = ig__vk_upload_ptr(j->ctx, ups, &j->z, 0, rows * zd * 4, &p, err);
        if (res == IG_OK) memcpy(p, zp, rows * zd * 4);
    }
    free(zp);
    if (res != IG_OK) return res;
    res = ig__vk_upload_ptr(j->ctx, ups, &j->axes, 0, ((uint64_t)j->W + j->H) * IG__AX * 4, &p, err);
    if (res != IG_OK) return res;
    uint32_t *a = p;
    memset(a, 0, ((size_t)j->W + j->H) * IG__AX * 4);
    for (uint32_t k = 0; k < j->W; k++, a += IG__AX) {
        a[0] = ig__vk_fbits(axes->x[k]);
        a[1] = (uint32_t)axes->u0[k];
        a[2] = (uint32_t)axes->u1[k];
        a[3] = ig__vk_fbits(axes->uw[k]);
        a[4] = axes->col[k];
    }
    for (uint32_t k = 0; k < j->H; k++, a += IG__AX) {
        a[0] = ig__vk_fbits(axes->y[k]);
        a[1] = (uint32_t)axes->v0[k];
        a[2] = (uint32_t)axes->v1[k];
        a[3] = ig__vk_fbits(axes->vw[k]);
        a[4] = axes->row[k];
    }
    return IG_OK;
}

/* One batch: inputs, the dispatch list, one submission, readback into out. */
static ig_result ig__cjob_run(ig__cjob *j, const ig_cips_axes *axes, float *out, ig_error *err) {
    ig_vk_context *ctx = j->ctx;
    ig__vk_builder b = {.ctx = ctx, .meta_buf = &j->meta, .dummy = &j->dummy};
    ig_vk_uploads ups = {0};

    uint64_t meta_bytes = 0;
    ig_result res = ig__cjob_meta(j, &meta_bytes, err);
    if (res == IG_OK) res = ig__cjob_alloc(j, meta_bytes, err);
    if (res != IG_OK) goto fail;
    ctx->stats.max_binding_bytes = 0;
    ig__cplan_all(&b, j);
    res = ig__vk_disp_sets(&b, meta_bytes, "cips ", err);

    /* inputs and records */
    if (res == IG_OK) res = ig__cjob_inputs(j, axes, &ups, err);
    if (res == IG_OK) res = ig__vk_disp_upload_meta(&b, &ups, err);
    uint64_t rgb_bytes = 12ull * j->px * (uint64_t)j->B;
    const void *host = NULL;
    if (res == IG_OK) res = ig__vk_disp_submit(&b, &ups, NULL, &j->rgb, rgb_bytes, &host, err);
    /* rgb [B][3][H*W] is the output layout */
    if (res == IG_OK && !host) /* ig_vk_render_device: the result stays on the device */
        ig__vk_dev_layout(ctx, (int)j->H, (int)j->W, 3ull * j->px, j->px, 1);
    else if (res == IG_OK) memcpy(out + (size_t)j->n_first * 3 * j->px, host, (size_t)rgb_bytes);
fail:
    ig__vk_builder_free(&b);
    ig__vk_arena_free(ctx, &ctx->stage);
    free(ups.u);
    return res;
}

/* Images per batch and pixels per chunk from the budget: the per-image buffers of a batch take
 * at most half of what is free, the activations what remains (up to IG__ACT_CAP); every window
 * of one image's activations fits the storage range. Dry runs give the exact record size. */
static ig_result ig__cjob_fit(ig__cjob *j, ig_error *err) {
    ig_vk_context *ctx = j->ctx;
    const VkPhysicalDeviceLimits *lim = &ctx->props.limits;
    uint64_t have = ig__vk_heap_left(ctx);
    for (const ig__vk_block *blk = ctx->work.head; blk; blk = blk->next) have += blk->mem_size;
    uint64_t limit = have < ctx->max_alloc ? have : ctx->max_alloc;
    const uint64_t bn = ig__tile_bn(j->tile); /* the chunks' pixels: a multiple of the tile's */
    uint64_t cmax = j->vc->cmax, per_px = (j->vc->res ? 3 : 2) * cmax * j->es, per_img = ig__cjob_per_image(j);
    uint64_t p_full = ((uint64_t)j->px + bn - 1) / bn * bn;
    uint64_t p_max = ctx->range / (cmax * j->es) / bn * bn;
    if (p_max > (uint64_t)lim->maxComputeWorkGroupCount[0] * bn)
        p_max = (uint64_t)lim->maxComputeWorkGroupCount[0] * bn;
    if (p_max > p_full) p_max = p_full;
    if (p_max < bn || 12ull * bn > ctx->range)
        return ig_error_set(err, IG_ERR_UNSUPPORTED,
                            "CIPS activations of %" PRIu64 " channels exceed the storage buffer range of %s (%" PRIu64
                            " bytes)",
                            cmax, ctx->info.name, (uint64_t)ctx->range);
    uint64_t base = 64 * 1024 + ((uint64_t)j->W + j->H) * IG__AX * 4 + 16 * ctx->align;
    uint64_t one = base + per_img + bn * per_px;
    if (limit < one)
        return ig_error_set(err, IG_ERR_OUT_OF_DEVICE_MEMORY,
                            "one CIPS image needs %" PRIu64 " bytes of work memory but only %" PRIu64
                            " of the device budget (%" PRIu64 ") are free; try a smaller --size or --tile",
                            one, limit, (uint64_t)ctx->heap_budget);
    uint64_t B = (uint64_t)j->B;
    if (B * per_img > limit / 2) B = limit / 2 / per_img;
    if (base + B * (per_img + bn * per_px) > limit) B = (limit - base) / (per_img + bn * per_px);
    if (B < 1) B = 1;
    uint64_t room = limit - base - B * per_img;
    if (room > IG__ACT_CAP) room = IG__ACT_CAP;
    uint64_t P = room / (B * per_px) / bn * bn;
    if (P < bn) P = bn;
    if (P > p_max) P = p_max;
    for (;;) {
        j->B = (int)B;
        j->P = (uint32_t)P;
        uint64_t meta_bytes = 0;
        ig_result res = ig__cjob_meta(j, &meta_bytes, err);
        if (res != IG_OK) return res;
        uint64_t total = ig__cjob_total(j, meta_bytes);
        if (total <= limit) return IG_OK;
        if (P > bn) {
            P = P / 2 / bn * bn;
            if (P < bn) P = bn;
        } else if (B > 1) {
            B /= 2;
        } else {
            return ig_error_set(err, IG_ERR_OUT_OF_DEVICE_MEMORY,
                                "one CIPS image needs %" PRIu64 " bytes of work memory but only %" PRIu64
                                " of the device budget (%" PRIu64 ") are free; try a smaller --size or --tile",
                                total, limit, (uint64_t)ctx->heap_budget);
        }
    }
}

ig_result ig__vk_cips_render(ig_vk_context *ctx, const ig_render_desc *desc, float *out, ig_error *err) {
    if (!ctx || !desc || !desc->z || desc->count < 1 || !out)
        return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "ig_vk_render: missing context, z or output");
    if (desc->z_b && !desc->t) return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "ig_vk_render: z_b without t");
    const ig_model *m = desc->model;
    if (desc->psi != 1.0 && !m->w_avg)
        return ig_error_set(err, IG_ERR_INVALID_ARGUMENT,
                            "truncation %g needs w_avg, which this model file lacks (convert with --w-avg-samples)",
                            desc->psi);
    ig_result res = ig__cips_ensure(ctx, desc, err);
    if (res != IG_OK) return res;
    const ig__vk_cips *vc = ctx->cips;
    res = ig__cips_loops(ctx, &m->cfg, vc, err);
    if (res != IG_OK) return res;
    ig__vk_render_begin(ctx);

    ig_cips_axes axes;
    res = ig_cips_axes_make(m, desc->plan, &axes, err);
    if (res != IG_OK) return res;
    ig__cjob j = {.ctx = ctx, .desc = desc, .m = m, .vc = vc, .B = desc->count};
    j.space = desc->z_b && desc->space != IG_SPACE_Z ? (int)desc->space : -1;
    j.mz = j.space >= 0 ? 2 : 1;
    j.mw = j.space == IG_SPACE_PARAMS ? 2 : 1;
    j.host_map = m->cfg.mapping_layers == 0;
    j.trunc = m->w_avg && desc->psi != 1.0; /* CIPS skips the lerp at psi 1 (ig_cpu_render) */
    j.noise = ig_noise_active(&m->cfg, desc->noise);
    j.W = (uint32_t)axes.width;
    j.H = (uint32_t)axes.height;
    j.px = j.W * j.H;
    j.tile = ig__cips_tile(ctx, vc, j.px);
    j.es = vc->f16 ? 2u : 4u;
    j.sh = ig__cips_shaders(ctx, vc->f16, j.tile);
    ctx->kernel_used = ig__cips_kernel_name(ctx, vc->f16, j.tile);
    ctx->report.gemm_tiles = ig__gemm_tiles[j.tile].name;
    res = ig__cjob_fit(&j, err);
    int B = j.B;
    for (int n0 = 0; n0 < desc->count && res == IG_OK; n0 += B) {
        j.n_first = n0;
        j.B = desc->count - n0 < B ? desc->count - n0 : B;
        res = ig__cjob_run(&j, &axes, out, err);
    }
    ig_cips_axes_free(&axes);
    return ig__vk_render_end(ctx, desc, res);
}

ig_result ig__vk_cips_prepare(ig_vk_context *ctx, const ig_render_desc *desc, ig_error *err) {
    ig_result res = ig__cips_ensure(ctx, desc, err);
    if (res == IG_OK) res = ig__cips_loops(ctx, &desc->model->cfg, ctx->cips, err);
    if (res != IG_OK) return res;
    const ig__vk_cips *vc = ctx->cips;
    const ig_plan *pl = desc->plan;
    int t = ig__cips_tile(ctx, vc, (uint64_t)pl->width * (uint64_t)pl->height);
    ig__cips_sh sh = ig__cips_shaders(ctx, vc->f16, t);
    /* n_spec: 0 fixed-size kernels, 1 {IG_VK_WG}, 8 the tile set's (the last two: CIPSres only) */
    const int ids[] = {IG_SH_FC, vc->f16 ? IG_SH_LERP_F16 : IG_SH_LERP, IG_SH_LERP, sh.wgen, sh.input,
                       sh.rgb,   sh.layer,                                sh.layer_res, sh.raw};
    const uint32_t nspec[] = {0, 1, 1, 0, 1, 1, 8, 8, 8};
    uint32_t wg[8] = {IG_VK_WG}, spec[8];
    ig__vk_gemm_spec(ctx, t, spec);
    size_t n = sizeof ids / sizeof ids[0] - (vc->res ? 0 : 2);
    for (size_t i = 0; i < n && res == IG_OK; i++) {
        VkPipeline p;
        res = ig__vk_pipeline_get(ctx, ids[i], nspec[i] == 8 ? spec : wg, nspec[i], &p, err);
    }
    return res;
}
