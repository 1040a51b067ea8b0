/* image.c - float images to bytes and files: RGB8 conversion, PNG and .npy, always written
 * to a temporary file in the same directory and renamed, so a failure never leaves a
 * half-written output. */
#include "inrgan.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <math.h>
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
        for (int c = 0; c < 3; c++) {
            float v = chw[(size_t)c * px + p] * 127.5f + 128.0f;
            /* the official conversion: clamp, then truncate toward zero */
            v = v != v ? 0.0f : v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
            rgb[p * 3 + c] = (uint8_t)v;
        }
}

typedef struct ig__out {
    FILE *fp;
    char *tmp;
    bool ok;
} ig__out;

static ig_result ig__out_open(ig__out *o, const char *path, ig_error *err) {
    size_t len = strlen(path) + 32;
    o->tmp = malloc(len);
    o->ok = true;
    if (!o->tmp) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "path");
    snprintf(o->tmp, len, "%s.tmp%ld", path, (long)getpid());
    o->fp = fopen(o->tmp, "wb");
    if (!o->fp) {
        ig_result r = ig_error_set(err, IG_ERR_OUTPUT, "%s: %s", path, strerror(errno));
        free(o->tmp);
        o->tmp = NULL;
        return r;
    }
    return IG_OK;
}

static ig_result ig__out_close(ig__out *o, const char *path, ig_error *err) {
    int saved = 0;
    if (fclose(o->fp) != 0) { o->ok = false; saved = errno; }
    ig_result r = IG_OK;
    if (!o->ok || rename(o->tmp, path) != 0) {
        if (!saved) saved = errno;
        remove(o->tmp);
        r = ig_error_set(err, IG_ERR_OUTPUT, "%s: write failed%s%s", path, saved ? ": " : "",
                         saved ? strerror(saved) : "");
    }
    free(o->tmp);
    return r;
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

ig_result ig_npy_write(const char *path, const float *data, int ndim, const int64_t *shape,
                       ig_error *err) {
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
    ig__out out;
    ig_result r = ig__out_open(&out, path, err);
    if (r != IG_OK) return r;
    uint16_t hl = (uint16_t)(len + pad + 1);
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 0xff), (unsigned char)(hl >> 8)};
    fwrite(pre, 1, 10, out.fp);
    fwrite(hdr, 1, (size_t)len, out.fp);
    for (int i = 0; i < pad; i++) fputc(' ', out.fp);
    fputc('\n', out.fp);
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
    int width, height, written;
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
    png_set_IHDR(s->png, s->info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
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
    for (int i = 0; i < rows; i++) png_write_row(s->png, rgb + (size_t)i * s->width * 3);
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
    } else if (s->out.fp) {
        fclose(s->out.fp);
        remove(s->out.tmp);
        free(s->out.tmp);
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
