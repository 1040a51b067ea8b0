/* render.c - whole images of any size and batch within a memory budget: split the output into
 * tiles and the batch into chunks (ig_render_layout_make), render each tile with a backend, and
 * stream finished bands of float rows to a sink, which quantises (8-bit, 16-bit) or not (float).
 * Held at once: one tile of floats and the backend's buffers for it, one band of float rows of
 * the chunk's images, and the sink's open images, all counted against the budget
 * (docs/coordinates.md "Tiles and memory"). Tiles are plans over sub-lists of the whole image's
 * grids (src/plan.c), so every tile is an exact crop of the untiled render. */
#include "inrgan.h"
#include "ig_backend.h"
#include "model.h"
#include "lower.h"

#include <math.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IG_DEFAULT_BUDGET ((size_t)1 << 30)
#define IG_TILE_SIDE 1024
#define IG_TILE_PX ((double)IG_TILE_SIDE * IG_TILE_SIDE)



static int ig__workers(int count, int threads) {
    if (threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n < 1 ? 1 : (int)n;
    }
    int w = count < threads ? count : threads;
    return w > 64 ? 64 : w < 1 ? 1 : w;
}

/* tiles align to the coarsest level's grid (CIPS: one level, any pixel) */
static int ig__step(const ig_config *c) { return 1 << (c->n_levels - 1); }

int ig_render_auto_tile(const ig_model *model, const ig_plan_desc *pd, size_t budget, int count) {
    const ig_config *c = &model->cfg;
    if (!budget) budget = IG_DEFAULT_BUDGET;
    ig_lowering lw;
    ig_lower(c, &lw);
    double side = sqrt((double)budget /
                       ig_lower_tile_bytes_per_pixel(&lw, count, count < 64 ? count : 64, pd->stride > 1 ? pd->stride : 1));
    int step = ig__step(c);
    int t = (int)side / step * step;
    if (t < step) t = step;
    int w = pd->width ? pd->width : c->resolution, h = pd->height ? pd->height : c->resolution;
    int s = pd->stride > 1 ? pd->stride : 1;
    int ow = (w + s - 1) / s, oh = (h + s - 1) / s;
    int longest = ow > oh ? ow : oh;
    return t > longest ? longest : t;
}

/* Rounds v down to a multiple of step when that leaves at least one step, within 1..hi. */
static int ig__fit(double v, int step, int hi) {
    if (v >= hi) return hi;
    if (v < 1) return 1;
    int t = (int)v;
    if (t >= step) t = t / step * step;
    return t;
}

/* The smallest side, a multiple of step when possible, that covers `total` in as many tiles of
 * at most `side` as `side` itself needs. */
static int ig__even(int total, int side, int step) {
    int tiles = (total + side - 1) / side;
    int e = (total + tiles - 1) / tiles;
    int r = (e + step - 1) / step * step;
    return r <= side ? r : e;
}

/* Peak bytes of a layout by the tiler's count. */
static double ig__layout_bytes(const ig_image_job *job, const ig_lowering *lw, int W, int n, int tw,
                               int th, double band_px, double sink) {
    int s = job->plan.stride > 1 ? job->plan.stride : 1;
    double tile = ig_lower_tile_bytes_per_pixel(lw, n, ig__workers(n, job->threads), s) * tw * th;
    return tile + (double)n * (sink + band_px * W * th);
}

