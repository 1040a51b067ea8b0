/* main.c - the `inrgan` command line: parse options (getopt_long), call the library, map each
 * ig_result to an exit code (docs/cli.md: 0 ok, 1 runtime failure, 2 bad usage or input). */
#include "inrgan.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef INRGAN_DEFAULT_MODEL
#define INRGAN_DEFAULT_MODEL "assets/demo.safetensors"
#endif

static int g_quiet = 0;

int cmd_bench(int argc, char **argv);
int cli_usage_error(const char *fmt, const char *arg);
int cli_fail(ig_result r, const ig_error *err);

static int fail(ig_result r, const ig_error *err) {
    fprintf(stderr, "inrgan: error: %s [%s]\n", err && err->code == r ? err->msg : ig_result_description(r),
            ig_result_name(r));
    return ig_result_exit_code(r);
}

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "inrgan: error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see inrgan --help)\n");
    return 2;
}

int cli_usage_error(const char *fmt, const char *arg) { return usage_error(fmt, arg); }
int cli_fail(ig_result r, const ig_error *err) { return fail(r, err); }

static void print_help(void) {
    printf(
        "inrgan - INR-GAN generators on Vulkan compute, with a C CPU backend\n"
        "\n"
        "usage:\n"
        "  inrgan info   [-m MODEL] [--json FILE]\n"
        "  inrgan render [-m MODEL] [--seeds 0-7 | --z FILE.npy] [-o DIR] [options]\n"
        "  inrgan interp [-m MODEL] --seeds A,B,... [--frames N] [--loop] [--space z|w|params] [-o DIR]\n"
        "  inrgan bench  [-m MODEL | --config NAME] [--sizes 64,128,256] [--batch 1,4] [--json FILE]\n"
        "  inrgan zoom   [-m MODEL] [--seeds S] --center X,Y [--zoom FROM] --zoom-to TO [--frames N] [-o DIR]\n"
        "\n"
        "render options:\n"
        "  -m, --model FILE        model file (default: %s)\n"
        "  -o, --output DIR        output directory (default: out)\n"
        "      --seeds LIST        seeds like 0-7,12 (default: 0-7)\n"
        "      --z FILE.npy        explicit latents, float32 or float64 [N, z_dim]\n"
        "      --truncation PSI    truncation psi (default: from the model file)\n"
        "      --size WxH          output size (default: the model's native size)\n"
        "      --view X0,Y0,X1,Y1  region of the coordinate plane (native: -1,-1,1,1; y up)\n"
        "      --center X,Y        center of the view (with --zoom)\n"
        "      --zoom S            zoom factor: 1 = native view, 2 = twice as close, 0.5 = zoomed out\n"
        "      --stride S          exact strided low-res: every S-th pixel of the full-size render\n"
        "  -t, --tile SIZE|auto    tile side for large renders (default auto, from a 1 GiB budget)\n"
        "      --const-mode M      learned constants outside their grid: border (default) | zero\n"
        "      --interp A,B --t T  render the point T between seeds A and B (rows of --z with --z)\n"
        "      --space S           interpolation space: z (slerp, default) | w | params\n"
        "      --frames N          interp: frames per segment; zoom: frames (default 16)\n"
        "      --backend B         auto (default) | cpu | vulkan\n"
        "      --threads N         CPU backend threads (default: all cores)\n"
        "      --batch N           images per submission (default 4)\n"
        "      --npy               also write the float image as NAME.npy [3,H,W]\n"
        "      --dump-blocks       also write every block's features NAME_BLOCK_x.npy and rgb\n"
        "  -q, --quiet             no summary on stderr\n"
        "\n"
        "exit codes: 0 success, 1 runtime failure, 2 bad usage or bad input\n",
        INRGAN_DEFAULT_MODEL);
}

/* ---- info ------------------------------------------------------------------------------- */

static void fmt_thousands(int64_t v, char *buf, size_t len) {
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%" PRId64, v);
    size_t n = strlen(tmp), o = 0;
    for (size_t i = 0; i < n && o + 2 < len; i++) {
        buf[o++] = tmp[i];
        size_t left = n - i - 1;
        if (left > 0 && left % 3 == 0 && tmp[i] != '-') buf[o++] = ',';
    }
    buf[o] = 0;
}

