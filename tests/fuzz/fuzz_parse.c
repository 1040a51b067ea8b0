/* fuzz_parse.c - libFuzzer target: the option-value parsers of src/parse.c (ig_parse_int64,
 * ig_parse_int, ig_parse_double, ig_parse_doubles). The first byte picks the parser and its
 * range, the rest is the text. Checks: success only with the value in range, parsing is a
 * function of the text (a canonical re-print parses back to the same value), failures name an
 * error. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ig_parse.h"

static const int64_t ig_fuzz_lo[4] = {INT64_MIN, 0, 1, -5};
static const int64_t ig_fuzz_hi[4] = {INT64_MAX, 1000000, INT32_MAX, 5};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 4096) return 0;
    char *text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    unsigned sel = data[0];
    ig_error err = {0};
    ig_result r;
    switch (sel % 4) {
    case 0: {
        int64_t lo = ig_fuzz_lo[(sel >> 2) % 4], hi = ig_fuzz_hi[(sel >> 2) % 4], v = 12345;
        r = ig_parse_int64("--x", text, lo, hi, &v, &err);
        if (r == IG_OK) {
            if (v < lo || v > hi) abort();
            char back[32];
            snprintf(back, sizeof back, "%lld", (long long)v);
            int64_t v2;
            if (ig_parse_int64("--x", back, lo, hi, &v2, &err) != IG_OK || v2 != v) abort();
        }
        break;
    }
    case 1: {
        int lo = (int)ig_fuzz_lo[1 + (sel >> 2) % 3], hi = (int)ig_fuzz_hi[1 + (sel >> 2) % 3], v = 7;
        r = ig_parse_int("--x", text, lo, hi, &v, &err);
        if (r == IG_OK && (v < lo || v > hi)) abort();
        break;
    }
    case 2: {
        double v = 0;
        double lo = (sel >> 2) % 2 ? -1e12 : 0.0, hi = (sel >> 3) % 2 ? 1.0 : 1e12;
        r = ig_parse_double("--x", text, lo, hi, &v, &err);
        if (r == IG_OK) {
            if (!isfinite(v) || v < lo || v > hi) abort();
            char back[64];
            snprintf(back, sizeof back, "%.17g", v);
            double v2;
            if (ig_parse_double("--x", back, lo, hi, &v2, &err) != IG_OK || v2 != v) abort();
        }
        break;
    }
    default: {
        double v[8];
        int n = 1 + (int)((sel >> 2) % 8);
        r = ig_parse_doubles("--x", text, v, n, &err);
        if (r == IG_OK)
            for (int i = 0; i < n; i++)
                if (!isfinite(v[i]) || fabs(v[i]) > 1e12) abort();
        break;
    }
    }
    if (r != IG_OK && (r >= IG_RESULT_COUNT || !err.msg[0])) abort();
    free(text);
    return 0;
}
