/* stitch.c - `inrgan stitch OUT.png BAND...`: the band files of `render --shard K/N` of one image
 * into one PNG. Every band's metadata (tEXt, src/cli/shard.c) is checked first: each of the N
 * bands present once, all from the same model, image request, size and depth, rows contiguous.
 * Then the bands are streamed a row at a time (libpng read -> ig_png_stream write): memory is
 * one row plus libpng's state, whatever the image size. Any failure writes nothing. */
#include "cli.h"
#include "shard.h"

#include <errno.h>
#include <inttypes.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct band_file {
    const char *path;
    char model[160], image[2048], shard[40], rows[96], depth_text[16], version[16];
    int k, n, y0, h, W, H, depth;
    png_uint_32 pw, ph;
    int bit_depth, color;
} band_file;

typedef struct band_reader {
    FILE *f;
    png_structp png;
    png_infop info;
} band_reader;

static void rd_error(png_structp png, png_const_charp msg) {
    (void)msg;
    longjmp(png_jmpbuf(png), 1);
}
static void rd_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

static void reader_close(band_reader *r) {
    if (r->png) png_destroy_read_struct(&r->png, r->info ? &r->info : NULL, NULL);
    if (r->f) fclose(r->f);
    memset(r, 0, sizeof *r);
}

/* Opens a band and reads its header and text chunks (b filled). */
static ig_result reader_open(band_reader *r, band_file *b, ig_error *err) {
    memset(r, 0, sizeof *r);
    r->f = fopen(b->path, "rb");
    if (!r->f) return ig_error_set(err, IG_ERR_IO, "%s: %s", b->path, strerror(errno));
    unsigned char sig[8];
    if (fread(sig, 1, 8, r->f) != 8 || png_sig_cmp(sig, 0, 8)) {
        reader_close(r);
        return ig_error_set(err, IG_ERR_BAND_MISMATCH, "%s is not a PNG band file of 'inrgan render --shard'", b->path);
    }
    r->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, rd_error, rd_warning);
    r->info = r->png ? png_create_info_struct(r->png) : NULL;
    if (!r->info) {
        reader_close(r);
        return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "libpng");
    }
    if (setjmp(png_jmpbuf(r->png))) {
        reader_close(r);
        return ig_error_set(err, IG_ERR_BAND_MISMATCH, "%s: unreadable PNG header", b->path);
    }
    png_init_io(r->png, r->f);
    png_set_sig_bytes(r->png, 8);
    png_set_user_limits(r->png, 0x7fffffff, 0x7fffffff);
    png_read_info(r->png, r->info);
    b->pw = png_get_image_width(r->png, r->info);
    b->ph = png_get_image_height(r->png, r->info);
    b->bit_depth = png_get_bit_depth(r->png, r->info);
    b->color = png_get_color_type(r->png, r->info);
    png_textp text = NULL;
    int nt = 0;
    png_get_text(r->png, r->info, &text, &nt);
    for (int i = 0; i < nt; i++) {
        const char *key = text[i].key, *v = text[i].text ? text[i].text : "";
        char *dst = NULL;
        size_t len = 0;
        if (!strcmp(key, "inrgan-band")) dst = b->version, len = sizeof b->version;
        else if (!strcmp(key, "inrgan-model")) dst = b->model, len = sizeof b->model;
        else if (!strcmp(key, "inrgan-image")) dst = b->image, len = sizeof b->image;
        else if (!strcmp(key, "inrgan-shard")) dst = b->shard, len = sizeof b->shard;
        else if (!strcmp(key, "inrgan-rows")) dst = b->rows, len = sizeof b->rows;
        else if (!strcmp(key, "inrgan-depth")) dst = b->depth_text, len = sizeof b->depth_text;
        if (dst) snprintf(dst, len, "%s", v);
    }
    return IG_OK;
}

