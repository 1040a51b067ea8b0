/* parse.c - option values: integers, numbers, sizes, views (src/ig_parse.h). */
#include "ig_parse.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Quotes at most 64 characters of the user's text, so a huge value gives a short line. */
#define IG_QUOTE_FMT "'%.64s%s'"
#define IG_QUOTE(t) (t), (strlen(t) > 64 ? "..." : "")

ig_result ig_parse_int64(const char *what, const char *text, int64_t lo, int64_t hi,
                         int64_t *out, ig_error *err) {
    const char *p = text ? text : "";
    const char *digits = p + (*p == '-');
    bool ok = *digits != 0;
    for (const char *q = digits; *q; q++)
        if (!isdigit((unsigned char)*q)) ok = false;
    if (ok) {
        errno = 0;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (errno == ERANGE || *end || v < lo || v > hi) {
            return ig_error_set(err, IG_ERR_USAGE, "%s " IG_QUOTE_FMT " is out of range %" PRId64
                                "..%" PRId64, what, IG_QUOTE(p), lo, hi);
        }
        *out = v;
        return IG_OK;
    }
    return ig_error_set(err, IG_ERR_USAGE, "%s " IG_QUOTE_FMT " is not an integer (%" PRId64
                        "..%" PRId64 ")", what, IG_QUOTE(p), lo, hi);
}

ig_result ig_parse_int(const char *what, const char *text, int lo, int hi, int *out,
                       ig_error *err) {
    int64_t v;
    ig_result r = ig_parse_int64(what, text, lo, hi, &v, err);
    if (r == IG_OK) *out = (int)v;
    return r;
}

/* One finite number starting at p; *endp after it. Refuses hex, inf and nan spellings. */
static bool number_at(const char *p, double *v, const char **endp) {
    const char *q = p;
    if (*q == '-' || *q == '+') q++;
    if (!isdigit((unsigned char)*q) && !(*q == '.' && isdigit((unsigned char)q[1]))) return false;
    if (q[0] == '0' && (q[1] == 'x' || q[1] == 'X')) return false;
    char *end;
    errno = 0;
    *v = strtod(p, &end);
    if (end == p || errno == ERANGE || !isfinite(*v)) return false;
    *endp = end;
    return true;
}

ig_result ig_parse_double(const char *what, const char *text, double lo, double hi,
                          double *out, ig_error *err) {
    const char *p = text ? text : "", *end;
    double v;
    if (!number_at(p, &v, &end) || *end)
        return ig_error_set(err, IG_ERR_USAGE, "%s " IG_QUOTE_FMT " is not a number", what,
                            IG_QUOTE(p));
    if (!(v >= lo && v <= hi))
        return ig_error_set(err, IG_ERR_USAGE, "%s " IG_QUOTE_FMT " is out of range %g..%g",
                            what, IG_QUOTE(p), lo, hi);
    *out = v;
    return IG_OK;
}

ig_result ig_parse_doubles(const char *what, const char *text, double *v, int n, ig_error *err) {
    const char *p = text ? text : "";
    for (int i = 0; i < n; i++) {
        const char *end;
        if (!number_at(p, &v[i], &end) || fabs(v[i]) > 1e12) goto bad;
        p = end;
        if (i + 1 < n) {
            if (*p != ',') goto bad;
            p++;
        }
    }
    if (*p == 0) return IG_OK;
bad:
    return ig_error_set(err, IG_ERR_USAGE, "%s " IG_QUOTE_FMT " is not %d comma-separated numbers",
                        what, IG_QUOTE(text ? text : ""), n);
}

ig_result ig_parse_size(const char *what, const char *text, int max_side, int *width,
                        int *height, ig_error *err) {
    const char *t = text ? text : "";
    const char *x = strchr(t, 'x');
    char left[32];
    if (!x || (size_t)(x - t) >= sizeof left)
        return ig_error_set(err, IG_ERR_USAGE, "%s " IG_QUOTE_FMT " is not WxH", what, IG_QUOTE(t));
    memcpy(left, t, (size_t)(x - t));
    left[x - t] = 0;
    int64_t w, h;
    ig_error e1, e2;
    ig_result rw = ig_parse_int64(what, left, INT64_MIN, INT64_MAX, &w, &e1);
    ig_result rh = ig_parse_int64(what, x + 1, INT64_MIN, INT64_MAX, &h, &e2);
    if (rw != IG_OK || rh != IG_OK) {
        /* digits too many for 64 bits are a size, just an impossible one */
        if ((rw == IG_OK || strstr(e1.msg, "out of range")) &&
            (rh == IG_OK || strstr(e2.msg, "out of range")))
            return ig_error_set(err, IG_ERR_SIZE, "%s " IG_QUOTE_FMT ": each side must be 1..%d",
                                what, IG_QUOTE(t), max_side);
        return ig_error_set(err, IG_ERR_USAGE, "%s " IG_QUOTE_FMT " is not WxH", what, IG_QUOTE(t));
    }
    if (w < 1 || h < 1 || w > max_side || h > max_side)
        return ig_error_set(err, IG_ERR_SIZE, "%s " IG_QUOTE_FMT ": each side must be 1..%d", what,
                            IG_QUOTE(t), max_side);
    *width = (int)w;
    *height = (int)h;
    return IG_OK;
}

ig_result ig_parse_view(const char *what, const char *text, ig_view *view, ig_error *err) {
    double v[4];
    ig_result r = ig_parse_doubles(what, text, v, 4, err);
    if (r != IG_OK) return r;
    if (!(v[2] > v[0]) || !(v[3] > v[1]))
        return ig_error_set(err, IG_ERR_VIEW, "%s " IG_QUOTE_FMT ": needs X1 > X0 and Y1 > Y0",
                            what, IG_QUOTE(text));
    view->x0 = v[0];
    view->y0 = v[1];
    view->x1 = v[2];
    view->y1 = v[3];
    return IG_OK;
}
