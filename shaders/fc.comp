#version 450
// fc.comp - one fully connected layer for a batch of vectors (mapping MLP, affine heads).
//   y[n][o] = post( (sum_i W[o][i] * x[n][i]) * wgain * xscale + b[o] * bgain )
//   flags: 1 = xscale = (mean(x^2) + 1e-8)^-1/2 (normalize_2nd_moment of z)
//          2 = post = lrelu(0.2) * sqrt(2)
//          4 = then truncation y = avg[o] + psi * (y - avg[o])
// One invocation per (output row of this chunk, image). Record at meta[rec]: IGR_FC
// (shaders/records/fc.h; written by ig__vk_plan_fc, src/vk/vk_disp.c).
// Bindings: 1 W rows of the chunk, 2 x, 3 y, 4 bias, 5 w_avg.
#extension GL_GOOGLE_include_directive : require
#include "records/fc.h"
#define REC(f) meta[r + IGR_FC_##f] // a field of this dispatch's record
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer Meta { uint meta[]; };
layout(std430, binding = 1) readonly buffer Wt { float wt[]; };
layout(std430, binding = 2) readonly buffer X { float xv[]; };
layout(std430, binding = 3) writeonly buffer Y { float yv[]; };
layout(std430, binding = 4) readonly buffer V { float vv[]; };   // bias
layout(std430, binding = 5) readonly buffer A { float av[]; };   // w_avg (truncation)
layout(push_constant) uniform PC { uint rec; } pc;

void main() {
    uint r = pc.rec;
    uint in_dim = REC(in_dim), rows = REC(rows), n_img = REC(n_img), flags = REC(flags);
    uint o = gl_GlobalInvocationID.x, n = gl_GlobalInvocationID.y;
    if (o >= rows || n >= n_img) return;
    float wgain = uintBitsToFloat(REC(wgain)), bgain = uintBitsToFloat(REC(bgain));
    float psi = uintBitsToFloat(REC(psi));
    uint wb = REC(w_base) + o * in_dim;
    uint xb = REC(x_base) + n * REC(x_stride);
    float xscale = 1.0;
    if ((flags & 1u) != 0u) {
        float ss = 0.0;
        for (uint i = 0u; i < in_dim; i++) ss += xv[xb + i] * xv[xb + i];
        xscale = inversesqrt(ss / float(in_dim) + 1e-8);
    }
    float acc = 0.0;
    for (uint i = 0u; i < in_dim; i++) acc += wt[wb + i] * xv[xb + i];
    float y = acc * xscale * wgain + vv[REC(b_base) + o] * bgain;
    if ((flags & 2u) != 0u) y = (y < 0.0 ? 0.2 * y : y) * 1.4142135623730951;
    if ((flags & 4u) != 0u) {
        float avg = av[REC(avg_base) + o];
        y = avg + psi * (y - avg);
    }
    yv[REC(y_base) + n * REC(y_stride) + o] = y;
}
