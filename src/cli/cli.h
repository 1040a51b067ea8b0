/* cli.h - what the `inrgan` subcommands share (src/cli/). */
#ifndef IG_CLI_H
#define IG_CLI_H

#include "inrgan.h"

typedef struct cli_backend_opts {
    const char *backend;   /* auto | cpu | vulkan */
    const char *gpu;       /* -g: index or name substring, NULL = auto */
    const char *precision; /* fp32 | fp16 | auto, NULL = fp32 */
    bool validate, coopmat;
} cli_backend_opts;

typedef struct cli_backend {
    ig_backend_fn fn;
    void *vk;              /* ig_vk_context when Vulkan renders */
    char label[64];
    char device[256];      /* Vulkan: "INDEX" of the device that renders (for -g) */
    char precision[8];     /* Vulkan: the precision in use, "fp32" or "fp16" */
} cli_backend;

ig_result cli_backend_open(cli_backend *b, const cli_backend_opts *o, bool quiet, ig_error *err);
/* IG_ERR_VULKAN when the validation layer reported errors during the renders. */
ig_result cli_backend_check(cli_backend *b, ig_error *err);
void cli_backend_close(cli_backend *b);
int cli_devices(void);
void cli_pin_vulkan_libs(void);

int cli_usage_error(const char *fmt, const char *arg);
int cli_fail(ig_result r, const ig_error *err);
int cmd_bench(int argc, char **argv);

#endif
