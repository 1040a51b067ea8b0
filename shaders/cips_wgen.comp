#version 450
// cips_wgen.comp - the per-image weights of one CIPS layer for a batch of images (src/cips.c
// ig_cips_weight, reference section 5):
//   W'[o][i]  = W[o][i] * g * s[n][i]                 (g = 1/sqrt(c_in), s = the layer's styles)
//   W''[o][i] = W'[o][i] * rsqrt(sum_i W'[o][i]^2 + 1e-8)   when demod (StyledConv: conv1,
//               linears.K); ToRGB (to_rgbs.K) is modulated only (demod = 0).
// One workgroup per (output row o of a chunk of rows, image n): its 64 invocations stride over
// i, the row's sum of squares is reduced in shared memory. Record at meta[rec]: IGR_CWGEN
// (shaders/records/cips_wgen.h; src/vk/vk_cips.c).
// Bindings: 1 W (model), 2 styles, 3 per-image weights (IG_F16: stored as fp16).
#extension GL_GOOGLE_include_directive : require
#ifdef IG_F16 // the per-image weights stored as fp16 (computed in fp32)
#extension GL_EXT_shader_16bit_storage : require
#endif
#include "records/cips_wgen.h"
#define REC(f) meta[r + IGR_CWGEN_##f] // a field of this dispatch's record
layout(local_size_x = 64) in;

layout(std430, binding = 0) readonly buffer Meta { uint meta[]; };
layout(std430, binding = 1) readonly buffer Wt { float wt[]; };
layout(std430, binding = 2) readonly buffer Sty { float sv[]; };
#ifdef IG_F16
layout(std430, binding = 3) writeonly buffer Out { float16_t ov[]; };
#define OUT(v) float16_t(v)
#else
layout(std430, binding = 3) writeonly buffer Out { float ov[]; };
#define OUT(v) (v)
#endif
layout(push_constant) uniform PC { uint rec; } pc;

shared float red[64];

void main() {
    uint r = pc.rec;
    uint cin = REC(c_in), demod = REC(demod);
    uint o = gl_WorkGroupID.x, n = gl_WorkGroupID.y, t = gl_LocalInvocationID.x;
    // the dispatch is exactly rows x n_img workgroups: no early exit before the barriers
    float g = uintBitsToFloat(REC(g));
    uint wb = REC(w_base) + o * cin;
    uint sb = REC(s_base) + n * REC(s_stride);
    uint ob = REC(out_base) + n * REC(out_stride) + o * cin;
    float d = 1.0;
    if (demod != 0u) {
        float ss = 0.0;
        for (uint i = t; i < cin; i += 64u) {
            float v = wt[wb + i] * g * sv[sb + i];
            ss += v * v;
        }
        red[t] = ss;
        barrier();
        for (uint h = 32u; h > 0u; h >>= 1) {
            if (t < h) red[t] += red[t + h];
            barrier();
        }
        d = inversesqrt(red[0] + 1e-8);
    }
    for (uint i = t; i < cin; i += 64u) ov[ob + i] = OUT(wt[wb + i] * g * sv[sb + i] * d);
}