static int cmd_info(int argc, char **argv) {
    const char *model_path = INRGAN_DEFAULT_MODEL, *json_path = NULL, *config = NULL;
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"json", required_argument, 0, 'J'},
        {"config", required_argument, 0, 'C'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'J': json_path = optarg; break;
        case 'C': config = optarg; break;
        case 'h': print_help(); return 0;
        default: return 2;
        }
    }
    if (optind < argc) return usage_error("unexpected argument '%s'", argv[optind]);
    ig_error err = {0};
    ig_model *model = NULL;
    ig_config builtin_cfg;
    char *builtin_json = NULL;
    const ig_config *cfg;
    const char *config_json;
    if (config) { /* a built-in configuration: the architecture alone, no weights */
        builtin_json = ig_config_builtin(config);
        if (!builtin_json) {
            fprintf(stderr, "inrgan: error: unknown --config '%s' (built-in: %s) [IG_ERR_INVALID_ARGUMENT]\n", config,
                    ig_config_builtin_names());
            return 2;
        }
        ig_result r = ig_config_from_json(builtin_json, &builtin_cfg, &err);
        if (r != IG_OK) { free(builtin_json); return fail(r, &err); }
        cfg = &builtin_cfg;
        config_json = builtin_json;
        model_path = config;
    } else {
        ig_result r = ig_model_load(model_path, &model, &err);
        if (r != IG_OK) return fail(r, &err);
        cfg = ig_model_config(model);
        config_json = ig_model_config_json(model);
    }
    char params[32];
    int64_t np = ig_config_param_count(cfg);
    fmt_thousands(np, params, sizeof params);
    double mf = ig_config_model_flops(cfg) / 1e9, ef = ig_config_executed_flops(cfg) / 1e9;
    printf("model:        %s\n", model_path);
    printf("family:       %s (format %d)\n", cfg->family, cfg->format_version);
    printf("resolution:   %dx%d\n", cfg->resolution, cfg->resolution);
    printf("latents:      z_dim %d, w_dim %d, mapping %d layers, num_ws %d, default psi %g\n", cfg->z_dim,
           cfg->w_dim, cfg->mapping_layers, cfg->num_ws, cfg->truncation_psi);
    printf("fmm:          rank %d, upsampling %s, instance norm %s\n", cfg->rank,
           cfg->upsampling == IG_UP_NEAREST ? "nearest" : "bilinear", cfg->instance_norm ? "on" : "off");
    printf("levels:      ");
    for (int l = 0; l < cfg->n_levels; l++) printf(" %d²", cfg->level_grid[l]);
    printf("\n");
    for (int i = 0; i < cfg->n_blocks; i++) {
        const ig_block_config *b = &cfg->blocks[i];
        printf("  %-5s grid %4d  channels %4d  extra convs %d", b->name, b->grid, b->channels, b->extra_convs);
        if (b->has_embedding)
            printf("  embedding %d ch (log %d%s, random %d, const %d)", b->emb.channels, b->emb.n_log,
                   b->emb.diagonal ? " incl. diagonal" : "", b->emb.random, b->emb.constant);
        printf("\n");
    }
    printf("parameters:   %s\n", params);
    printf("model GFLOP per %dx%d image: %.*f\n", cfg->resolution, cfg->resolution, mf < 1 ? 4 : 1, mf);
    printf("executed GFLOP per image (coarse trick): %.*f\n", ef < 1 ? 4 : 1, ef);
    int rc = 0;
    if (json_path) {
        FILE *fp = fopen(json_path, "w");
        if (!fp) {
            ig_error_set(&err, IG_ERR_OUTPUT, "%s: %s", json_path, strerror(errno));
            rc = fail(IG_ERR_OUTPUT, &err);
        } else {
            fprintf(fp,
                    "{\"model\": \"%s\", \"family\": \"%s\", \"resolution\": %d, \"parameters\": %" PRId64
                    ", \"model_gflop\": %.4f, \"executed_gflop\": %.4f, \"config\": %s}\n",
                    model_path, cfg->family, cfg->resolution, np, mf, ef, config_json);
            fclose(fp);
        }
    }
    ig_model_free(model);
    free(builtin_json);
    return rc;
}

/* ---- shared option parsing ---------------------------------------------------------------- */

static int parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

static int parse_doubles(const char *s, double *v, int n) {
    const char *p = s;
    for (int i = 0; i < n; i++) {
        char *end;
        v[i] = strtod(p, &end);
        if (end == p || v[i] != v[i] || v[i] > 1e12 || v[i] < -1e12) return -1;
        p = end;
        if (i + 1 < n) {
            if (*p != ',') return -1;
            p++;
        }
    }
    return *p ? -1 : 0;
}

