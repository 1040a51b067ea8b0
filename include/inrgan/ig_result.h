/* ig_result.h - every way an inrgan call can fail, with its one-line description.
 *
 * One X-macro list generates the enum (IG_OK, IG_ERR_...), the name table and the
 * description table, so a result code, its name and its message never drift apart.
 * Each entry: X(NAME, exit class, description). Exit class follows docs/cli.md:
 * 1 = runtime failure (I/O, memory, device), 2 = bad usage or bad input, 130 = interrupted
 * (SIGINT/SIGTERM).
 */
#ifndef IG_RESULT_H
#define IG_RESULT_H

#include <stddef.h>

#define IG_RESULT_LIST(X) \
    X(OK,                     0, "success") \
    X(ERR_INVALID_ARGUMENT,   2, "invalid argument") \
    X(ERR_OUT_OF_MEMORY,      1, "out of host memory") \
    X(ERR_IO,                 1, "I/O error") \
    X(ERR_OUTPUT,             1, "cannot write output") \
    X(ERR_SIZE,               2, "impossible output size") \
    X(ERR_VIEW,               2, "impossible view rectangle") \
    X(ERR_LATENT_FILE,        2, "malformed latent file") \
    X(ERR_SEEDS,              2, "malformed seed list") \
    X(ERR_MODEL_OPEN,         2, "cannot open model file") \
    X(ERR_MODEL_TRUNCATED,    2, "model file shorter than its 8-byte header length") \
    X(ERR_MODEL_HEADER_SIZE,  2, "model header length does not fit in the file") \
    X(ERR_MODEL_HEADER_JSON,  2, "model header is not valid JSON") \
    X(ERR_MODEL_HEADER_ENTRY, 2, "malformed tensor entry in model header") \
    X(ERR_MODEL_DTYPE,        2, "unsupported tensor dtype") \
    X(ERR_MODEL_SHAPE,        2, "invalid tensor shape") \
    X(ERR_MODEL_BYTE_SIZE,    2, "tensor byte range does not match shape and dtype") \
    X(ERR_MODEL_RANGE,        2, "tensor byte range outside the data section") \
    X(ERR_MODEL_OVERLAP,      2, "tensor byte ranges overlap") \
    X(ERR_MODEL_DUPLICATE,    2, "duplicate tensor name") \
    X(ERR_MODEL_METADATA,     2, "malformed __metadata__") \
    X(ERR_MODEL_NO_CONFIG,    2, "no inrgan config in __metadata__") \
    X(ERR_MODEL_CONFIG_JSON,  2, "model config is not valid JSON") \
    X(ERR_MODEL_CONFIG_FIELD, 2, "missing or mistyped config field") \
    X(ERR_MODEL_CONFIG_VALUE, 2, "config value out of range") \
    X(ERR_MODEL_VERSION,      2, "unsupported model format version") \
    X(ERR_MODEL_FAMILY,       2, "unsupported model family") \
    X(ERR_MODEL_STRUCTURE,    2, "inconsistent block structure") \
    X(ERR_MODEL_MISSING_TENSOR,    2, "tensor missing") \
    X(ERR_MODEL_UNEXPECTED_TENSOR, 2, "unexpected tensor") \
    X(ERR_MODEL_WRONG_SHAPE,  2, "tensor has the wrong shape") \
    X(ERR_MODEL_NONFINITE,    2, "tensor holds NaN or Inf") \
    X(ERR_NO_DEVICE,          2, "no usable Vulkan device") \
    X(ERR_VULKAN,             1, "Vulkan call failed") \
    X(ERR_OUT_OF_DEVICE_MEMORY, 1, "out of device memory (try a smaller --tile or --batch)") \
    X(ERR_DEVICE_LOST,        1, "Vulkan device lost") \
    X(ERR_UNSUPPORTED,        2, "not supported") \
    X(ERR_USAGE,              2, "bad command-line usage") \
    X(ERR_LIMIT,              2, "input exceeds a resource limit") \
    X(ERR_INTERRUPTED,      130, "interrupted by a signal") \
    X(ERR_BAND_MISSING,         2, "a band of the image is missing") \
    X(ERR_BAND_DUPLICATE,       2, "a band of the image is given twice") \
    X(ERR_BAND_MISMATCH,        2, "a band is from a different render (model, view, size or format)")

typedef enum ig_result {
#define IG_X_ENUM(name, cls, desc) IG_##name,
    IG_RESULT_LIST(IG_X_ENUM)
#undef IG_X_ENUM
    IG_RESULT_COUNT
} ig_result;

/* Detail of a failure: the code plus one line that names the tensor, field or call. */
typedef struct ig_error {
    ig_result code;
    char msg[512];
} ig_error;

const char *ig_result_name(ig_result r);        /* "IG_ERR_MODEL_WRONG_SHAPE" */
const char *ig_result_description(ig_result r); /* "tensor has the wrong shape" */
int ig_result_exit_code(ig_result r);           /* 0, 1, 2 or 130 (docs/cli.md) */

/* Records code + printf-style detail in err (if err != NULL) and returns code. */
ig_result ig_error_set(ig_error *err, ig_result code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif
