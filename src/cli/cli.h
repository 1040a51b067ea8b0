/* cli.h - what the `inrgan` subcommands share (src/cli/). */
#ifndef IG_CLI_H
#define IG_CLI_H

#include "inrgan.h"
#include "ig_backend.h"

typedef struct cli_backend_opts {
    const char *backend;   /* auto | cpu | vulkan */
    const char *gpu;       /* -g: index or name substring, NULL = auto */
    const char *precision; /* fp32 | fp16 | auto, NULL = fp32 */
    bool validate, coopmat;
    const char *kernel;    /* --kernel auto | pixel | gemm, NULL = auto */
} cli_backend_opts;

typedef struct cli_backend {
    ig_backend *obj;       /* the library's backend (src/backend.c) */
    ig_backend_fn fn;      /* renders with obj: ig_render_image's backend, backend_ctx = obj */
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

/* ---- options (main.c) ----------------------------------------------------------------------
 * Each command's options are one table: getopt_long's table and the command's --help are both
 * made from it, so the help lists every option the command accepts. */
#include <getopt.h>
#include <stdio.h>

typedef struct cli_opt {
    const char *name;  /* long spelling, without "--" */
    int shrt;          /* short letter, 0 = none */
    int has_arg;       /* no_argument | required_argument */
    int val;           /* what cli_next returns */
    unsigned cmds;     /* bit mask of the commands that accept it */
    const char *arg;   /* metavariable shown in --help, NULL for none */
    const char *help;  /* one or more lines ("\n" continues the text) */
} cli_opt;

typedef struct cli_parser {
    struct option longs[64];
    char shorts[64];
} cli_parser;

void cli_parser_init(cli_parser *p, const cli_opt *specs, unsigned mask);
/* The next option's val, -1 after the last, '?' after a usage error it has reported. */
int cli_next(cli_parser *p, int argc, char **argv);
void cli_print_options(FILE *f, const cli_opt *specs, unsigned mask);

/* Usage errors, one line: "inrgan: error: <what> (see 'inrgan COMMAND --help') [IG_ERR_USAGE]";
 * exit code 2. cli_option_fail does the same for an ig_parse_* result (its own tag). */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_option_fail(ig_result r, const ig_error *err);
/* Parses an option value with ig_parse_* inside an option loop: on failure the error line (and
 * hint) is printed and the function returns its exit code. CLI_PERR is the ig_error to pass. */
#define CLI_PARSE(call)                                        \
    do {                                                       \
        ig_error perr_ = {0};                                  \
        ig_result pr_ = (call);                                \
        if (pr_ != IG_OK) return cli_option_fail(pr_, &perr_); \
    } while (0)
#define CLI_PERR (&perr_)
int cli_fail(ig_result r, const ig_error *err);
/* A word option's value checked inside an option loop: unless v is one of words (NULL-ended), the
 * usage error "OPT 'v' is not A, B or C" is printed and the function returns its exit code.
 * cli_precision_words, cli_kernel_words: --precision, --kernel (render, serve, bench);
 * cli_backend_words: --backend of render and serve (bench's takes "all" too). */
int cli_check_word(const char *opt, const char *v, const char *const *words);
extern const char *const cli_precision_words[], *const cli_kernel_words[], *const cli_backend_words[];
#define CLI_WORD(opt, v, words)                            \
    do {                                                   \
        int cw_ = cli_check_word((opt), (v), (words));     \
        if (cw_ != 0) return cw_;                          \
    } while (0)
/* The command being run (main.c sets it), for the hint after a usage error. */
extern const char *cli_cmd;
/* Writes text to path through a temporary file (fflush, fsync, fclose checked, then rename);
 * "-" is stdout (flushed and checked). IG_ERR_OUTPUT on any failure, no file left behind. */
ig_result cli_write_text(const char *path, const char *text, ig_error *err);
int cmd_bench(int argc, char **argv);
void cli_bench_help(FILE *f);
/* inrgan bench --gemm-sweep (src/cli/bench_gemm.c): the gemm level kernel's layer shapes timed
 * alone on one Vulkan device; the table to `out` (unless quiet), JSON to json_path ("-": stdout). */
typedef struct cli_gemm_sweep {
    const char *gpu, *json_path;
    bool validate, quiet;
    int batch, size, reps;
    FILE *out;
} cli_gemm_sweep;
ig_result cli_bench_gemm_sweep(const cli_gemm_sweep *s, ig_error *err);
int cmd_serve(int argc, char **argv);   /* src/cli/serve.c */
void cli_serve_help(FILE *f);

#endif