static int make_dirs(const char *path, ig_error *err) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == 0) {
            char save = *p;
            *p = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
                ig_error_set(err, IG_ERR_OUTPUT, "cannot create %s: %s", buf, strerror(errno));
                return -1;
            }
            *p = save;
            if (!save) break;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        ig_error_set(err, IG_ERR_OUTPUT, "%s is not a directory", path);
        return -1;
    }
    return 0;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Progress on stderr, only when it is a terminal and not --quiet. */
static void progress(int done, int total, const char *what) {
    if (g_quiet || !isatty(2) || total < 2) return;
    int w = 30, f = total ? w * done / total : w;
    fprintf(stderr, "\r%s [%.*s%*s] %d/%d", what, f, "==============================", w - f, "", done, total);
    if (done == total) fputc('\n', stderr);
    fflush(stderr);
}

/* Options common to render, interp and zoom. */
typedef struct render_opts {
    const char *model_path, *out_dir, *seeds_text, *z_path, *backend, *interp_text;
    double psi, interp_t, center[2], zoom;
    bool have_psi, have_view, have_center, have_zoom, have_t, want_npy, want_dump;
    ig_view view;
    int width, height, threads, batch, stride, tile;
    ig_space space;
    ig_const_mode const_mode;
    /* interp / zoom */
    int frames;
    bool loop;
    double zoom_to;
} render_opts;

enum {
    O_SEEDS = 256, O_Z, O_TRUNC, O_SIZE, O_BACKEND, O_THREADS, O_BATCH, O_NPY, O_DUMP, O_VIEW, O_CENTER,
    O_ZOOM, O_STRIDE, O_CONST, O_INTERP, O_T, O_SPACE, O_FRAMES, O_LOOP, O_ZOOM_TO
};

static const struct option render_options[] = {
    {"model", required_argument, 0, 'm'},      {"output", required_argument, 0, 'o'},
    {"seeds", required_argument, 0, O_SEEDS},  {"z", required_argument, 0, O_Z},
    {"truncation", required_argument, 0, O_TRUNC}, {"size", required_argument, 0, O_SIZE},
    {"backend", required_argument, 0, O_BACKEND}, {"threads", required_argument, 0, O_THREADS},
    {"batch", required_argument, 0, O_BATCH},  {"npy", no_argument, 0, O_NPY},
    {"dump-blocks", no_argument, 0, O_DUMP},   {"view", required_argument, 0, O_VIEW},
    {"center", required_argument, 0, O_CENTER}, {"zoom", required_argument, 0, O_ZOOM},
    {"stride", required_argument, 0, O_STRIDE}, {"tile", required_argument, 0, 't'},
    {"const-mode", required_argument, 0, O_CONST}, {"interp", required_argument, 0, O_INTERP},
    {"t", required_argument, 0, O_T},          {"space", required_argument, 0, O_SPACE},
    {"frames", required_argument, 0, O_FRAMES}, {"loop", no_argument, 0, O_LOOP},
    {"zoom-to", required_argument, 0, O_ZOOM_TO}, {"quiet", no_argument, 0, 'q'},
    {"help", no_argument, 0, 'h'},             {0, 0, 0, 0}};