/* Header and metadata of one band, checked on their own. */
static ig_result band_probe(band_file *b, ig_error *err) {
    band_reader r;
    ig_result res = reader_open(&r, b, err);
    if (res != IG_OK) return res;
    reader_close(&r);
    if (strcmp(b->version, "1") != 0)
        return ig_error_set(err, IG_ERR_BAND_MISMATCH, "%s: %s", b->path,
                            b->version[0] ? "band format version is not 1" :
                                            "no inrgan band metadata (not written by 'inrgan render --shard')");
    char extra;
    if (sscanf(b->shard, "%d/%d%c", &b->k, &b->n, &extra) != 2 || b->n < 1 || b->k < 0 || b->k >= b->n ||
        sscanf(b->rows, "%d %d %d %d%c", &b->y0, &b->h, &b->W, &b->H, &extra) != 4 || b->y0 < 0 || b->h < 1 ||
        b->W < 1 || b->H < 1 || b->y0 + b->h > b->H || sscanf(b->depth_text, "%d%c", &b->depth, &extra) != 1 ||
        (b->depth != 8 && b->depth != 16) || !b->model[0] || !b->image[0])
        return ig_error_set(err, IG_ERR_BAND_MISMATCH, "%s: malformed band metadata", b->path);
    if (b->pw != (png_uint_32)b->W || b->ph != (png_uint_32)b->h || b->bit_depth != b->depth ||
        b->color != PNG_COLOR_TYPE_RGB)
        return ig_error_set(err, IG_ERR_BAND_MISMATCH, "%s: the PNG is %ux%u, %d-bit, not the %dx%d %d-bit RGB band "
                            "its metadata describes", b->path, (unsigned)b->pw, (unsigned)b->ph, b->bit_depth, b->W,
                            b->h, b->depth);
    return IG_OK;
}

/* The first "key=value" field of a and b ("; "-separated) that differs, for the error line. */
static void first_difference(const char *a, const char *b, char *out, size_t len) {
    while (*a || *b) {
        size_t la = strcspn(a, ";"), lb = strcspn(b, ";");
        if (la != lb || memcmp(a, b, la)) {
            snprintf(out, len, "'%.*s' vs '%.*s'", (int)(la > 200 ? 200 : la), a, (int)(lb > 200 ? 200 : lb), b);
            return;
        }
        a += la;
        b += lb;
        while (*a == ';' || *a == ' ') a++;
        while (*b == ';' || *b == ' ') b++;
    }
    snprintf(out, len, "(no difference)");
}

/* bf: probed bands (band_probe). */
static ig_result check_bands(band_file *bf, int nb, band_file **order, ig_error *err) {
    const band_file *a = &bf[0];
    for (int i = 1; i < nb; i++) {
        const band_file *b = &bf[i];
        char diff[512];
        if (strcmp(a->model, b->model))
            return ig_error_set(err, IG_ERR_BAND_MISMATCH, "%s and %s are from different models (%s vs %s)", a->path,
                                b->path, a->model, b->model);
        if (strcmp(a->image, b->image)) {
            first_difference(a->image, b->image, diff, sizeof diff);
            return ig_error_set(err, IG_ERR_BAND_MISMATCH, "%s and %s are from different renders: %s", a->path,
                                b->path, diff);
        }
        if (a->n != b->n || a->W != b->W || a->H != b->H || a->depth != b->depth)
            return ig_error_set(err, IG_ERR_BAND_MISMATCH, "%s (shard %s, %dx%d, %d-bit) and %s (shard %s, %dx%d, "
                                "%d-bit) are not bands of one split", a->path, a->shard, a->W, a->H, a->depth, b->path,
                                b->shard, b->W, b->H, b->depth);
    }
    int n = a->n;
    for (int i = 0; i < n; i++) order[i] = NULL;
    for (int i = 0; i < nb; i++) {
        band_file *b = &bf[i];
        if (order[b->k])
            return ig_error_set(err, IG_ERR_BAND_DUPLICATE, "band %d/%d is given twice: %s and %s", b->k, n,
                                order[b->k]->path, b->path);
        order[b->k] = b;
    }
    for (int k = 0; k < n; k++)
        if (!order[k])
            return ig_error_set(err, IG_ERR_BAND_MISSING, "band %d/%d of %s's image is missing (%s%d band%s given)", k,
                                n, a->path, nb < n ? "only " : "", nb, nb == 1 ? "" : "s");
    int y = 0;
    for (int k = 0; k < n; k++) {
        if (order[k]->y0 != y)
            return ig_error_set(err, IG_ERR_BAND_MISMATCH, "%s holds rows %d..%d, expected from row %d", order[k]->path,
                                order[k]->y0, order[k]->y0 + order[k]->h, y);
        y += order[k]->h;
    }
    if (y != a->H)
        return ig_error_set(err, IG_ERR_BAND_MISMATCH, "the bands cover rows 0..%d of a %d-row image", y, a->H);
    return IG_OK;
}

