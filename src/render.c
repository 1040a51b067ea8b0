/* render.c - whole images of any size: split into tiles (from a memory budget or given), render
 * each tile with a backend, convert to RGB8 and stream finished row bands to a sink. Only one
 * band of RGB8 rows and one tile of floats are ever held, so a 16384x16384 image needs the same
 * memory as a 1024x1024 one. Tiles are plans over sub-lists of the whole image's grids
 * (src/plan.c), so every tile is an exact crop of the untiled render. */
#include "inrgan.h"
#include "model.h"
#include "lower.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define IG_DEFAULT_BUDGET ((size_t)1 << 30)

static ig_result ig__cpu_backend(void *ctx, const ig_render_desc *d, float *out, ig_error *err) {
    (void)ctx;
    return ig_cpu_render(d, out, err);
}

int ig_render_auto_tile(const ig_model *model, const ig_plan_desc *pd, size_t budget, int count) {
    const ig_config *c = &model->cfg;
    if (!budget) budget = IG_DEFAULT_BUDGET;
    double per_px = ig_config_bytes_per_pixel(c, count); /* src/lower.c */
    int L = c->n_levels;
    double side = sqrt((double)budget / per_px);
    int step = 1 << (L - 1);
    int t = (int)side / step * step;
    if (t < step) t = step;
    int w = pd->width ? pd->width : c->resolution, h = pd->height ? pd->height : c->resolution;
    int s = pd->stride > 1 ? pd->stride : 1;
    int ow = (w + s - 1) / s, oh = (h + s - 1) / s;
    int longest = ow > oh ? ow : oh;
    return t > longest ? longest : t;
}

ig_result ig_render_image(const ig_image_job *job, ig_error *err) {
    const ig_model *m = job->model;
    const ig_config *c = &m->cfg;
    ig_plan_desc pd = job->plan;
    pd.tile_x = pd.tile_y = pd.tile_w = pd.tile_h = 0;
    ig_plan whole;
    /* validates the whole request (view, size, stride) before anything is rendered */
    ig_result r = ig_plan_make(&whole, c, &pd, err);
    if (r != IG_OK) return r;
    int W = whole.width, H = whole.height;
    pd = whole.desc;
    ig_plan_free(&whole);
    int tile = job->tile > 0 ? job->tile : ig_render_auto_tile(m, &pd, job->memory_budget, job->count);
    int tw = tile < W ? tile : W, th = tile < H ? tile : H;
    ig_backend_fn backend = job->backend ? job->backend : ig__cpu_backend;

    float *fl = malloc((size_t)job->count * 3 * (size_t)tw * th * sizeof *fl);
    uint8_t *band = malloc((size_t)job->count * (size_t)W * th * 3);
    uint8_t *rgb = malloc((size_t)tw * th * 3);
    if (!fl || !band || !rgb) {
        r = ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "tile buffers for %dx%d tiles of a %dx%d image", tw, th, W, H);
        goto done;
    }
    for (int y0 = 0; y0 < H && r == IG_OK; y0 += th) {
        int bh = H - y0 < th ? H - y0 : th;
        for (int x0 = 0; x0 < W && r == IG_OK; x0 += tw) {
            int bw = W - x0 < tw ? W - x0 : tw;
            ig_plan_desc td = pd;
            td.tile_x = x0;
            td.tile_y = y0;
            td.tile_w = bw;
            td.tile_h = bh;
            ig_plan plan;
            r = ig_plan_make(&plan, c, &td, err);
            if (r != IG_OK) break;
            ig_render_desc d = {.model = m, .plan = &plan, .z = job->z, .count = job->count, .psi = job->psi,
                                .z_b = job->z_b, .t = job->t, .space = job->space, .threads = job->threads,
                                .noise = job->noise, .noise_seed = job->noise_seed};
            r = backend(job->backend_ctx, &d, fl, err);
            ig_plan_free(&plan);
            for (int n = 0; n < job->count && r == IG_OK; n++) {
                ig_image_to_rgb8(fl + (size_t)n * 3 * bw * bh, bw, bh, rgb);
                uint8_t *dst = band + (size_t)n * W * th * 3;
                for (int i = 0; i < bh; i++)
                    memcpy(dst + ((size_t)i * W + x0) * 3, rgb + (size_t)i * bw * 3, (size_t)bw * 3);
            }
        }
        for (int n = 0; n < job->count && r == IG_OK; n++)
            r = job->rows(job->user, n, y0, bh, band + (size_t)n * W * th * 3, err);
    }
done:
    free(fl);
    free(band);
    free(rgb);
    return r;
}
