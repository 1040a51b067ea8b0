/* shaders/records/cips_input.h - cips_input.comp's record (src/vk/vk_cips.c): p pixels a
 * channel row (padded), image pixels q0.. (np of them, rows `width` wide); mode 0 Fourier
 * features, 1 the embedding; n_ch channels from ch0 to x_base; column / row axis bases;
 * the LFF weight and bias bases; the embedding base (channel ch0) and its side s. */
#ifndef IG_RECORDS_CIPS_INPUT_H
#define IG_RECORDS_CIPS_INPUT_H
#include "rec.h"
#define IGR_CINPUT_FIELDS(F, P)                                                             \
    F(P, p, 0) F(P, q0, 1) F(P, np, 2) F(P, width, 3) F(P, mode, 4) F(P, n_ch, 5)            \
    F(P, x_base, 6) F(P, col_axes, 7) F(P, row_axes, 8) F(P, lff_w, 9) F(P, lff_b, 10)       \
    F(P, emb_base, 11) F(P, s, 12) F(P, ch0, 13)
IGR_DECLARE(IGR_CINPUT, IGR_CINPUT_FIELDS, 14)
#endif
