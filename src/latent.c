/* latent.c - where latents come from: seeds (documented RNG) and .npy files.
 *
 * Seed RNG (docs/cli.md, "Latents"; python/inrgan/latents.py implements the same):
 * splitmix64 with state = seed; z[k], z[k+1] from two draws u1, u2 = (next >> 11) * 2^-53 by
 * Box-Muller in double: r = sqrt(-2 ln(1 - u1)), z[k] = r cos(2 pi u2), z[k+1] = r sin(2 pi u2).
 */
#include "inrgan.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t ig__splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void ig_latent_from_seed(uint32_t seed, float *z, int z_dim) {
    const double two_pi = 6.283185307179586476925286766559;
    uint64_t state = seed;
    for (int k = 0; k < z_dim; k += 2) {
        double u1 = (double)(ig__splitmix64(&state) >> 11) * 0x1.0p-53;
        double u2 = (double)(ig__splitmix64(&state) >> 11) * 0x1.0p-53;
        double r = sqrt(-2.0 * log(1.0 - u1));
        z[k] = (float)(r * cos(two_pi * u2));
        if (k + 1 < z_dim) z[k + 1] = (float)(r * sin(two_pi * u2));
    }
}

static const char *const ig__space_names[] = {"z", "w", "params"};

const char *ig_space_name(ig_space space) { return (unsigned)space < 3 ? ig__space_names[space] : "?"; }

int ig_space_parse(const char *name) {
    for (int i = 0; i < 3; i++)
        if (strcmp(name, ig__space_names[i]) == 0) return i;
    return -1;
}

void ig_latent_slerp(const float *a, const float *b, double t, float *out, int n) {
    if (t == 0.0 || t == 1.0) {
        memcpy(out, t == 0.0 ? a : b, (size_t)n * sizeof *out);
        return;
    }
    double na = 0, nb = 0, dot = 0;
    for (int k = 0; k < n; k++) {
        na += (double)a[k] * a[k];
        nb += (double)b[k] * b[k];
        dot += (double)a[k] * b[k];
    }
    double c = na > 0 && nb > 0 ? dot / sqrt(na * nb) : 1.0;
    c = c > 1 ? 1 : c < -1 ? -1 : c;
    double th = acos(c), st = sin(th);
    double wa = 1 - t, wb = t;
    if (st > 1e-6) {
        wa = sin((1 - t) * th) / st;
        wb = sin(t * th) / st;
    }
    for (int k = 0; k < n; k++) out[k] = (float)(wa * a[k] + wb * b[k]);
}

static bool ig__parse_u32(const char **p, uint32_t *out) {
    if (!isdigit((unsigned char)**p)) return false;
    uint64_t v = 0;
    while (isdigit((unsigned char)**p)) {
        v = v * 10 + (uint64_t)(**p - '0');
        if (v > 0xffffffffull) return false;
        (*p)++;
    }
    *out = (uint32_t)v;
    return true;
}

#define IG_MAX_SEEDS 1000000

ig_result ig_seeds_parse(const char *text, uint32_t **seeds, int *count, ig_error *err) {
    *seeds = NULL;
    *count = 0;
    /* first pass counts, second fills */
    for (int pass = 0; pass < 2; pass++) {
        const char *p = text;
        int64_t n = 0;
        while (*p) {
            uint32_t a, b;
            if (!ig__parse_u32(&p, &a)) goto bad;
            b = a;
            if (*p == '-') {
                p++;
                if (!ig__parse_u32(&p, &b) || b < a) goto bad;
            }
            if (n + ((int64_t)b - a + 1) > IG_MAX_SEEDS)
                return ig_error_set(err, IG_ERR_SEEDS, "--seeds '%.64s': more than %d seeds", text, IG_MAX_SEEDS);
            for (uint64_t s = a; s <= b; s++) {
                if (pass == 1) (*seeds)[n] = (uint32_t)s;
                n++;
            }
            if (*p == ',') {
                p++;
                if (!*p) goto bad;
            } else if (*p) {
                goto bad;
            }
        }
        if (n == 0) goto bad;
        if (pass == 0) {
            *seeds = malloc((size_t)n * sizeof **seeds);
            if (!*seeds) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "seed list");
        }
        *count = (int)n;
    }
    return IG_OK;
bad:
    free(*seeds);
    *seeds = NULL;
    *count = 0;
    return ig_error_set(err, IG_ERR_SEEDS, "--seeds '%.64s': expected a list like 0-7,12", text);
}

/* ---- .npy: magic, version, header length, a Python dict literal, raw data ----------------
 *
 * The header dict is parsed strictly: exactly the keys 'descr', 'fortran_order' and 'shape',
 * each once, with a little-endian float32/float64 descr, fortran_order False, and a shape tuple
 * of non-negative integers; any other key, value or stray text is refused (a loose substring
 * match once accepted '<i8' data next to a decoy '<f4' string). */

typedef struct ig__npyh { const char *p, *end; } ig__npyh;

