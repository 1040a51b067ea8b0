/* cli_util.c - what every command of the `inrgan` command line shares (main.c, bench.c): the
 * one-line error reports and their exit codes, writing text files safely, and the option
 * tables (getopt_long from one table per command that also prints its --help). */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *cli_cmd = NULL; /* the command being run, for the hint after a usage error */

/* ---- errors -------------------------------------------------------------------------------- */

int cli_fail(ig_result r, const ig_error *err) {
    fprintf(stderr, "inrgan: error: %s [%s]\n", err && err->code == r ? err->msg : ig_result_description(r),
            ig_result_name(r));
    return ig_result_exit_code(r);
}

/* A usage error is still one line: the pointer to the help goes before the tag. */
static void usage_line(const char *msg, ig_result r) {
    fprintf(stderr, "inrgan: error: %s (see 'inrgan %s%s--help') [%s]\n", msg, cli_cmd ? cli_cmd : "", cli_cmd ? " " : "",
            ig_result_name(r));
}

int cli_usage_error(const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    usage_line(msg, IG_ERR_USAGE);
    return ig_result_exit_code(IG_ERR_USAGE);
}

const char *const cli_precision_words[] = {"fp32", "fp16", "auto", NULL};
const char *const cli_kernel_words[] = {"auto", "pixel", "gemm", "fused", "fused16", NULL};
const char *const cli_backend_words[] = {"auto", "cpu", "vulkan", NULL};

int cli_check_word(const char *opt, const char *v, const char *const *words) {
    char list[256] = "";
    size_t n = 0;
    for (int i = 0; words[i]; i++) {
        if (strcmp(v, words[i]) == 0) return 0;
        const char *sep = i == 0 ? "" : words[i + 1] ? ", " : " or ";
        n += (size_t)snprintf(list + n, n < sizeof list ? sizeof list - n : 0, "%s%s", sep, words[i]);
        if (n >= sizeof list) n = sizeof list - 1;
    }
    return cli_usage_error("%s '%s' is not %s", opt, v, list);
}

int cli_option_fail(ig_result r, const ig_error *err) {
    usage_line(err && err->code == r ? err->msg : ig_result_description(r), r);
    return ig_result_exit_code(r);
}

ig_result cli_write_text(const char *path, const char *text, ig_error *err) {
    size_t n = strlen(text);
    if (strcmp(path, "-") == 0) {
        if (fwrite(text, 1, n, stdout) != n || fflush(stdout) != 0 || ferror(stdout))
            return ig_error_set(err, IG_ERR_OUTPUT, "standard output: %s", strerror(errno));
        return IG_OK;
    }
    size_t len = strlen(path) + 32;
    char *tmp = malloc(len);
    if (!tmp) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "path");
    snprintf(tmp, len, "%s.tmp%ld", path, (long)getpid()); /* the library's temp-file form */
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        ig_result r = ig_error_set(err, IG_ERR_OUTPUT, "%s: %s", path, strerror(errno));
        free(tmp);
        return r;
    }
    int e = 0;
    if (fwrite(text, 1, n, fp) != n || fflush(fp) != 0) e = errno ? errno : EIO;
    if (!e && fsync(fileno(fp)) != 0 && errno != EINVAL && errno != EROFS) e = errno;
    if (fclose(fp) != 0 && !e) e = errno ? errno : EIO;
    if (!e && rename(tmp, path) != 0) e = errno;
    ig_result r = IG_OK;
    if (e) {
        remove(tmp);
        r = ig_error_set(err, IG_ERR_OUTPUT, "%s: %s", path, strerror(e));
    }
    free(tmp);
    return r;
}

/* ---- option tables ------------------------------------------------------------------------- */

void cli_parser_init(cli_parser *p, const cli_opt *specs, unsigned mask) {
    memset(p, 0, sizeof *p);
    int nl = 0, ns = 0;
    p->shorts[ns++] = ':'; /* missing arguments are reported as ':' (our own message) */
    for (const cli_opt *s = specs; s->name; s++) {
        if (!(s->cmds & mask)) continue;
        if (nl + 1 < (int)(sizeof p->longs / sizeof p->longs[0]))
            p->longs[nl++] = (struct option){s->name, s->has_arg, 0, s->val};
        if (s->shrt && ns + 3 < (int)sizeof p->shorts) {
            p->shorts[ns++] = (char)s->shrt;
            if (s->has_arg == required_argument) p->shorts[ns++] = ':';
        }
    }
}

int cli_next(cli_parser *p, int argc, char **argv) {
    opterr = 0;
    int c = getopt_long(argc, argv, p->shorts, p->longs, NULL);
    if (c != ':' && c != '?') return c;
    const char *text = argv[optind - 1 < argc ? optind - 1 : argc - 1];
    char spelled[96];
    if (optopt && optopt < 256 && (text[0] != '-' || text[1] != '-')) {
        snprintf(spelled, sizeof spelled, "-%c", optopt);
    } else { /* a long option: its text up to any '=' */
        snprintf(spelled, sizeof spelled, "%.*s", (int)strcspn(text, "="), text);
    }
    if (c == ':') cli_usage_error("option '%s' needs a value", spelled);
    else if (strchr(text, '=') && text[1] == '-' && optopt) cli_usage_error("option '%s' takes no value", spelled);
    else cli_usage_error("unknown option '%s'", spelled);
    return '?';
}

void cli_print_options(FILE *f, const cli_opt *specs, unsigned mask) {
    for (const cli_opt *s = specs; s->name; s++) {
        if (!(s->cmds & mask)) continue;
        char left[64];
        if (s->shrt) snprintf(left, sizeof left, "-%c, --%s%s%s", s->shrt, s->name, s->arg ? " " : "", s->arg ? s->arg : "");
        else snprintf(left, sizeof left, "    --%s%s%s", s->name, s->arg ? " " : "", s->arg ? s->arg : "");
        fprintf(f, "  %-26s", left);
        if (strlen(left) > 26) fprintf(f, "\n  %-26s", "");
        for (const char *h = s->help; *h;) { /* continuation lines line up under the text */
            size_t k = strcspn(h, "\n");
            fprintf(f, "%.*s\n", (int)k, h);
            h += k;
            if (*h == '\n' && *++h) fprintf(f, "  %-26s", "");
        }
    }
}
