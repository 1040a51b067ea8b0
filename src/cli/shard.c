/* shard.c - `--shard K/N` (docs/scale-out.md): shard K of N (0-based) takes the contiguous
 * balanced range [floor(K*M/N), floor((K+1)*M/N)) of the M seeds (render) or frames (interp,
 * zoom); one image alone is split into N bands of rows, each written as NAME.bandKofN.png with
 * tEXt metadata that `inrgan stitch` checks. `--shard auto` reads Slurm's or Kubernetes's
 * variables. */
#include "shard.h"
#include "ig_parse.h"
#include "multi.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SHARD_MAX 1000000

ig_result cli_shard_parse(const char *text, cli_shard *s, ig_error *err) {
    memset(s, 0, sizeof *s);
    s->on = true;
    const char *slash = strchr(text, '/');
    char left[32];
    size_t ln = slash ? (size_t)(slash - text) : strlen(text);
    if (ln >= sizeof left) return ig_error_set(err, IG_ERR_USAGE, "--shard '%.40s' is not K/N, auto or auto/N", text);
    memcpy(left, text, ln);
    left[ln] = 0;
    ig_error e = {0};
    if (strcmp(left, "auto") == 0) {
        s->is_auto = true;
    } else {
        if (!slash) return ig_error_set(err, IG_ERR_USAGE, "--shard '%.40s' is not K/N, auto or auto/N", text);
        int64_t k;
        if (ig_parse_int64("--shard K", left, 0, SHARD_MAX - 1, &k, &e) != IG_OK)
            return ig_error_set(err, IG_ERR_USAGE, "--shard '%.40s': K must be 0..%d (shards count from 0)", text,
                                SHARD_MAX - 1);
        s->k = (int)k;
    }
    if (slash) {
        int64_t n;
        if (ig_parse_int64("--shard N", slash + 1, 1, SHARD_MAX, &n, &e) != IG_OK)
            return ig_error_set(err, IG_ERR_USAGE, "--shard '%.40s': N must be 1..%d", text, SHARD_MAX);
        s->n = (int)n;
        if (!s->is_auto && s->k >= s->n)
            return ig_error_set(err, IG_ERR_USAGE, "--shard %d/%d: K must be below N (shards count from 0)", s->k, s->n);
    }
    return IG_OK;
}

static bool env_int(const char *name, int64_t *v) {
    const char *t = getenv(name);
    if (!t || !*t) return false;
    ig_error e = {0};
    return ig_parse_int64(name, t, 0, INT32_MAX, v, &e) == IG_OK;
}

ig_result cli_shard_resolve(cli_shard *s, bool quiet, ig_error *err) {
    if (!s->on || !s->is_auto) return IG_OK;
    int64_t id, cnt, mn, mx, step = 1, idx;
    char how[256];
    if (env_int("SLURM_ARRAY_TASK_ID", &id)) {
        int64_t n;
        if (env_int("SLURM_ARRAY_TASK_MIN", &mn) && env_int("SLURM_ARRAY_TASK_MAX", &mx) && mx >= mn) {
            if (!env_int("SLURM_ARRAY_TASK_STEP", &step) || step < 1) step = 1;
            n = (mx - mn) / step + 1;
            s->k = (int)((id - mn) / step);
            snprintf(how, sizeof how, "Slurm (SLURM_ARRAY_TASK_ID=%" PRId64 ", MIN=%" PRId64 ", MAX=%" PRId64
                     ", STEP=%" PRId64 ")", id, mn, mx, step);
            if (id < mn || (id - mn) % step)
                return ig_error_set(err, IG_ERR_USAGE, "--shard auto: SLURM_ARRAY_TASK_ID=%" PRId64
                                    " is not in the array %" PRId64 "-%" PRId64 ":%" PRId64, id, mn, mx, step);
        } else if (env_int("SLURM_ARRAY_TASK_COUNT", &cnt) && cnt >= 1) {
            n = cnt;
            s->k = (int)id;
            snprintf(how, sizeof how, "Slurm (SLURM_ARRAY_TASK_ID=%" PRId64 ", SLURM_ARRAY_TASK_COUNT=%" PRId64 ")",
                     id, cnt);
        } else {
            return ig_error_set(err, IG_ERR_USAGE, "--shard auto: SLURM_ARRAY_TASK_ID is set but neither "
                                "SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MIN/MAX");
        }
        if (s->n && s->n != n)
            return ig_error_set(err, IG_ERR_USAGE, "--shard auto/%d: the Slurm array has %" PRId64 " tasks", s->n, n);
        if (n > SHARD_MAX) return ig_error_set(err, IG_ERR_USAGE, "--shard auto: %" PRId64 " shards", n);
        s->n = (int)n;
    } else if (env_int("JOB_COMPLETION_INDEX", &idx)) {
        if (!s->n)
            return ig_error_set(err, IG_ERR_USAGE, "--shard auto: JOB_COMPLETION_INDEX=%" PRId64
                                " (Kubernetes) needs the number of completions: --shard auto/N", idx);
        s->k = (int)(idx < SHARD_MAX ? idx : SHARD_MAX);
        snprintf(how, sizeof how, "Kubernetes (JOB_COMPLETION_INDEX=%" PRId64 ", N from --shard auto/%d)", idx, s->n);
    } else {
        return ig_error_set(err, IG_ERR_USAGE, "--shard auto: no SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX "
                            "in the environment (give --shard K/N)");
    }
    if (s->k < 0 || s->k >= s->n)
        return ig_error_set(err, IG_ERR_USAGE, "--shard auto: shard %d is outside 0..%d (%s)", s->k, s->n - 1, how);
    if (!quiet) fprintf(stderr, "inrgan: shard %d/%d from %s\n", s->k, s->n, how);
    s->is_auto = false;
    return IG_OK;
}