static void ig__npy_ws(ig__npyh *h) {
    while (h->p < h->end && (*h->p == ' ' || *h->p == '\t' || *h->p == '\n' || *h->p == '\r')) h->p++;
}

static bool ig__npy_char(ig__npyh *h, char c) {
    ig__npy_ws(h);
    if (h->p < h->end && *h->p == c) { h->p++; return true; }
    return false;
}

/* A quoted Python string without escapes; *s, *n: its contents. */
static bool ig__npy_str(ig__npyh *h, const char **s, size_t *n) {
    ig__npy_ws(h);
    if (h->p >= h->end || (*h->p != '\'' && *h->p != '"')) return false;
    char q = *h->p++;
    const char *a = h->p;
    while (h->p < h->end && *h->p != q) {
        if (*h->p == '\\' || *h->p == '\n') return false;
        h->p++;
    }
    if (h->p >= h->end) return false;
    *s = a;
    *n = (size_t)(h->p - a);
    h->p++;
    return true;
}

static bool ig__npy_is(const char *s, size_t n, const char *want) {
    return n == strlen(want) && memcmp(s, want, n) == 0;
}

static bool ig__npy_word(ig__npyh *h, const char *w) {
    ig__npy_ws(h);
    size_t n = strlen(w);
    if ((size_t)(h->end - h->p) < n || memcmp(h->p, w, n) != 0) return false;
    const char *after = h->p + n;
    if (after < h->end && (isalnum((unsigned char)*after) || *after == '_')) return false;
    h->p = after;
    return true;
}

/* '(' [int (',' int)* [',']] ')' with a one-element tuple written "(n,)" as Python needs. */
static bool ig__npy_shape(ig__npyh *h, int *ndim, int64_t shape[8]) {
    if (!ig__npy_char(h, '(')) return false;
    *ndim = 0;
    if (ig__npy_char(h, ')')) return true;
    for (;;) {
        ig__npy_ws(h);
        if (h->p >= h->end || !isdigit((unsigned char)*h->p) || *ndim == 8) return false;
        int64_t v = 0;
        while (h->p < h->end && isdigit((unsigned char)*h->p)) {
            v = v * 10 + (*h->p++ - '0');
            if (v > ((int64_t)1 << 40)) return false;
        }
        shape[(*ndim)++] = v;
        bool comma = ig__npy_char(h, ',');
        if (ig__npy_char(h, ')')) return *ndim > 1 || comma;
        if (!comma) return false;
    }
}

static ig_result ig__npy_header(const char *path, const char *text, size_t len, int *elem, int *ndim,
                                int64_t shape[8], ig_error *err) {
    ig__npyh h = {text, text + len};
    bool have_descr = false, have_order = false, have_shape = false, first = true;
    if (!ig__npy_char(&h, '{')) goto bad;
    for (;;) {
        if (ig__npy_char(&h, '}')) break;
        if (!first && !ig__npy_char(&h, ',')) goto bad;
        first = false;
        if (ig__npy_char(&h, '}')) break; /* trailing comma */
        const char *k, *v;
        size_t kn, vn;
        if (!ig__npy_str(&h, &k, &kn) || !ig__npy_char(&h, ':')) goto bad;
        if (ig__npy_is(k, kn, "descr") && !have_descr) {
            have_descr = true;
            if (!ig__npy_str(&h, &v, &vn)) goto bad;
            if (ig__npy_is(v, vn, "<f4")) *elem = 4;
            else if (ig__npy_is(v, vn, "<f8")) *elem = 8;
            else
                return ig_error_set(err, IG_ERR_LATENT_FILE,
                                    "%s: dtype '%.*s' (float32 or float64, little-endian: '<f4' or '<f8')",
                                    path, (int)(vn < 16 ? vn : 16), v);
        } else if (ig__npy_is(k, kn, "fortran_order") && !have_order) {
            have_order = true;
            if (ig__npy_word(&h, "True"))
                return ig_error_set(err, IG_ERR_LATENT_FILE, "%s: Fortran order is not supported", path);
            if (!ig__npy_word(&h, "False")) goto bad;
        } else if (ig__npy_is(k, kn, "shape") && !have_shape) {
            have_shape = true;
            if (!ig__npy_shape(&h, ndim, shape))
                return ig_error_set(err, IG_ERR_LATENT_FILE, "%s: bad shape (a tuple of at most 8 sizes below 2^40)", path);
        } else {
            return ig_error_set(err, IG_ERR_LATENT_FILE,
                                "%s: header key '%.*s' is unknown or repeated (want descr, fortran_order, shape)",
                                path, (int)(kn < 32 ? kn : 32), k);
        }
    }
    ig__npy_ws(&h);
    if (h.p != h.end) goto bad;
    if (!have_descr || !have_order || !have_shape)
        return ig_error_set(err, IG_ERR_LATENT_FILE, "%s: header lacks %s", path,
                            !have_descr ? "'descr'" : !have_order ? "'fortran_order'" : "'shape'");
    return IG_OK;
bad:
    return ig_error_set(err, IG_ERR_LATENT_FILE, "%s: header is not a dict literal of descr, fortran_order, shape (at byte %lld)",
                        path, (long long)(h.p - text));
}

