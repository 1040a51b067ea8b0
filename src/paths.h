/* paths.h - library-internal half of the default-model lookup (src/paths.c; the public half is
 * ig_default_model_path in inrgan.h). */
#ifndef IG_PATHS_H
#define IG_PATHS_H

#include "inrgan.h"

/* For ig_model_load: when `path` is what ig_default_model_path returned, r is
 * IG_ERR_MODEL_OPEN and no candidate exists, rewrites err to list every place looked in.
 * Returns r unchanged in every case. */
ig_result ig__default_model_explain(const char *path, ig_result r, ig_error *err);

#endif
