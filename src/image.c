/* image.c - float images to bytes and files: RGB8 conversion, PNG and .npy, always written
 * to a temporary file in the same directory and renamed, so a failure never leaves a
 * half-written output. */
#include "inrgan.h"

#include <dirent.h>
#include <errno.h>
#include <png.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <tiffio.h>
#include <setjmp.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb_image_write.h>
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_NO_STDIO
#include <stb_image.h>

void ig_image_to_rgb8(const float *chw, int width, int height, uint8_t *rgb) {
    size_t px = (size_t)width * height;
    for (size_t p = 0; p < px; p++)
        for (int c = 0; c < 3; c++) rgb[p * 3 + c] = ig_quantize8(chw[(size_t)c * px + p]);
}

/* ---- temporary files: registered so a signal handler can remove them ------------------- */

/* Every output goes to "PATH.tmpPID" first. Their names sit in a fixed table of atomic slots:
 * ig_temp_files_remove (async-signal-safe) takes each name out with an atomic exchange and
 * unlinks it; the writer takes its own name out the same way when it is done, so exactly one
 * side owns a name. */
#define IG__TMP_SLOTS 4096
static _Atomic(char *) g_tmp[IG__TMP_SLOTS];

static int ig__tmp_register(char *path) {
    for (int i = 0; i < IG__TMP_SLOTS; i++) {
        char *expected = NULL;
        if (atomic_compare_exchange_strong(&g_tmp[i], &expected, path)) return i;
    }
    return -1; /* table full: still written, just not removed on a signal */
}

/* true when the writer still owns `path` (it may free it). */
static bool ig__tmp_forget(int slot, char *path) {
    if (slot < 0) return true;
    return atomic_compare_exchange_strong(&g_tmp[slot], &path, NULL);
}

void ig_temp_files_remove(void) {
    for (int i = 0; i < IG__TMP_SLOTS; i++) {
        char *p = atomic_exchange(&g_tmp[i], NULL);
        if (p) unlink(p); /* p is not freed: the caller is about to exit */
    }
}

/* "NAME.EXT.tmpPID" with EXT one of ours: the PID, else 0. */
static long ig__stale_pid(const char *name) {
    static const char *const exts[] = {".png.tmp", ".npy.tmp", ".tif.tmp", ".tiff.tmp", ".json.tmp"};
    for (size_t e = 0; e < sizeof exts / sizeof *exts; e++) {
        const char *p = strstr(name, exts[e]);
        while (p) {
            const char *d = p + strlen(exts[e]);
            if (p > name && *d >= '1' && *d <= '9' && strspn(d, "0123456789") == strlen(d) && strlen(d) < 10)
                return strtol(d, NULL, 10);
            p = strstr(p + 1, exts[e]);
        }
    }
    return 0;
}

ig_result ig_temp_files_remove_stale(const char *dir, int *removed, ig_error *err) {
    *removed = 0;
    DIR *dp = opendir(dir);
    if (!dp) return errno == ENOENT ? IG_OK : ig_error_set(err, IG_ERR_OUTPUT, "%s: %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(dp))) {
        long pid = ig__stale_pid(e->d_name);
        if (pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive (or not ours to judge) */
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
        struct stat st;
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != getuid()) continue;
        if (unlink(path) == 0) (*removed)++;
    }
    closedir(dp);
    return IG_OK;
}

typedef struct ig__out {
    FILE *fp;
    char *tmp;
    int slot;
    bool ok;
} ig__out;

/* Names and registers the temporary file of `path` (not opened). */
static ig_result ig__out_name(ig__out *o, const char *path, ig_error *err) {
    size_t len = strlen(path) + 32;
    o->fp = NULL;
    o->ok = true;
    o->slot = -1;
    o->tmp = malloc(len);
    if (!o->tmp) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "path");
    snprintf(o->tmp, len, "%s.tmp%ld", path, (long)getpid());
    o->slot = ig__tmp_register(o->tmp);
    return IG_OK;
}

/* Takes the name out of the table; frees it when the writer still owns it. */
static void ig__out_release(ig__out *o) {
    if (o->tmp && ig__tmp_forget(o->slot, o->tmp)) free(o->tmp);
    o->tmp = NULL;
}

static ig_result ig__out_open(ig__out *o, const char *path, ig_error *err) {
    ig_result r = ig__out_name(o, path, err);
    if (r != IG_OK) return r;
    o->fp = fopen(o->tmp, "wb");
    if (!o->fp) {
        r = ig_error_set(err, IG_ERR_OUTPUT, "%s: %s", path, strerror(errno));
        ig__out_release(o);
        return r;
    }
    return IG_OK;
}

/* Renames the finished temporary file to `path` (when o->ok), else removes it. */
static ig_result ig__out_finish(ig__out *o, const char *path, int saved, ig_error *err) {
    ig_result r = IG_OK;
    if (!o->ok || rename(o->tmp, path) != 0) {
        if (!saved) saved = errno;
        remove(o->tmp);
        r = ig_error_set(err, IG_ERR_OUTPUT, "%s: write failed%s%s", path, saved ? ": " : "",
                         saved ? strerror(saved) : "");
    }
    ig__out_release(o);
    return r;
}

static ig_result ig__out_close(ig__out *o, const char *path, ig_error *err) {
    int saved = 0;
    if (fclose(o->fp) != 0) { o->ok = false; saved = errno; }
    o->fp = NULL;
    return ig__out_finish(o, path, saved, err);
}

/* Closes and removes the temporary file: nothing is left. */
static void ig__out_discard(ig__out *o) {
    if (o->fp) fclose(o->fp);
    o->fp = NULL;
    if (o->tmp) remove(o->tmp);
    ig__out_release(o);
}

static void ig__stbi_write(void *ctx, void *data, int size) {
    ig__out *o = ctx;
    if (o->ok && fwrite(data, 1, (size_t)size, o->fp) != (size_t)size) o->ok = false;
}

ig_result ig_png_write(const char *path, const uint8_t *rgb, int width, int height, ig_error *err) {
    /* stb_image_write computes sizes in int: keep well inside that */
    if ((int64_t)width * height * 3 > (int64_t)1 << 30)
        return ig_error_set(err, IG_ERR_SIZE, "%s: %dx%d is too large for one PNG buffer", path, width, height);
    ig__out o;
    ig_result r = ig__out_open(&o, path, err);
    if (r != IG_OK) return r;
    if (!stbi_write_png_to_func(ig__stbi_write, &o, width, height, 3, rgb, width * 3)) o.ok = false;
    return ig__out_close(&o, path, err);
}

/* The .npy header of a C-order float32 array; returns its length (a multiple of 64). */
static size_t ig__npy_header(char *buf, size_t cap, int ndim, const int64_t *shape, size_t *numel) {
    char hdr[256], dims[160] = "";
    size_t n = 1, o = 0;
    for (int d = 0; d < ndim; d++) {
        o += (size_t)snprintf(dims + o, sizeof dims - o, "%lld%s", (long long)shape[d],
                              ndim == 1 ? "," : d + 1 < ndim ? ", " : "");
        n *= (size_t)shape[d];
    }
    int len = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", dims);
    int total = 10 + len + 1;
    int pad = (64 - total % 64) % 64;
    uint16_t hl = (uint16_t)(len + pad + 1);
    size_t k = 0;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 0xff), (unsigned char)(hl >> 8)};
    for (; k < 10 && k < cap; k++) buf[k] = (char)pre[k];
    for (int i = 0; i < len && k < cap; i++) buf[k++] = hdr[i];
    for (int i = 0; i < pad && k < cap; i++) buf[k++] = ' ';
    if (k < cap) buf[k++] = '\n';
    *numel = n;
    return k;
}

ig_result ig_npy_write(const char *path, const float *data, int ndim, const int64_t *shape,
                       ig_error *err) {
    char hdr[512];
    size_t n, len = ig__npy_header(hdr, sizeof hdr, ndim, shape, &n);
    ig__out out;
    ig_result r = ig__out_open(&out, path, err);
    if (r != IG_OK) return r;
    if (fwrite(hdr, 1, len, out.fp) != len) out.ok = false;
    if (fwrite(data, sizeof(float), n, out.fp) != n) out.ok = false;
    if (ferror(out.fp)) out.ok = false;
    return ig__out_close(&out, path, err);
}

/* ---- streamed PNG (libpng) ------------------------------------------------------------- */

struct ig_png_stream {
    ig__out out;
    char *path;
    png_structp png;
    png_infop info;
    int width, height, written, bytes_per_px;
};

static void ig__png_error(png_structp png, png_const_charp msg) {
    (void)msg;
    longjmp(png_jmpbuf(png), 1);
}

static void ig__png_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

