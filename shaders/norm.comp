#version 450
// norm.comp - instance norm statistics of the -bil models (reference section 1.5):
//   inv[n][c] = 1 / (std_unbiased over all pixels of x[n][:][c] + 1e-8)
// IG_PASS == 1: one invocation per (channel, row, image): mean and M2 of the row (two passes),
//   record: 0 C  1 W  2 rows  3 n_img  4 f_base  5 f_stride  6 p_base  7 p_stride  8 prow0
//   feat[f_base + n*f_stride + (row*W + x)*C + c] -> part[p_base + n*p_stride + ((prow0+row)*C + c)*2 + {0,1}]
// IG_PASS == 2: one invocation per (channel, image): merges the H row partials (Chan et al.),
//   record: 0 C  1 W  2 H  3 n_img  6 p_base  7 p_stride  8 inv_base  9 inv_stride
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
    uint C = meta[r + 0], W = meta[r + 1], n_img = meta[r + 3];
    uint c = gl_GlobalInvocationID.x;
#if IG_PASS == 1
    uint row = gl_GlobalInvocationID.y, n = gl_GlobalInvocationID.z;
    if (c >= C || row >= meta[r + 2] || n >= n_img) return;
    uint fb = meta[r + 4] + n * meta[r + 5] + row * W * C + c;
    float s = 0.0;
    for (uint x = 0u; x < W; x++) s += float(feat[fb + x * C]);
    float mean = s / float(W);
    float m2 = 0.0;
    for (uint x = 0u; x < W; x++) {
        float d = float(feat[fb + x * C]) - mean;
        m2 += d * d;
    }
    uint pb = meta[r + 6] + n * meta[r + 7] + ((meta[r + 8] + row) * C + c) * 2u;
    part[pb] = mean;
    part[pb + 1u] = m2;
#else
    uint n = gl_GlobalInvocationID.y;
    if (c >= C || n >= n_img) return;
    uint H = meta[r + 2];
    float cnt = 0.0, mean = 0.0, m2 = 0.0, nb = float(W);
    uint pb = meta[r + 6] + n * meta[r + 7];
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
    inv[meta[r + 8] + n * meta[r + 9] + c] = 1.0 / (sd + 1e-8);
#endif
}
