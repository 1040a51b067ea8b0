#version 450
// norm.comp - instance norm statistics of the -bil models (reference section 1.5):
//   inv[n][c] = 1 / (std_unbiased over all pixels of x[n][:][c] + 1e-8)
// IG_PASS == 1: one invocation per (channel, row, image): mean and M2 of the row (two passes),
//   record IGR_NORM1 (shaders/records/norm.h):
//   feat[f_base + n*f_stride + (row*W + x)*C + c] -> part[p_base + n*p_stride + ((prow0+row)*C + c)*2 + {0,1}]
//   (cm_p != 0: channel-major features, feat[f_base + n*f_stride + c*cm_p + row*W + x], the
//   gemm level kernel's [C][P] activations; padded pixels past the H x W image are not read)
// IG_PASS == 2: one invocation per (channel, image): merges the H row partials (Chan et al.),
//   record IGR_NORM2
#extension GL_GOOGLE_include_directive : require
#include "records/norm.h"
#if IG_PASS == 1
#define REC(f) meta[r + IGR_NORM1_##f] // a field of this dispatch's record
#else
#define REC(f) meta[r + IGR_NORM2_##f]
#endif
#ifdef IG_F16
#extension GL_EXT_shader_16bit_storage : require
#define ST float16_t
#else
#define ST float
#endif
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer Meta { uint meta[]; };
#if IG_PASS == 1
layout(std430, binding = 1) readonly buffer Feat { ST feat[]; };
layout(std430, binding = 2) writeonly buffer Part { float part[]; };
#else
layout(std430, binding = 2) readonly buffer Part { float part[]; };
layout(std430, binding = 3) writeonly buffer Inv { float inv[]; };
#endif
layout(push_constant) uniform PC { uint rec; } pc;

void main() {
    uint r = pc.rec;
#if IG_PASS == 1
    uint C = REC(c), W = REC(w), n_img = REC(n_img);
#else
    uint C = REC(c), W = REC(w), n_img = REC(n_img);
#endif
    uint c = gl_GlobalInvocationID.x;
#if IG_PASS == 1
    uint row = gl_GlobalInvocationID.y, n = gl_GlobalInvocationID.z;
    if (c >= C || row >= REC(rows) || n >= n_img) return;
    uint cm = REC(cm_p); // 0: pixel-major [row][x][c]; else channel-major [c][cm_p]
    uint fb = REC(f_base) + n * REC(f_stride) + (cm == 0u ? row * W * C + c : c * cm + row * W);
    uint xs = cm == 0u ? C : 1u;
    float s = 0.0;
    for (uint x = 0u; x < W; x++) s += float(feat[fb + x * xs]);
    float mean = s / float(W);
    float m2 = 0.0;
    for (uint x = 0u; x < W; x++) {
        float d = float(feat[fb + x * xs]) - mean;
        m2 += d * d;
    }
    uint pb = REC(p_base) + n * REC(p_stride) + ((REC(prow0) + row) * C + c) * 2u;
    part[pb] = mean;
    part[pb + 1u] = m2;
#else
    uint n = gl_GlobalInvocationID.y;
    if (c >= C || n >= n_img) return;
    uint H = REC(h);
    float cnt = 0.0, mean = 0.0, m2 = 0.0, nb = float(W);
    uint pb = REC(p_base) + n * REC(p_stride);
    for (uint row = 0u; row < H; row++) {
        float mb = part[pb + (row * C + c) * 2u];
        float m2b = part[pb + (row * C + c) * 2u + 1u];
        float tot = cnt + nb;
        float d = mb - mean;
        mean += d * nb / tot;
        m2 += m2b + d * d * cnt * nb / tot;
        cnt = tot;
    }
    float sd = sqrt(m2 / (cnt - 1.0));
    inv[REC(inv_base) + n * REC(inv_stride) + c] = 1.0 / (sd + 1e-8);
#endif
}
