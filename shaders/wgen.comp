#version 450
// wgen.comp - FMM weights of one layer for a batch of images (reference section 1.4):
//   Wt[o][i] = Ws[o][i] * (1 + sum_k L[o][k] R[k][i] / sqrt(r)),  W[o][:] = Wt[o][:] / (|Wt[o][:]| + 1e-8)
// with L = s[0 : cout*r] as [cout][r], R = s[cout*r :] as [r][wrow] (s = the layer's affine head).
// IG_NORM_ONLY: write only 1/(|Wt[o]| + 1e-8) (the fused level kernel rebuilds W itself).
// One invocation per (row o0 + o of a chunk of rows, image). Record: IGR_WGEN
// (shaders/records/wgen.h); the coopmat kernel reads rows padded to a multiple of 16,
// zero-filled beforehand (out_row_stride).
#extension GL_GOOGLE_include_directive : require
#include "records/wgen.h"
#define REC(f) meta[r + IGR_WGEN_##f] // a field of this dispatch's record
#ifdef IG_F16
#extension GL_EXT_shader_16bit_storage : require
#define ST float16_t
#else
#define ST float
#endif
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer Meta { uint meta[]; };
layout(std430, binding = 1) readonly buffer Params { float params[]; };
layout(std430, binding = 2) readonly buffer Fac { float fac[]; };
#ifdef IG_NORM_ONLY
layout(std430, binding = 3) writeonly buffer Out { float outv[]; };
#else
layout(std430, binding = 3) writeonly buffer Out { ST outv[]; };
#endif
layout(push_constant) uniform PC { uint rec; } pc;

void main() {
    uint r = pc.rec;
    uint wrow = REC(wrow), cout = REC(cout), n_img = REC(n_img), rank = REC(rank);
    uint o = gl_GlobalInvocationID.x, n = gl_GlobalInvocationID.y;
    if (o >= REC(rows) || n >= n_img) return;
    float isr = uintBitsToFloat(REC(isr));
    uint ws = REC(ws_base) + o * wrow;
    uint lb = REC(s_base) + n * REC(s_stride) + (REC(o0) + o) * rank;
    uint rb = REC(s_base) + n * REC(s_stride) + cout * rank;
    float ss = 0.0;
    for (uint i = 0u; i < wrow; i++) {
        float m = 0.0;
        for (uint k = 0u; k < rank; k++) m += fac[lb + k] * fac[rb + k * wrow + i];
        float w = params[ws + i] * (1.0 + m * isr);
        ss += w * w;
    }
    float inv = 1.0 / (sqrt(ss) + 1e-8);
#ifdef IG_NORM_ONLY
    outv[REC(out_base) + n * REC(out_stride) + o] = inv;
#else
    uint ostride = REC(out_row_stride) != 0u ? REC(out_row_stride) : wrow;
    uint ob = REC(out_base) + n * REC(out_stride) + o * ostride;
    for (uint i = 0u; i < wrow; i++) {
        float m = 0.0;
        for (uint k = 0u; k < rank; k++) m += fac[lb + k] * fac[rb + k * wrow + i];
        outv[ob + i] = ST(params[ws + i] * (1.0 + m * isr) * inv);
    }
#endif
}
