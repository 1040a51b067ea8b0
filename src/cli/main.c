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

static void print_help(void) {
    printf(
        "inrgan - INR-GAN generators on Vulkan compute, with a C CPU backend\n"
        "\n"
        "usage:\n"
        "  inrgan info   [-m MODEL] [--json FILE]\n"
        "  inrgan render [-m MODEL] [--seeds 0-7 | --z FILE.npy] [-o DIR] [options]\n"
        "\n"
        "render options:\n"
        "  -m, --model FILE        model file (default: %s)\n"
        "  -o, --output DIR        output directory (default: out)\n"
        "      --seeds LIST        seeds like 0-7,12 (default: 0-7)\n"
        "      --z FILE.npy        explicit latents, float32 or float64 [N, z_dim]\n"
        "      --truncation PSI    truncation psi (default: from the model file)\n"
        "      --size WxH          output size (default: the model's native size)\n"
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
    const char *model_path = INRGAN_DEFAULT_MODEL, *json_path = NULL;
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"json", required_argument, 0, 'J'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'J': json_path = optarg; break;
        case 'h': print_help(); return 0;
        default: return 2;
        }
    }
    if (optind < argc) return usage_error("unexpected argument '%s'", argv[optind]);
    ig_error err = {0};
    ig_model *model;
    ig_result r = ig_model_load(model_path, &model, &err);
    if (r != IG_OK) return fail(r, &err);
    const ig_config *cfg = ig_model_config(model);
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
    printf("model GFLOP per %dx%d image: %.1f\n", cfg->resolution, cfg->resolution, mf);
    printf("executed GFLOP per image (coarse trick): %.1f\n", ef);
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
                    model_path, cfg->family, cfg->resolution, np, mf, ef, ig_model_config_json(model));
            fclose(fp);
        }
    }
    ig_model_free(model);
    return rc;
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

static int parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