ig_result ig_render_layout_make(const ig_image_job *job, ig_render_layout *out, ig_error *err) {
    memset(out, 0, sizeof *out);
    const ig_config *c = &job->model->cfg;
    if (job->count < 1) return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "a render of %d images", job->count);
    if (!job->sink && !job->rows) return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "a render with no sink");
    ig_plan_desc pd = job->plan;
    /* a 1x1 tile validates the whole request (view, size, stride) and gives the image size
     * without the whole image's coordinate lists */
    pd.tile_x = pd.tile_y = 0;
    pd.tile_w = pd.tile_h = 1;
    ig_plan probe;
    ig_result r = ig_plan_make(&probe, c, &pd, err);
    if (r != IG_OK) return r;
    int W = probe.image_width, H = probe.image_height;
    ig_plan_free(&probe);
    ig_lowering lw; /* the model's buffers per pixel (src/lower.c), for every layout tried */
    ig_lower(c, &lw);
    if (job->band_h) { /* a band of rows of the whole image: laid out as an image that high */
        if (job->band_y0 < 0 || job->band_h < 0 || job->band_y0 + job->band_h > H)
            return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "band of rows %d..%d of a %d-row image", job->band_y0,
                                job->band_y0 + job->band_h, H);
        H = job->band_h;
    }
    /* the layout is planned for 7/8 of the budget: the rest covers what the count leaves out
     * (allocator fragmentation from tiles of different sizes, plans, per-thread scratch) */
    double B = 0.875 * (double)(job->memory_budget ? job->memory_budget : IG_DEFAULT_BUDGET);
    double sink = job->sink ? (double)job->sink->bytes_per_image : 0.0;
    double band_px = job->sink ? 12.0 : 15.0; /* float rows (+ their RGB8 copy for `rows`) */
    int step = ig__step(c), N = job->count;
    int n = N;
    if (job->sink && job->sink->max_open > 0 && job->sink->max_open < n) n = job->sink->max_open;
    int tw, th;
    bool over = false;
    if (job->tile > 0) {
        /* the tile side is given: the chunk is what the rest of the budget allows */
        tw = job->tile < W ? job->tile : W;
        th = job->tile < H ? job->tile : H;
        while (n > 1 && ig__layout_bytes(job, &lw, W, n, tw, th, band_px, sink) > B) n--;
    } else {
        /* half the budget for the tile, half for the band of finished rows and the open images;
         * the band is at least one step of rows (or the whole height) of every image in it */
        int th_min = H < 32 ? H : step > 32 ? step : 32;
        double half = B / 2;
        double n_fit = floor(half / (sink + band_px * W * th_min));
        if (n_fit < n) n = n_fit < 1 ? 1 : (int)n_fit;
        double per_px = ig_lower_tile_bytes_per_pixel(&lw, n, ig__workers(n, job->threads),
                                                      job->plan.stride > 1 ? job->plan.stride : 1);
        double th_band = (half / n - sink) / (band_px * W);
        double side = sqrt(half / per_px);
        th = ig__fit(th_band < side ? th_band : side, step, H);
        tw = ig__fit(half / (per_px * th), step, W);
        /* at most IG_TILE_PX pixels a tile: progress (counted in tiles) moves every few seconds
         * even when the budget would take the whole image at once; tiles are exact crops, so
         * this changes no pixel */
        if ((double)tw * th > IG_TILE_PX) {
            if (th > IG_TILE_SIDE) th = ig__fit(IG_TILE_SIDE, step, H);
            tw = ig__fit((double)IG_TILE_PX / th, step, tw);
        }
    }
    /* tiles (and bands) of equal size as far as possible: the last one is not a sliver, and
     * the allocations of every tile fit where the previous tile's were (less fragmentation) */
    int ex = ig__even(W, tw, step), ey = ig__even(H, th, step);
    tw = ex;
    th = ey;
    double bytes = ig__layout_bytes(job, &lw, W, n, tw, th, band_px, sink);
    if (bytes > B) over = true;
    out->width = W;
    out->height = H;
    out->tile_w = tw;
    out->tile_h = th;
    out->tiles_x = (W + tw - 1) / tw;
    out->tiles_y = (H + th - 1) / th;
    out->count = N;
    out->chunk = n;
    out->tiles_total = (int64_t)out->tiles_x * out->tiles_y * ((N + n - 1) / n);
    out->budget = job->memory_budget ? job->memory_budget : IG_DEFAULT_BUDGET;
    out->bytes = (size_t)bytes;
    out->over_budget = over;
    return IG_OK;
}

/* Closes images [i0, i1) of the sink (commit: keep them). Returns the first failure. */
static ig_result ig__close(const ig_image_sink *s, int i0, int i1, bool commit, ig_error *err) {
    ig_result r = IG_OK;
    for (int i = i0; i < i1; i++) {
        if (!s->close) continue;
        ig_result c = s->close(s->user, i, commit && r == IG_OK, commit && r == IG_OK ? err : NULL);
        if (r == IG_OK) r = c;
    }
    return r;
}

/* Interleaves the rows [0, bh) of a planar tile [3, bh, bw] into the band at column x0. */
static void ig__to_band(const float *chw, int bw, int bh, float *band, int W, int x0) {
    size_t plane = (size_t)bw * bh;
    for (int i = 0; i < bh; i++) {
        float *dst = band + ((size_t)i * W + x0) * 3;
        const float *r = chw + (size_t)i * bw, *g = r + plane, *b = g + plane;
        for (int j = 0; j < bw; j++) {
            dst[3 * j] = r[j];
            dst[3 * j + 1] = g[j];
            dst[3 * j + 2] = b[j];
        }
    }
}

