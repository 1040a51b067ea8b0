/* safetensors.c - validated safetensors reading and atomic writing (docs/model-format.md). */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define IG_ST_MAX_HEADER (256u << 20)  /* 256 MiB of JSON is absurd already */
#define IG_ST_MAX_DIM    ((int64_t)1 << 40)

static uint64_t ig__read_u64le(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* A JSON number that is an exact non-negative integer below limit. */
static bool ig__json_uint(const cJSON *item, double limit, uint64_t *out) {
    if (!cJSON_IsNumber(item)) return false;
    double v = item->valuedouble;
    if (!(v >= 0.0) || v > limit || floor(v) != v) return false;
    *out = (uint64_t)v;
    return true;
}

static int ig__cmp_range(const void *a, const void *b) {
    const ig_st_entry *x = *(const ig_st_entry *const *)a, *y = *(const ig_st_entry *const *)b;
    return (x->begin > y->begin) - (x->begin < y->begin);
}

static int ig__cmp_name(const void *a, const void *b) {
    const ig_st_entry *x = *(const ig_st_entry *const *)a, *y = *(const ig_st_entry *const *)b;
    return strcmp(x->name, y->name);
}

static ig_result ig__parse_entry(const cJSON *item, ig_st_entry *e, uint64_t data_size,
                                 ig_error *err) {
    const char *name = item->string;
    if (!cJSON_IsObject(item))
        return ig_error_set(err, IG_ERR_MODEL_HEADER_ENTRY, "tensor '%s': entry is not an object", name);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) ||
        cJSON_GetArraySize(offs) != 2)
        return ig_error_set(err, IG_ERR_MODEL_HEADER_ENTRY,
                            "tensor '%s': needs string dtype, array shape, two data_offsets", name);
    e->name = name;
    if (strcmp(dtype->valuestring, "F32") == 0) e->dtype = IG_ST_F32;
    else if (strcmp(dtype->valuestring, "F16") == 0) e->dtype = IG_ST_F16;
    else
        return ig_error_set(err, IG_ERR_MODEL_DTYPE,
                            "tensor '%s': dtype '%.32s' is not supported (F32 or F16)", name,
                            dtype->valuestring);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > 8)
        return ig_error_set(err, IG_ERR_MODEL_SHAPE, "tensor '%s': %d dimensions (at most 8)", name, ndim);
    e->ndim = ndim;
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        uint64_t v;
        if (!ig__json_uint(cJSON_GetArrayItem(shape, d), (double)IG_ST_MAX_DIM, &v))
            return ig_error_set(err, IG_ERR_MODEL_SHAPE,
                                "tensor '%s': dimension %d is not a non-negative integer below 2^40",
                                name, d);
        e->shape[d] = (int64_t)v;
        if (v != 0 && numel > IG_ST_MAX_DIM / (int64_t)v)
            return ig_error_set(err, IG_ERR_MODEL_SHAPE, "tensor '%s': element count overflows", name);
        numel *= (int64_t)v;
    }
    e->numel = numel;
    uint64_t b, en;
    if (!ig__json_uint(cJSON_GetArrayItem(offs, 0), 9.0e15, &b) ||
        !ig__json_uint(cJSON_GetArrayItem(offs, 1), 9.0e15, &en))
        return ig_error_set(err, IG_ERR_MODEL_HEADER_ENTRY,
                            "tensor '%s': data_offsets are not non-negative integers", name);
    if (b > en || en > data_size)
        return ig_error_set(err, IG_ERR_MODEL_RANGE,
                            "tensor '%s': bytes [%llu, %llu) outside the %llu-byte data section",
                            name, (unsigned long long)b, (unsigned long long)en,
                            (unsigned long long)data_size);
    uint64_t want = (uint64_t)numel * (e->dtype == IG_ST_F32 ? 4u : 2u);
    if (en - b != want)
        return ig_error_set(err, IG_ERR_MODEL_BYTE_SIZE,
                            "tensor '%s': %llu bytes stored, shape and dtype need %llu", name,
                            (unsigned long long)(en - b), (unsigned long long)want);
    e->begin = b;
    e->end = en;
    return IG_OK;
}

