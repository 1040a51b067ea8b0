#version 450
// wgen.comp - FMM weights of one layer for a batch of images (reference section 1.4):
//   Wt[o][i] = Ws[o][i] * (1 + sum_k L[o][k] R[k][i] / sqrt(r)),  W[o][:] = Wt[o][:] / (|Wt[o][:]| + 1e-8)
// with L = s[0 : cout*r] as [cout][r], R = s[cout*r :] as [r][wrow] (s = the layer's affine head).
// IG_NORM_ONLY: write only 1/(|Wt[o]| + 1e-8) (the fused level kernel rebuilds W itself).
// One invocation per (row o0 + o of a chunk of rows, image). Record:
//   0 wrow  1 cout  2 n_img  3 rank  4 1/sqrt(r)  5 ws_base (row o0)  6 s_base (layer start)
//   7 s_stride  8 out_base (row o0)  9 out_stride  10 o0  11 rows  12 out row stride (0 = wrow;
//   the coopmat kernel reads rows padded to a multiple of 16, zero-filled beforehand)
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
    uint wrow = meta[r + 0], cout = meta[r + 1], n_img = meta[r + 2], rank = meta[r + 3];
    uint o = gl_GlobalInvocationID.x, n = gl_GlobalInvocationID.y;
    if (o >= meta[r + 11] || n >= n_img) return;
    float isr = uintBitsToFloat(meta[r + 4]);
    uint ws = meta[r + 5] + o * wrow;
    uint lb = meta[r + 6] + n * meta[r + 7] + (meta[r + 10] + o) * rank;
    uint rb = meta[r + 6] + n * meta[r + 7] + cout * rank;
    float ss = 0.0;
    for (uint i = 0u; i < wrow; i++) {
        float m = 0.0;
        for (uint k = 0u; k < rank; k++) m += fac[lb + k] * fac[rb + k * wrow + i];
        float w = params[ws + i] * (1.0 + m * isr);
        ss += w * w;
    }
    float inv = 1.0 / (sqrt(ss) + 1e-8);
#ifdef IG_NORM_ONLY
    outv[meta[r + 8] + n * meta[r + 9] + o] = inv;
#else
    uint ostride = meta[r + 12] != 0u ? meta[r + 12] : wrow;
    uint ob = meta[r + 8] + n * meta[r + 9] + o * ostride;
    for (uint i = 0u; i < wrow; i++) {
        float m = 0.0;
        for (uint k = 0u; k < rank; k++) m += fac[lb + k] * fac[rb + k * wrow + i];
        outv[ob + i] = ST(params[ws + i] * (1.0 + m * isr) * inv);
    }
#endif
}