ig_result ig_npy_read(const char *path, int *ndim, int64_t shape[8], float **data, ig_error *err) {
    *data = NULL;
    *ndim = 0;
    /* O_NONBLOCK: a FIFO must not block the open; only regular files are read */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return ig_error_set(err, IG_ERR_LATENT_FILE, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ig_error_set(err, IG_ERR_LATENT_FILE, "%s: not a regular file", path);
    }
    FILE *fp = fdopen(fd, "rb");
    if (!fp) {
        close(fd);
        return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "%s: fdopen", path);
    }
    ig_result r = IG_OK;
    char *hdr = NULL;
    unsigned char pre[10];
    if (fread(pre, 1, 10, fp) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        r = ig_error_set(err, IG_ERR_LATENT_FILE, "%s: not a .npy file", path);
        goto done;
    }
    uint32_t hlen;
    long start = 10;
    if (pre[6] == 1) {
        hlen = (uint32_t)pre[8] | ((uint32_t)pre[9] << 8);
    } else if (pre[6] == 2 || pre[6] == 3) {
        unsigned char ext[2];
        if (fread(ext, 1, 2, fp) != 2) { r = ig_error_set(err, IG_ERR_LATENT_FILE, "%s: truncated", path); goto done; }
        hlen = (uint32_t)pre[8] | ((uint32_t)pre[9] << 8) | ((uint32_t)ext[0] << 16) | ((uint32_t)ext[1] << 24);
        start = 12;
    } else {
        r = ig_error_set(err, IG_ERR_LATENT_FILE, "%s: unknown .npy version %d", path, pre[6]);
        goto done;
    }
    if (hlen > 65536) { r = ig_error_set(err, IG_ERR_LATENT_FILE, "%s: header too long", path); goto done; }
    hdr = malloc(hlen + 1);
    if (!hdr) { r = ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "%s: header", path); goto done; }
    if (fread(hdr, 1, hlen, fp) != hlen) {
        r = ig_error_set(err, IG_ERR_LATENT_FILE, "%s: truncated header", path);
        goto done;
    }
    hdr[hlen] = '\0';
    int elem = 0;
    r = ig__npy_header(path, hdr, hlen, &elem, ndim, shape, err);
    if (r != IG_OK) goto done;
    uint64_t n = 1;
    for (int d = 0; d < *ndim; d++) {
        if (shape[d] != 0 && n > ((uint64_t)1 << 32) / (uint64_t)shape[d]) {
            r = ig_error_set(err, IG_ERR_LATENT_FILE, "%s: too large", path);
            goto done;
        }
        n *= (uint64_t)shape[d];
    }
    /* the data must be in the file before anything is allocated for it */
    uint64_t have = (uint64_t)st.st_size - (uint64_t)start - hlen;
    if (have / (uint64_t)elem < n) {
        r = ig_error_set(err, IG_ERR_LATENT_FILE, "%s: data shorter than its shape", path);
        goto done;
    }
    *data = malloc((size_t)(n ? n : 1) * sizeof(float));
    if (!*data) { r = ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "%s: %llu values", path, (unsigned long long)n); goto done; }
    for (size_t i = 0; i < n; i++) {
        unsigned char b[8];
        if (fread(b, 1, (size_t)elem, fp) != (size_t)elem) {
            r = ig_error_set(err, IG_ERR_LATENT_FILE, "%s: data shorter than its shape", path);
            goto done;
        }
        double v;
        if (elem == 4) { float f; memcpy(&f, b, 4); v = f; }
        else memcpy(&v, b, 8);
        (*data)[i] = (float)v;
    }
done:
    if (r != IG_OK) { free(*data); *data = NULL; *ndim = 0; }
    free(hdr);
    fclose(fp);
    return r;
}

ig_result ig_latents_load_npy(const char *path, int z_dim, float **z, int *count, ig_error *err) {
    int ndim;
    int64_t shape[8];
    *count = 0;
    ig_result r = ig_npy_read(path, &ndim, shape, z, err);
    if (r != IG_OK) return r;
    int64_t rows = ndim == 1 ? 1 : ndim == 2 ? shape[0] : -1, cols = ndim >= 1 ? shape[ndim - 1] : -1;
    if (rows < 1 || rows > IG_MAX_SEEDS || cols != z_dim) {
        free(*z);
        *z = NULL;
        return ig_error_set(err, IG_ERR_LATENT_FILE, "%s: shape must be [N, %d] or [%d] with N >= 1",
                            path, z_dim, z_dim);
    }
    for (int64_t i = 0; i < rows * cols; i++)
        if (!isfinite((*z)[i])) {
            free(*z);
            *z = NULL;
            return ig_error_set(err, IG_ERR_LATENT_FILE, "%s: NaN or Inf at element %lld", path, (long long)i);
        }
    *count = (int)rows;
    return IG_OK;
}