ig_result ig_png_stream_open(ig_png_stream **out, const char *path, int width, int height, ig_error *err) {
    return ig_png_stream_open16(out, path, width, height, 8, err);
}

ig_result ig_png_stream_open16(ig_png_stream **out, const char *path, int width, int height, int depth,
                               ig_error *err) {
    return ig_png_stream_open_text(out, path, width, height, depth, NULL, err);
}

ig_result ig_png_stream_open_text(ig_png_stream **out, const char *path, int width, int height, int depth,
                                  const char *const *text, ig_error *err) {
    *out = NULL;
    ig_png_stream *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "PNG stream");
    }
    ig_result r = ig__out_open(&s->out, path, err);
    if (r != IG_OK) { free(s->path); free(s); return r; }
    s->width = width;
    s->height = height;
    s->bytes_per_px = depth == 16 ? 6 : 3;
    s->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, ig__png_error, ig__png_warning);
    s->info = s->png ? png_create_info_struct(s->png) : NULL;
    if (!s->info) {
        ig_png_stream_close(s, false, NULL);
        return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "libpng");
    }
    if (setjmp(png_jmpbuf(s->png))) {
        ig_png_stream_close(s, false, NULL);
        return ig_error_set(err, IG_ERR_OUTPUT, "%s: libpng failed to start the file", path);
    }
    png_init_io(s->png, s->out.fp);
    /* libpng's default user limit is 1,000,000 pixels a side; the format allows 2^31 - 1 */
    png_set_user_limits(s->png, 0x7fffffff, 0x7fffffff);
    png_set_IHDR(s->png, s->info, (png_uint_32)width, (png_uint_32)height, depth, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_text tx[16];
    int nt = 0;
    for (; text && text[2 * nt] && nt < 16; nt++) {
        memset(&tx[nt], 0, sizeof tx[nt]);
        tx[nt].compression = PNG_TEXT_COMPRESSION_NONE;
        tx[nt].key = (png_charp)text[2 * nt];
        tx[nt].text = (png_charp)text[2 * nt + 1];
    }
    if (nt) png_set_text(s->png, s->info, tx, nt);
    png_write_info(s->png, s->info);
    *out = s;
    return IG_OK;
}

ig_result ig_png_stream_rows(ig_png_stream *s, const uint8_t *rgb, int rows, ig_error *err) {
    if (s->written + rows > s->height)
        return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "%s: more rows than the image has", s->path);
    if (setjmp(png_jmpbuf(s->png))) {
        s->out.ok = false;
        return ig_error_set(err, IG_ERR_OUTPUT, "%s: write failed", s->path);
    }
    for (int i = 0; i < rows; i++) png_write_row(s->png, rgb + (size_t)i * s->width * s->bytes_per_px);
    s->written += rows;
    if (ferror(s->out.fp)) {
        s->out.ok = false;
        return ig_error_set(err, IG_ERR_OUTPUT, "%s: write failed", s->path);
    }
    return IG_OK;
}

ig_result ig_png_stream_close(ig_png_stream *s, bool commit, ig_error *err) {
    if (!s) return IG_OK;
    ig_result r = IG_OK;
    if (commit && s->written == s->height && s->out.ok) {
        if (setjmp(png_jmpbuf(s->png))) s->out.ok = false;
        else png_write_end(s->png, NULL);
    } else {
        s->out.ok = false;
    }
    png_destroy_write_struct(&s->png, &s->info);
    if (commit) {
        r = ig__out_close(&s->out, s->path, err);
    } else {
        ig__out_discard(&s->out);
    }
    free(s->path);
    free(s);
    return r;
}

ig_result ig_png_read(const char *path, uint8_t **rgb, int *width, int *height, ig_error *err) {
    *rgb = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return ig_error_set(err, IG_ERR_IO, "%s: %s", path, strerror(errno));
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = len > 0 && len < (1l << 30) ? malloc((size_t)len) : NULL;
    bool ok = buf && fread(buf, 1, (size_t)len, fp) == (size_t)len;
    fclose(fp);
    int comp;
    *rgb = ok ? stbi_load_from_memory(buf, (int)len, width, height, &comp, 3) : NULL;
    free(buf);
    if (!*rgb) return ig_error_set(err, IG_ERR_IO, "%s: not a readable PNG", path);
    return IG_OK;
}

/* ---- quantisation and float-row writers ----------------------------------------------- */

