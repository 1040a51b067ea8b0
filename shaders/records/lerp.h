/* shaders/records/lerp.h - lerp.comp's record (ig__vk_plan_lerp, src/vk/vk_disp.c): len
 * elements of n_img vectors `stride` apart, a from a_base, b from b_base; then the tail: t of
 * image n (float bits) at word IGR_LERP_WORDS + n. */
#ifndef IG_RECORDS_LERP_H
#define IG_RECORDS_LERP_H
#include "rec.h"
#define IGR_LERP_FIELDS(F, P)                                                               \
    F(P, len, 0) F(P, n_img, 1) F(P, a_base, 2) F(P, stride, 3) F(P, b_base, 4)
IGR_DECLARE(IGR_LERP, IGR_LERP_FIELDS, 5)
#endif
