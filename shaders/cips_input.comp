#version 450
// cips_input.comp - the input of the first CIPS layer for a chunk of pixels (src/cips.c
// ig_cips_input): channel-major X[c][p] (row stride P), shared by every image of the batch.
//   mode 0 (Fourier features, channels k = ch0 + c of the LFF):
//     X[c][p] = sin(B[k][0] x' + B[k][1] y' + bias[k])
//   mode 1 (learned embedding, channels ch0 + c of emb.input [hidden][S][S]):
//     top = e[v0][u0] + uw (e[v0][u1] - e[v0][u0]), bot = the same on row v1,
//     X[c][p] = top + vw (bot - top)
// Pixel p of the chunk is image pixel q = q0 + p (row q / width, column q % width); pixels past
// the image (p >= np) are written as 0. The per-column / per-row coordinates and taps come from
// the host (src/cips.c ig_cips_axes_make), 8 uints per entry:
//   {coordinate (float bits), tap 0, tap 1, weight of tap 1 (float bits), global index, 0, 0, 0}
// One invocation per (pixel, channel). Record at meta[rec]: IGR_CINPUT
// (shaders/records/cips_input.h; src/vk/vk_cips.c).
// Bindings: 1 X, 2 axes, 3 LFF weight and bias, 4 embedding. IG_F16: X stored as fp16 (the
// CIPS fp16 storage path), everything else fp32.
#extension GL_GOOGLE_include_directive : require
#ifdef IG_F16 // X stored as fp16 (computed in fp32)
#extension GL_EXT_shader_16bit_storage : require
#endif
#include "records/cips_input.h"
#define REC(f) meta[r + IGR_CINPUT_##f] // a field of this dispatch's record
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer Meta { uint meta[]; };
#ifdef IG_F16
layout(std430, binding = 1) writeonly buffer X { float16_t xv[]; };
#else
layout(std430, binding = 1) writeonly buffer X { float xv[]; };
#endif
layout(std430, binding = 2) readonly buffer Axes { uint ax[]; };
layout(std430, binding = 3) readonly buffer Lff { float lff[]; };
layout(std430, binding = 4) readonly buffer Emb { float ev[]; };
layout(push_constant) uniform PC { uint rec; } pc;

void main() {
    uint r = pc.rec;
    uint P = REC(p), np = REC(np);
    uint p = gl_GlobalInvocationID.x, c = gl_GlobalInvocationID.y;
    if (p >= P || c >= REC(n_ch)) return;
    float v = 0.0;
    if (p < np) {
        uint q = REC(q0) + p, width = REC(width);
        uint ca = REC(col_axes) + (q % width) * 8u, ra = REC(row_axes) + (q / width) * 8u;
        if (REC(mode) == 0u) {
            uint k = REC(ch0) + c;
            float x = uintBitsToFloat(ax[ca]), y = uintBitsToFloat(ax[ra]);
            v = sin(lff[REC(lff_w) + 2u * k] * x + lff[REC(lff_w) + 2u * k + 1u] * y +
                    lff[REC(lff_b) + k]);
        } else {
            uint S = REC(s);
            uint e = REC(emb_base) + c * S * S;
            uint u0 = ax[ca + 1u], u1 = ax[ca + 2u], v0 = ax[ra + 1u], v1 = ax[ra + 2u];
            float uw = uintBitsToFloat(ax[ca + 3u]), vw = uintBitsToFloat(ax[ra + 3u]);
            float e00 = ev[e + v0 * S + u0], e01 = ev[e + v0 * S + u1];
            float e10 = ev[e + v1 * S + u0], e11 = ev[e + v1 * S + u1];
            float top = e00 + uw * (e01 - e00);
            float bot = e10 + uw * (e11 - e10);
            v = top + vw * (bot - top);
        }
    }
#ifdef IG_F16
    xv[REC(x_base) + c * P + p] = float16_t(v);
#else
    xv[REC(x_base) + c * P + p] = v;
#endif
}