void cli_shard_range(const cli_shard *s, int64_t total, int64_t *begin, int64_t *end) {
    if (!s->on || s->n <= 1) {
        *begin = 0;
        *end = total;
        return;
    }
    *begin = (int64_t)s->k * total / s->n;
    *end = (int64_t)(s->k + 1) * total / s->n;
}

uint64_t cli_fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

ig_result cli_file_hash(const char *path, uint64_t *hash, int64_t *size, ig_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return ig_error_set(err, IG_ERR_IO, "%s: %s", path, strerror(errno));
    unsigned char buf[1 << 16];
    uint64_t h = CLI_FNV0;
    int64_t total = 0;
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        h = cli_fnv(h, buf, n);
        total += (int64_t)n;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) return ig_error_set(err, IG_ERR_IO, "%s: read failed", path);
    *hash = h;
    *size = total;
    return IG_OK;
}

/* ---- one band of one image ------------------------------------------------------------------- */

typedef struct band_sink {
    const char *path;
    const char *const *text;
    int depth;
    ig_png_stream *png;
    uint8_t *row;
    int width;
} band_sink;

static ig_result band_open(void *user, int image, int width, int height, ig_error *err) {
    band_sink *b = user;
    (void)image;
    b->width = width;
    b->row = malloc((size_t)width * (b->depth == 16 ? 6 : 3));
    if (!b->row) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "a row of %d pixels", width);
    return ig_png_stream_open_text(&b->png, b->path, width, height, b->depth, b->text, err);
}

static ig_result band_rows(void *user, int image, int y0, int rows, const float *rgb, ig_error *err) {
    band_sink *b = user;
    (void)image;
    (void)y0;
    size_t n = (size_t)b->width * 3;
    for (int i = 0; i < rows; i++) {
        ig_quantize_png_row(rgb + (size_t)i * n, n, b->depth, b->row);
        ig_result r = ig_png_stream_rows(b->png, b->row, 1, err);
        if (r != IG_OK) return r;
    }
    return IG_OK;
}

static ig_result band_close(void *user, int image, bool commit, ig_error *err) {
    band_sink *b = user;
    (void)image;
    ig_result r = ig_png_stream_close(b->png, commit, err);
    b->png = NULL;
    free(b->row);
    b->row = NULL;
    return r;
}

ig_result cli_band_render(const cli_band_job *bj, const cli_shard *s, int step, char *written, size_t wlen,
                          ig_error *err) {
    ig_image_job *job = bj->job;
    int W, H;
    ig_result r = cli_output_size(job->model, &job->plan, &W, &H, err);
    if (r != IG_OK) return r;
    if (step < 1) step = 1;
    int64_t units = ((int64_t)H + step - 1) / step, u0, u1;
    cli_shard_range(s, units, &u0, &u1);
    if (units < s->n) /* then some band would be empty */
        return ig_error_set(err, IG_ERR_USAGE, "--shard %d/%d: the %d-row image splits into at most %" PRId64
                            " bands (of %d rows, the model's coarsest grid)", s->k, s->n, H, units, step);
    int y0 = (int)(u0 * step), y1 = (int)(u1 * step < H ? u1 * step : H);
    char model[128], shard[32], rows[64], image[2048], depth[8];
    if (bj->model_id) {
        snprintf(model, sizeof model, "%s", bj->model_id);
    } else {
        uint64_t mh;
        int64_t msize;
        r = cli_file_hash(bj->model_path, &mh, &msize, err);
        if (r != IG_OK) return r;
        snprintf(model, sizeof model, "fnv1a64=%016" PRIx64 " bytes=%" PRId64, mh, msize);
    }
    snprintf(shard, sizeof shard, "%d/%d", s->k, s->n);
    snprintf(rows, sizeof rows, "%d %d %d %d", y0, y1 - y0, W, H);
    snprintf(depth, sizeof depth, "%d", bj->depth);
    snprintf(image, sizeof image, "%s", bj->request);
    const char *text[] = {"inrgan-band", "1", "inrgan-model", model, "inrgan-image", image, "inrgan-shard", shard,
                          "inrgan-rows", rows, "inrgan-depth", depth, NULL};
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.band%dof%d.png", bj->dir, bj->name, s->k, s->n);
    band_sink sink_state = {.path = path, .text = text, .depth = bj->depth};
    ig_image_sink sink = {.open = band_open, .rows = band_rows, .close = band_close, .user = &sink_state,
                          .bytes_per_image = (size_t)W * 6 + 256 * 1024, .max_open = 1};
    job->sink = &sink;
    job->rows = NULL;
    job->memory_budget = bj->budget;
    job->band_y0 = y0;
    job->band_h = y1 - y0;
    r = ig_render_image(job, err);
    if (sink_state.png) ig_png_stream_close(sink_state.png, false, NULL);
    free(sink_state.row);
    job->sink = NULL;
    job->band_y0 = job->band_h = 0;
    if (r == IG_OK && written) snprintf(written, wlen, "%s (rows %d..%d of %d)", path, y0, y1, H);
    return r;
}

