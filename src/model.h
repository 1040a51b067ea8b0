/* model.h - the validated model as the backends see it (internal to libinrgan).
 * Every tensor below exists and has the shape the config implies: src/model.c checked it. */
#ifndef IG_MODEL_H
#define IG_MODEL_H

#include "inrgan.h"

/* One FMM layer (conv0, conv1, extra_convs.K) or ToRGB (c_out = 3). */
typedef struct ig_layer {
    const ig_tensor *weight;   /* [c_out, c_in, 1, 1] shared W_s */
    const ig_tensor *bias;     /* [c_out] */
    const ig_tensor *affine_w; /* [(c_in + c_out) * r, w_dim] (FMM) or [c_in, w_dim] (ToRGB) */
    const ig_tensor *affine_b;
    int c_in, c_out;
} ig_layer;

typedef struct ig_block_tensors {
    const ig_tensor *const_embs;   /* [1, const, grid, grid] or NULL */
    const ig_tensor *log_basis;    /* [n_log, 2] or NULL */
    const ig_tensor *random_basis; /* [random, 2] or NULL */
    bool has_conv0;
    ig_layer conv0, conv1, extra[IG_MAX_EXTRA], torgb;
} ig_block_tensors;

/* A CIPS modulated 1x1 layer: StyledConv (conv1, linears.K: demodulated, noise, bias + lrelu)
 * or ToRGB (to_rgbs.K: modulated only, + bias). */
typedef struct ig_cips_layer {
    const ig_tensor *weight;   /* [1, c_out, c_in, 1, 1] */
    const ig_tensor *mod_w;    /* conv.modulation.weight [c_in, style_dim] */
    const ig_tensor *mod_b;    /* conv.modulation.bias [c_in] */
    const ig_tensor *noise_w;  /* noise.weight [1]; NULL for ToRGB */
    const ig_tensor *bias;     /* activate.bias [c_out], or to_rgbs.K.bias [1, 3, 1, 1] */
    int c_in, c_out;
} ig_cips_layer;

#define IG_CIPS_MAX_CONVS (1 + 2 * IG_MAX_CIPS_PAIRS)

typedef struct ig_cips_tensors {
    const ig_tensor *lff_w;    /* lff.ffm.conv.weight [hidden, 2, 1, 1] */
    const ig_tensor *lff_b;    /* lff.ffm.conv.bias [hidden] */
    const ig_tensor *emb;      /* emb.input [1, hidden, size, size] */
    int n_convs;               /* 1 + 2 * n_pairs, in call order: CIPSskip conv1, linears.0,
                                * linears.1, ...; CIPSres linears.0, linears.1.conv1,
                                * linears.1.conv2, linears.2.conv1, ... */
    ig_cips_layer conv[IG_CIPS_MAX_CONVS];
    int n_rgb;                 /* CIPSskip: n_pairs; CIPSres: 1 */
    ig_cips_layer rgb[IG_MAX_CIPS_PAIRS]; /* CIPSskip: to_rgbs.K after linears.2K+1;
                                           * CIPSres: to_rgb_last at the end */
    /* CIPSres: block K's skip linears.K+1.skip.0.weight [c_out, c_in, 1, 1] (applied as
     * W / sqrt(c_in)), NULL where the block keeps its width (identity) */
    const ig_tensor *skip[IG_MAX_CIPS_PAIRS];
} ig_cips_tensors;

struct ig_model {
    ig_config cfg;
    char *config_json;
    int n_tensors;
    ig_tensor *tensors;
    float *storage;                 /* all tensors as fp32, one allocation */
    ig_block_tensors blocks[IG_MAX_BLOCKS];
    const ig_tensor *map_w[IG_MAX_MAPPING], *map_b[IG_MAX_MAPPING], *w_avg; /* w_avg: NULL if absent */
    ig_cips_tensors cips;           /* CIPS models only */
};

/* Parses and checks a config JSON string (also used by tests). */
ig_result ig_config_parse(const char *json, ig_config *cfg, ig_error *err);

#endif
