/* vk_inrgan.h - shared by the INR-GAN family's files of the Vulkan backend only: vk_inrgan.c
 * (uploads, sections, the per-pixel level kernels, the render) and vk_inrgan_gemm.c (the "gemm"
 * level kernel). The cached model and plans, a render's layout (sections, work buffers) and the
 * batch chunk being planned. */
#ifndef IG_VK_INRGAN_H
#define IG_VK_INRGAN_H

#include "vk_internal.h"
#include "model.h"

#define IG__MAX_OPS (IG_MAX_BLOCKS * (3 + IG_MAX_EXTRA))

enum { IG__OP_FMM = 1, IG__OP_TORGB = 2 };
/* where a section's input features and rgb come from (level.comp's modes) */
enum { IG__IN_NONE = 0, IG__IN_UP = 1, IG__IN_SAME = 3 };

/* ---- cached uploads (the model: ctx->model, the plans: ctx->plan, ctx->plan_stats) ---------- */

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
    /* the gemm level kernel's copy of the embeddings: channel-major [ce][pp] in the storage
     * precision, pp = the level's pixels padded to a multiple of its tile's BN (zeros past
     * them); tile[l]: the level's tile set (ig__vk_gemm_level_tile) */
    bool gemm;
    bool gemm_only; /* bilinear maps or instance norm: the gemm kernel, never the fused one */
    uint32_t pp[IG_MAX_BLOCKS];
    int tile[IG_MAX_BLOCKS];
    ig_vk_buf emb_cm[IG_MAX_BLOCKS];
};

/* ---- per-render layout --------------------------------------------------------------------- */

enum { IG__PASS_STATS = 0, IG__PASS_RENDER = 1 };

typedef struct ig__section {
    int level, op0, op1; /* ops [op0, op1) of the model */
    int in_mode, rgb_mode;
    int c_fin, c_fout;
    bool store;           /* features needed later */
    bool norm_next;       /* the next section starts with a normalised layer */
    int fin, fout;        /* feature buffers 0/1 (-1 none) */
    int rin, rout;        /* rgb buffers 0/1 */
} ig__section;

typedef struct ig__work {
    uint32_t es;     /* storage element size (2: fp16) */
    bool fused;      /* FMM weights rebuilt in the level kernel (row norms only) */
    bool stats;      /* pass 0 computes the instance-norm statistics on the native plan */
    int interp;      /* 0, or 1 + ig_space when a second latent per image goes through the GPU */
    bool gemm;       /* levels on the gemm kernel: feat = activations [C][pp], rgb = [3][pp] */
    int gemm_rgb;    /* gemm: the rgb buffer holding the last level's rgb */
    int tile_from;   /* gemm: levels >= tile_from run on the fused kernel (n_levels: none) */
    int mz, mw;      /* images per output image through the mapping / the heads and weights */
    ig_vk_buf z, h[2], s, gw, feat[2], rgb[2], part, inv, meta, dummy;
    uint64_t feat_img, rgb_img, part_img, inv_img; /* per-image bytes */
    const ig__vk_plan *vp[2];
    int n_sec[2];
    ig__section sec[2][IG__MAX_OPS];
    int w_buf;       /* which h[] holds w */
} ig__work;

/* ---- planning the dispatches ------------------------------------------------------------------ */

typedef struct ig__chunk {
    ig_vk_context *ctx;
    const ig_config *c;
    const ig__vk_model *vm;
    ig__work *wk;
    int B;          /* images in this chunk */
    double psi;
    const float *t; /* interpolation positions of these images, or NULL */
    uint32_t kv;    /* image group for per-image vectors */
} ig__chunk;

/* ---- the gemm level kernel (vk_inrgan_gemm.c) ------------------------------------------------ */

/* layer_gemm.comp's tile sets (specialization constants 0..5): WX x WY invocations, K steps of
 * BK, TM outputs x TN pixels per invocation; a workgroup computes BM = WY TM outputs x BN = WX TN
 * pixels of one image. The coop set is the KHR cooperative-matrix variant's tile (128 x 128 x 16,
 * 256 invocations in subgroups, fp16 storage), run by that variant where the device and the
 * build have it, else (INRGAN_VK_COOP_EMU=1) by the scalar fp16 kernel with the same constants. */