uint8_t ig_quantize8(float x) {
    /* the official conversion: clamp, then truncate toward zero (NaN: 0) */
    float v = x * 127.5f + 128.0f;
    v = v != v ? 0.0f : v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
    return (uint8_t)v;
}

uint16_t ig_quantize16(float x) {
    /* v as in 8 bits; q8 = floor(v); q16 = 257 q8 + floor(257 frac(v)) - 128, clamped:
     * (q16 + 128) / 257 (integer division) == q8 for every x */
    float v = x * 127.5f + 128.0f;
    v = v != v ? 0.0f : v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
    int q8 = (int)v;
    int f = (int)((v - (float)q8) * 257.0f);
    if (f > 256) f = 256;
    int q = 257 * q8 + f - 128;
    return (uint16_t)(q < 0 ? 0 : q > 65535 ? 65535 : q);
}

void ig_quantize_png_row(const float *x, size_t n, int depth, uint8_t *out) {
    if (depth == 16) { /* PNG samples are big-endian */
        for (size_t k = 0; k < n; k++) {
            uint16_t v = ig_quantize16(x[k]);
            out[2 * k] = (uint8_t)(v >> 8);
            out[2 * k + 1] = (uint8_t)(v & 0xff);
        }
    } else {
        for (size_t k = 0; k < n; k++) out[k] = ig_quantize8(x[k]);
    }
}

const char *ig_format_ext(ig_format f) {
    return f == IG_FORMAT_NPY ? "npy" : f == IG_FORMAT_TIFF ? "tif" : "png";
}

size_t ig_image_writer_bytes(ig_format f, int width) {
    size_t w = (size_t)width;
    switch (f) {
    case IG_FORMAT_PNG8: /* our row + libpng's row, previous row and two filter trial rows; zlib */
        return 5 * (3 * w + 1) + (512u << 10);
    case IG_FORMAT_PNG16: return 5 * (6 * w + 1) + (512u << 10);
    case IG_FORMAT_NPY: return 4 * w + (64u << 10); /* one plane row; stdio */
    case IG_FORMAT_TIFF: return 2 * 12 * w + (256u << 10); /* one strip of 64 KiB or one row, ours */
    }
    return 0;
}

struct ig_image_writer {
    ig_format format;
    int width, height, written;
    char *path;
    ig_png_stream *png;      /* PNG8 / PNG16 */
    ig__out out;             /* NPY, TIFF (name only) */
    TIFF *tif;
    size_t npy_data;         /* offset of the data in the .npy */
    void *row;
};

static void ig__tiff_quiet(const char *module, const char *fmt, va_list ap) {
    (void)module; (void)fmt; (void)ap;
}

ig_result ig_image_writer_open(ig_image_writer **out, const char *path, ig_format f, int width, int height,
                               ig_error *err) {
    *out = NULL;
    ig_image_writer *w = calloc(1, sizeof *w);
    size_t row = f == IG_FORMAT_PNG16 ? 6 : f == IG_FORMAT_PNG8 ? 3 : f == IG_FORMAT_NPY ? 4 : 12;
    if (!w || !(w->path = strdup(path)) || !(w->row = malloc(row * (size_t)width))) {
        if (w) free(w->path);
        free(w);
        return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "%s: writer for %d-pixel rows", path, width);
    }
    w->format = f;
    w->width = width;
    w->height = height;
    w->out.slot = -1;
    ig_result r = IG_OK;
    if (f == IG_FORMAT_PNG8 || f == IG_FORMAT_PNG16) {
        r = ig_png_stream_open16(&w->png, path, width, height, f == IG_FORMAT_PNG16 ? 16 : 8, err);
    } else if (f == IG_FORMAT_NPY) {
        r = ig__out_open(&w->out, path, err);
        if (r == IG_OK) {
            char hdr[512];
            int64_t shape[3] = {3, height, width};
            size_t n;
            w->npy_data = ig__npy_header(hdr, sizeof hdr, 3, shape, &n);
            if (fwrite(hdr, 1, w->npy_data, w->out.fp) != w->npy_data) w->out.ok = false;
        }
    } else {
        r = ig__out_name(&w->out, path, err);
        if (r == IG_OK) {
            TIFFSetErrorHandler(ig__tiff_quiet);
            TIFFSetWarningHandler(ig__tiff_quiet);
            /* classic TIFF holds 4 GiB; BigTIFF beyond (most readers open both) */
            bool big = (double)width * height * 12.0 > 3.5e9;
            w->tif = TIFFOpen(w->out.tmp, big ? "w8" : "w");
            if (!w->tif) {
                r = ig_error_set(err, IG_ERR_OUTPUT, "%s: cannot create the TIFF file", path);
            } else {
                uint32_t rps = (uint32_t)(65536 / (12 * (size_t)width));
                TIFFSetField(w->tif, TIFFTAG_IMAGEWIDTH, (uint32_t)width);
                TIFFSetField(w->tif, TIFFTAG_IMAGELENGTH, (uint32_t)height);
                TIFFSetField(w->tif, TIFFTAG_SAMPLESPERPIXEL, 3);
                TIFFSetField(w->tif, TIFFTAG_BITSPERSAMPLE, 32);
                TIFFSetField(w->tif, TIFFTAG_SAMPLEFORMAT, SAMPLEFORMAT_IEEEFP);
                TIFFSetField(w->tif, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_RGB);
                TIFFSetField(w->tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
                TIFFSetField(w->tif, TIFFTAG_COMPRESSION, COMPRESSION_NONE);
                TIFFSetField(w->tif, TIFFTAG_ROWSPERSTRIP, rps < 1 ? 1 : rps);
            }
        }
    }
    if (r != IG_OK) {
        ig_image_writer_close(w, false, NULL);
        return r;
    }
    *out = w;
    return IG_OK;
}

