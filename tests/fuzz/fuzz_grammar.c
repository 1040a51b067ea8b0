/* fuzz_grammar.c - libFuzzer target: the view, size, seed-list and noise grammars
 * (ig_parse_view, ig_parse_size, ig_seeds_parse, ig_noise_parse) and the space/const-mode
 * names. The first byte picks the grammar, the rest is the text. Checks the promises each
 * grammar makes on success (positive sizes within the limit, a non-empty ordered view, 1 to
 * 1,000,000 seeds, a known noise mode) and that failures name an error. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ig_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 8192) return 0;
    char *text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    ig_error err = {0};
    ig_result r = IG_OK;
    switch (data[0] % 5) {
    case 0: {
        ig_view v;
        r = ig_parse_view("--view", text, &v, &err);
        if (r == IG_OK && !(isfinite(v.x0) && isfinite(v.x1) && isfinite(v.y0) && isfinite(v.y1) &&
                            v.x1 > v.x0 && v.y1 > v.y0))
            abort();
        break;
    }
    case 1: {
        int w = 0, h = 0, max = (data[0] >> 3) % 2 ? 65535 : 1 << 20;
        r = ig_parse_size("--size", text, max, &w, &h, &err);
        if (r == IG_OK && (w < 1 || h < 1 || w > max || h > max)) abort();
        break;
    }
    case 2: {
        uint32_t *seeds = NULL;
        int count = 0;
        r = ig_seeds_parse(text, &seeds, &count, &err);
        if (r == IG_OK) {
            if (!seeds || count < 1 || count > 1000000) abort();
            free(seeds);
        } else if (seeds || count) {
            abort();
        }
        break;
    }
    case 3: {
        ig_noise mode = IG_NOISE_MODEL;
        uint32_t seed = 0;
        bool fixed = false;
        int k = ig_noise_parse(text, &mode, &seed, &fixed);
        if (k == 0 && mode != IG_NOISE_MODEL && mode != IG_NOISE_ZERO && mode != IG_NOISE_SEEDED) abort();
        if (k == 0 && fixed && seed > 0x7fffffffu) abort();
        /* a noise seed is exactly what the one integer parser takes (no blanks, no junk) */
        int64_t v;
        bool num = ig_parse_int64("--noise", text, 0, 2147483647, &v, NULL) == IG_OK;
        if (k == 0 && fixed != num) abort();
        if (fixed && (int64_t)seed != v) abort();
        if (k != 0 && num) abort();
        if (k != 0 && k != -1) abort();
        break;
    }
    default: {
        int s = ig_space_parse(text), c = ig_const_mode_parse(text);
        if (s < -1 || s > 2 || c < -1 || c > 1) abort();
        if (s >= 0 && strcmp(ig_space_name((ig_space)s), text) != 0) abort();
        if (c >= 0 && strcmp(ig_const_mode_name((ig_const_mode)c), text) != 0) abort();
        break;
    }
    }
    if (r != IG_OK && (r >= IG_RESULT_COUNT || !err.msg[0])) abort();
    free(text);
    return 0;
}
