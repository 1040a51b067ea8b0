/* blob.h - immutable, reference-counted byte buffers (tile PNGs shared by the cache and the
 * requests waiting for them). */
#ifndef IG_SERVE_BLOB_H
#define IG_SERVE_BLOB_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "inrgan.h"

typedef struct ig_blob {
    atomic_int refs;
    size_t size;
    uint8_t data[];
} ig_blob;

ig_blob *ig_blob_new(size_t size); /* refs = 1; NULL when out of memory */
ig_blob *ig_blob_ref(ig_blob *b);
void ig_blob_unref(ig_blob *b);

/* A 256x256 (any size) RGB8 image as PNG bytes, encoded exactly as ig_png_stream_* writes
 * files (libpng defaults), so a served tile equals `inrgan render`'s file byte for byte. */
ig_result ig_png_encode(const uint8_t *rgb, int width, int height, ig_blob **out, ig_error *err);

#endif
