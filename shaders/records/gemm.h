/* shaders/records/gemm.h - layer_gemm.comp's records (src/vk/vk_cips.c, src/vk/vk_inrgan.c).
 * Every variant starts with IGR_GEMM (all IG_EPI_NONE reads): c_in, c_out, p4 = P/4, X from
 * x_base (vec4; x_img per image, 0: shared), Y from y_base (vec4, y_img), W from w_base
 * (w_img per image, rows w_row apart).
 * IG_EPI_NOISE: b_base (bias), noise_on, noise_w (float bits), noise_layer, q0 (first image
 *   pixel of the chunk), width, col_axes / row_axes (axis bases), np; then the tail: image n's
 *   noise seed at word IGR_GEMM_NOISE_WORDS + n.
 * IG_EPI_RES: IG_EPI_NOISE's fields, then r_base (vec4), r_img; seeds from IGR_GEMM_RES_WORDS.
 * IG_EPI_ADD: b_base, add_on, a_base, a_img, a_p (A's channel stride), width, wc (coarse
 *   width), np, rowmap_base, colmap_base; norm_on, inv_base, inv_img (instance norm: X's
 *   channel k scaled by inv[inv_base + n inv_img + k], applied to W's column k as it loads).
 * IG_EPI_TORGB (with IG_EPI_ADD): then s_base, s_img (the ToRGB factors), wrgb_base (W_rgb in
 *   params), p_base, p_img (the partial rgb, vec4). */
#ifndef IG_RECORDS_GEMM_H
#define IG_RECORDS_GEMM_H
#include "rec.h"
#define IGR_GEMM_FIELDS(F, P)                                                               \
    F(P, c_in, 0) F(P, c_out, 1) F(P, p4, 2) F(P, x_base, 3) F(P, x_img, 4) F(P, y_base, 5)  \
    F(P, y_img, 6) F(P, w_base, 7) F(P, w_img, 8) F(P, w_row, 9)
IGR_DECLARE(IGR_GEMM, IGR_GEMM_FIELDS, 10)
#define IGR_GEMM_NOISE_FIELDS(F, P)                                                         \
    IGR_GEMM_FIELDS(F, P)                                                                   \
    F(P, b_base, 10) F(P, noise_on, 11) F(P, noise_w, 12) F(P, noise_layer, 13) F(P, q0, 14) \
    F(P, width, 15) F(P, col_axes, 16) F(P, np, 17) F(P, row_axes, 18)
IGR_DECLARE(IGR_GEMM_NOISE, IGR_GEMM_NOISE_FIELDS, 19)
#define IGR_GEMM_RES_FIELDS(F, P)                                                           \
    IGR_GEMM_NOISE_FIELDS(F, P) F(P, r_base, 19) F(P, r_img, 20)
IGR_DECLARE(IGR_GEMM_RES, IGR_GEMM_RES_FIELDS, 21)
#define IGR_GEMM_ADD_FIELDS(F, P)                                                           \
    IGR_GEMM_FIELDS(F, P)                                                                   \
    F(P, b_base, 10) F(P, add_on, 11) F(P, a_base, 12) F(P, a_img, 13) F(P, a_p, 14)         \
    F(P, width, 15) F(P, wc, 16) F(P, np, 17) F(P, rowmap_base, 18) F(P, colmap_base, 19)     \
    F(P, norm_on, 20) F(P, inv_base, 21) F(P, inv_img, 22)
IGR_DECLARE(IGR_GEMM_ADD, IGR_GEMM_ADD_FIELDS, 23)
#define IGR_GEMM_RGB_FIELDS(F, P)                                                           \
    IGR_GEMM_ADD_FIELDS(F, P)                                                               \
    F(P, s_base, 23) F(P, s_img, 24) F(P, wrgb_base, 25) F(P, p_base, 26) F(P, p_img, 27)
IGR_DECLARE(IGR_GEMM_RGB, IGR_GEMM_RGB_FIELDS, 28)
#endif