/* Returns -1 to go on, else an exit code. */
static int parse_render_opts(int argc, char **argv, render_opts *o) {
    memset(o, 0, sizeof *o);
    o->model_path = INRGAN_DEFAULT_MODEL;
    o->out_dir = "out";
    o->backend = "auto";
    o->batch = 4;
    o->frames = 16;
    int c;
    while ((c = getopt_long(argc, argv, "m:o:t:qh", render_options, NULL)) != -1) {
        switch (c) {
        case 'm': o->model_path = optarg; break;
        case 'o': o->out_dir = optarg; break;
        case O_SEEDS: o->seeds_text = optarg; break;
        case O_Z: o->z_path = optarg; break;
        case O_TRUNC:
            if (parse_doubles(optarg, &o->psi, 1)) return usage_error("--truncation '%s' is not a number", optarg);
            o->have_psi = true;
            break;
        case O_SIZE: {
            char extra;
            if (sscanf(optarg, "%dx%d%c", &o->width, &o->height, &extra) != 2 || o->width < 1 || o->height < 1)
                return usage_error("--size '%s' is not WxH with positive W and H", optarg);
            break;
        }
        case O_BACKEND:
            if (strcmp(optarg, "auto") && strcmp(optarg, "cpu") && strcmp(optarg, "vulkan"))
                return usage_error("--backend '%s' is not auto, cpu or vulkan", optarg);
            o->backend = optarg;
            break;
        case O_THREADS:
            if (parse_int(optarg, 1, 1024, &o->threads)) return usage_error("--threads '%s' is not 1..1024", optarg);
            break;
        case O_BATCH:
            if (parse_int(optarg, 1, 4096, &o->batch)) return usage_error("--batch '%s' is not 1..4096", optarg);
            break;
        case O_NPY: o->want_npy = true; break;
        case O_DUMP: o->want_dump = true; break;
        case O_VIEW: {
            double v[4];
            if (parse_doubles(optarg, v, 4)) return usage_error("--view '%s' is not X0,Y0,X1,Y1", optarg);
            o->view = (ig_view){v[0], v[1], v[2], v[3]};
            o->have_view = true;
            break;
        }
        case O_CENTER:
            if (parse_doubles(optarg, o->center, 2)) return usage_error("--center '%s' is not X,Y", optarg);
            o->have_center = true;
            break;
        case O_ZOOM:
            if (parse_doubles(optarg, &o->zoom, 1) || !(o->zoom > 0))
                return usage_error("--zoom '%s' is not a positive number", optarg);
            o->have_zoom = true;
            break;
        case O_ZOOM_TO:
            if (parse_doubles(optarg, &o->zoom_to, 1) || !(o->zoom_to > 0))
                return usage_error("--zoom-to '%s' is not a positive number", optarg);
            break;
        case O_STRIDE:
            if (parse_int(optarg, 1, 4096, &o->stride)) return usage_error("--stride '%s' is not 1..4096", optarg);
            break;
        case 't':
            if (strcmp(optarg, "auto") == 0) o->tile = 0;
            else if (parse_int(optarg, 1, 1 << 20, &o->tile)) return usage_error("--tile '%s' is not a size or auto", optarg);
            break;
        case O_CONST:
            if (strcmp(optarg, "border") == 0) o->const_mode = IG_CONST_BORDER;
            else if (strcmp(optarg, "zero") == 0) o->const_mode = IG_CONST_ZERO;
            else return usage_error("--const-mode '%s' is not border or zero", optarg);
            break;
        case O_INTERP: o->interp_text = optarg; break;
        case O_T:
            if (parse_doubles(optarg, &o->interp_t, 1)) return usage_error("--t '%s' is not a number", optarg);
            o->have_t = true;
            break;
        case O_SPACE:
            if (strcmp(optarg, "z") == 0) o->space = IG_SPACE_Z;
            else if (strcmp(optarg, "w") == 0) o->space = IG_SPACE_W;
            else if (strcmp(optarg, "params") == 0) o->space = IG_SPACE_PARAMS;
            else return usage_error("--space '%s' is not z, w or params", optarg);
            break;
        case O_FRAMES:
            if (parse_int(optarg, 1, 100000, &o->frames)) return usage_error("--frames '%s' is not 1..100000", optarg);
            break;
        case O_LOOP: o->loop = true; break;
        case 'q': g_quiet = 1; break;
        case 'h': print_help(); return 0;
        default: return 2;
        }
    }
    if (optind < argc) return usage_error("unexpected argument '%s'", argv[optind]);
    if (o->seeds_text && o->z_path) return usage_error("%s", "give --seeds or --z, not both");
    if (o->have_view && (o->have_center || o->have_zoom))
        return usage_error("%s", "give --view or --center/--zoom, not both");
    if (o->interp_text && !o->have_t) return usage_error("%s", "--interp needs --t");
    return -1;
}

/* The view the options describe (native when none given). */
static ig_view opts_view(const render_opts *o) {
    if (o->have_view) return o->view;
    if (o->have_center || o->have_zoom)
        return ig_view_center_zoom(o->center[0], o->center[1], o->have_zoom ? o->zoom : 1.0);
    return ig_view_native();
}

/* Latents: the z rows the options name (seeds or a file) and their output names. */
typedef struct latents {
    float *z;
    uint32_t *seeds;
    int count;
    char (*names)[64];
} latents;

static void latents_free(latents *l) {
    free(l->z);
    free(l->seeds);
    free(l->names);
    memset(l, 0, sizeof *l);
}

