#version 450
// cips_rgb.comp - ToRGB of CIPSskip (to_rgbs.K, after linears.2K+1) for a chunk of pixels of a
// group of images (src/cpu/cpu_cips.c ig__cips_chunk):
//   rgb[n][o][q0 + p] = (first ? 0 : rgb[n][o][q0 + p]) + (sum_i Wrgb[n][o][i] X[n][i][p] + b[o])
// for o < 3 and the chunk's pixels p < np. Wrgb is the image's modulated (not demodulated)
// weight from cips_wgen.comp, [3][c_in]; X is channel-major [c_in][P]. The rgb planes of the
// output ([N][3][H*W], already the render's layout) are bound one per binding. One invocation
// per (pixel, image). Record at meta[rec] (src/vk/vk_cips.c):
//   0 c_in  1 P  2 np  3 x_base  4 x_img  5 w_base  6 w_img  7 b_base  8 first  9 n_img
//   10 red base  11 green base  12 blue base  13 rgb_img (3 H W)
// Bindings: 1 X, 2 per-image weights, 3 bias (model), 4 red, 5 green, 6 blue.
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer Meta { uint meta[]; };
layout(std430, binding = 1) readonly buffer X { float xv[]; };
layout(std430, binding = 2) readonly buffer Wt { float wt[]; };
layout(std430, binding = 3) readonly buffer Params { float params[]; };
layout(std430, binding = 4) buffer R { float rv[]; };
layout(std430, binding = 5) buffer G { float gv[]; };
layout(std430, binding = 6) buffer B { float bv[]; };
layout(push_constant) uniform PC { uint rec; } pc;

void main() {
    uint r = pc.rec;
    uint cin = meta[r + 0], P = meta[r + 1];
    uint p = gl_GlobalInvocationID.x, n = gl_GlobalInvocationID.y;
    if (p >= meta[r + 2] || n >= meta[r + 9]) return;
    uint xb = meta[r + 3] + n * meta[r + 4] + p;
    uint wb = meta[r + 5] + n * meta[r + 6];
    float a0 = 0.0, a1 = 0.0, a2 = 0.0;
    for (uint i = 0u; i < cin; i++) {
        float x = xv[xb + i * P];
        a0 += wt[wb + i] * x;
        a1 += wt[wb + cin + i] * x;
        a2 += wt[wb + 2u * cin + i] * x;
    }
    uint bb = meta[r + 7];
    a0 += params[bb];
    a1 += params[bb + 1u];
    a2 += params[bb + 2u];
    uint q = n * meta[r + 13] + p;
    uint qr = meta[r + 10] + q, qg = meta[r + 11] + q, qb = meta[r + 12] + q;
    if (meta[r + 8] != 0u) {
        rv[qr] = a0;
        gv[qg] = a1;
        bv[qb] = a2;
    } else {
        rv[qr] = rv[qr] + a0;
        gv[qg] = gv[qg] + a1;
        bv[qb] = bv[qb] + a2;
    }
}