ig_result ig_st_open(const char *path, ig_st_file *f, ig_error *err) {
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ig_error_set(err, IG_ERR_MODEL_OPEN, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ig_error_set(err, IG_ERR_MODEL_OPEN, "%s: not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    if (size < 8) {
        close(fd);
        return ig_error_set(err, IG_ERR_MODEL_TRUNCATED, "%s: %zu bytes, shorter than the 8-byte header length", path, size);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return ig_error_set(err, IG_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
    f->map = map;
    f->size = size;

    ig_result r = IG_OK;
    ig_st_entry **sorted = NULL;
    uint64_t hlen = ig__read_u64le(f->map);
    if (hlen == 0 || hlen > size - 8 || hlen > IG_ST_MAX_HEADER) {
        r = ig_error_set(err, IG_ERR_MODEL_HEADER_SIZE,
                         "%s: header length %llu does not fit in a %zu-byte file", path,
                         (unsigned long long)hlen, size);
        goto fail;
    }
    f->data = f->map + 8 + hlen;
    f->data_size = size - 8 - hlen;
    cJSON *root = cJSON_ParseWithLength((const char *)f->map + 8, (size_t)hlen);
    f->header = root;
    if (!root || !cJSON_IsObject(root)) {
        r = ig_error_set(err, IG_ERR_MODEL_HEADER_JSON, "%s: header is not a JSON object", path);
        goto fail;
    }
    int n = 0;
    for (cJSON *it = root->child; it; it = it->next) {
        if (!it->string) { n = -1; break; }
        if (strcmp(it->string, "__metadata__") == 0) {
            if (!cJSON_IsObject(it)) {
                r = ig_error_set(err, IG_ERR_MODEL_METADATA, "__metadata__ is not an object");
                goto fail;
            }
            for (cJSON *m = it->child; m; m = m->next)
                if (!cJSON_IsString(m)) {
                    r = ig_error_set(err, IG_ERR_MODEL_METADATA,
                                     "__metadata__['%s'] is not a string", m->string);
                    goto fail;
                }
            continue;
        }
        n++;
    }
    f->entries = calloc((size_t)(n > 0 ? n : 1), sizeof *f->entries);
    sorted = calloc((size_t)(n > 0 ? n : 1), sizeof *sorted);
    if (!f->entries || !sorted) {
        r = ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "model header: %d entries", n);
        goto fail;
    }
    for (cJSON *it = root->child; it; it = it->next) {
        if (strcmp(it->string, "__metadata__") == 0) continue;
        r = ig__parse_entry(it, &f->entries[f->count], f->data_size, err);
        if (r != IG_OK) goto fail;
        sorted[f->count] = &f->entries[f->count];
        f->count++;
    }
    qsort(sorted, (size_t)f->count, sizeof *sorted, ig__cmp_name);
    for (int i = 1; i < f->count; i++)
        if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0) {
            r = ig_error_set(err, IG_ERR_MODEL_DUPLICATE, "tensor '%s' appears twice", sorted[i]->name);
            goto fail;
        }
    qsort(sorted, (size_t)f->count, sizeof *sorted, ig__cmp_range);
    const ig_st_entry *reach = NULL; /* the non-empty tensor ending furthest so far */
    for (int i = 0; i < f->count; i++) {
        const ig_st_entry *b = sorted[i];
        if (b->end == b->begin) continue;
        if (reach && reach->end > b->begin) {
            r = ig_error_set(err, IG_ERR_MODEL_OVERLAP, "tensors '%s' and '%s' share bytes",
                             reach->name, b->name);
            goto fail;
        }
        if (!reach || b->end > reach->end) reach = b;
    }
    free(sorted);
    return IG_OK;
fail:
    free(sorted);
    ig_st_close(f);
    return r;
}

void ig_st_close(ig_st_file *f) {
    if (!f) return;
    if (f->map) munmap((void *)f->map, f->size);
    cJSON_Delete((cJSON *)f->header);
    free(f->entries);
    memset(f, 0, sizeof *f);
}

const ig_st_entry *ig_st_find(const ig_st_file *f, const char *name) {
    for (int i = 0; i < f->count; i++)
        if (strcmp(f->entries[i].name, name) == 0) return &f->entries[i];
    return NULL;
}

const char *ig_st_metadata(const ig_st_file *f, const char *key) {
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive((const cJSON *)f->header, "__metadata__");
    const cJSON *v = meta ? cJSON_GetObjectItemCaseSensitive(meta, key) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

float ig_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            int e = -1;
            do { e++; man <<= 1; } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float out;
    memcpy(&out, &bits, 4);
    return out;
}

uint16_t ig_float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    int32_t exp = (int32_t)((x >> 23) & 0xff);
    uint32_t man = x & 0x7fffffu;
    if (exp == 255) return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0u));
    int32_t e = exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) { /* subnormal or zero, round to nearest even */
        if (e < -10) return (uint16_t)sign;
        man |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1u))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (half & 1u))) half++; /* may carry into exp: fine */
    return (uint16_t)half;
}