static ig_result load_latents(const render_opts *o, const ig_config *cfg, const char *default_seeds, latents *l,
                              ig_error *err) {
    memset(l, 0, sizeof *l);
    ig_result r;
    if (o->z_path) {
        r = ig_latents_load_npy(o->z_path, cfg->z_dim, &l->z, &l->count, err);
    } else {
        r = ig_seeds_parse(o->seeds_text ? o->seeds_text : default_seeds, &l->seeds, &l->count, err);
        if (r == IG_OK) {
            l->z = malloc((size_t)l->count * cfg->z_dim * sizeof *l->z);
            if (!l->z) r = ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "%d latents", l->count);
            for (int i = 0; l->z && i < l->count; i++)
                ig_latent_from_seed(l->seeds[i], l->z + (size_t)i * cfg->z_dim, cfg->z_dim);
        }
    }
    if (r == IG_OK) {
        l->names = calloc((size_t)l->count, sizeof *l->names);
        if (!l->names) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "names");
        for (int i = 0; i < l->count; i++) {
            if (l->seeds) snprintf(l->names[i], sizeof l->names[i], "seed%04" PRIu32, l->seeds[i]);
            else snprintf(l->names[i], sizeof l->names[i], "z%04d", i);
        }
    }
    return r;
}

static ig_result choose_backend(const render_opts *o, const char **label, ig_error *err) {
    if (strcmp(o->backend, "vulkan") == 0)
        return ig_error_set(err, IG_ERR_NO_DEVICE, "--backend vulkan: no usable Vulkan device in this build");
    if (strcmp(o->backend, "auto") == 0 && !g_quiet)
        fprintf(stderr, "inrgan: no GPU found; using the CPU backend\n");
    *label = "the CPU backend";
    return IG_OK;
}

/* ---- streamed PNG sink ------------------------------------------------------------------- */

typedef struct png_sink {
    ig_png_stream *s[4096];
    int count;
} png_sink;

static ig_result sink_rows(void *user, int image, int y0, int rows, const uint8_t *rgb, ig_error *err) {
    png_sink *k = user;
    (void)y0;
    return ig_png_stream_rows(k->s[image], rgb, rows, err);
}

/* Renders `count` images of one plan description to PNG files names[i] in dir, tile by tile. */
static ig_result render_pngs(const ig_model *model, const ig_plan_desc *pd, const render_opts *o, const float *z,
                             const float *z_b, const float *t, int count, char (*names)[64], const char *dir,
                             ig_error *err) {
    png_sink sink = {.count = count};
    ig_plan probe;
    ig_plan_desc whole = *pd;
    ig_result r = ig_plan_make(&probe, ig_model_config(model), &whole, err);
    if (r != IG_OK) return r;
    int W = probe.width, H = probe.height;
    ig_plan_free(&probe);
    for (int i = 0; i < count && r == IG_OK; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.png", dir, names[i]);
        r = ig_png_stream_open(&sink.s[i], path, W, H, err);
    }
    if (r == IG_OK) {
        ig_image_job job = {.model = model, .plan = *pd, .z = z, .z_b = z_b, .t = t, .count = count,
                            .psi = o->psi, .space = o->space, .tile = o->tile, .threads = o->threads,
                            .rows = sink_rows, .user = &sink};
        r = ig_render_image(&job, err);
    }
    for (int i = 0; i < count; i++) {
        ig_result c = ig_png_stream_close(sink.s[i], r == IG_OK, r == IG_OK ? err : NULL);
        if (r == IG_OK) r = c;
    }
    return r;
}

/* ---- render ------------------------------------------------------------------------------ */

typedef struct dump_ctx {
    const char *dir;
    char (*names)[64];
    int base;
    ig_result result;
    ig_error err;
} dump_ctx;

static void on_block(void *user, int index, const char *block, int channels, int height, int width,
                     const float *x, const float *rgb) {
    dump_ctx *d = user;
    if (d->result != IG_OK) return;
    char path[4096];
    int64_t shx[3] = {channels, height, width}, shr[3] = {3, height, width};
    snprintf(path, sizeof path, "%s/%s_%s_x.npy", d->dir, d->names[d->base + index], block);
    d->result = ig_npy_write(path, x, 3, shx, &d->err);
    if (d->result != IG_OK) return;
    snprintf(path, sizeof path, "%s/%s_%s_rgb.npy", d->dir, d->names[d->base + index], block);
    d->result = ig_npy_write(path, rgb, 3, shr, &d->err);
}