static ig_result copy_rows(band_file *b, ig_png_stream *out, uint8_t *row, ig_error *err) {
    band_reader r;
    band_file again = *b;
    ig_result res = reader_open(&r, &again, err);
    if (res != IG_OK) return res;
    if (again.pw != b->pw || again.ph != b->ph || strcmp(again.image, b->image)) {
        reader_close(&r);
        return ig_error_set(err, IG_ERR_BAND_MISMATCH, "%s changed while stitching", b->path);
    }
    if (setjmp(png_jmpbuf(r.png))) {
        reader_close(&r);
        return ig_error_set(err, IG_ERR_BAND_MISMATCH, "%s: corrupt PNG data", b->path);
    }
    for (int y = 0; y < b->h; y++) {
        png_read_row(r.png, row, NULL);
        res = ig_png_stream_rows(out, row, 1, err);
        if (res != IG_OK) break;
    }
    if (res == IG_OK) png_read_end(r.png, NULL); /* checks the data's CRCs and end */
    reader_close(&r);
    return res;
}

ig_result cli_stitch_files(const char *out_path, const char *const *paths, int nb, bool quiet, ig_error *errp) {
    if (nb > 1000000) return ig_error_set(errp, IG_ERR_USAGE, "%d band files", nb);
    band_file *bf = calloc((size_t)nb, sizeof *bf);
    band_file **order = NULL;
    uint8_t *row = NULL;
    ig_error err = {0};
    ig_result r = IG_OK;
    if (!bf) r = ig_error_set(&err, IG_ERR_OUT_OF_MEMORY, "%d band files", nb);
    for (int i = 0; bf && i < nb; i++) bf[i].path = paths[i];
    if (r == IG_OK) {
        /* the first band tells N; the order table is sized by the largest N any band claims */
        int maxn = 1;
        for (int i = 0; i < nb && r == IG_OK; i++) {
            r = band_probe(&bf[i], &err);
            if (r == IG_OK && bf[i].n > maxn) maxn = bf[i].n;
        }
        if (r == IG_OK && !(order = calloc((size_t)maxn, sizeof *order)))
            r = ig_error_set(&err, IG_ERR_OUT_OF_MEMORY, "band table");
    }
    if (r == IG_OK) r = check_bands(bf, nb, order, &err);
    ig_png_stream *out = NULL;
    if (r == IG_OK) {
        const band_file *a = order[0];
        row = malloc((size_t)a->W * (a->depth == 16 ? 6 : 3));
        if (!row) r = ig_error_set(&err, IG_ERR_OUT_OF_MEMORY, "a row of %d pixels", a->W);
        if (r == IG_OK) r = ig_png_stream_open16(&out, out_path, a->W, a->H, a->depth, &err);
        for (int k = 0; r == IG_OK && k < a->n; k++) r = copy_rows(order[k], out, row, &err);
        ig_result cr = ig_png_stream_close(out, r == IG_OK, r == IG_OK ? &err : NULL);
        if (r == IG_OK) r = cr;
        if (r == IG_OK && !quiet)
            fprintf(stderr, "inrgan: stitched %d band%s into %s (%dx%d, %d-bit)\n", a->n, a->n == 1 ? "" : "s",
                    out_path, a->W, a->H, a->depth);
    }
    free(row);
    free(order);
    free(bf);
    if (r != IG_OK && errp) *errp = err;
    return r;
}

void cli_stitch_help(FILE *f) {
    fprintf(f, "usage: inrgan stitch OUT.png BAND.png...\n"
               "Joins the band files of 'inrgan render --shard K/N' of one image (NAME.bandKofN.png) into one PNG,\n"
               "streaming a row at a time. Every band must be present once, all from the same model, image, size\n"
               "and depth (their metadata); else nothing is written (docs/scale-out.md).\n\n"
               "options:\n");
    cli_opt opts[] = {{"quiet", 'q', no_argument, 'q', 1, NULL, "no summary on stderr"},
                      {"help", 'h', no_argument, 'h', 1, NULL, "this help"},
                      {0, 0, 0, 0, 0, 0, 0}};
    cli_print_options(f, opts, 1);
}

int cmd_stitch(int argc, char **argv) {
    static const cli_opt opts[] = {{"quiet", 'q', no_argument, 'q', 1, NULL, "no summary on stderr"},
                                   {"help", 'h', no_argument, 'h', 1, NULL, "this help"},
                                   {0, 0, 0, 0, 0, 0, 0}};
    cli_parser pr;
    cli_parser_init(&pr, opts, 1);
    bool quiet = false;
    int c;
    while ((c = cli_next(&pr, argc, argv)) != -1) {
        if (c == 'q') quiet = true;
        else if (c == 'h') { cli_stitch_help(stdout); return 0; }
        else return 2;
    }
    if (argc - optind < 2) return cli_usage_error("stitch needs OUT.png and at least one band file");
    ig_error err = {0};
    ig_result r = cli_stitch_files(argv[optind], (const char *const *)argv + optind + 1, argc - optind - 1, quiet, &err);
    return r == IG_OK ? 0 : cli_fail(r, &err);
}
