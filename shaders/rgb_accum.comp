#version 450
// rgb_accum.comp - a ToRGB layer for a chunk of pixels of a group of images, accumulated into
// rgb planes, used by both families:
//   rgb[n][o][p] = start(n, o, p) + (sum_i Wrgb[n][o][i] X[n][i][p] + b[o])   for o < 3, p < np
//   CIPS (CIPSskip to_rgbs.K after linears.2K+1, src/cpu/cpu_cips.c ig__cips_chunk): Wrgb is the
//     image's modulated (not demodulated) weight from cips_wgen.comp, [3][c_in]
//   IG_RGB_MOD (INR-GAN, the "gemm" level kernel of src/vk/vk_render.c): Wrgb[n][o][i] =
//     W_rgb[o][i] s_n[i] with W_rgb shared (model params) and s_n the image's ToRGB factors
// X is channel-major [c_in][P]. start: 0 (mode 1), the plane's own value (mode 0: accumulate),
// or (mode 2, IG_RGB_MOD) the previous level's rgb at the nearest coarse pixel through the
// plan's maps, up(p) = r0[p / width] Wc + c0[p % width] (up-sampling of the running rgb). The
// three planes are bound one per binding (CIPS: the render's [N][3][H*W] output; INR-GAN: the
// per-image [3][P] rgb buffer). One invocation per (pixel, image). Record at meta[rec]:
//   0 c_in  1 P  2 np  3 x_base  4 x_img  5 w_base  6 w_img  7 b_base  8 mode  9 n_img
//   10 red base  11 green base  12 blue base  13 rgb_img
//   IG_RGB_MOD: 14 W_rgb base (params)  15 width  16 Wc  17 row map base  18 column map base
//     19 coarse red base (green, blue: + c_P, + 2 c_P)  20 coarse rgb_img  21 c_P
// Bindings: 1 X, 2 per-image weights (IG_RGB_MOD: factors s), 3 bias (and W_rgb) from the
// model, 4 red, 5 green, 6 blue; IG_RGB_MOD: 7 coarse rgb, 8 row map, 9 column map.
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer Meta { uint meta[]; };
layout(std430, binding = 1) readonly buffer X { float xv[]; };
layout(std430, binding = 2) readonly buffer Wt { float wt[]; };
layout(std430, binding = 3) readonly buffer Params { float params[]; };
layout(std430, binding = 4) buffer R { float rv[]; };
layout(std430, binding = 5) buffer G { float gv[]; };
layout(std430, binding = 6) buffer B { float bv[]; };
#ifdef IG_RGB_MOD
layout(std430, binding = 7) readonly buffer Coarse { float cv[]; };
layout(std430, binding = 8) readonly buffer RowMap { uint rowmap[]; };
layout(std430, binding = 9) readonly buffer ColMap { uint colmap[]; };
#endif
layout(push_constant) uniform PC { uint rec; } pc;

void main() {
    uint r = pc.rec;
    uint cin = meta[r + 0], P = meta[r + 1];
    uint p = gl_GlobalInvocationID.x, n = gl_GlobalInvocationID.y;
    if (p >= meta[r + 2] || n >= meta[r + 9]) return;
    uint xb = meta[r + 3] + n * meta[r + 4] + p;
    uint wb = meta[r + 5] + n * meta[r + 6];
    float a0 = 0.0, a1 = 0.0, a2 = 0.0;
#ifdef IG_RGB_MOD
    uint sb = meta[r + 14];
    for (uint i = 0u; i < cin; i++) {
        float x = wt[wb + i] * xv[xb + i * P];
        a0 += params[sb + i] * x;
        a1 += params[sb + cin + i] * x;
        a2 += params[sb + 2u * cin + i] * x;
    }
#else
    for (uint i = 0u; i < cin; i++) {
        float x = xv[xb + i * P];
        a0 += wt[wb + i] * x;
        a1 += wt[wb + cin + i] * x;
        a2 += wt[wb + 2u * cin + i] * x;
    }
#endif
    uint bb = meta[r + 7];
    a0 += params[bb];
    a1 += params[bb + 1u];
    a2 += params[bb + 2u];
    uint q = n * meta[r + 13] + p;
    uint qr = meta[r + 10] + q, qg = meta[r + 11] + q, qb = meta[r + 12] + q;
    uint mode = meta[r + 8];
    if (mode == 1u) {
        rv[qr] = a0;
        gv[qg] = a1;
        bv[qb] = a2;
#ifdef IG_RGB_MOD
    } else if (mode == 2u) {
        uint width = meta[r + 15], y = p / width;
        uint src = rowmap[meta[r + 17] + 4u * y] * meta[r + 16] + colmap[meta[r + 18] + 4u * (p - y * width)];
        uint cb = meta[r + 19] + n * meta[r + 20] + src, cp = meta[r + 21];
        rv[qr] = cv[cb] + a0;
        gv[qg] = cv[cb + cp] + a1;
        bv[qb] = cv[cb + 2u * cp] + a2;
#endif
    } else {
        rv[qr] = rv[qr] + a0;
        gv[qg] = gv[qg] + a1;
        bv[qb] = bv[qb] + a2;
    }
}
