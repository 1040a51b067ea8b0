/* shaders/records/tile.h - level_tile.comp's record (src/vk/vk_inrgan_tile.c): one fused level
 * of the "fused" INR-GAN level kernel, then n_ops per-op blocks IGR_TILE_OP (at word
 * IGR_TILE_WORDS + i * IGR_TILE_OP_WORDS), in model order.
 * Header: n_ops; p4 (the level's padded pixels P / 4), np (its pixels), width (its grid width),
 *   wc (the previous level's grid width), mode (rgb start: 1 zero, 2 the coarse rgb gathered);
 *   e_base (embedding [ce][P], vec4 units, shared by the images); a_base, a_img, a_p (the coarse
 *   product of the first layer [c_out][a_p] per image); w_base, w_img (per-image weights);
 *   p_base (model params: biases, W_rgb); s_base, s_img (per-image ToRGB factors); rowmap_base
 *   (the level's maps: rows {r0, r1, w, 0}, then columns from colmap_base); c_base, c_img, c_p
 *   (the coarse rgb planes); o_base, o_img, o_p (the rgb planes written, plane stride o_p);
 *   store (1: the last layer's features written to f_base), f_base, f_img (vec4 units), rgb_on
 *   (0: the level has no ToRGB, rgb is not written), spare0.
 * Per op: kind (1 FMM, 2 ToRGB), c_in, c_out, w_off (FMM: offset of its first weight column
 *   inside the image's weights; ToRGB: of its factors inside s), w_row (row stride of W),
 *   b_off (bias inside the params window), add (1: + the gathered coarse product), wr_off
 *   (ToRGB: W_rgb [3][c_in] inside the params window). */
#ifndef IG_RECORDS_TILE_H
#define IG_RECORDS_TILE_H
#include "rec.h"
#define IGR_TILE_FIELDS(F, P)                                                               \
    F(P, n_ops, 0) F(P, p4, 1) F(P, np, 2) F(P, width, 3) F(P, wc, 4) F(P, mode, 5)          \
    F(P, e_base, 6) F(P, a_base, 7) F(P, a_img, 8) F(P, a_p, 9) F(P, w_base, 10)             \
    F(P, w_img, 11) F(P, p_base, 12) F(P, s_base, 13) F(P, s_img, 14) F(P, rowmap_base, 15)  \
    F(P, colmap_base, 16) F(P, c_base, 17) F(P, c_img, 18) F(P, c_p, 19) F(P, o_base, 20)    \
    F(P, o_img, 21) F(P, o_p, 22) F(P, store, 23) F(P, f_base, 24) F(P, f_img, 25)           \
    F(P, rgb_on, 26) F(P, spare0, 27)
IGR_DECLARE(IGR_TILE, IGR_TILE_FIELDS, 28)
#define IGR_TILE_OP_FIELDS(F, P)                                                            \
    F(P, kind, 0) F(P, c_in, 1) F(P, c_out, 2) F(P, w_off, 3) F(P, w_row, 4) F(P, b_off, 5)  \
    F(P, add, 6) F(P, wr_off, 7)
IGR_DECLARE(IGR_TILE_OP, IGR_TILE_OP_FIELDS, 8)
#endif
