/* shaders/records/norm.h - norm.comp's records (instance-norm statistics, src/vk/vk_inrgan.c).
 * Pass 1 (row partials): c channels, w pixels a row, rows of the band, features from f_base
 * (f_stride per image) to partials from p_base (p_stride), the band's first partial row prow0;
 * cm_p: 0 for pixel-major features [row][x][c] (the per-pixel kernel), else channel-major
 * [c][cm_p] (the gemm kernel: rows of w pixels, cm_p the padded channel stride).
 * Pass 2 (merge): h rows of partials from p_base to the inverse deviations at inv_base. */
#ifndef IG_RECORDS_NORM_H
#define IG_RECORDS_NORM_H
#include "rec.h"
#define IGR_NORM1_FIELDS(F, P)                                                              \
    F(P, c, 0) F(P, w, 1) F(P, rows, 2) F(P, n_img, 3) F(P, f_base, 4) F(P, f_stride, 5)     \
    F(P, p_base, 6) F(P, p_stride, 7) F(P, prow0, 8) F(P, cm_p, 9) F(P, spare10, 10)       \
    F(P, spare11, 11) F(P, spare12, 12) F(P, spare13, 13) F(P, spare14, 14)                 \
    F(P, spare15, 15)
IGR_DECLARE(IGR_NORM1, IGR_NORM1_FIELDS, 16)
#define IGR_NORM2_FIELDS(F, P)                                                              \
    F(P, c, 0) F(P, w, 1) F(P, h, 2) F(P, n_img, 3) F(P, spare4, 4) F(P, spare5, 5)          \
    F(P, p_base, 6) F(P, p_stride, 7) F(P, inv_base, 8) F(P, inv_stride, 9)                 \
    F(P, spare10, 10) F(P, spare11, 11) F(P, spare12, 12) F(P, spare13, 13)                 \
    F(P, spare14, 14) F(P, spare15, 15)
IGR_DECLARE(IGR_NORM2, IGR_NORM2_FIELDS, 16)
#endif
