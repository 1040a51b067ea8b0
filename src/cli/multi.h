/* multi.h - every device in one process (src/cli/multi.c, docs/scale-out.md): `-g 0,1,...`,
 * `-g all`, and `cpu` as one more worker (`-g all,cpu`, `-g llvmpipe,cpu`). One thread per
 * device pulls the next item (an image, a frame or a band of one image) from one queue, so a
 * faster device takes more; each item is rendered whole on one device. */
#ifndef IG_CLI_MULTI_H
#define IG_CLI_MULTI_H

#include "cli.h"

#define CLI_MULTI_MAX 32

typedef struct cli_multi {
    int n;
    cli_backend be[CLI_MULTI_MAX];
    char label[CLI_MULTI_MAX][96]; /* "cpu" or "vulkan:INDEX (NAME)" */
    int done[CLI_MULTI_MAX];       /* items each device rendered (after cli_multi_run) */
    double seconds[CLI_MULTI_MAX]; /* busy time of each device */
} cli_multi;

/* Whether -g asks for several devices: "all", or a comma-separated list. */
bool cli_multi_wanted(const char *gpu);
/* Opens one backend per entry of spec: "all" = every discrete, integrated or virtual GPU,
 * "cpu" = the CPU backend, else a device index or name (lavapipe: "llvmpipe"). base gives the
 * precision, validation and coopmat of every Vulkan worker. */
ig_result cli_multi_open(cli_multi *m, const cli_backend_opts *base, const char *spec, bool quiet, ig_error *err);
ig_result cli_multi_check(cli_multi *m, ig_error *err);
void cli_multi_close(cli_multi *m);

/* Renders item `item` on backend `be` (called from the device's thread). */
typedef ig_result (*cli_multi_fn)(void *user, const cli_backend *be, int item, ig_error *err);
/* Runs items 0..count-1 over the devices; unless quiet, one line per item:
 * "inrgan: ITEM-NAME rendered on LABEL". The first failure stops the queue and is returned. */
ig_result cli_multi_run(cli_multi *m, int count, cli_multi_fn fn, void *user, const char *(*name)(void *, int),
                        bool quiet, ig_error *err);

#endif