/* --npy / --dump-blocks: the whole image in memory at once, floats written too. */
static ig_result render_floats(const ig_model *model, const ig_plan_desc *pd, const render_opts *o, latents *l,
                               const float *z_b, const float *t, ig_error *err) {
    const ig_config *cfg = ig_model_config(model);
    ig_plan plan;
    ig_result r = ig_plan_make(&plan, cfg, pd, err);
    if (r != IG_OK) return r;
    size_t px = (size_t)plan.width * plan.height;
    float *img = malloc((size_t)o->batch * 3 * px * sizeof *img);
    uint8_t *rgb = malloc(3 * px);
    dump_ctx dump = {o->out_dir, l->names, 0, IG_OK, {0}};
    if (!img || !rgb) r = ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "%dx%d float images", plan.width, plan.height);
    for (int b0 = 0; b0 < l->count && r == IG_OK; b0 += o->batch) {
        int n = l->count - b0 < o->batch ? l->count - b0 : o->batch;
        dump.base = b0;
        ig_render_desc d = {.model = model, .plan = &plan, .z = l->z + (size_t)b0 * cfg->z_dim, .count = n,
                            .psi = o->psi, .z_b = z_b, .t = t, .space = o->space, .threads = o->threads,
                            .on_block = o->want_dump ? on_block : NULL, .user = &dump};
        r = ig_cpu_render(&d, img, err);
        if (r == IG_OK && dump.result != IG_OK) { r = dump.result; *err = dump.err; }
        for (int i = 0; i < n && r == IG_OK; i++) {
            char path[4096];
            const float *im = img + (size_t)i * 3 * px;
            ig_image_to_rgb8(im, plan.width, plan.height, rgb);
            snprintf(path, sizeof path, "%s/%s.png", o->out_dir, l->names[b0 + i]);
            r = ig_png_write(path, rgb, plan.width, plan.height, err);
            if (r == IG_OK && o->want_npy) {
                int64_t shape[3] = {3, plan.height, plan.width};
                snprintf(path, sizeof path, "%s/%s.npy", o->out_dir, l->names[b0 + i]);
                r = ig_npy_write(path, im, 3, shape, err);
            }
        }
    }
    free(img);
    free(rgb);
    ig_plan_free(&plan);
    return r;
}

static int cmd_render(int argc, char **argv) {
    render_opts o;
    int rc = parse_render_opts(argc, argv, &o);
    if (rc >= 0) return rc;
    ig_error err = {0};
    ig_model *model = NULL;
    latents l = {0};
    float *zb = NULL, *tv = NULL;
    const char *label;
    ig_result r = ig_model_load(o.model_path, &model, &err);
    if (r != IG_OK) return fail(r, &err);
    const ig_config *cfg = ig_model_config(model);
    if (!o.have_psi) o.psi = cfg->truncation_psi;
    ig_plan_desc pd = {.view = opts_view(&o), .width = o.width, .height = o.height, .stride = o.stride,
                       .const_mode = o.const_mode};
    ig_plan probe;
    r = ig_plan_make(&probe, cfg, &pd, &err); /* validate the request before anything else */
    if (r == IG_OK) ig_plan_free(&probe);
    if (r == IG_OK) r = load_latents(&o, cfg, "0-7", &l, &err);
    if (r == IG_OK && o.interp_text) {
        /* --interp A,B --t T: one image, the point T between A and B (seeds, or rows of --z) */
        uint32_t *ab = NULL;
        int n = 0;
        r = ig_seeds_parse(o.interp_text, &ab, &n, &err);
        if (r == IG_OK && n != 2) r = ig_error_set(&err, IG_ERR_SEEDS, "--interp '%s' must be two seeds A,B", o.interp_text);
        if (r == IG_OK && o.z_path && (ab[0] >= (uint32_t)l.count || ab[1] >= (uint32_t)l.count))
            r = ig_error_set(&err, IG_ERR_SEEDS, "--interp rows %u,%u: the --z file has %d rows", ab[0], ab[1], l.count);
        if (r == IG_OK) {
            float *za = malloc((size_t)cfg->z_dim * sizeof *za);
            zb = malloc((size_t)cfg->z_dim * sizeof *zb);
            tv = malloc(sizeof *tv);
            if (!za || !zb || !tv) {
                free(za);
                r = ig_error_set(&err, IG_ERR_OUT_OF_MEMORY, "latents");
            } else {
                if (o.z_path) {
                    memcpy(za, l.z + (size_t)ab[0] * cfg->z_dim, (size_t)cfg->z_dim * sizeof *za);
                    memcpy(zb, l.z + (size_t)ab[1] * cfg->z_dim, (size_t)cfg->z_dim * sizeof *zb);
                } else {
                    ig_latent_from_seed(ab[0], za, cfg->z_dim);
                    ig_latent_from_seed(ab[1], zb, cfg->z_dim);
                }
                *tv = (float)o.interp_t;
                free(l.z);
                l.z = za;
                l.count = 1;
                static const char *sp[] = {"z", "w", "params"};
                snprintf(l.names[0], sizeof l.names[0], "interp%04u-%04u_%s_t%.4f", ab[0], ab[1], sp[o.space], o.interp_t);
            }
        }
        free(ab);
    }
    if (r == IG_OK) r = choose_backend(&o, &label, &err);
    if (r == IG_OK && make_dirs(o.out_dir, &err) != 0) r = err.code;
    double t0 = now_s();
    if (r == IG_OK && (o.want_npy || o.want_dump)) {
        r = render_floats(model, &pd, &o, &l, zb, tv, &err);
    } else {
        for (int b0 = 0; b0 < l.count && r == IG_OK; b0 += o.batch) {
            int n = l.count - b0 < o.batch ? l.count - b0 : o.batch;
            r = render_pngs(model, &pd, &o, l.z + (size_t)b0 * cfg->z_dim, zb, tv, n, l.names + b0, o.out_dir, &err);
            progress(b0 + n, l.count, "render");
        }
    }
    if (r == IG_OK && !g_quiet) {
        ig_plan p;
        if (ig_plan_make(&p, cfg, &pd, NULL) == IG_OK) {
            fprintf(stderr, "inrgan: rendered %d image%s %dx%d with %s in %.2f s (%.2f GFLOP each) -> %s/\n", l.count,
                    l.count == 1 ? "" : "s", p.width, p.height, label, now_s() - t0,
                    ig_plan_executed_flops(&p, cfg) / 1e9, o.out_dir);
            ig_plan_free(&p);
        }
    }
    if (r != IG_OK) rc = fail(r, &err);
    else rc = 0;
    free(zb);
    free(tv);
    latents_free(&l);
    ig_model_free(model);
    return rc;
}

