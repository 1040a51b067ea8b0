/* lower.h - the one lowering of a validated config (internal to libinrgan): the layer sequence of
 * either family with each layer's shapes, its place in the per-image style vector and its cost,
 * the levels, the mapping network, the parameter count, and the instance-norm policy. Every
 * consumer reads it instead of walking the config itself: the counts of `inrgan info`
 * (ig_config_param_count, ig_config_model_flops, ...), the tensor list the loader expects
 * (src/model.c), plan costs (src/plan.c), the tile budget (src/render.c), the CPU backend's layer
 * list and the Vulkan backend's op list. Counting conventions: docs/cli.md, docs/cips.md. */
#ifndef IG_LOWER_H
#define IG_LOWER_H

#include "model.h"

typedef enum ig_lop_kind {
    IG_LOP_CONV0 = 0, /* INR-GAN conv0 of block i > 0: input [x of block i-1; embedding if it upsamples] */
    IG_LOP_CONV1,     /* INR-GAN conv1 (block 0: reads the embedding) */
    IG_LOP_EXTRA,     /* INR-GAN extra_convs.<index> */
    IG_LOP_TORGB,     /* ToRGB: INR-GAN torgb of a block; CIPS to_rgbs.K or to_rgb_last */
    IG_LOP_LFF,       /* CIPS: the Fourier features, 2 coordinates -> hidden (no styles) */
    IG_LOP_MODFC,     /* CIPS: a StyledConv (conv1 / linears.K; CIPSres linears.0, linears.K.conv1/2) */
    IG_LOP_SKIP       /* CIPSres: the 1x1 skip of a residual block that changes the width */
} ig_lop_kind;

typedef struct ig_lop {
    ig_lop_kind kind;
    int block;        /* INR-GAN: block index. CIPS: MODFC: conv index (ig_cips_tensors.conv),
                       * TORGB: rgb index, SKIP: pair index (ig_cips_tensors.skip) */
    int index;        /* EXTRA: k of extra_convs.k; else 0 */
    int level;        /* the level whose computed pixels it runs on */
    int c_in, c_out;
    int c_x, c_e;     /* input = [features (c_x); embedding (c_e)], c_x + c_e = c_in */
    bool coarse;      /* upsampling conv0: the coarse trick runs W[:, :c_x] x on level - 1 */
    bool in_norm;     /* instance norm of its input: its statistics (c_x channels) are needed */
    int64_t s_off, s_len; /* its styles (affine / modulation head outputs) in the per-image style
                           * vector; s_len = 0: not modulated */
    int64_t inv_off;  /* in_norm: its c_x factors in the per-image instance-norm vector */
    int64_t params;   /* its parameters (weight, bias, head, noise weight) */
} ig_lop;

#define IG_LOWER_MAX_OPS (IG_MAX_BLOCKS * (3 + IG_MAX_EXTRA))

typedef struct ig_lowering {
    ig_family family;
    int n_ops;
    ig_lop ops[IG_LOWER_MAX_OPS]; /* INR-GAN: per block conv0, conv1, extras, torgb. CIPS: LFF, then
                                   * the StyledConvs in call order, each CIPSres skip after its
                                   * block's conv1, each CIPSskip ToRGB after its pair, CIPSres'
                                   * ToRGB last */
    int n_levels;
    int level_grid[IG_MAX_BLOCKS];     /* native grid side */
    int level_channels[IG_MAX_BLOCKS]; /* widest INR-GAN block on the level (at least 3; CIPS: 3) */
    int level_emb[IG_MAX_BLOCKS];      /* embedding channels computed on the level */
    int level_act[IG_MAX_BLOCKS];      /* widest activation its INR-GAN layers read or write (max
                                        * c_x, c_out of its FMM ops; at least 3; CIPS: 3) */
    int widest;                        /* CIPS: widest StyledConv input or output */
    int64_t s_stride;                  /* style floats per image (CIPS: StyledConvs, then ToRGBs) */
    int64_t inv_len;                   /* instance-norm factors per image */
    /* mapping network: n_map layers [map_out x map_in[l]] + bias (CIPS: style.1 ...) */
    int n_map, map_in[IG_MAX_MAPPING], map_out;
    int64_t params;                    /* all parameters, without w_avg (docs/cli.md) */
} ig_lowering;

/* Lowers a config that ig_config_parse accepted (never fails for one). */
void ig_lower(const ig_config *cfg, ig_lowering *lw);

/* 2 x multiply-adds of the ops with px[l] computed pixels on level l; coarse = false: nominal
 * (model) FLOPs, true: what the kernels execute (upsampling conv0 partly on level - 1). */
double ig_lower_flops(const ig_lowering *lw, const double *px, bool coarse);

/* Bytes per output pixel of one tile's buffers for `count` images with `workers` in flight at
 * stride `stride` (src/render.c's memory budget). */
double ig_lower_tile_bytes_per_pixel(const ig_lowering *lw, int count, int workers, int stride);

/* Instance-norm statistics are those of the whole view at the model's native size
 * (docs/coordinates.md): a plan other than that needs a statistics pass over the native plan
 * of its view first. Returns whether `plan` needs one; fills *stats with that plan's desc. */
bool ig_lower_stats_pass(const ig_config *cfg, const ig_plan *plan, ig_plan_desc *stats);

/* The tensors of an INR-GAN op (CONV0, CONV1, EXTRA, TORGB) of a loaded model. */
const ig_layer *ig_lower_layer(const ig_model *m, const ig_lop *op);
/* The tensors of a CIPS MODFC or TORGB op. */
const ig_cips_layer *ig_lower_cips_layer(const ig_model *m, const ig_lop *op);

#endif
