#version 450
#extension GL_GOOGLE_include_directive : require
#include "records/tile.h"
#define REC(f) meta[r + IGR_TILE_##f] // a field of this dispatch's record
#define OP(f) meta[ro + IGR_TILE_OP_##f] // a field of the current op's block
#extension GL_EXT_control_flow_attributes : enable
// level_tile.comp - one whole INR-GAN level for a tile of T pixels of ONE image per workgroup
// (the "fused" level kernel, src/vk/vk_inrgan_tile.c; tiny-cuda-nn style): the level's
// activations never leave shared memory between its layers.
//   first FMM layer:  Y = lrelu(W[:, col:] E + b [+ A[n][o][up(p)]]) * sqrt2 with E the level's
//                     embedding (channel-major [ce][P], shared by the images) and A the coarse
//                     product W[:, :c_prev] X_prev of an up-sampling conv0 (the exact coarse
//                     trick: layer_gemm.comp IG_EPI_NONE on the coarse grid), gathered through
//                     the plan's nearest maps, up(p) = r0[p / width] wc + c0[p % width]
//   other FMM layers: Y = lrelu(W X + b) * sqrt2, X the previous layer's output
//   ToRGB:            rgb[o][p] += sum_i W_rgb[o][i] s_n[i] X[i][p] + b[o]
// with lrelu slope 0.2, W image n's generated weights (wgen.comp, row-major, rows w_row apart).
// rgb starts at 0 (level 0) or at the previous level's rgb at the nearest coarse pixel (like
// rgb_accum.comp's mode 2) and is written once per pixel: planes [3][o_p] per image. When a
// later level needs them, the last layer's features are written channel-major [c][P] (f_base).
//
// Workgroup: 256 invocations, T pixels (a multiple of 4, <= 64; pixels past np compute
// harmless values and store nothing) as NQ = T / 4 pixel quads. Invocation (q, y): quad q,
// output quads g = y + NY j (NY = 256 / NQ, j < JM), i.e. a 4 x 4 block (outputs 4g..4g+3 x
// pixels 4q..4q+3) per j: 16 multiply-adds per two shared loads (a vec4 of each). Shared
// memory: two activation buffers [CS][NQ] vec4 (ping-pong; row k = channel k of the tile:
// invocations of one quad read one address, broadcast, consecutive quads consecutive vec4s),
// a weight slice [KB][CO + 4] (KB input channels of every output; rows skewed by 4 floats so
// that the transposing stores of 8 consecutive k hit 8 different banks), streamed from global
// memory per step with the next step's slice prefetched into registers while this one is
// multiplied, and the tile's rgb [3][T]. Total 4 (2 CS T + KB (CO + 4) + 3 T) bytes: the planner
// picks T so that it fits maxComputeSharedMemorySize.
// -DIG_F16 (the "fused16" kernel): activations stored as fp16 in shared memory (2 CS T 2
// bytes), arithmetic in fp32.
// Specialization constants: 0 T, 1 CS (>= every width the level reads or writes), 2 CO (>= every
// FMM output width). Record at meta[rec]: shaders/records/tile.h.
// Bindings: 1 embedding (vec4), 2 coarse product A, 3 per-image weights, 4 params (biases,
// W_rgb), 5 per-image ToRGB factors s, 6 the level's maps, 7 coarse rgb, 8 rgb out, 9 features
// out (vec4).
layout(local_size_x = 256) in;
layout(constant_id = 0) const uint T = 16u;
layout(constant_id = 1) const uint CS = 256u;
layout(constant_id = 2) const uint CO = 256u;
const uint NQ = T / 4u;
const uint NY = 256u / NQ;
const uint CO4 = (CO + 3u) / 4u;
const uint JM = (CO4 + NY - 1u) / NY;
const uint KB = 8u;
const uint SW4 = CO4 + 1u;               // weight slice row stride (vec4): skewed
const uint WR = (KB * CO + 255u) / 256u; // prefetched weights per invocation

