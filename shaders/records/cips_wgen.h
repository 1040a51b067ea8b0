/* shaders/records/cips_wgen.h - cips_wgen.comp's record (src/vk/vk_cips.c): rows o0.. of a
 * layer's c_in-wide W (w_base: row o0) times g (float bits) and image n's styles (s_base,
 * s_stride), demodulated when demod, to out_base (row o0 of image 0; out_stride per image). */
#ifndef IG_RECORDS_CIPS_WGEN_H
#define IG_RECORDS_CIPS_WGEN_H
#include "rec.h"
#define IGR_CWGEN_FIELDS(F, P)                                                              \
    F(P, c_in, 0) F(P, rows, 1) F(P, n_img, 2) F(P, demod, 3) F(P, g, 4) F(P, w_base, 5)     \
    F(P, s_base, 6) F(P, s_stride, 7) F(P, out_base, 8) F(P, out_stride, 9)
IGR_DECLARE(IGR_CWGEN, IGR_CWGEN_FIELDS, 10)
#endif
