/* ig_parse.h - the one parser of option values (CLI, viewer, scripts).
 *
 * Every numeric option and every size, view and point grammar goes through these functions:
 * the whole text must be the value (no trailing junk, no silent wrap-around), the range is
 * checked in full precision, and the error line echoes what the user typed.
 * `what` names the option in messages, e.g. "--reps".
 */
#ifndef IG_PARSE_H
#define IG_PARSE_H

#include <stdint.h>
#include "inrgan.h"

/* A decimal integer in [lo, hi]. Leading/trailing blanks, a '+' sign, hex, exponents and
 * anything after the digits are refused. */
ig_result ig_parse_int64(const char *what, const char *text, int64_t lo, int64_t hi,
                         int64_t *out, ig_error *err);
ig_result ig_parse_int(const char *what, const char *text, int lo, int hi, int *out,
                       ig_error *err);
/* A finite decimal number in [lo, hi]. */
ig_result ig_parse_double(const char *what, const char *text, double lo, double hi,
                          double *out, ig_error *err);
/* n comma-separated finite numbers, each within +-1e12. */
ig_result ig_parse_doubles(const char *what, const char *text, double *v, int n, ig_error *err);
/* "WxH", each side 1..max_side (IG_ERR_SIZE when out of range). */
ig_result ig_parse_size(const char *what, const char *text, int max_side, int *width,
                        int *height, ig_error *err);
/* "X0,Y0,X1,Y1" with X1 > X0 and Y1 > Y0 (IG_ERR_VIEW otherwise). */
ig_result ig_parse_view(const char *what, const char *text, ig_view *view, ig_error *err);

#endif
