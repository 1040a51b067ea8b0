/* safetensors.h - the safetensors container: validated reading (mmap) and atomic writing.
 * Knows nothing about models; src/model.c gives the tensors their meaning. */
#ifndef IG_SAFETENSORS_H
#define IG_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ig_result.h"

typedef enum ig_st_dtype { IG_ST_F32 = 0, IG_ST_F16 = 1 } ig_st_dtype;

typedef struct ig_st_entry {
    const char *name;      /* points into the file's string arena */
    ig_st_dtype dtype;
    int ndim;
    int64_t shape[8];
    int64_t numel;
    uint64_t begin, end;   /* relative to the data section */
} ig_st_entry;

typedef struct ig_st_file {
    const uint8_t *map;    /* whole file, read-only mapping */
    size_t size;
    const uint8_t *data;   /* start of the data section */
    uint64_t data_size;
    int count, cap;
    ig_st_entry *entries;  /* in header order */
    ig_st_entry **by_name; /* sorted by name (ig_st_find) */
    int n_meta;
    char **meta;           /* __metadata__ as key, value, key, value, ... */
    char *arena;           /* every name, key and value, decoded and NUL-terminated */
} ig_st_file;

/* Maps and validates the container: sizes, JSON, entries, dtypes, shapes, byte ranges,
 * overlaps, duplicate names, __metadata__ string map. The parse needs at most ~4x the header
 * length in memory and O(n log n) time in the number of entries; a FIFO, device or directory
 * is refused (IG_ERR_MODEL_OPEN) without blocking. */
ig_result ig_st_open(const char *path, ig_st_file *file, ig_error *err);
void ig_st_close(ig_st_file *file);

const ig_st_entry *ig_st_find(const ig_st_file *file, const char *name);
/* __metadata__[key], NULL when absent. */
const char *ig_st_metadata(const ig_st_file *file, const char *key);
/* Copies (memcpy: offsets need not be aligned) and converts to fp32; out holds numel floats. */
void ig_st_read_f32(const ig_st_file *file, const ig_st_entry *entry, float *out);

float ig_half_to_float(uint16_t h);
uint16_t ig_float_to_half(float f);

typedef struct ig_st_write_entry {
    const char *name;
    ig_st_dtype dtype;
    int ndim;
    const int64_t *shape;
    const float *data;     /* fp32 source; converted to fp16 when dtype is F16 */
} ig_st_write_entry;

/* Writes a safetensors file atomically (temporary file + rename). meta_keys/meta_values:
 * n_meta strings each. unaligned = true packs tensors with odd offsets on purpose (tests). */
ig_result ig_st_write(const char *path, const ig_st_write_entry *entries, int count,
                      const char *const *meta_keys, const char *const *meta_values, int n_meta,
                      bool unaligned, ig_error *err);

#endif