static int cmd_render(int argc, char **argv) {
    const char *model_path = INRGAN_DEFAULT_MODEL, *out_dir = "out", *seeds_text = NULL, *z_path = NULL;
    const char *backend = "auto";
    double psi = 0;
    bool have_psi = false, want_npy = false, want_dump = false;
    int width = 0, height = 0, threads = 0, batch = 4;
    enum { O_SEEDS = 256, O_Z, O_TRUNC, O_SIZE, O_BACKEND, O_THREADS, O_BATCH, O_NPY, O_DUMP };
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},     {"output", required_argument, 0, 'o'},
        {"seeds", required_argument, 0, O_SEEDS}, {"z", required_argument, 0, O_Z},
        {"truncation", required_argument, 0, O_TRUNC}, {"size", required_argument, 0, O_SIZE},
        {"backend", required_argument, 0, O_BACKEND}, {"threads", required_argument, 0, O_THREADS},
        {"batch", required_argument, 0, O_BATCH}, {"npy", no_argument, 0, O_NPY},
        {"dump-blocks", no_argument, 0, O_DUMP},  {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},            {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "m:o:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'o': out_dir = optarg; break;
        case O_SEEDS: seeds_text = optarg; break;
        case O_Z: z_path = optarg; break;
        case O_TRUNC: {
            char *end;
            psi = strtod(optarg, &end);
            if (end == optarg || *end || psi != psi || psi > 1e6 || psi < -1e6)
                return usage_error("--truncation '%s' is not a number", optarg);
            have_psi = true;
            break;
        }
        case O_SIZE: {
            char extra;
            if (sscanf(optarg, "%dx%d%c", &width, &height, &extra) != 2 || width < 1 || height < 1)
                return usage_error("--size '%s' is not WxH with positive W and H", optarg);
            break;
        }
        case O_BACKEND:
            if (strcmp(optarg, "auto") && strcmp(optarg, "cpu") && strcmp(optarg, "vulkan"))
                return usage_error("--backend '%s' is not auto, cpu or vulkan", optarg);
            backend = optarg;
            break;
        case O_THREADS:
            if (parse_int(optarg, 1, 1024, &threads)) return usage_error("--threads '%s' is not 1..1024", optarg);
            break;
        case O_BATCH:
            if (parse_int(optarg, 1, 4096, &batch)) return usage_error("--batch '%s' is not 1..4096", optarg);
            break;
        case O_NPY: want_npy = true; break;
        case O_DUMP: want_dump = true; break;
        case 'q': g_quiet = 1; break;
        case 'h': print_help(); return 0;
        default: return 2;
        }
    }
    if (optind < argc) return usage_error("unexpected argument '%s'", argv[optind]);
    if (seeds_text && z_path) return usage_error("%s", "give --seeds or --z, not both");

    ig_error err = {0};
    ig_model *model = NULL;
    uint32_t *seeds = NULL;
    float *z = NULL, *img = NULL;
    uint8_t *rgb = NULL;
    char (*names)[64] = NULL;
    ig_plan plan = {0};
    int count = 0, rc = 0;
    ig_result r = ig_model_load(model_path, &model, &err);
    if (r != IG_OK) return fail(r, &err);
    const ig_config *cfg = ig_model_config(model);
    if (!have_psi) psi = cfg->truncation_psi;
    if (width == 0) width = height = cfg->resolution;

    if (z_path) {
        r = ig_latents_load_npy(z_path, cfg->z_dim, &z, &count, &err);
    } else {
        r = ig_seeds_parse(seeds_text ? seeds_text : "0-7", &seeds, &count, &err);
        if (r == IG_OK) {
            z = malloc((size_t)count * cfg->z_dim * sizeof *z);
            if (!z) r = ig_error_set(&err, IG_ERR_OUT_OF_MEMORY, "%d latents", count);
            for (int i = 0; z && i < count; i++) ig_latent_from_seed(seeds[i], z + (size_t)i * cfg->z_dim, cfg->z_dim);
        }
    }
    if (r == IG_OK) r = ig_plan_init(&plan, cfg, ig_view_native(), width, height, &err);
    if (r != IG_OK) goto done;
    if (strcmp(backend, "vulkan") == 0) {
        r = ig_error_set(&err, IG_ERR_NO_DEVICE, "--backend vulkan: this build has no usable Vulkan device");
        goto done;
    }
    if (strcmp(backend, "auto") == 0 && !g_quiet)
        fprintf(stderr, "inrgan: no GPU found; using the CPU backend\n");

    names = calloc((size_t)count, sizeof *names);
    size_t px = (size_t)width * height;
    img = malloc((size_t)batch * 3 * px * sizeof *img);
    rgb = malloc(3 * px);
    if (!names || !img || !rgb) {
        r = ig_error_set(&err, IG_ERR_OUT_OF_MEMORY, "output buffers for %dx%d", width, height);
        goto done;
    }
    for (int i = 0; i < count; i++) {
        if (seeds) snprintf(names[i], sizeof names[i], "seed%04" PRIu32, seeds[i]);
        else snprintf(names[i], sizeof names[i], "z%04d", i);
    }
    if (make_dirs(out_dir, &err) != 0) { r = err.code; goto done; }

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    dump_ctx dump = {out_dir, names, 0, IG_OK, {0}};
    for (int b0 = 0; b0 < count && r == IG_OK; b0 += batch) {
        int n = count - b0 < batch ? count - b0 : batch;
        dump.base = b0;
        ig_render_desc desc = {.model = model, .plan = &plan, .z = z + (size_t)b0 * cfg->z_dim, .count = n,
                               .psi = psi, .threads = threads, .on_block = want_dump ? on_block : NULL,
                               .user = &dump};
        r = ig_cpu_render(&desc, img, &err);
        if (r == IG_OK && dump.result != IG_OK) { r = dump.result; err = dump.err; }
        for (int i = 0; i < n && r == IG_OK; i++) {
            char path[4096];
            const float *im = img + (size_t)i * 3 * px;
            ig_image_to_rgb8(im, width, height, rgb);
            snprintf(path, sizeof path, "%s/%s.png", out_dir, names[b0 + i]);
            r = ig_png_write(path, rgb, width, height, &err);
            if (r == IG_OK && want_npy) {
                int64_t shape[3] = {3, height, width};
                snprintf(path, sizeof path, "%s/%s.npy", out_dir, names[b0 + i]);
                r = ig_npy_write(path, im, 3, shape, &err);
            }
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (r == IG_OK && !g_quiet)
        fprintf(stderr, "inrgan: rendered %d image%s %dx%d on the CPU backend in %.2f s -> %s/\n", count,
                count == 1 ? "" : "s", width, height,
                (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec), out_dir);
done:
    if (r != IG_OK) rc = fail(r, &err);
    ig_plan_free(&plan);
    free(names);
    free(img);
    free(rgb);
    free(z);
    free(seeds);
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
    return usage_error("unknown command '%s'", cmd);
}