ig_result ig_image_writer_rows(ig_image_writer *w, const float *rgb, int rows, ig_error *err) {
    if (w->written + rows > w->height)
        return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "%s: more rows than the image has", w->path);
    size_t W = (size_t)w->width;
    for (int i = 0; i < rows; i++) {
        const float *src = rgb + (size_t)i * W * 3;
        int y = w->written + i;
        ig_result r = IG_OK;
        switch (w->format) {
        case IG_FORMAT_PNG8:
        case IG_FORMAT_PNG16:
            ig_quantize_png_row(src, 3 * W, w->format == IG_FORMAT_PNG16 ? 16 : 8, w->row);
            r = ig_png_stream_rows(w->png, w->row, 1, err);
            break;
        case IG_FORMAT_NPY: { /* [3, H, W]: one row into each plane */
            float *q = w->row;
            for (int c = 0; c < 3 && w->out.ok; c++) {
                for (size_t k = 0; k < W; k++) q[k] = src[3 * k + c];
                off_t at = (off_t)(w->npy_data + (((size_t)c * w->height + y) * W) * sizeof(float));
                if (fseeko(w->out.fp, at, SEEK_SET) != 0 || fwrite(q, sizeof(float), W, w->out.fp) != W)
                    w->out.ok = false;
            }
            if (!w->out.ok) r = ig_error_set(err, IG_ERR_OUTPUT, "%s: write failed: %s", w->path, strerror(errno));
            break;
        }
        case IG_FORMAT_TIFF: { /* 0.5 x + 0.5: the displayable range is 0..1 */
            float *q = w->row;
            for (size_t k = 0; k < 3 * W; k++) q[k] = src[k] * 0.5f + 0.5f;
            if (TIFFWriteScanline(w->tif, q, (uint32_t)y, 0) < 0) {
                w->out.ok = false;
                r = ig_error_set(err, IG_ERR_OUTPUT, "%s: write failed", w->path);
            }
            break;
        }
        }
        if (r != IG_OK) return r;
    }
    w->written += rows;
    return IG_OK;
}

ig_result ig_image_writer_close(ig_image_writer *w, bool commit, ig_error *err) {
    if (!w) return IG_OK;
    ig_result r = IG_OK;
    bool keep = commit && w->written == w->height;
    if (w->png) {
        r = ig_png_stream_close(w->png, keep, keep ? err : NULL);
    } else if (w->format == IG_FORMAT_NPY) {
        if (keep && w->out.fp) r = ig__out_close(&w->out, w->path, err);
        else ig__out_discard(&w->out);
    } else if (w->tif || w->out.tmp) {
        if (w->tif) {
            if (keep && !TIFFFlush(w->tif)) w->out.ok = false;
            TIFFClose(w->tif);
        }
        if (keep && w->tif) r = ig__out_finish(&w->out, w->path, 0, err);
        else ig__out_discard(&w->out);
    }
    if (commit && !keep && r == IG_OK)
        r = ig_error_set(err, IG_ERR_OUTPUT, "%s: %d of %d rows written", w->path, w->written, w->height);
    free(w->row);
    free(w->path);
    free(w);
    return r;
}