typedef struct ig__gemm_tile {
    const char *name;
    uint32_t wx, wy, bk, tm, tn;
} ig__gemm_tile;
enum { IG__TILE_SMALL = 0, IG__TILE_LARGE = 1, IG__TILE_COOP = 2, IG__N_TILES = 3 };
extern const ig__gemm_tile ig__gemm_tiles[IG__N_TILES];
static inline uint32_t ig__tile_bm(int t) { return ig__gemm_tiles[t].wy * ig__gemm_tiles[t].tm; }
static inline uint32_t ig__tile_bn(int t) { return ig__gemm_tiles[t].wx * ig__gemm_tiles[t].tn; }
/* The pixels of a level padded to tile t's BN. */
static inline uint32_t ig__pad_tile(uint64_t px, int t) {
    uint64_t bn = ig__tile_bn(t);
    return (uint32_t)((px + bn - 1) / bn * bn);
}
/* Whether tile t runs on this device (workgroup size and shared memory); *nbuf: 2 where two
 * shared buffers fit, else 1. */
bool ig__vk_gemm_tile_fits(const ig_vk_context *ctx, int t, uint32_t *nbuf);
/* The tile set of level l of the model (px its computed pixels): INRGAN_VK_GEMM_TILE, else
 * coop where it runs (fp16 storage and the KHR variant or INRGAN_VK_COOP_EMU), else the large
 * tile where it fits and the level has >= 1024 pixels and a layer with >= 128 outputs, else the
 * small one; -1 when none runs on the device. */
int ig__vk_gemm_level_tile(const ig_vk_context *ctx, const ig__vk_model *vm, int l, uint64_t px);
/* The specialization constants of tile t on this device into spec[8]. */
void ig__vk_gemm_spec(const ig_vk_context *ctx, int t, uint32_t spec[8]);

/* norm.comp's second pass for images [n0, n0 + k) (vk_inrgan.c): wk->part's row partials (H
 * rows of C channels, W wide) into inv[n][inv_off + c]; false when the builder is out of room. */
bool ig__vk_plan_norm2(ig__vk_builder *b, const ig__work *wk, uint32_t C, uint32_t W, uint32_t H,
                       uint32_t inv_off, uint32_t n0, uint32_t k);

/* Whether the gemm level kernel can render this model on this context: asked for, fp32 with
 * the weight-generation pass, nearest up-sampling without instance norm, and the layer
 * structure the coarse trick expects (each level > 0 opens with an up-sampling conv0; every
 * other layer reads only the previous layer's features, level 0's first only the embedding). */
bool ig__vk_gemm_model(const ig_vk_context *ctx, const ig_config *c, const ig__vk_model *vm);
/* Sizes of the gemm kernel's buffers into wk, and whether every window and dispatch of it fits
 * the device (else the render runs the per-pixel kernel). */
bool ig__vk_gemm_layout(const ig_vk_context *ctx, const ig__vk_model *vm, const ig__vk_plan *vp, ig__work *wk);
/* Creates the gemm kernel's pipelines the plan's levels use. */
ig_result ig__vk_gemm_prepare(ig_vk_context *ctx, const ig__vk_plan *vp, ig_error *err);
/* ig_vk_level_kernel_used's name of the gemm kernel for this plan: "gemm" (fp32), "gemm-f16"
 * (fp16 storage), "gemm-coop-khr" (KHR cooperative matrices), "gemm-coop-emu" (their scalar
 * twin). */
const char *ig__vk_gemm_kernel_name(const ig_vk_context *ctx, const ig__vk_plan *vp);
/* The tile sets of the plan's levels [0, n_levels), '+'-joined: "small", "large", "small+large",
 * "coop" ("" for none). */
const char *ig__vk_gemm_tiles_used(const ig__vk_plan *vp, int n_levels);
/* Plans the render pass's levels on the gemm kernel (one dispatch per layer per image group). */
void ig__vk_plan_gemm_levels(ig__vk_builder *b, const ig__chunk *ch);
/* The coarse product W[:, :c_x] X of up-sampling conv0 `op` on the previous level's grid
 * (layer_gemm.comp IG_EPI_NONE), x -> y, for images [n0, n0 + k) (the fused kernel's). */
void ig__vk_gemm_coarse(ig__vk_builder *b, const ig__chunk *ch, const ig__vk_op *op,
                        const ig_vk_buf *x, const ig_vk_buf *y, uint32_t n0, uint32_t k);

/* ---- the fused level kernel (vk_inrgan_tile.c) ----------------------------------------------- */

/* The first level of the render that runs on the fused kernel (a suffix of the levels whose
 * widths and tiles fit the device); vp->n_levels when none (or the kernel is not asked for). */
int ig__vk_tile_from(const ig_vk_context *ctx, const ig__vk_model *vm, const ig__vk_plan *vp,
                     const ig__work *wk);
/* Creates the fused kernel's pipelines for the cached model and plan (when asked for). */
ig_result ig__vk_tile_prepare(ig_vk_context *ctx, ig_error *err);
/* Plans the render pass's levels: those before wk->tile_from on the gemm kernel, the others
 * one level_tile.comp dispatch per level (and image group) each. */
void ig__vk_plan_tile_levels(ig__vk_builder *b, const ig__chunk *ch);

#endif