void ig_st_read_f32(const ig_st_file *f, const ig_st_entry *e, float *out) {
    const uint8_t *src = f->data + e->begin;
    if (e->dtype == IG_ST_F32) {
        memcpy(out, src, (size_t)e->numel * 4);
    } else {
        for (int64_t i = 0; i < e->numel; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            out[i] = ig_half_to_float(h);
        }
    }
}

ig_result ig_st_write(const char *path, const ig_st_write_entry *entries, int count,
                      const char *const *meta_keys, const char *const *meta_values, int n_meta,
                      bool unaligned, ig_error *err) {
    ig_result r = IG_OK;
    char *json = NULL, *tmp = NULL;
    FILE *fp = NULL;
    cJSON *root = cJSON_CreateObject();
    if (!root) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "safetensors header");
    if (n_meta > 0) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; i < n_meta; i++) cJSON_AddStringToObject(meta, meta_keys[i], meta_values[i]);
    }
    uint64_t off = 0;
    for (int i = 0; i < count; i++) {
        const ig_st_write_entry *e = &entries[i];
        int64_t numel = 1;
        for (int d = 0; d < e->ndim; d++) numel *= e->shape[d];
        if (unaligned && i == 0) off = 1; /* a leading pad byte misaligns everything after */
        uint64_t bytes = (uint64_t)numel * (e->dtype == IG_ST_F32 ? 4u : 2u);
        cJSON *t = cJSON_AddObjectToObject(root, e->name);
        cJSON_AddStringToObject(t, "dtype", e->dtype == IG_ST_F32 ? "F32" : "F16");
        cJSON *sh = cJSON_AddArrayToObject(t, "shape");
        for (int d = 0; d < e->ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)e->shape[d]));
        cJSON *of = cJSON_AddArrayToObject(t, "data_offsets");
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)(off + bytes)));
        off += bytes;
    }
    json = cJSON_PrintUnformatted(root);
    size_t plen = strlen(path);
    tmp = malloc(plen + 16);
    if (!json || !tmp) { r = ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "safetensors header"); goto done; }
    snprintf(tmp, plen + 16, "%s.tmp%d", path, (int)getpid());
    fp = fopen(tmp, "wb");
    if (!fp) { r = ig_error_set(err, IG_ERR_OUTPUT, "%s: %s", tmp, strerror(errno)); goto done; }
    uint64_t hlen = strlen(json);
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)(hlen >> (8 * i));
    bool ok = fwrite(len8, 1, 8, fp) == 8 && fwrite(json, 1, hlen, fp) == hlen;
    if (unaligned && count > 0) ok = ok && fputc(0, fp) != EOF;
    for (int i = 0; ok && i < count; i++) {
        const ig_st_write_entry *e = &entries[i];
        int64_t numel = 1;
        for (int d = 0; d < e->ndim; d++) numel *= e->shape[d];
        if (e->dtype == IG_ST_F32) {
            ok = fwrite(e->data, 4, (size_t)numel, fp) == (size_t)numel;
        } else {
            for (int64_t k = 0; ok && k < numel; k++) {
                uint16_t h = ig_float_to_half(e->data[k]);
                ok = fwrite(&h, 2, 1, fp) == 1;
            }
        }
    }
    if (fclose(fp) != 0) ok = false;
    fp = NULL;
    if (!ok || rename(tmp, path) != 0) {
        r = ig_error_set(err, IG_ERR_OUTPUT, "%s: write failed: %s", path, strerror(errno));
        remove(tmp);
    }
done:
    if (fp) { fclose(fp); remove(tmp); }
    free(tmp);
    free(json);
    cJSON_Delete(root);
    return r;
}