/* ---- interp and zoom: frame sequences ------------------------------------------------------ */

/* Horizontal contact strip of the frames, each box-filtered down to `h` rows. */
static ig_result write_strip(const char *dir, int frames, int h, ig_error *err) {
    uint8_t *strip = NULL;
    int sw = 0;
    ig_result r = IG_OK;
    for (int f = 0; f < frames && r == IG_OK; f++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/frame%04d.png", dir, f);
        int w, hh;
        uint8_t *img;
        r = ig_png_read(path, &img, &w, &hh, err);
        if (r != IG_OK) break;
        int fw = (int)((double)w * h / hh + 0.5);
        if (fw < 1) fw = 1;
        if (!strip) {
            sw = fw;
            strip = calloc((size_t)sw * frames * h * 3, 1);
            if (!strip) { free(img); r = ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "strip"); break; }
        }
        /* box filter: each strip pixel averages the source pixels it covers */
        for (int y = 0; y < h; y++)
            for (int x = 0; x < sw; x++) {
                int ya = y * hh / h, yb = (y + 1) * hh / h, xa = x * w / sw, xb = (x + 1) * w / sw;
                if (yb <= ya) yb = ya + 1;
                if (xb <= xa) xb = xa + 1;
                for (int c = 0; c < 3; c++) {
                    unsigned sum = 0, n = 0;
                    for (int yy = ya; yy < yb; yy++)
                        for (int xx = xa; xx < xb; xx++, n++) sum += img[((size_t)yy * w + xx) * 3 + c];
                    strip[((size_t)y * sw * frames + (size_t)f * sw + x) * 3 + c] = (uint8_t)((sum + n / 2) / n);
                }
            }
        free(img);
    }
    if (r == IG_OK && strip) {
        char path[4096];
        snprintf(path, sizeof path, "%s/strip.png", dir);
        r = ig_png_write(path, strip, sw * frames, h, err);
    }
    free(strip);
    return r;
}