layout(std430, binding = 0) readonly buffer Meta { uint meta[]; };
layout(std430, binding = 1) readonly buffer Emb { vec4 ev[]; };
layout(std430, binding = 2) readonly buffer Add { float av[]; };
layout(std430, binding = 3) readonly buffer Wt { float wt[]; };
layout(std430, binding = 4) readonly buffer Params { float params[]; };
layout(std430, binding = 5) readonly buffer S { float sv[]; };
layout(std430, binding = 6) readonly buffer Maps { uint maps[]; };
layout(std430, binding = 7) readonly buffer Coarse { float cv[]; };
layout(std430, binding = 8) writeonly buffer Rgb { float ov[]; };
layout(std430, binding = 9) writeonly buffer Feat { vec4 fv[]; };
layout(push_constant) uniform PC { uint rec; } pc;

#ifdef IG_F16
// IG_F16: the activations are kept as fp16 in shared memory (4 halves per quad; twice the
// pixels per tile), every product and sum in fp32; inputs and outputs in global memory fp32
shared uvec2 act[2u * CS * NQ]; // [buffer][channel][quad]
vec4 act_get(uint i) {
    uvec2 u = act[i];
    return vec4(unpackHalf2x16(u.x), unpackHalf2x16(u.y));
}
void act_set(uint i, vec4 v) { act[i] = uvec2(packHalf2x16(v.xy), packHalf2x16(v.zw)); }
#else
shared vec4 act[2u * CS * NQ]; // [buffer][channel][quad]
vec4 act_get(uint i) { return act[i]; }
void act_set(uint i, vec4 v) { act[i] = v; }
#endif
shared vec4 sw[KB * SW4];      // [k][o / 4]: the weight slice of one step
shared float srgb[3u * T];     // [o][pixel]

