/* safetensors.c - validated safetensors reading and atomic writing (docs/model-format.md).
 *
 * Reading does not build a JSON tree: a general-purpose tree costs ~40 bytes per header byte
 * (a 64 MiB header needed 2.7 GB). The header is read by a small JSON reader of our own in
 * two passes over the mapped bytes: the first checks the syntax of the whole header and counts
 * entries and string bytes, the second fills exactly-sized arrays. Memory is one string arena
 * (at most the header length) plus one fixed-size record per tensor (a tensor entry takes at
 * least 44 header bytes, its record 112 bytes), so the whole parse stays below ~4x the header.
 * Names are looked up through a sorted index (O(log n), immune to crafted hash collisions). */
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
#define IG_ST_MAX_DEPTH  64            /* nesting of values we skip (unknown entry keys) */
/* the shortest text a valid entry can have: {"dtype":"F32","shape":[],"data_offsets":[0,0]} */
#define IG_ST_MIN_ENTRY  47

static uint64_t ig__read_u64le(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* ---- a minimal JSON reader over [p, end) ------------------------------------------------- */

typedef struct ig__js {
    const char *p, *end;
    const char *bad;   /* first syntax error (NULL while none) */
    const char *why;
} ig__js;

static bool ig__js_fail(ig__js *j, const char *why) {
    if (!j->bad) { j->bad = j->p; j->why = why; }
    return false;
}

static void ig__js_ws(ig__js *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static bool ig__js_lit(ig__js *j, char c) {
    ig__js_ws(j);
    if (j->p < j->end && *j->p == c) { j->p++; return true; }
    return false;
}

static int ig__hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool ig__js_u16(ig__js *j, unsigned *out) {
    if (j->end - j->p < 4) return false;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = ig__hex(j->p[i]);
        if (h < 0) return false;
        v = v * 16 + (unsigned)h;
    }
    j->p += 4;
    *out = v;
    return true;
}

/* A string at j->p (after blanks). Decodes into out[0..cap) (out may be NULL) and sets *len to
 * the full decoded length; the text past cap is still checked. Refuses control characters, bad
 * escapes, lone surrogates and \u0000 (a NUL would cut the name short). */
static bool ig__js_string(ig__js *j, char *out, size_t cap, size_t *len) {
    ig__js_ws(j);
    if (j->p >= j->end || *j->p != '"') return ig__js_fail(j, "expected a string");
    j->p++;
    size_t n = 0;
#define IG__PUT(ch) do { if (n < cap) out[n] = (char)(ch); n++; } while (0)
    for (;;) {
        if (j->p >= j->end) return ig__js_fail(j, "unterminated string");
        unsigned char c = (unsigned char)*j->p;
        if (c == '"') { j->p++; break; }
        if (c < 0x20) return ig__js_fail(j, "control character in a string");
        if (c != '\\') { IG__PUT(c); j->p++; continue; }
        j->p++;
        if (j->p >= j->end) return ig__js_fail(j, "unterminated string");
        char e = *j->p++;
        switch (e) {
        case '"': IG__PUT('"'); break;
        case '\\': IG__PUT('\\'); break;
        case '/': IG__PUT('/'); break;
        case 'b': IG__PUT('\b'); break;
        case 'f': IG__PUT('\f'); break;
        case 'n': IG__PUT('\n'); break;
        case 'r': IG__PUT('\r'); break;
        case 't': IG__PUT('\t'); break;
        case 'u': {
            unsigned u, lo;
            if (!ig__js_u16(j, &u)) return ig__js_fail(j, "bad \\u escape");
            if (u == 0) return ig__js_fail(j, "\\u0000 in a string");
            if (u >= 0xDC00 && u <= 0xDFFF) return ig__js_fail(j, "lone low surrogate");
            if (u >= 0xD800 && u <= 0xDBFF) {
                if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u')
                    return ig__js_fail(j, "lone high surrogate");
                j->p += 2;
                if (!ig__js_u16(j, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                    return ig__js_fail(j, "bad surrogate pair");
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (u < 0x80) {
                IG__PUT(u);
            } else if (u < 0x800) {
                IG__PUT(0xC0 | (u >> 6)); IG__PUT(0x80 | (u & 0x3F));
            } else if (u < 0x10000) {
                IG__PUT(0xE0 | (u >> 12)); IG__PUT(0x80 | ((u >> 6) & 0x3F)); IG__PUT(0x80 | (u & 0x3F));
            } else {
                IG__PUT(0xF0 | (u >> 18)); IG__PUT(0x80 | ((u >> 12) & 0x3F));
                IG__PUT(0x80 | ((u >> 6) & 0x3F)); IG__PUT(0x80 | (u & 0x3F));
            }
            break;
        }
        default: return ig__js_fail(j, "bad escape in a string");
        }
    }
#undef IG__PUT
    *len = n;
    return true;
}

/* A number per the JSON grammar. With val != NULL, also tells whether it is an exact
 * non-negative integer <= limit (*val then holds it; *is_uint false otherwise). */
static bool ig__js_number(ig__js *j, uint64_t limit, bool *is_uint, uint64_t *val) {
    ig__js_ws(j);
    const char *s = j->p, *e = j->end;
    bool neg = false;
    if (s < e && *s == '-') { neg = true; s++; }
    if (s >= e || *s < '0' || *s > '9') return ig__js_fail(j, "bad number");
    const char *int0 = s;
    if (*s == '0') s++;
    else while (s < e && *s >= '0' && *s <= '9') s++;
    const char *int1 = s, *frac0 = s, *frac1 = s;
    if (s < e && *s == '.') {
        s++;
        frac0 = s;
        if (s >= e || *s < '0' || *s > '9') { j->p = s; return ig__js_fail(j, "bad number"); }
        while (s < e && *s >= '0' && *s <= '9') s++;
        frac1 = s;
    }
    int64_t ex = 0;
    if (s < e && (*s == 'e' || *s == 'E')) {
        s++;
        bool eneg = false;
        if (s < e && (*s == '+' || *s == '-')) eneg = *s++ == '-';
        if (s >= e || *s < '0' || *s > '9') { j->p = s; return ig__js_fail(j, "bad number"); }
        while (s < e && *s >= '0' && *s <= '9') {
            if (ex < 100000) ex = ex * 10 + (*s - '0');
            s++;
        }
        if (eneg) ex = -ex;
    }
    j->p = s;
    if (!val) return true;
    /* value = digits(int part . frac part) * 10^(ex - fraction length) */
    *is_uint = false;
    int64_t scale = ex - (int64_t)(frac1 - frac0);
    uint64_t v = 0;
    int64_t pending_zeros = 0; /* trailing zeros not yet multiplied in */
    for (int part = 0; part < 2; part++) {
        const char *a = part ? frac0 : int0, *b = part ? frac1 : int1;
        for (const char *q = a; q < b; q++) {
            if (*q == '0') { pending_zeros++; continue; }
            for (; pending_zeros > 0; pending_zeros--) {
                if (v > limit / 10) return true;
                v *= 10;
            }
            if (v > limit / 10 || v * 10 > limit - (uint64_t)(*q - '0')) return true;
            v = v * 10 + (uint64_t)(*q - '0');
        }
    }
    /* v * 10^(pending_zeros + scale) must be an integer <= limit */
    int64_t p10 = pending_zeros + scale;
    if (p10 < 0) {
        if (v != 0) return true; /* a fraction (the digits end in a non-zero) */
    } else if (v != 0) {
        for (int64_t i = 0; i < p10; i++) {
            if (v > limit / 10) return true;
            v *= 10;
        }
    }
    if (neg && v != 0) return true;
    *is_uint = true;
    *val = v;
    return true;
}

static bool ig__js_word(ig__js *j, const char *w) {
    size_t n = strlen(w);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0) return ig__js_fail(j, "bad literal");
    j->p += n;
    return true;
}

/* Checks and skips any value; depth bounds the recursion. */
static bool ig__js_skip(ig__js *j, int depth) {
    ig__js_ws(j);
    if (j->p >= j->end) return ig__js_fail(j, "value expected");
    size_t len;
    switch (*j->p) {
    case '"': return ig__js_string(j, NULL, 0, &len);
    case 't': return ig__js_word(j, "true");
    case 'f': return ig__js_word(j, "false");
    case 'n': return ig__js_word(j, "null");
    case '{': case '[': {
        char close = *j->p == '{' ? '}' : ']';
        bool obj = close == '}';
        if (depth >= IG_ST_MAX_DEPTH) return ig__js_fail(j, "nested too deeply");
        j->p++;
        if (ig__js_lit(j, close)) return true;
        for (;;) {
            if (obj) {
                if (!ig__js_string(j, NULL, 0, &len)) return false;
                if (!ig__js_lit(j, ':')) return ig__js_fail(j, "':' expected");
            }
            if (!ig__js_skip(j, depth + 1)) return false;
            if (ig__js_lit(j, close)) return true;
            if (!ig__js_lit(j, ',')) return ig__js_fail(j, "',' or end of container expected");
        }
    }
    default: return ig__js_number(j, 0, NULL, NULL);
    }
}

/* Iterates the members of an object whose '{' is at j->p: call ig__js_next_key until it returns
 * false (j->bad tells an error from the end). */
static bool ig__js_open(ig__js *j, char c) {
    if (!ig__js_lit(j, c)) return ig__js_fail(j, c == '{' ? "'{' expected" : "'[' expected");
    return true;
}

static bool ig__js_next(ig__js *j, char close, bool *first) {
    if (*first) {
        *first = false;
        return !ig__js_lit(j, close);
    }
    if (ig__js_lit(j, close)) return false;
    if (!ig__js_lit(j, ',')) return ig__js_fail(j, "',' or end of container expected");
    return true;
}

static char ig__js_peek(ig__js *j) {
    ig__js_ws(j);
    return j->p < j->end ? *j->p : '\0';
}

/* ---- the header ------------------------------------------------------------------------- */

static int ig__cmp_range(const void *a, const void *b) {
    const ig_st_entry *x = *(const ig_st_entry *const *)a, *y = *(const ig_st_entry *const *)b;
    return (x->begin > y->begin) - (x->begin < y->begin);
}

static int ig__cmp_name(const void *a, const void *b) {
    const ig_st_entry *x = *(const ig_st_entry *const *)a, *y = *(const ig_st_entry *const *)b;
    return strcmp(x->name, y->name);
}

static const char ig__meta_key[] = "__metadata__";

/* A key decoded into a small buffer: true when it is exactly `want`. */
static bool ig__key_is(const char *buf, size_t len, const char *want) {
    return len == strlen(want) && memcmp(buf, want, len) == 0;
}

/* Pass 1: syntax of the whole header; counts tensors, metadata pairs and string bytes; checks
 * __metadata__ (an object of strings, once). */
static ig_result ig__pass1(ig__js *j, int64_t *n_entries, int64_t *n_meta, size_t *arena,
                           ig_error *err) {
    ig_result meta_r = IG_OK;
    bool seen_meta = false, first = true;
    if (!ig__js_open(j, '{')) goto syntax;
    while (ig__js_next(j, '}', &first)) {
        char key[16];
        size_t len;
        if (!ig__js_string(j, key, sizeof key, &len)) goto syntax;
        if (!ig__js_lit(j, ':')) { ig__js_fail(j, "':' expected"); goto syntax; }
        if (!ig__key_is(key, len, ig__meta_key)) {
            /* a record is reserved only for an entry long enough to be valid: pass 2 stops at
             * the first invalid one, so the records stay ~2x the header however it is padded */
            *arena += len + 1;
            const char *v0 = (ig__js_ws(j), j->p);
            if (!ig__js_skip(j, 1)) goto syntax;
            if (*v0 == '{' && j->p - v0 >= IG_ST_MIN_ENTRY) (*n_entries)++;
            continue;
        }
        if (seen_meta && meta_r == IG_OK)
            meta_r = ig_error_set(err, IG_ERR_MODEL_METADATA, "__metadata__ appears twice");
        seen_meta = true;
        if (ig__js_peek(j) != '{') {
            if (meta_r == IG_OK) meta_r = ig_error_set(err, IG_ERR_MODEL_METADATA, "__metadata__ is not an object");
            if (!ig__js_skip(j, 1)) goto syntax;
            continue;
        }
        bool mfirst = true;
        j->p++;
        while (ig__js_next(j, '}', &mfirst)) {
            char mk[64];
            size_t mlen, vlen;
            if (!ig__js_string(j, mk, sizeof mk - 1, &mlen)) goto syntax;
            if (!ig__js_lit(j, ':')) { ig__js_fail(j, "':' expected"); goto syntax; }
            if (ig__js_peek(j) != '"') {
                if (meta_r == IG_OK) {
                    mk[mlen < sizeof mk - 1 ? mlen : sizeof mk - 1] = '\0';
                    meta_r = ig_error_set(err, IG_ERR_MODEL_METADATA, "__metadata__['%s'] is not a string", mk);
                }
                if (!ig__js_skip(j, 2)) goto syntax;
                continue;
            }
            if (!ig__js_string(j, NULL, 0, &vlen)) goto syntax;
            (*n_meta)++;
            *arena += mlen + 1 + vlen + 1;
        }
        if (j->bad) goto syntax;
    }
    if (j->bad) goto syntax;
    ig__js_ws(j);
    if (j->p != j->end) { ig__js_fail(j, "text after the header object"); goto syntax; }
    return meta_r;
syntax:
    return IG_ERR_MODEL_HEADER_JSON; /* the caller words the message */
}

/* Pass 2 for one tensor entry: the value at j->p (syntax already checked). */
static ig_result ig__parse_entry(ig__js *j, ig_st_entry *e, uint64_t data_size, ig_error *err) {
    const char *name = e->name;
    if (ig__js_peek(j) != '{') {
        ig__js_skip(j, 1);
        return ig_error_set(err, IG_ERR_MODEL_HEADER_ENTRY, "tensor '%s': entry is not an object", name);
    }
    const char *at_dtype = NULL, *at_shape = NULL, *at_offs = NULL;
    bool first = true;
    j->p++;
    while (ig__js_next(j, '}', &first)) {
        char key[16];
        size_t len;
        ig__js_string(j, key, sizeof key, &len);
        ig__js_lit(j, ':');
        const char **slot = ig__key_is(key, len, "dtype") ? &at_dtype
                          : ig__key_is(key, len, "shape") ? &at_shape
                          : ig__key_is(key, len, "data_offsets") ? &at_offs : NULL;
        ig__js_ws(j);
        if (slot) {
            if (*slot)
                return ig_error_set(err, IG_ERR_MODEL_HEADER_ENTRY, "tensor '%s': key '%.*s' appears twice",
                                    name, (int)len, key);
            *slot = j->p;
        }
        ig__js_skip(j, 2);
    }
    /* count the array items of shape and data_offsets */
    int n_shape = 0, n_offs = 0;
    const char *at[2] = {at_shape, at_offs};
    int *cnt[2] = {&n_shape, &n_offs};
    for (int k = 0; k < 2; k++) {
        if (!at[k] || *at[k] != '[') { *cnt[k] = -1; continue; }
        ig__js s = {at[k] + 1, j->end, NULL, NULL};
        bool f1 = true;
        while (ig__js_next(&s, ']', &f1)) {
            ig__js_skip(&s, 2);
            if (*cnt[k] < 1000) (*cnt[k])++;
        }
    }
    if (!at_dtype || *at_dtype != '"' || n_shape < 0 || n_offs != 2)
        return ig_error_set(err, IG_ERR_MODEL_HEADER_ENTRY,
                            "tensor '%s': needs string dtype, array shape, two data_offsets", name);
    char dt[33];
    size_t dlen;
    ig__js s = {at_dtype, j->end, NULL, NULL};
    ig__js_string(&s, dt, sizeof dt - 1, &dlen);
    dt[dlen < sizeof dt - 1 ? dlen : sizeof dt - 1] = '\0';
    if (ig__key_is(dt, dlen, "F32")) e->dtype = IG_ST_F32;
    else if (ig__key_is(dt, dlen, "F16")) e->dtype = IG_ST_F16;
    else
        return ig_error_set(err, IG_ERR_MODEL_DTYPE,
                            "tensor '%s': dtype '%.32s' is not supported (F32 or F16)", name, dt);
    if (n_shape > 8)
        return ig_error_set(err, IG_ERR_MODEL_SHAPE, "tensor '%s': %s%d dimensions (at most 8)", name,
                            n_shape >= 1000 ? "at least " : "", n_shape);
    e->ndim = n_shape;
    int64_t numel = 1;
    s = (ig__js){at_shape + 1, j->end, NULL, NULL};
    for (int d = 0; d < n_shape; d++) {
        if (d) ig__js_lit(&s, ',');
        bool ok = false;
        uint64_t v = 0;
        char c = ig__js_peek(&s);
        if (c == '-' || (c >= '0' && c <= '9')) ig__js_number(&s, (uint64_t)IG_ST_MAX_DIM, &ok, &v);
        if (!ok)
            return ig_error_set(err, IG_ERR_MODEL_SHAPE,
                                "tensor '%s': dimension %d is not a non-negative integer below 2^40",
                                name, d);
        e->shape[d] = (int64_t)v;
        if (v != 0 && numel > IG_ST_MAX_DIM / (int64_t)v)
            return ig_error_set(err, IG_ERR_MODEL_SHAPE, "tensor '%s': element count overflows", name);
        numel *= (int64_t)v;
    }
    e->numel = numel;
    uint64_t off[2];
    s = (ig__js){at_offs + 1, j->end, NULL, NULL};
    for (int k = 0; k < 2; k++) {
        if (k) ig__js_lit(&s, ',');
        bool ok = false;
        char c = ig__js_peek(&s);
        if (c == '-' || (c >= '0' && c <= '9')) ig__js_number(&s, 9000000000000000ull, &ok, &off[k]);
        if (!ok)
            return ig_error_set(err, IG_ERR_MODEL_HEADER_ENTRY,
                                "tensor '%s': data_offsets are not non-negative integers", name);
    }
    uint64_t b = off[0], en = off[1];
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

/* Pass 2: fills entries, metadata and the arena (syntax and counts are known). */
static ig_result ig__pass2(ig__js *j, ig_st_file *f, ig_error *err) {
    char *arena = f->arena;
    bool first = true;
    ig__js_open(j, '{');
    while (ig__js_next(j, '}', &first)) {
        char *key = arena;
        size_t len;
        ig__js_string(j, key, (size_t)-1, &len);
        ig__js_lit(j, ':');
        if (ig__key_is(key, len, ig__meta_key)) {
            bool mfirst = true;
            ig__js_lit(j, '{');
            while (ig__js_next(j, '}', &mfirst)) {
                char *k = arena, *v;
                size_t kl, vl;
                ig__js_string(j, k, (size_t)-1, &kl);
                k[kl] = '\0';
                ig__js_lit(j, ':');
                v = k + kl + 1;
                ig__js_string(j, v, (size_t)-1, &vl);
                v[vl] = '\0';
                arena = v + vl + 1;
                f->meta[2 * f->n_meta] = k;
                f->meta[2 * f->n_meta + 1] = v;
                f->n_meta++;
            }
            continue;
        }
        key[len] = '\0';
        arena += len + 1;
        ig_st_entry e = {.name = key};
        ig_result r = ig__parse_entry(j, &e, f->data_size, err);
        if (r != IG_OK) return r;
        if (f->count >= f->cap) /* cannot happen: a valid entry is at least IG_ST_MIN_ENTRY long */
            return ig_error_set(err, IG_ERR_MODEL_HEADER_ENTRY, "tensor '%s': entry count", key);
        f->entries[f->count++] = e;
    }
    return IG_OK;
}

ig_result ig_st_open(const char *path, ig_st_file *f, ig_error *err) {
    memset(f, 0, sizeof *f);
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; anything but a regular file is
     * refused before it is read */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
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
    int map_errno = errno;
    close(fd);
    if (map == MAP_FAILED)
        return ig_error_set(err, map_errno == ENOMEM ? IG_ERR_OUT_OF_MEMORY : IG_ERR_IO,
                            "%s: mmap of %zu bytes failed: %s", path, size, strerror(map_errno));
    f->map = map;
    f->size = size;

    ig_result r = IG_OK;
    ig_st_entry **by_range = NULL;
    uint64_t hlen = ig__read_u64le(f->map);
    if (hlen == 0 || hlen > size - 8 || hlen > IG_ST_MAX_HEADER) {
        r = ig_error_set(err, IG_ERR_MODEL_HEADER_SIZE,
                         "%s: header length %llu does not fit in a %zu-byte file", path,
                         (unsigned long long)hlen, size);
        goto fail;
    }
    f->data = f->map + 8 + hlen;
    f->data_size = size - 8 - hlen;
    const char *h0 = (const char *)f->map + 8;
    ig__js j = {h0, h0 + hlen, NULL, NULL};
    int64_t n = 0, n_meta = 0;
    size_t arena = 0;
    r = ig__pass1(&j, &n, &n_meta, &arena, err);
    if (j.bad) {
        r = ig_error_set(err, IG_ERR_MODEL_HEADER_JSON, "%s: header is not valid JSON (%s at byte %lld)",
                         path, j.why, (long long)(j.bad - h0));
        goto fail;
    }
    if (r != IG_OK) goto fail;
    if (n > INT32_MAX - 1) {
        r = ig_error_set(err, IG_ERR_LIMIT, "%s: %lld tensors", path, (long long)n);
        goto fail;
    }
    f->entries = calloc((size_t)(n > 0 ? n : 1), sizeof *f->entries);
    f->by_name = calloc((size_t)(n > 0 ? n : 1), sizeof *f->by_name);
    f->meta = calloc((size_t)(n_meta > 0 ? 2 * n_meta : 1), sizeof *f->meta);
    f->cap = (int)n;
    f->arena = malloc(arena + 16); /* slack: pass 2 decodes the __metadata__ key there too */
    if (!f->entries || !f->by_name || !f->meta || !f->arena) {
        r = ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "%s: model header with %lld entries (%llu bytes)",
                         path, (long long)n, (unsigned long long)hlen);
        goto fail;
    }
    j = (ig__js){h0, h0 + hlen, NULL, NULL};
    r = ig__pass2(&j, f, err);
    if (r != IG_OK) goto fail;
    for (int i = 0; i < f->count; i++) f->by_name[i] = &f->entries[i];
    qsort(f->by_name, (size_t)f->count, sizeof *f->by_name, ig__cmp_name);
    for (int i = 1; i < f->count; i++)
        if (strcmp(f->by_name[i - 1]->name, f->by_name[i]->name) == 0) {
            r = ig_error_set(err, IG_ERR_MODEL_DUPLICATE, "tensor '%s' appears twice", f->by_name[i]->name);
            goto fail;
        }
    by_range = malloc((size_t)(f->count > 0 ? f->count : 1) * sizeof *by_range);
    if (!by_range) {
        r = ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "%s: %d tensor ranges", path, f->count);
        goto fail;
    }
    memcpy(by_range, f->by_name, (size_t)f->count * sizeof *by_range);
    qsort(by_range, (size_t)f->count, sizeof *by_range, ig__cmp_range);
    const ig_st_entry *reach = NULL; /* the non-empty tensor ending furthest so far */
    for (int i = 0; i < f->count; i++) {
        const ig_st_entry *b = by_range[i];
        if (b->end == b->begin) continue;
        if (reach && reach->end > b->begin) {
            r = ig_error_set(err, IG_ERR_MODEL_OVERLAP, "tensors '%s' and '%s' share bytes",
                             reach->name, b->name);
            goto fail;
        }
        if (!reach || b->end > reach->end) reach = b;
    }
    free(by_range);
    return IG_OK;
fail:
    free(by_range);
    ig_st_close(f);
    return r;
}

void ig_st_close(ig_st_file *f) {
    if (!f) return;
    if (f->map) munmap((void *)f->map, f->size);
    free(f->entries);
    free(f->by_name);
    free(f->meta);
    free(f->arena);
    memset(f, 0, sizeof *f);
}

const ig_st_entry *ig_st_find(const ig_st_file *f, const char *name) {
    size_t lo = 0, hi = (size_t)f->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->by_name[mid]->name, name);
        if (c == 0) return f->by_name[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const char *ig_st_metadata(const ig_st_file *f, const char *key) {
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[2 * i], key) == 0) return f->meta[2 * i + 1];
    return NULL;
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
