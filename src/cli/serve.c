/* serve.c - the `inrgan serve` command: options, model, backend; the server is src/serve/
 * (docs/serve.md). Built without libmicrohttpd, the command says so and exits 2. */
#include "cli.h"
#include "ig_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef INRGAN_HAVE_SERVE
#include "serve/server.h"
#endif

enum { S_SERVE = 1 };
enum { O_PORT = 300, O_BIND, O_BACKEND, O_PREC, O_THREADS, O_QUEUE, O_MAXB, O_CACHE, O_MAXC, O_MAXZ, O_TIMEOUT,
       O_LEAFLET, O_VALIDATE, O_COOPMAT, O_ROWS, O_KERNEL };

static const cli_opt g_serve_opts[] = {
    {"model", 'm', required_argument, 'm', S_SERVE, "FILE", "model file (default: the demo model)"},
    {"port", 'p', required_argument, O_PORT, S_SERVE, "N", "TCP port (default: 8080; 0 = any free port, printed)"},
    {"bind", 0, required_argument, O_BIND, S_SERVE, "ADDR", "numeric address to listen on (default: 127.0.0.1;\n"
     "0.0.0.0 or :: for every interface)"},
    {"backend", 0, required_argument, O_BACKEND, S_SERVE, "B", "auto (default) | cpu | vulkan"},
    {"gpu", 'g', required_argument, 'g', S_SERVE, "INDEX|NAME", "Vulkan device (inrgan devices lists them)"},
    {"precision", 0, required_argument, O_PREC, S_SERVE, "P", "fp32 (default) | fp16 | auto (Vulkan)"},
    {"coopmat", 0, no_argument, O_COOPMAT, S_SERVE, NULL, "Vulkan: tensor-core level kernel (VK_NV_cooperative_matrix)"},
    {"kernel", 0, required_argument, O_KERNEL, S_SERVE, "K", "Vulkan INR-GAN level kernel: auto (default) | pixel | gemm | fused |\n"
     "fused16"},
    {"validate", 0, no_argument, O_VALIDATE, S_SERVE, NULL, "Vulkan: Khronos validation layer"},
    {"threads", 0, required_argument, O_THREADS, S_SERVE, "N", "CPU backend threads (default: all cores)"},
    {"queue", 0, required_argument, O_QUEUE, S_SERVE, "N", "tiles waiting for a render at most; more: 503 (default: 64)"},
    {"max-batch", 0, required_argument, O_MAXB, S_SERVE, "N", "tiles of one view per backend call at most (default: 8)"},
    {"merge-rows", 0, no_argument, O_ROWS, S_SERVE, NULL, "render adjacent tiles of one row as one wider image where\n"
     "that is exact (nearest-upsampling INR-GAN; more memory)"},
    {"cache-mb", 0, required_argument, O_CACHE, S_SERVE, "MB", "in-memory tile cache bound, MiB (default: 256; 0 = none)"},
    {"max-connections", 0, required_argument, O_MAXC, S_SERVE, "N", "concurrent connections at most (default: 256)"},
    {"max-zoom", 0, required_argument, O_MAXZ, S_SERVE, "Z", "deepest zoom level served, 0..40 (default: 24)"},
    {"timeout", 0, required_argument, O_TIMEOUT, S_SERVE, "S", "close connections idle for S seconds (default: 15)"},
    {"leaflet", 0, required_argument, O_LEAFLET, S_SERVE, "DIR", "Leaflet's files (default: /usr/share/javascript/leaflet)"},
    {"quiet", 'q', no_argument, 'q', S_SERVE, NULL, "only the start line and errors on stderr"},
    {"help", 'h', no_argument, 'h', S_SERVE, NULL, "this help"},
    {0, 0, 0, 0, 0, 0, 0}};

void cli_serve_help(FILE *f) {
    fprintf(f, "usage: inrgan serve [-m MODEL] [--port N] [--bind ADDR] [options]\n"
               "An HTTP tile server: /tiles/SEED/Z/X/Y.png (256x256 PNGs, exactly `inrgan render` of the same\n"
               "view), a deep-zoom page at /, /healthz and /metrics (docs/serve.md). SIGINT/SIGTERM stop it (exit 0).\n\n"
               "options:\n");
    cli_print_options(f, g_serve_opts, S_SERVE);
#ifndef INRGAN_HAVE_SERVE
    fprintf(f, "\n(this build has no serve command: libmicrohttpd-dev was missing when it was configured)\n");
#endif
}


