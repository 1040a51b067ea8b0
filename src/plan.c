/* plan.c - what to compute, once for every backend.
 *
 * A plan turns (view, image size, stride, tile) into, for every level, the list of full-grid
 * columns and rows to compute, their continuous coordinates, and how each value comes from the
 * previous level (index and weight maps for nearest or bilinear x2 up-sampling). Whole images,
 * sizes the level structure does not divide, tiles (aligned or not), strided low-res renders
 * and the halos bilinear models need are all the same thing here: index lists.
 *
 * Conventions (docs/coordinates.md): y points up; at level l the whole image has a
 * full_width x full_height grid, column c at x = x0 + (x1' - x0) c / full_width and row r at
 * y = y1 - (y1 - y0') (r + 1) / full_height, where x1', y0' extend the view when the size is
 * padded up to a multiple of 2^(levels-1). Native view at native size = the training grid
 * t_k = 2k/n - 1 exactly.
 */
#include "inrgan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define IG_MAX_SIDE 1048576
#define IG_MAX_STRIDE 4096

static const char *const ig__const_names[] = {"border", "zero"};

const char *ig_const_mode_name(ig_const_mode mode) {
    return (unsigned)mode < 2 ? ig__const_names[mode] : "?";
}

int ig_const_mode_parse(const char *name) {
    for (int i = 0; i < 2; i++)
        if (strcmp(name, ig__const_names[i]) == 0) return i;
    return -1;
}

ig_view ig_view_native(void) {
    ig_view v = {-1.0, -1.0, 1.0, 1.0};
    return v;
}

ig_view ig_view_center_zoom(double cx, double cy, double zoom) {
    double h = 1.0 / zoom;
    ig_view v = {cx - h, cy - h, cx + h, cy + h};
    return v;
}

ig_view ig_view_zoom_frame(double cx, double cy, double zoom0, double zoom1, int i, int n) {
    double t = n > 1 ? (double)i / (n - 1) : 0.0;
    double z = i == 0 ? zoom0 : i == n - 1 ? zoom1 : zoom0 * pow(zoom1 / zoom0, t);
    return ig_view_center_zoom(cx, cy, z);
}

void ig_plan_free(ig_plan *plan) {
    for (int l = 0; l < IG_MAX_BLOCKS; l++) {
        ig_level_plan *lp = &plan->levels[l];
        free(lp->cols); free(lp->rows); free(lp->xs); free(lp->ys);
        free(lp->c0); free(lp->c1); free(lp->r0); free(lp->r1); free(lp->cw); free(lp->rw);
    }
    memset(plan, 0, sizeof *plan);
}

/* Coarse indices a list of fine indices needs (sorted, unique), and the maps into them. */
static bool ig__derive(const int *fine, int nf, int n_coarse, bool bilinear, int **coarse_out,
                       int *nc_out, int *i0, int *i1, float *w) {
    int *pos = malloc((size_t)n_coarse * sizeof *pos);
    int *list = malloc((size_t)n_coarse * sizeof *list);
    if (!pos || !list) { free(pos); free(list); return false; }
    for (int c = 0; c < n_coarse; c++) pos[c] = -1;
    int N = 2 * n_coarse;
    for (int k = 0; k < nf; k++) {
        int f = fine[k], a, b;
        double frac = 0;
        if (!bilinear) {
            a = b = f >> 1;
        } else {
            double src = N > 1 ? (double)f * (n_coarse - 1) / (N - 1) : 0.0;
            a = (int)floor(src);
            frac = src - a;
            b = frac > 0 && a + 1 < n_coarse ? a + 1 : a;
            if (b == a) frac = 0;
        }
        pos[a] = 1;
        pos[b] = 1;
        i0[k] = a;
        i1[k] = b;
        w[k] = (float)frac;
    }
    int n = 0;
    for (int c = 0; c < n_coarse; c++)
        if (pos[c] >= 0) { pos[c] = n; list[n++] = c; }
    for (int k = 0; k < nf; k++) {
        i0[k] = pos[i0[k]];
        i1[k] = pos[i1[k]];
    }
    free(pos);
    *coarse_out = list;
    *nc_out = n;
    return true;
}

