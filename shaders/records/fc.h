/* shaders/records/fc.h - fc.comp's record (written by ig__vk_plan_fc, src/vk/vk_disp.c).
 * Floats (wgain, bgain, psi) as their bits; bases are element indices inside the bindings'
 * windows: 1 W rows of the chunk (w_base), 4 bias (b_base), 2 x, 3 y, 5 w_avg (avg_base). */
#ifndef IG_RECORDS_FC_H
#define IG_RECORDS_FC_H
#include "rec.h"
#define IGR_FC_FIELDS(F, P)                                                                 \
    F(P, in_dim, 0) F(P, rows, 1) F(P, n_img, 2) F(P, flags, 3) F(P, wgain, 4)               \
    F(P, bgain, 5) F(P, psi, 6) F(P, w_base, 7) F(P, b_base, 8) F(P, x_base, 9)              \
    F(P, x_stride, 10) F(P, y_base, 11) F(P, y_stride, 12) F(P, avg_base, 13)               \
    F(P, spare14, 14) F(P, spare15, 15)
IGR_DECLARE(IGR_FC, IGR_FC_FIELDS, 16)
#endif