int cmd_serve(int argc, char **argv) {
    const char *model_path = ig_default_model_path(), *bind = "127.0.0.1", *leaflet = "/usr/share/javascript/leaflet";
    cli_backend_opts bo = {"auto", NULL, NULL, false, false, NULL};
    int port = 8080, threads = 0, queue = 64, max_batch = 8, cache_mb = 256, max_conn = 256, max_zoom = 24, timeout = 15;
    bool quiet = false, merge_rows = false;
    cli_parser pr;
    cli_parser_init(&pr, g_serve_opts, S_SERVE);
    int c;
    while ((c = cli_next(&pr, argc, argv)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case O_PORT: CLI_PARSE(ig_parse_int("--port", optarg, 0, 65535, &port, CLI_PERR)); break;
        case O_BIND:
            if (!*optarg) return cli_usage_error("--bind '' is empty");
            bind = optarg;
            break;
        case O_BACKEND:
            CLI_WORD("--backend", optarg, cli_backend_words);
            bo.backend = optarg;
            break;
        case 'g':
            if (!*optarg) return cli_usage_error("-g '' is empty (a device index or name)");
            bo.gpu = optarg;
            break;
        case O_PREC:
            CLI_WORD("--precision", optarg, cli_precision_words);
            bo.precision = optarg;
            break;
        case O_COOPMAT: bo.coopmat = true; break;
        case O_KERNEL:
            CLI_WORD("--kernel", optarg, cli_kernel_words);
            bo.kernel = optarg;
            break;
        case O_VALIDATE: bo.validate = true; break;
        case O_THREADS: CLI_PARSE(ig_parse_int("--threads", optarg, 1, 1024, &threads, CLI_PERR)); break;
        case O_QUEUE: CLI_PARSE(ig_parse_int("--queue", optarg, 1, 65536, &queue, CLI_PERR)); break;
        case O_MAXB: CLI_PARSE(ig_parse_int("--max-batch", optarg, 1, 64, &max_batch, CLI_PERR)); break;
        case O_CACHE: CLI_PARSE(ig_parse_int("--cache-mb", optarg, 0, 1 << 20, &cache_mb, CLI_PERR)); break;
        case O_MAXC: CLI_PARSE(ig_parse_int("--max-connections", optarg, 1, 10000, &max_conn, CLI_PERR)); break;
        case O_MAXZ: CLI_PARSE(ig_parse_int("--max-zoom", optarg, 0, 40, &max_zoom, CLI_PERR)); break;
        case O_TIMEOUT: CLI_PARSE(ig_parse_int("--timeout", optarg, 1, 3600, &timeout, CLI_PERR)); break;
        case O_LEAFLET: leaflet = optarg; break;
        case O_ROWS: merge_rows = true; break;
        case 'q': quiet = true; break;
        case 'h': cli_serve_help(stdout); return 0;
        default: return 2;
        }
    }
    if (optind < argc) return cli_usage_error("unexpected argument '%s'", argv[optind]);
#ifndef INRGAN_HAVE_SERVE
    (void)model_path; (void)bind; (void)leaflet; (void)port; (void)threads; (void)queue; (void)max_batch;
    (void)cache_mb; (void)max_conn; (void)max_zoom; (void)timeout; (void)quiet; (void)merge_rows;
    ig_error err = {0};
    ig_error_set(&err, IG_ERR_UNSUPPORTED, "this build has no serve command (libmicrohttpd-dev was missing when it was configured)");
    return cli_fail(IG_ERR_UNSUPPORTED, &err);
#else
    ig_error err = {0};
    ig_model *model = NULL;
    ig_result r = ig_model_load(model_path, &model, &err);
    if (r != IG_OK) return cli_fail(r, &err);
    cli_backend be;
    r = cli_backend_open(&be, &bo, quiet, &err);
    if (r != IG_OK) {
        ig_model_free(model);
        return cli_fail(r, &err);
    }
    char backend_id[320];
    if (be.vk) snprintf(backend_id, sizeof backend_id, "vulkan:%s:%s%s", be.device, be.precision, bo.coopmat ? ":coopmat" : "");
    else snprintf(backend_id, sizeof backend_id, "cpu");
    ig_serve_opts so = {.model = model, .model_path = model_path, .backend = be.fn, .backend_ctx = be.obj,
                        .backend_label = be.label, .backend_id = backend_id, .bind = bind, .port = port,
                        .queue = queue, .max_batch = max_batch, .merge_rows = merge_rows, .cache_bytes = (size_t)cache_mb << 20,
                        .max_connections = max_conn, .max_zoom = max_zoom, .timeout_s = timeout, .threads = threads,
                        .leaflet_dir = leaflet, .quiet = quiet};
    r = ig_serve_run(&so, &err);
    if (r == IG_OK) r = cli_backend_check(&be, &err);
    cli_backend_close(&be);
    ig_model_free(model);
    return r == IG_OK ? 0 : cli_fail(r, &err);
#endif
}
