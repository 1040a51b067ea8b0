/* output.c - the files of a render: a float-row sink over ig_image_writer (PNG 8/16-bit, float
 * TIFF, .npy), chunked so open files stay under RLIMIT_NOFILE; signals that clean up. */
#include "output.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define CLI_MAX_FILES 3 /* PNG or none, TIFF, npy */

typedef struct out_sink {
    char (*names)[CLI_NAME_LEN];
    const char *dir;
    const cli_outputs *o;
    ig_format fmt[CLI_MAX_FILES];
    int nfmt;
    ig_image_writer **w; /* [count][nfmt] */
    double base;         /* pixels done before this job */
    const ig_render_layout *layout;
} out_sink;

static ig_result sink_open(void *user, int image, int width, int height, ig_error *err) {
    out_sink *s = user;
    for (int f = 0; f < s->nfmt; f++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.%s", s->dir, s->names[image], ig_format_ext(s->fmt[f]));
        ig_result r = ig_image_writer_open(&s->w[(size_t)image * s->nfmt + f], path, s->fmt[f], width, height, err);
        if (r != IG_OK) {
            for (int g = 0; g < f; g++) {
                ig_image_writer_close(s->w[(size_t)image * s->nfmt + g], false, NULL);
                s->w[(size_t)image * s->nfmt + g] = NULL;
            }
            return r;
        }
    }
    return IG_OK;
}

static ig_result sink_rows(void *user, int image, int y0, int rows, const float *rgb, ig_error *err) {
    out_sink *s = user;
    (void)y0;
    for (int f = 0; f < s->nfmt; f++) {
        ig_result r = ig_image_writer_rows(s->w[(size_t)image * s->nfmt + f], rgb, rows, err);
        if (r != IG_OK) return r;
    }
    return IG_OK;
}

static ig_result sink_close(void *user, int image, bool commit, ig_error *err) {
    out_sink *s = user;
    ig_result r = IG_OK;
    for (int f = 0; f < s->nfmt; f++) {
        ig_image_writer **w = &s->w[(size_t)image * s->nfmt + f];
        ig_result c = ig_image_writer_close(*w, commit && r == IG_OK, commit && r == IG_OK ? err : NULL);
        *w = NULL;
        if (r == IG_OK) r = c;
    }
    return r;
}

static void on_progress(void *user, const ig_progress *p) {
    out_sink *s = user;
    cli_progress *pg = s->o->progress;
    if (!pg) return;
    const ig_render_layout *l = p->layout;
    if (p->tiles_done == 0 && p->images_done == 0 && (l->chunk < l->count || l->over_budget))
        cli_progress_note(pg, true,
                          "inrgan: %dx%d image%s in %dx%d tiles, %d of %d at a time: %.0f MiB of the %.0f MiB budget%s",
                          l->width, l->height, l->count == 1 ? "" : "s", l->tile_w, l->tile_h, l->chunk, l->count,
                          l->bytes / 1048576.0, l->budget / 1048576.0,
                          l->over_budget ? " (over: this is the least it takes)" : "");
    cli_progress_update(pg, s->base + p->pixels_done, p->tiles_done, p->tiles_total);
}

int cli_output_max_open(int files_per_image) {
    struct rlimit rl;
    long soft = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (long)rl.rlim_cur : 1024;
    long used = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        while (readdir(d)) used++;
        closedir(d);
        used -= 3; /* ".", "..", the directory's own descriptor */
    } else {
        used = 16;
    }
    /* headroom for what opens later: the model, Vulkan's driver files, ffmpeg pipes */
    long n = (soft - used - 16) / (files_per_image > 0 ? files_per_image : 1);
    if (n > 1024) n = 1024;
    return n < 1 ? 1 : (int)n;
}

ig_result cli_output_size(const ig_model *model, const ig_plan_desc *pd, int *width, int *height, ig_error *err) {
    ig_plan_desc d = *pd;
    d.tile_x = d.tile_y = 0;
    d.tile_w = d.tile_h = 1;
    ig_plan p;
    ig_result r = ig_plan_make(&p, ig_model_config(model), &d, err);
    if (r != IG_OK) return r;
    *width = p.image_width;
    *height = p.image_height;
    ig_plan_free(&p);
    return IG_OK;
}

ig_result cli_output_render(ig_image_job *job, char (*names)[CLI_NAME_LEN], const char *dir, const cli_outputs *o,
                            ig_error *err) {
    static const char *cleaned;
    if (!cleaned || strcmp(cleaned, dir)) {
        int removed = 0;
        cleaned = dir;
        if (ig_temp_files_remove_stale(dir, &removed, NULL) == IG_OK && removed && !o->quiet)
            fprintf(stderr, "inrgan: removed %d stale temporary file%s of a killed run from %s/\n", removed,
                    removed == 1 ? "" : "s", dir);
    }
    int W, H;
    ig_result r = cli_output_size(job->model, &job->plan, &W, &H, err);
    if (r != IG_OK) return r;
    out_sink s = {.names = names, .dir = dir, .o = o};
    if (o->depth) s.fmt[s.nfmt++] = o->depth == 16 ? IG_FORMAT_PNG16 : IG_FORMAT_PNG8;
    if (o->tiff) s.fmt[s.nfmt++] = IG_FORMAT_TIFF;
    if (o->npy) s.fmt[s.nfmt++] = IG_FORMAT_NPY;
    s.w = calloc((size_t)job->count * (s.nfmt ? s.nfmt : 1), sizeof *s.w);
    if (!s.w) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "writers of %d images", job->count);
    ig_image_sink sink = {.open = sink_open, .rows = sink_rows, .close = sink_close, .user = &s,
                          .max_open = cli_output_max_open(s.nfmt)};
    for (int f = 0; f < s.nfmt; f++) sink.bytes_per_image += ig_image_writer_bytes(s.fmt[f], W);
    sink.bytes_per_image += (size_t)s.nfmt * 4096 + 64 * 1024; /* stdio buffers, names, slack */
    s.base = o->progress ? o->progress->done : 0;
    job->sink = &sink;
    job->rows = NULL;
    job->memory_budget = o->budget;
    job->progress = on_progress;
    job->progress_user = &s;
    r = ig_render_image(job, err);
    if (o->progress && r == IG_OK) cli_progress_update(o->progress, s.base + (double)W * H * job->count, 0, 0);
    for (int i = 0; i < job->count * s.nfmt; i++) ig_image_writer_close(s.w[i], false, NULL); /* after a failure */
    free(s.w);
    job->sink = NULL;
    return r;
}

static void on_signal(int sig) {
    (void)sig;
    ig_temp_files_remove();
    static const char msg[] = "inrgan: error: interrupted by a signal [IG_ERR_INTERRUPTED]\n";
    if (isatty(2)) (void)!write(2, "\n", 1);
    (void)!write(2, msg, sizeof msg - 1);
    _exit(130);
}

void cli_signals_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}