void main() {
    uint r = pc.rec;
    uint lid = gl_LocalInvocationID.x;
    uint q = lid % NQ, y = lid / NQ;
    uint n = gl_WorkGroupID.y;
    uint P4 = REC(p4), np = REC(np), width = REC(width);
    uint p0 = gl_WorkGroupID.x * T;
    uint wb = REC(w_base) + n * REC(w_img);
    uint pb = REC(p_base);

    // the coarse pixel of each of this invocation's 4 pixels (nearest: one tap)
    uvec4 src = uvec4(0u);
    bvec4 inside = bvec4(false);
    for (uint j = 0u; j < 4u; j++) {
        uint p = p0 + 4u * q + j;
        if (p < np) {
            inside[j] = true;
            if (REC(mode) == 2u) {
                uint yy = p / width;
                src[j] = maps[REC(rowmap_base) + 4u * yy] * REC(wc) +
                         maps[REC(colmap_base) + 4u * (p - yy * width)];
            }
        }
    }
    // rgb: start values
    if (lid < T) {
        uint p = p0 + lid;
        float v0 = 0.0, v1 = 0.0, v2 = 0.0;
        if (REC(mode) == 2u && REC(rgb_on) != 0u && p < np) {
            uint yy = p / width;
            uint s = maps[REC(rowmap_base) + 4u * yy] * REC(wc) +
                     maps[REC(colmap_base) + 4u * (p - yy * width)];
            uint cb = REC(c_base) + n * REC(c_img) + s, cp = REC(c_p);
            v0 = cv[cb];
            v1 = cv[cb + cp];
            v2 = cv[cb + 2u * cp];
        }
        srgb[lid] = v0;
        srgb[T + lid] = v1;
        srgb[2u * T + lid] = v2;
    }
    // the first layer's input: the embedding rows of this tile
    uint ro = r + IGR_TILE_WORDS;
    {
        uint ce = OP(c_in), eb = REC(e_base) + p0 / 4u;
        for (uint i = lid; i < ce * NQ; i += 256u) {
            uint k = i / NQ, qq = i - k * NQ;
            act_set(k * NQ + qq, ev[eb + k * P4 + qq]);
        }
    }
    uint cur = 0u; // the buffer holding the current features
    uint cfeat = 0u;
    uint n_ops = REC(n_ops);
    for (uint oi = 0u; oi < n_ops; oi++, ro += IGR_TILE_OP_WORDS) {
        uint cin = OP(c_in), cout = OP(c_out);
        if (OP(kind) == 2u) { // ToRGB of the current features
            barrier();
            if (lid < 3u * T) {
                uint o = lid / T, pt = lid - o * T;
                uint sb = REC(s_base) + n * REC(s_img) + OP(w_off);
                uint wr = pb + OP(wr_off) + o * cin;
                uint ab = cur * CS * NQ + pt / 4u, pc4 = pt & 3u;
                float a = 0.0;
                for (uint i = 0u; i < cin; i++) a += params[wr + i] * (sv[sb + i] * act_get(ab + i * NQ)[pc4]);
                srgb[lid] += a + params[pb + OP(b_off) + o];
            }
            continue;
        }
        uint wo = wb + OP(w_off), wrow = OP(w_row);
        vec4 acc[JM * 4u]; // [j][output i of the quad]: 4 pixels
        [[unroll]] for (uint j = 0u; j < JM * 4u; j++) acc[j] = vec4(0.0);
        uint xb = cur * CS * NQ + q;
        float wr[WR]; // slice element e = lid + 256 i: output e / KB, input k0 + e % KB
        [[unroll]] for (uint i = 0u; i < WR; i++) {
            uint e = lid + 256u * i, o = e / KB, kk = e - o * KB;
            wr[i] = o < cout && kk < cin ? wt[wo + o * wrow + kk] : 0.0;
        }
        for (uint k0 = 0u; k0 < cin; k0 += KB) {
            barrier(); // the previous slice is read, the features are written
            [[unroll]] for (uint i = 0u; i < WR; i++) {
                uint e = lid + 256u * i, o = e / KB, kk = e - o * KB;
                if (e < KB * CO) sw[kk * SW4 + o / 4u][o & 3u] = wr[i];
            }
            barrier();
            uint k1 = k0 + KB;
            if (k1 < cin) // the next slice, while this one is multiplied
                [[unroll]] for (uint i = 0u; i < WR; i++) {
                    uint e = lid + 256u * i, o = e / KB, kk = e - o * KB;
                    wr[i] = o < cout && k1 + kk < cin ? wt[wo + o * wrow + k1 + kk] : 0.0;
                }
            uint kn = min(KB, cin - k0);
            for (uint kk = 0u; kk < kn; kk++) {
                vec4 x = act_get(xb + (k0 + kk) * NQ);
                [[unroll]] for (uint j = 0u; j < JM; j++) {
                    uint g = y + NY * j;
                    if (g < CO4) {
                        vec4 w = sw[kk * SW4 + g];
                        acc[4u * j] += w.x * x;
                        acc[4u * j + 1u] += w.y * x;
                        acc[4u * j + 2u] += w.z * x;
                        acc[4u * j + 3u] += w.w * x;
                    }
                }
            }
        }
        // epilogue into the other buffer (its last readers finished before this layer's last
        // barrier)
        bool add = OP(add) != 0u;
        uint ab = REC(a_base) + n * REC(a_img), ap = REC(a_p);
        uint yb = (1u - cur) * CS * NQ + q;
        [[unroll]] for (uint j = 0u; j < JM * 4u; j++) {
            uint o = 4u * (y + NY * (j / 4u)) + (j & 3u);
            if (o < cout) {
                vec4 v = acc[j] + params[pb + OP(b_off) + o];
                if (add)
                    for (uint jj = 0u; jj < 4u; jj++)
                        if (inside[jj]) v[jj] += av[ab + o * ap + src[jj]];
                v = mix(0.2 * v, v, greaterThanEqual(v, vec4(0.0))) * 1.4142135623730951;
                act_set(yb + o * NQ, v);
            }
        }
        cur = 1u - cur;
        cfeat = cout;
    }
    barrier();
    if (REC(store) != 0u) { // the next level's input: channel-major [c][P]
        uint fb = REC(f_base) + n * REC(f_img) + p0 / 4u;
        for (uint i = lid; i < cfeat * NQ; i += 256u) {
            uint k = i / NQ, qq = i - k * NQ;
            fv[fb + k * P4 + qq] = act_get(cur * CS * NQ + k * NQ + qq);
        }
    }
    if (REC(rgb_on) != 0u && lid < T && p0 + lid < np) {
        uint ob = REC(o_base) + n * REC(o_img) + p0 + lid, op = REC(o_p);
        ov[ob] = srgb[lid];
        ov[ob + op] = srgb[T + lid];
        ov[ob + 2u * op] = srgb[2u * T + lid];
    }
}
