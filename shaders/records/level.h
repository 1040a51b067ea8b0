/* shaders/records/level.h - the records of level.comp and level_coop.comp (one INR-GAN level
 * or section for a band of rows; src/vk/vk_inrgan.c). A dispatch's meta window holds its op
 * records (IGR_LEVEL_OP_WORDS each, from op_first) and then its dispatch record.
 *
 * Dispatch record: modes 0 none/zero, 1 up2 through the maps, 3 same grid; h, w the level's
 * grid, hc, wc the input grid; rows row0.. of the band; in_row0 / rin_row0 the first input
 * row of the feature / rgb windows; *_base element bases inside the bindings' windows (1
 * params, 2 factors s, 3 generated weights or (fused) row norms, 4 embedding, 5 input features,
 * 6 output features, 7 input rgb, 8 output rgb, 9 instance-norm factors, 10 row map, 11 column
 * map), *_stride per-image strides; isr = 1/sqrt(rank) (float bits). */
#ifndef IG_RECORDS_LEVEL_H
#define IG_RECORDS_LEVEL_H
#include "rec.h"
#define IGR_LEVEL_FIELDS(F, P)                                                              \
    F(P, op_first, 0) F(P, op_count, 1) F(P, in_mode, 2) F(P, rgb_mode, 3)                   \
    F(P, store_feat, 4) F(P, c_fin, 5) F(P, c_fout, 6) F(P, c_emb, 7) F(P, h, 8) F(P, w, 9)  \
    F(P, hc, 10) F(P, wc, 11) F(P, row0, 12) F(P, rows, 13) F(P, in_row0, 14)                \
    F(P, n_img, 15) F(P, s_base, 16) F(P, gw_base, 17) F(P, e_base, 18) F(P, fin_base, 19)   \
    F(P, fout_base, 20) F(P, rin_base, 21) F(P, rout_base, 22) F(P, inv_base, 23)            \
    F(P, s_stride, 24) F(P, gw_stride, 25) F(P, fin_stride, 26) F(P, fout_stride, 27)        \
    F(P, rin_stride, 28) F(P, rout_stride, 29) F(P, inv_stride, 30) F(P, rank, 31)          \
    F(P, isr, 32) F(P, rin_row0, 33) F(P, params_base, 34) F(P, rowmap_base, 35)            \
    F(P, colmap_base, 36) F(P, spare37, 37) F(P, spare38, 38) F(P, spare39, 39)
IGR_DECLARE(IGR_LEVEL, IGR_LEVEL_FIELDS, 40)

/* Op record, one per layer of the section. kind 1 FMM: c_x inputs and c_e embedding channels
 * to c_out; weights at gw_off in the image's generated weights (coopmat: rows kpad apart,
 * npad rows), or (fused) rebuilt from the shared ws_off (params window) and the rank factors
 * at s_off with the row norms at rn_off; bias at b_off (params window); in_norm: multiply the
 * input by the instance-norm factors at inv_off. kind 2 TORGB: c_x inputs, W_rgb at ws_off,
 * bias at b_off, modulation at s_off. */
#define IGR_LEVEL_OP_FIELDS(F, P)                                                           \
    F(P, kind, 0) F(P, c_x, 1) F(P, c_e, 2) F(P, c_out, 3) F(P, gw_off, 4) F(P, b_off, 5)    \
    F(P, in_norm, 6) F(P, s_off, 7) F(P, rn_off, 8) F(P, ws_off, 9) F(P, kpad, 10)           \
    F(P, npad, 11) F(P, inv_off, 12) F(P, spare13, 13) F(P, spare14, 14) F(P, spare15, 15)
IGR_DECLARE(IGR_LEVEL_OP, IGR_LEVEL_OP_FIELDS, 16)
#endif
