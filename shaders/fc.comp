#version 450
// fc.comp - one fully connected layer for a batch of vectors (mapping MLP, affine heads), as a
// batched tiled GEMM Y[n][o] = X[n][:] . W[o][:]:
//   y[n][o] = post( (sum_i W[o][i] * x[n][i]) * wgain * xscale + b[o] * bgain )
//   flags: 1 = xscale = (mean(x^2) + 1e-8)^-1/2 (normalize_2nd_moment of z)
//          2 = post = lrelu(0.2) * sqrt(2)
//          4 = then truncation y = avg[o] + psi * (y - avg[o])
// One workgroup of 256 invocations per block of FC_BM = 64 output rows x FC_BN = 32 images:
// the K axis (i) is walked in FC_BK = 32 slices, each slice of W (64 rows, contiguous along i:
// every 32 invocations read one 128-byte run of a row) and of X (32 images) staged in shared
// memory, so each element of W is read from memory once per image block (once per batch when
// the dispatch has <= 32 images) instead of once per image; the next slice is loaded into
// registers while the current one is multiplied. Invocation (tx, ty) = (t % 16,
// t / 16) accumulates rows tx + 16 j (j < 4) for images ty + 16 q (q < 2); an invocation whose
// images are all past n_img only helps load. Per image the sum over i runs in the same order
// as a plain loop (slices in order, zero padding past in_dim adds exact zeros); flag 1's sum of
// squares is accumulated from the staged X the same way. Outputs are written contiguous along o.
// Record at meta[rec]: IGR_FC (shaders/records/fc.h; written by ig__vk_plan_fc,
// src/vk/vk_disp.c, which dispatches ceil(rows / 64) x ceil(n_img / 32) workgroups).
// Bindings: 1 W rows of the chunk, 2 x, 3 y, 4 bias, 5 w_avg. Shared memory: 12.25 KiB.
#extension GL_GOOGLE_include_directive : require
#include "records/fc.h"
#define REC(f) meta[r + IGR_FC_##f] // a field of this dispatch's record
#define FC_BM 64u
#define FC_BN 32u
#define FC_BK 32u
layout(local_size_x = 256) in;

layout(std430, binding = 0) readonly buffer Meta { uint meta[]; };
layout(std430, binding = 1) readonly buffer Wt { float wt[]; };
layout(std430, binding = 2) readonly buffer X { float xv[]; };
layout(std430, binding = 3) writeonly buffer Y { float yv[]; };
layout(std430, binding = 4) readonly buffer V { float vv[]; };   // bias
layout(std430, binding = 5) readonly buffer A { float av[]; };   // w_avg (truncation)
layout(push_constant) uniform PC { uint rec; } pc;

shared float sw[FC_BK * (FC_BM + 1u)]; // [k][row], rows padded by one (no bank conflicts)
shared float sx[FC_BK * (FC_BN + 1u)]; // [k][image]

void main() {
    uint r = pc.rec;
    uint in_dim = REC(in_dim), rows = REC(rows), n_img = REC(n_img), flags = REC(flags);
    uint t = gl_LocalInvocationID.x, tx = t & 15u, ty = t >> 4u;
    uint ob = gl_WorkGroupID.x * FC_BM, nb = gl_WorkGroupID.y * FC_BN;
    // the dispatch covers rows x n_img: no early exit before the barriers
    uint wb = REC(w_base), xb = REC(x_base), xs = REC(x_stride);
    bool live = nb + ty < n_img; // uniform over runs of 16 invocations
    float acc[4][2], ss[2];
    for (uint j = 0u; j < 4u; j++) acc[j][0] = acc[j][1] = 0.0;
    ss[0] = ss[1] = 0.0;
    // slice k0 of W and X into registers pw, px (issued one slice ahead of the multiply-adds)
    uint kk = t & 31u, rr0 = t >> 5u;
    float pw[8], px[4];
#define FC_LOAD(k0)                                                                          \
    for (uint e = 0u; e < 8u; e++) {                                                         \
        uint o = ob + rr0 + 8u * e, i = (k0) + kk;                                           \
        pw[e] = (o < rows && i < in_dim) ? wt[wb + o * in_dim + i] : 0.0;                    \
    }                                                                                        \
    for (uint e = 0u; e < 4u; e++) {                                                         \
        uint n = nb + rr0 + 8u * e, i = (k0) + kk;                                           \
        px[e] = (n < n_img && i < in_dim) ? xv[xb + n * xs + i] : 0.0;                       \
    }
    FC_LOAD(0u)
    for (uint k0 = 0u; k0 < in_dim; k0 += FC_BK) {
        barrier();
        for (uint e = 0u; e < 8u; e++) sw[kk * (FC_BM + 1u) + rr0 + 8u * e] = pw[e]; // [k][row]
        for (uint e = 0u; e < 4u; e++) sx[kk * (FC_BN + 1u) + rr0 + 8u * e] = px[e]; // [k][image]
        barrier();
        if (k0 + FC_BK < in_dim) {
            FC_LOAD(k0 + FC_BK)
        }
        if (live) {
            for (uint k = 0u; k < FC_BK; k++) {
                float x0 = sx[k * (FC_BN + 1u) + ty], x1 = sx[k * (FC_BN + 1u) + ty + 16u];
                ss[0] += x0 * x0;
                ss[1] += x1 * x1;
                for (uint j = 0u; j < 4u; j++) {
                    float w = sw[k * (FC_BM + 1u) + tx + 16u * j];
                    acc[j][0] += w * x0;
                    acc[j][1] += w * x1;
                }
            }
        }
    }
    if (!live) return; // no barrier follows
    float wgain = uintBitsToFloat(REC(wgain)), bgain = uintBitsToFloat(REC(bgain));
    float psi = uintBitsToFloat(REC(psi));
    for (uint q = 0u; q < 2u; q++) {
        uint n = nb + ty + 16u * q;
        if (n >= n_img) continue;
        float xscale = (flags & 1u) != 0u ? inversesqrt(ss[q] / float(in_dim) + 1e-8) : 1.0;
        for (uint j = 0u; j < 4u; j++) {
            uint o = ob + tx + 16u * j;
            if (o >= rows) continue;
            float y = acc[j][q] * xscale * wgain + vv[REC(b_base) + o] * bgain;
            if ((flags & 2u) != 0u) y = (y < 0.0 ? 0.2 * y : y) * 1.4142135623730951;
            if ((flags & 4u) != 0u) {
                float avg = av[REC(avg_base) + o];
                y = avg + psi * (y - avg);
            }
            yv[REC(y_base) + n * REC(y_stride) + o] = y;
        }
    }
}