/* The official RGB8 conversion of interleaved float values (the `rows` sink). */
static void ig__rgb8(const float *rgb, size_t n, uint8_t *out) {
    for (size_t i = 0; i < n; i++) out[i] = ig_quantize8(rgb[i]);
}

ig_result ig_render_image(const ig_image_job *job, ig_error *err) {
    const ig_model *m = job->model;
    const ig_config *c = &m->cfg;
    ig_render_layout lay;
    ig_result r = ig_render_layout_make(job, &lay, err);
    if (r != IG_OK) return r;
    ig_plan_desc pd = job->plan;
    int W = lay.width, H = lay.height, tw = lay.tile_w, th = lay.tile_h, chunk = lay.chunk;
    ig_backend_fn backend = job->backend ? job->backend : ig_backend_render_fn;
    ig_image_sink legacy = {0};
    const ig_image_sink *sink = job->sink ? job->sink : &legacy;

    float *fl = malloc((size_t)chunk * 3 * (size_t)tw * th * sizeof *fl);
    float *band = malloc((size_t)chunk * (size_t)W * th * 3 * sizeof *band);
    uint8_t *rgb = job->sink ? NULL : malloc((size_t)W * th * 3);
    if (!fl || !band || (!job->sink && !rgb)) {
        r = ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "tile buffers for %dx%d tiles of %d %dx%d images", tw, th,
                         chunk, W, H);
        goto done;
    }
    ig_progress pr = {.layout = &lay, .tiles_total = lay.tiles_total,
                      .pixels_total = (double)W * H * lay.count};
    if (job->progress) job->progress(job->progress_user, &pr);
    for (int b0 = 0; b0 < lay.count && r == IG_OK; b0 += chunk) {
        int n = lay.count - b0 < chunk ? lay.count - b0 : chunk, opened = 0;
        for (; opened < n && r == IG_OK; opened++)
            if (sink->open) r = sink->open(sink->user, b0 + opened, W, H, err);
        if (r != IG_OK) opened--; /* the one that failed is not open */
        for (int y0 = 0; y0 < H && r == IG_OK; y0 += th) {
            int bh = H - y0 < th ? H - y0 : th;
            for (int x0 = 0; x0 < W && r == IG_OK; x0 += tw) {
                int bw = W - x0 < tw ? W - x0 : tw;
                ig_plan_desc td = pd;
                td.tile_x = x0;
                td.tile_y = job->band_h ? job->band_y0 + y0 : y0;
                td.tile_w = bw;
                td.tile_h = bh;
                ig_plan plan;
                r = ig_plan_make(&plan, c, &td, err);
                if (r != IG_OK) break;
                ig_render_desc d = {.model = m, .plan = &plan, .z = job->z + (size_t)b0 * c->z_dim, .count = n,
                                    .psi = job->psi, .z_b = job->z_b ? job->z_b + (size_t)b0 * c->z_dim : NULL,
                                    .t = job->t ? job->t + b0 : NULL, .space = job->space, .threads = job->threads,
                                    .noise = job->noise, .noise_seed = job->noise_seed ? job->noise_seed + b0 : NULL};
                r = backend(job->backend_ctx, &d, fl, err);
                ig_plan_free(&plan);
#ifdef __GLIBC__
                /* the backend's per-tile buffers are freed now: hand their pages back, or the
                 * heap's holes (tile after tile, the allocations land a little differently)
                 * keep growing the resident set beyond what is live */
                malloc_trim(0);
#endif
                for (int i = 0; i < n && r == IG_OK; i++)
                    ig__to_band(fl + (size_t)i * 3 * bw * bh, bw, bh, band + (size_t)i * W * th * 3, W, x0);
                if (r == IG_OK && job->progress) {
                    pr.tiles_done++;
                    pr.pixels_done += (double)bw * bh * n;
                    job->progress(job->progress_user, &pr);
                }
            }
            for (int i = 0; i < n && r == IG_OK; i++) {
                const float *rows = band + (size_t)i * W * th * 3;
                if (job->sink) {
                    r = sink->rows(sink->user, b0 + i, y0, bh, rows, err);
                } else {
                    ig__rgb8(rows, (size_t)W * bh * 3, rgb);
                    r = job->rows(job->user, b0 + i, y0, bh, rgb, err);
                }
            }
        }
        ig_result cr = ig__close(sink, b0, b0 + opened, r == IG_OK, err);
        if (r == IG_OK) r = cr;
        if (r == IG_OK) {
            pr.images_done += n;
            if (job->progress) job->progress(job->progress_user, &pr);
        }
    }
done:
    free(fl);
    free(band);
    free(rgb);
    return r;
}
