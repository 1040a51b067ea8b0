/* shaders/records/wgen.h - wgen.comp's record (the weight generation of the INR-GAN FMM
 * layers, src/vk/vk_inrgan.c): isr = 1/sqrt(rank) (float bits); ws_base is row o0 of the
 * shared weight, out_base row o0 of image 0's output; out_row_stride 0 means wrow (the coopmat
 * kernel reads rows padded to a multiple of 16). */
#ifndef IG_RECORDS_WGEN_H
#define IG_RECORDS_WGEN_H
#include "rec.h"
#define IGR_WGEN_FIELDS(F, P)                                                               \
    F(P, wrow, 0) F(P, cout, 1) F(P, n_img, 2) F(P, rank, 3) F(P, isr, 4) F(P, ws_base, 5)   \
    F(P, s_base, 6) F(P, s_stride, 7) F(P, out_base, 8) F(P, out_stride, 9) F(P, o0, 10)     \
    F(P, rows, 11) F(P, out_row_stride, 12) F(P, spare13, 13) F(P, spare14, 14)             \
    F(P, spare15, 15)
IGR_DECLARE(IGR_WGEN, IGR_WGEN_FIELDS, 16)
#endif
