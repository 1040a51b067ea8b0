/* pngmem.c - PNG bytes in memory with the same libpng calls and defaults as src/image.c's
 * streamed writer (IHDR RGB8, no interlace, default compression and filters). */
#include "inrgan.h"
#include "blob.h"

#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

ig_blob *ig_blob_new(size_t size) {
    ig_blob *b = malloc(sizeof *b + size);
    if (!b) return NULL;
    atomic_init(&b->refs, 1);
    b->size = size;
    return b;
}

ig_blob *ig_blob_ref(ig_blob *b) {
    if (b) atomic_fetch_add(&b->refs, 1);
    return b;
}

void ig_blob_unref(ig_blob *b) {
    if (b && atomic_fetch_sub(&b->refs, 1) == 1) free(b);
}

typedef struct membuf {
    uint8_t *data;
    size_t size, cap;
    int failed;
} membuf;

static void mem_write(png_structp png, png_bytep data, png_size_t n) {
    membuf *m = png_get_io_ptr(png);
    if (m->failed) return;
    if (m->size + n > m->cap) {
        size_t cap = m->cap ? m->cap : 65536;
        while (cap < m->size + n) cap *= 2;
        uint8_t *d = realloc(m->data, cap);
        if (!d) {
            m->failed = 1;
            return;
        }
        m->data = d;
        m->cap = cap;
    }
    memcpy(m->data + m->size, data, n);
    m->size += n;
}

static void mem_flush(png_structp png) { (void)png; }

static void png_err(png_structp png, png_const_charp msg) {
    (void)msg;
    longjmp(png_jmpbuf(png), 1);
}

static void png_warn(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

ig_result ig_png_encode(const uint8_t *rgb, int width, int height, ig_blob **out, ig_error *err) {
    *out = NULL;
    membuf m = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, png_err, png_warn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "libpng");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(m.data);
        return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "PNG encoding failed");
    }
    png_set_write_fn(png, &m, mem_write, mem_flush);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; y++) png_write_row(png, (png_bytep)(rgb + (size_t)y * width * 3));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    ig_blob *b = m.failed ? NULL : ig_blob_new(m.size);
    if (!b) {
        free(m.data);
        return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "PNG of %dx%d", width, height);
    }
    memcpy(b->data, m.data, m.size);
    free(m.data);
    *out = b;
    return IG_OK;
}