ig_result ig_plan_make(ig_plan *plan, const ig_config *cfg, const ig_plan_desc *desc_in, ig_error *err) {
    memset(plan, 0, sizeof *plan);
    ig_plan_desc d = *desc_in;
    if (d.view.x0 == 0 && d.view.x1 == 0 && d.view.y0 == 0 && d.view.y1 == 0) d.view = ig_view_native();
    if (d.width == 0 && d.height == 0) d.width = d.height = cfg->resolution;
    if (d.stride == 0) d.stride = 1;
    ig_view v = d.view;
    if (!(isfinite(v.x0) && isfinite(v.x1) && isfinite(v.y0) && isfinite(v.y1)) || !(v.x1 > v.x0) ||
        !(v.y1 > v.y0) || fabs(v.x0) > 1e12 || fabs(v.x1) > 1e12 || fabs(v.y0) > 1e12 || fabs(v.y1) > 1e12)
        return ig_error_set(err, IG_ERR_VIEW, "view (%g,%g)-(%g,%g) must be finite with x0 < x1 and y0 < y1",
                            v.x0, v.y0, v.x1, v.y1);
    if (d.width < 1 || d.height < 1 || d.width > IG_MAX_SIDE || d.height > IG_MAX_SIDE)
        return ig_error_set(err, IG_ERR_SIZE, "size %dx%d is outside 1..%d", d.width, d.height, IG_MAX_SIDE);
    if (d.stride < 1 || d.stride > IG_MAX_STRIDE)
        return ig_error_set(err, IG_ERR_SIZE, "stride %d is outside 1..%d", d.stride, IG_MAX_STRIDE);
    int s = d.stride;
    int ow = (d.width + s - 1) / s, oh = (d.height + s - 1) / s;
    if (d.tile_w == 0 && d.tile_h == 0) {
        d.tile_x = d.tile_y = 0;
        d.tile_w = ow;
        d.tile_h = oh;
    }
    if (d.tile_w < 1 || d.tile_h < 1 || d.tile_x < 0 || d.tile_y < 0 || d.tile_x > ow - d.tile_w ||
        d.tile_y > oh - d.tile_h)
        return ig_error_set(err, IG_ERR_SIZE, "tile %dx%d at (%d,%d) is not inside the %dx%d output", d.tile_w,
                            d.tile_h, d.tile_x, d.tile_y, ow, oh);
    if (d.const_mode != IG_CONST_BORDER && d.const_mode != IG_CONST_ZERO)
        return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "unknown constant-embedding mode %d", (int)d.const_mode);

    int L = cfg->n_levels, step = 1 << (L - 1);
    int Wp = (d.width + step - 1) / step * step, Hp = (d.height + step - 1) / step * step;
    double x1e = Wp == d.width ? v.x1 : v.x0 + (v.x1 - v.x0) * ((double)Wp / d.width);
    double y0e = Hp == d.height ? v.y0 : v.y1 - (v.y1 - v.y0) * ((double)Hp / d.height);
    plan->desc = d;
    plan->width = d.tile_w;
    plan->height = d.tile_h;
    plan->image_width = ow;
    plan->image_height = oh;
    plan->whole = s == 1 && d.tile_w == ow && d.tile_h == oh;
    plan->const_mode = d.const_mode;
    plan->n_levels = L;
    bool bil = cfg->upsampling == IG_UP_BILINEAR;

    ig_level_plan *top = &plan->levels[L - 1];
    top->width = d.tile_w;
    top->height = d.tile_h;
    top->cols = malloc((size_t)top->width * sizeof(int));
    top->rows = malloc((size_t)top->height * sizeof(int));
    if (!top->cols || !top->rows) goto oom;
    for (int j = 0; j < top->width; j++) top->cols[j] = s * (d.tile_x + j);
    for (int i = 0; i < top->height; i++) top->rows[i] = s * (d.tile_y + i);
    for (int l = L - 1; l >= 0; l--) {
        ig_level_plan *lp = &plan->levels[l];
        lp->full_width = Wp >> (L - 1 - l);
        lp->full_height = Hp >> (L - 1 - l);
        if (l > 0) {
            ig_level_plan *cp = &plan->levels[l - 1];
            lp->c0 = malloc((size_t)lp->width * sizeof(int));
            lp->c1 = malloc((size_t)lp->width * sizeof(int));
            lp->cw = malloc((size_t)lp->width * sizeof(float));
            lp->r0 = malloc((size_t)lp->height * sizeof(int));
            lp->r1 = malloc((size_t)lp->height * sizeof(int));
            lp->rw = malloc((size_t)lp->height * sizeof(float));
            if (!lp->c0 || !lp->c1 || !lp->cw || !lp->r0 || !lp->r1 || !lp->rw) goto oom;
            if (!ig__derive(lp->cols, lp->width, lp->full_width / 2, bil, &cp->cols, &cp->width, lp->c0, lp->c1, lp->cw) ||
                !ig__derive(lp->rows, lp->height, lp->full_height / 2, bil, &cp->rows, &cp->height, lp->r0, lp->r1, lp->rw))
                goto oom;
        }
        lp->xs = malloc((size_t)lp->width * sizeof(double));
        lp->ys = malloc((size_t)lp->height * sizeof(double));
        if (!lp->xs || !lp->ys) goto oom;
        for (int j = 0; j < lp->width; j++)
            lp->xs[j] = v.x0 + (x1e - v.x0) * (double)lp->cols[j] / lp->full_width;
        for (int i = 0; i < lp->height; i++)
            lp->ys[i] = v.y1 - (v.y1 - y0e) * (double)(lp->rows[i] + 1) / lp->full_height;
    }
    return IG_OK;
oom:
    ig_plan_free(plan);
    return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "plan for %dx%d", d.width, d.height);
}

ig_result ig_plan_init(ig_plan *plan, const ig_config *cfg, ig_view view, int width, int height,
                       ig_error *err) {
    ig_plan_desc d = {.view = view, .width = width, .height = height};
    if (width < 1 || height < 1)
        return ig_error_set(err, IG_ERR_SIZE, "size %dx%d must be at least 1x1", width, height);
    return ig_plan_make(plan, cfg, &d, err);
}

/* ig_plan_executed_flops, ig_plan_model_flops: src/lower.c (the costs of the one lowering). */
