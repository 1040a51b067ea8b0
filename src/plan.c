/* plan.c - what to compute, once for every backend: the view rectangle and output size
 * become one grid per level with the continuous coordinates of its columns and rows.
 *
 * Coordinate convention (docs/coordinates.md): the view [x0,x1] x [y0,y1] is divided into
 * W_l x H_l cells at level l; column j samples x = x0 + (x1-x0) j / W_l (the cell's left edge),
 * row i (0 = top) samples y = y1 - (y1-y0)(i+1) / H_l (the cell's bottom edge, y points up).
 * For the native view (-1,-1,1,1) at the native size this is exactly the training grid
 * t_k = 2k/n - 1 of the reference (section 1.7), and level l+1 is an exact 2x refinement of
 * level l: fine column 2j has coarse column j's x, fine row 2i+1 has coarse row i's y.
 */
#include "inrgan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define IG_MAX_SIDE 1048576

ig_view ig_view_native(void) {
    ig_view v = {-1.0, -1.0, 1.0, 1.0};
    return v;
}

ig_result ig_plan_init(ig_plan *plan, const ig_config *cfg, ig_view view, int width, int height,
                       ig_error *err) {
    memset(plan, 0, sizeof *plan);
    if (!(isfinite(view.x0) && isfinite(view.x1) && isfinite(view.y0) && isfinite(view.y1)) ||
        !(view.x1 > view.x0) || !(view.y1 > view.y0))
        return ig_error_set(err, IG_ERR_VIEW, "view (%g,%g)-(%g,%g) must have x0 < x1 and y0 < y1",
                            view.x0, view.y0, view.x1, view.y1);
    int L = cfg->n_levels;
    int step = 1 << (L - 1);
    if (width < 1 || height < 1 || width > IG_MAX_SIDE || height > IG_MAX_SIDE)
        return ig_error_set(err, IG_ERR_SIZE, "size %dx%d is outside 1..%d", width, height, IG_MAX_SIDE);
    if (width % step || height % step)
        return ig_error_set(err, IG_ERR_SIZE, "size %dx%d is not a multiple of %d (the model has %d levels)",
                            width, height, step, L);
    plan->view = view;
    plan->width = width;
    plan->height = height;
    plan->n_levels = L;
    for (int l = 0; l < L; l++) {
        ig_level_plan *lp = &plan->levels[l];
        lp->width = width >> (L - 1 - l);
        lp->height = height >> (L - 1 - l);
        lp->xs = malloc((size_t)lp->width * sizeof *lp->xs);
        lp->ys = malloc((size_t)lp->height * sizeof *lp->ys);
        if (!lp->xs || !lp->ys) {
            ig_plan_free(plan);
            return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "plan coordinates");
        }
        for (int j = 0; j < lp->width; j++)
            lp->xs[j] = view.x0 + (view.x1 - view.x0) * (double)j / lp->width;
        for (int i = 0; i < lp->height; i++)
            lp->ys[i] = view.y1 - (view.y1 - view.y0) * (double)(i + 1) / lp->height;
    }
    return IG_OK;
}

void ig_plan_free(ig_plan *plan) {
    for (int l = 0; l < plan->n_levels; l++) {
        free(plan->levels[l].xs);
        free(plan->levels[l].ys);
    }
    memset(plan, 0, sizeof *plan);
}