static void try_video(const char *dir, const char *name) {
    if (system("command -v ffmpeg >/dev/null 2>&1") != 0) {
        if (!g_quiet) fprintf(stderr, "inrgan: ffmpeg not installed: no %s.mp4/.gif (frames are in %s/)\n", name, dir);
        return;
    }
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "ffmpeg -loglevel error -y -framerate 24 -i '%s/frame%%04d.png' -pix_fmt yuv420p "
             "-vf 'scale=trunc(iw/2)*2:trunc(ih/2)*2' '%s/%s.mp4' && "
             "ffmpeg -loglevel error -y -framerate 24 -i '%s/frame%%04d.png' '%s/%s.gif'",
             dir, dir, name, dir, dir, name);
    int rc = system(cmd);
    if (!g_quiet) fprintf(stderr, rc == 0 ? "inrgan: wrote %s/%s.mp4 and .gif\n" : "inrgan: ffmpeg failed for %s/%s\n", dir, name);
}

static int cmd_frames(int argc, char **argv, bool zoom) {
    render_opts o;
    int rc = parse_render_opts(argc, argv, &o);
    if (rc >= 0) return rc;
    ig_error err = {0};
    ig_model *model = NULL;
    latents l = {0};
    const char *label;
    ig_result r = ig_model_load(o.model_path, &model, &err);
    if (r != IG_OK) return fail(r, &err);
    const ig_config *cfg = ig_model_config(model);
    if (!o.have_psi) o.psi = cfg->truncation_psi;
    r = load_latents(&o, cfg, zoom ? "0" : "0-1", &l, &err);
    if (r == IG_OK && !zoom && l.count < 2) r = ig_error_set(&err, IG_ERR_SEEDS, "interp needs at least two seeds or z rows");
    int segments = zoom ? 1 : (o.loop ? l.count : l.count - 1);
    int total = zoom ? o.frames : segments * o.frames + (o.loop ? 0 : 1);
    if (r == IG_OK) {
        ig_plan probe;
        ig_plan_desc pd = {.view = opts_view(&o), .width = o.width, .height = o.height, .stride = o.stride};
        r = ig_plan_make(&probe, cfg, &pd, &err);
        if (r == IG_OK) ig_plan_free(&probe);
    }
    if (r == IG_OK) r = choose_backend(&o, &label, &err);
    if (r == IG_OK && make_dirs(o.out_dir, &err) != 0) r = err.code;
    double z0 = o.have_zoom ? o.zoom : 1.0, z1 = o.zoom_to > 0 ? o.zoom_to : 8.0;
    double t0 = now_s();
    for (int f = 0; f < total && r == IG_OK; f++) {
        char name[1][64];
        snprintf(name[0], sizeof name[0], "frame%04d", f);
        ig_plan_desc pd = {.view = opts_view(&o), .width = o.width, .height = o.height, .stride = o.stride,
                           .const_mode = o.const_mode};
        if (zoom) {
            pd.view = ig_view_zoom_frame(o.center[0], o.center[1], z0, z1, f, total);
            r = render_pngs(model, &pd, &o, l.z, NULL, NULL, 1, name, o.out_dir, &err);
        } else {
            int seg = f / o.frames, k = f % o.frames;
            if (seg == segments) { seg = segments - 1; k = o.frames; } /* the last endpoint */
            const float *za = l.z + (size_t)seg * cfg->z_dim;
            const float *zb = l.z + (size_t)((seg + 1) % l.count) * cfg->z_dim;
            float t = (float)k / (float)o.frames;
            r = render_pngs(model, &pd, &o, za, zb, &t, 1, name, o.out_dir, &err);
        }
        progress(f + 1, total, zoom ? "zoom" : "interp");
    }
    if (r == IG_OK) r = write_strip(o.out_dir, total, 64, &err);
    if (r == IG_OK) {
        if (!g_quiet)
            fprintf(stderr, "inrgan: %d frames with %s in %.2f s -> %s/\n", total, label, now_s() - t0, o.out_dir);
        try_video(o.out_dir, zoom ? "zoom" : "interp");
    }
    rc = r == IG_OK ? 0 : fail(r, &err);
    latents_free(&l);
    ig_model_free(model);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_help();
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "info") == 0) return cmd_info(argc - 1, argv + 1);
    if (strcmp(cmd, "render") == 0) return cmd_render(argc - 1, argv + 1);
    if (strcmp(cmd, "bench") == 0) return cmd_bench(argc - 1, argv + 1);
    if (strcmp(cmd, "interp") == 0) return cmd_frames(argc - 1, argv + 1, false);
    if (strcmp(cmd, "zoom") == 0) return cmd_frames(argc - 1, argv + 1, true);
    return usage_error("unknown command '%s'", cmd);
}
