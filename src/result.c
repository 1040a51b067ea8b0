/* result.c - names, descriptions and exit classes of ig_result (generated from ig_result.h). */
#include "ig_result.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const ig__names[] = {
#define IG_X_NAME(name, cls, desc) "IG_" #name,
    IG_RESULT_LIST(IG_X_NAME)
#undef IG_X_NAME
};
static const char *const ig__descs[] = {
#define IG_X_DESC(name, cls, desc) desc,
    IG_RESULT_LIST(IG_X_DESC)
#undef IG_X_DESC
};
static const int ig__classes[] = {
#define IG_X_CLASS(name, cls, desc) cls,
    IG_RESULT_LIST(IG_X_CLASS)
#undef IG_X_CLASS
};

const char *ig_result_name(ig_result r) {
    return (r >= 0 && r < IG_RESULT_COUNT) ? ig__names[r] : "IG_ERR_UNKNOWN";
}

const char *ig_result_description(ig_result r) {
    return (r >= 0 && r < IG_RESULT_COUNT) ? ig__descs[r] : "unknown error";
}

int ig_result_exit_code(ig_result r) {
    return (r >= 0 && r < IG_RESULT_COUNT) ? ig__classes[r] : 1;
}

ig_result ig_error_set(ig_error *err, ig_result code, const char *fmt, ...) {
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}
