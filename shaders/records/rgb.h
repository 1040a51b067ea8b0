/* shaders/records/rgb.h - rgb_accum.comp's records (src/vk/vk_cips.c; IG_RGB_MOD:
 * src/vk/vk_inrgan.c). c_in channels of X (x_base, x_img per image, rows p apart) for np
 * pixels; weights at w_base (w_img; IG_RGB_MOD: the factors s), bias at b_base; mode 0
 * accumulate, 1 start from 0, 2 (IG_RGB_MOD) from the coarse rgb; the planes red, green,
 * blue at out_r, out_g, out_b (consecutive words), out_img per image.
 * IG_RGB_MOD adds: wrgb_base (W_rgb in params), width, wc (coarse width), rowmap_base,
 * colmap_base, c_base (coarse red; green, blue + c_p, + 2 c_p), c_img, c_p. */
#ifndef IG_RECORDS_RGB_H
#define IG_RECORDS_RGB_H
#include "rec.h"
#define IGR_RGB_FIELDS(F, P)                                                                \
    F(P, c_in, 0) F(P, p, 1) F(P, np, 2) F(P, x_base, 3) F(P, x_img, 4) F(P, w_base, 5)      \
    F(P, w_img, 6) F(P, b_base, 7) F(P, mode, 8) F(P, n_img, 9) F(P, out_r, 10)              \
    F(P, out_g, 11) F(P, out_b, 12) F(P, out_img, 13)
IGR_DECLARE(IGR_RGB, IGR_RGB_FIELDS, 14)
#define IGR_RGB_MOD_FIELDS(F, P)                                                            \
    IGR_RGB_FIELDS(F, P)                                                                    \
    F(P, wrgb_base, 14) F(P, width, 15) F(P, wc, 16) F(P, rowmap_base, 17)                   \
    F(P, colmap_base, 18) F(P, c_base, 19) F(P, c_img, 20) F(P, c_p, 21)
IGR_DECLARE(IGR_RGB_MOD, IGR_RGB_MOD_FIELDS, 22)
#if defined(__STDC__) || defined(__cplusplus) /* the planners write the planes as out_r + o */
_Static_assert(IGR_RGB_out_g == IGR_RGB_out_r + 1 && IGR_RGB_out_b == IGR_RGB_out_r + 2,
               "IGR_RGB: out_r, out_g, out_b must be consecutive words");
#endif
#endif
