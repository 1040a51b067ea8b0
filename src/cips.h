/* cips.h - what a CIPS render needs from the plan, shared by the CPU and Vulkan backends
 * (docs/cips.md "Coordinate mapping"). A CIPS plan has one level; every pixel is independent.
 *
 * Column j of the plan (engine x, y up) maps to the CIPS coordinate
 *   x' = (x + 1) n / (n - 1) - 1            (n = coords_size)
 * and row i to
 *   y' = (1 - y) n / (n - 1) - (n + 1) / (n - 1)   (y' grows down),
 * so the native view at the native size is the released linspace(-1, 1, n) grid exactly. The
 * learned embedding (size S) is read as grid_sample(bilinear, border, align_corners=False):
 * u = clamp(((x' + 1) S - 1) / 2, 0, S - 1), bilinear between floor(u) and the next column. */
#ifndef IG_CIPS_H
#define IG_CIPS_H

#include "model.h"

typedef struct ig_cips_axes {
    int width, height;
    float *x, *y;          /* x'[j], y'[i] (computed in double, stored as float) */
    int *u0, *u1, *v0, *v1; /* embedding columns / rows each pixel blends */
    float *uw, *vw;        /* weight of u1 / v1 */
    uint32_t *col, *row;   /* global pixel position (noise) */
} ig_cips_axes;

ig_result ig_cips_axes_make(const ig_model *model, const ig_plan *plan, ig_cips_axes *axes, ig_error *err);
void ig_cips_axes_free(ig_cips_axes *axes);

/* The first layer's input at pixel (i, j): out[c * stride], c < 2 * hidden: the Fourier
 * features sin(B (x', y') + c) (float arithmetic, as the GPU shader), then the embedding. */
void ig_cips_input(const ig_model *model, const ig_cips_axes *axes, int i, int j, float *out, size_t stride);

/* Modulation styles of a layer: s = M w / sqrt(style_dim) + m. */
void ig_cips_style(const ig_model *model, const ig_cips_layer *layer, const float *w, float *s);
/* The per-image weight of a layer [c_out][c_in]: W / sqrt(c_in) * s, demodulated per row
 * (W'' = W' / sqrt(sum W'^2 + 1e-8)) when `demod`. */
void ig_cips_weight(const ig_cips_layer *layer, const float *s, bool demod, float *out);

#endif