/* ---- one image over several devices ---------------------------------------------------------- */

typedef struct band_multi {
    const cli_band_job *tmpl;
    int m, step, height;
    char tmpname[CLI_NAME_LEN + 32];
    char item[CLI_NAME_LEN + 64];
} band_multi;

static ig_result band_item(void *user, const cli_backend *be, int k, ig_error *err) {
    band_multi *bm = user;
    ig_image_job job = *bm->tmpl->job;
    job.backend = be->fn;
    job.backend_ctx = be->obj;
    job.progress = NULL;
    cli_band_job bj = *bm->tmpl;
    bj.job = &job;
    bj.name = bm->tmpname;
    bj.quiet = true;
    cli_shard s = {.on = true, .k = k, .n = bm->m};
    return cli_band_render(&bj, &s, bm->step, NULL, 0, err);
}

static const char *band_item_name(void *user, int k) {
    band_multi *bm = user;
    int64_t units = ((int64_t)bm->height + bm->step - 1) / bm->step;
    int64_t y0 = k * units / bm->m * bm->step, y1 = (k + 1) * units / bm->m * bm->step;
    snprintf(bm->item, sizeof bm->item, "%s band %d/%d (rows %d..%d)", bm->tmpl->name, k, bm->m, (int)y0,
             (int)(y1 < bm->height ? y1 : bm->height));
    return bm->item;
}

ig_result cli_band_multi(struct cli_multi *m, const cli_band_job *b, int step, bool quiet, ig_error *err) {
    int W, H;
    ig_result r = cli_output_size(b->job->model, &b->job->plan, &W, &H, err);
    if (r != IG_OK) return r;
    if (step < 1) step = 1;
    int64_t units = ((int64_t)H + step - 1) / step;
    /* four bands a device (at least 64 rows each where the image allows): a faster device
     * takes more of them */
    int64_t want = (int64_t)m->n * 4, by_rows = (H + 63) / 64;
    if (want > by_rows) want = by_rows;
    if (want > units) want = units;
    if (want < 1) want = 1;
    band_multi bm = {.tmpl = b, .m = (int)want, .step = step, .height = H};
    snprintf(bm.tmpname, sizeof bm.tmpname, ".%s.part%ld", b->name, (long)getpid());
    uint64_t mh;
    int64_t msize;
    r = cli_file_hash(b->model_path, &mh, &msize, err);
    if (r != IG_OK) return r;
    char model_id[128];
    snprintf(model_id, sizeof model_id, "fnv1a64=%016" PRIx64 " bytes=%" PRId64, mh, msize);
    cli_band_job tmpl = *b;
    tmpl.model_id = model_id;
    bm.tmpl = &tmpl;
    char(*paths)[4096] = calloc((size_t)bm.m, sizeof *paths);
    const char **pp = calloc((size_t)bm.m, sizeof *pp);
    if (!paths || !pp) r = ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "%d band names", bm.m);
    for (int k = 0; r == IG_OK && k < bm.m; k++) {
        snprintf(paths[k], sizeof paths[k], "%s/%s.band%dof%d.png", b->dir, bm.tmpname, k, bm.m);
        pp[k] = paths[k];
    }
    if (r == IG_OK) r = cli_multi_run(m, bm.m, band_item, &bm, band_item_name, quiet, err);
    if (r == IG_OK) {
        char out[4096];
        snprintf(out, sizeof out, "%s/%s.png", b->dir, b->name);
        r = cli_stitch_files(out, pp, bm.m, true, err);
    }
    for (int k = 0; paths && k < bm.m; k++) remove(paths[k]); /* the bands were temporary */
    free(paths);
    free(pp);
    return r;
}
