#version 450
#extension GL_GOOGLE_include_directive : require
#include "records/gemm.h"
#define REC(f) meta[r + IGR_GEMM_##f] // a field of this dispatch's record
#define NOISE(f) meta[r + IGR_GEMM_NOISE_##f]
#define RES(f) meta[r + IGR_GEMM_RES_##f]
#define ADD(f) meta[r + IGR_GEMM_ADD_##f]
#extension GL_EXT_control_flow_attributes : enable
// layer_gemm.comp - one per-pixel layer Y = W X of a group of images as a shared-memory tiled
// GEMM with the layer's epilogue fused in, used by both families:
//   IG_EPI_NOISE  CIPS ModFC layer (conv1, linears.K; src/cpu/cpu_cips.c ig__cips_chunk):
//                 Y[n][o][p] = lrelu(sum_i W[n][o][i] X[n][i][p] + a * noise_n(p) + b[o]) * sqrt2
//   IG_EPI_RES    with IG_EPI_NOISE: the second layer of a CIPSres residual block (linears.K.conv2),
//                 whose block output is formed in the epilogue, after the lrelu:
//                 Y[n][o][p] = (lrelu(...) * sqrt2 + R[n][o][p]) / sqrt2, R the block's skip (its
//                 input, or the 1x1 skip's product), channel-major like Y
//   IG_EPI_ADD    INR-GAN FMM layer of a level (the "gemm" level kernel, src/vk/vk_inrgan.c):
//                 Y[n][o][p] = lrelu(sum_i W[n][o][i] X[n][i][p] + b[o] + [A[n][o][up(p)]]) * sqrt2
//                 with A the coarse-grid product of an up-sampling conv0 (exact coarse trick),
//                 gathered through the plan's nearest maps: up(p) = r0[p / width] Wc + c0[p % width]
//   IG_EPI_NONE   Y = W X (that coarse product itself)
// lrelu slope 0.2. W is image n's per-image weight (cips_wgen.comp / wgen.comp), rows w_row
// apart starting at w_base (a column offset is folded into w_base: the two column blocks
// [W_prev | W_emb] of an up-sampling conv0 come from one row-major W). X and Y are channel-major
// per image, [C][P] with P (pixels of the chunk or level, padded) a multiple of 64, read and
// written as vec4. x_img = 0 lets every image read the same X (CIPS conv1's shared input, the
// INR-GAN embedding).
//
// Tiling: a workgroup of 16 x 16 invocations computes a 64 (outputs) x 64 (pixels) tile of one
// image; gl_WorkGroupID = (pixel tile, output tile, image). Invocation (tx, ty) keeps a 4 x 4
// block in registers: outputs o0 + 4 ty + {0..3} x pixels p0 + 4 tx + {0..3}. K advances 16 at a
// time through shared memory (the W tile transposed to [k][o], the X tile as [k][p], both vec4,
// about 8 KiB in all): each step every invocation stores the one vec4 of X and four scalars of W it
// fetched, then fetches the next step's into registers while the current tile is multiplied
// (16 x 4 vec4 FMAs per invocation per step), so global latency overlaps the arithmetic.
// Out-of-range rows (o >= c_out) and K (i >= c_in) read as zero.
//
// Epilogue (IG_EPI_NOISE): the seeded noise n(seed, layer, row, col) of src/noise.h (the
// bit-exact GLSL twin below: integer hashing and one exact int -> float conversion) when
// enabled, + bias, leaky ReLU 0.2 times sqrt(2), one vec4 store per output row. Pixels past
// the image (p >= np) get no noise (IG_EPI_ADD: no gathered value).
//
// Record at meta[rec] (src/vk/vk_cips.c, src/vk/vk_inrgan.c): shaders/records/gemm.h,
// IGR_GEMM_NOISE (then image n's noise seed at IGR_GEMM_NOISE_WORDS + n), IGR_GEMM_RES (seeds
// from IGR_GEMM_RES_WORDS), IGR_GEMM_ADD, IGR_GEMM (IG_EPI_NONE).
//   IG_EPI_NOISE: bindings 1 X, 2 Y, 3 per-image weights, 4 bias (model), 5 axes
//     (cips_input.comp's layout); IG_EPI_RES adds binding 6 R
//   IG_EPI_ADD: bindings 1 X, 2 Y, 3 per-image weights, 4 bias (model), 5 A, 6 row map,
//     7 column map (src/vk/vk_inrgan.c's {r0, r1, w, 0} maps)
//   IG_EPI_NONE: bindings 1 X, 2 Y, 3 per-image weights
layout(local_size_x = 16, local_size_y = 16) in;

layout(std430, binding = 0) readonly buffer Meta { uint meta[]; };
layout(std430, binding = 1) readonly buffer X { vec4 xv[]; };
layout(std430, binding = 2) writeonly buffer Y { vec4 yv[]; };
layout(std430, binding = 3) readonly buffer Wt { float wt[]; };
#ifndef IG_EPI_NONE
layout(std430, binding = 4) readonly buffer Params { float params[]; };
#endif
#ifdef IG_EPI_NOISE
layout(std430, binding = 5) readonly buffer Axes { uint ax[]; };
#endif
#ifdef IG_EPI_RES
layout(std430, binding = 6) readonly buffer Res { vec4 rv[]; };
#define IG_SEEDS IGR_GEMM_RES_WORDS // record word of the first image's noise seed
#else
#define IG_SEEDS IGR_GEMM_NOISE_WORDS
#endif
#ifdef IG_EPI_ADD
layout(std430, binding = 5) readonly buffer Add { float av[]; };
layout(std430, binding = 6) readonly buffer RowMap { uint rowmap[]; };
layout(std430, binding = 7) readonly buffer ColMap { uint colmap[]; };
#endif
layout(push_constant) uniform PC { uint rec; } pc;

// W tile, transposed: [k][o / 4]; rows padded to 17 vec4 so that the 16 invocations storing
// the same o for consecutive k hit different banks
shared vec4 sw[16][17];
shared vec4 sx[16][16]; // [k][p / 4]: X tile

#ifdef IG_EPI_NOISE
// src/noise.h, bit for bit (both must change together)
uint ig_noise_mix(uint x) {
    x ^= x >> 16;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    x *= 0xc2b2ae35u;
    x ^= x >> 16;
    return x;
}

float ig_noise_value(uint seed, uint layer, uint row, uint col) {
    uint h = ig_noise_mix(ig_noise_mix(ig_noise_mix(ig_noise_mix(seed) + layer) + row) + col);
    int sum = 0;
    for (uint k = 0u; k < 6u; k++) {
        uint v = ig_noise_mix(h + k * 0x9e3779b9u);
        sum += int(v & 0xffffu) + int(v >> 16);
    }
    return float(sum + 6 - 6 * 65536) * (1.0 / 65536.0);
}
#endif

uint w_row; // row stride of W (the record's w_row)

float load_w(uint wb, uint cin, uint cout, uint o, uint k) {
    return o < cout && k < cin ? wt[wb + o * w_row + k] : 0.0;
}

void main() {
    uint r = pc.rec;
    uint cin = REC(c_in), cout = REC(c_out), P4 = REC(p4);
    w_row = REC(w_row);
    uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    uint n = gl_WorkGroupID.z;
    uint c4 = gl_WorkGroupID.x * 16u + tx; // this invocation's vec4 column (pixels 4 c4 ..)
    uint o0 = gl_WorkGroupID.y * 64u;
    uint xb = REC(x_base) + n * REC(x_img) + c4;
    uint wb = REC(w_base) + n * REC(w_img);
    // fetches of a step at k0: X[k0 + ty][c4] and W[o0 + ty + 16 j][k0 + tx], j < 4
    vec4 xr = ty < cin ? xv[xb + ty * P4] : vec4(0.0);
    float w0 = load_w(wb, cin, cout, o0 + ty, tx);
    float w1 = load_w(wb, cin, cout, o0 + ty + 16u, tx);
    float w2 = load_w(wb, cin, cout, o0 + ty + 32u, tx);
    float w3 = load_w(wb, cin, cout, o0 + ty + 48u, tx);
    uint og = ty >> 2, oc = ty & 3u; // W row o0 + ty + 16 j is component oc of sw[.][og + 4 j]
    vec4 acc0 = vec4(0.0), acc1 = vec4(0.0), acc2 = vec4(0.0), acc3 = vec4(0.0);
    for (uint k0 = 0u; k0 < cin; k0 += 16u) {
        sx[ty][tx] = xr;
        sw[tx][og][oc] = w0;
        sw[tx][og + 4u][oc] = w1;
        sw[tx][og + 8u][oc] = w2;
        sw[tx][og + 12u][oc] = w3;
        barrier();
        uint k1 = k0 + 16u;
        if (k1 < cin) { // the next step's tile, while this one is multiplied
            xr = k1 + ty < cin ? xv[xb + (k1 + ty) * P4] : vec4(0.0);
            w0 = load_w(wb, cin, cout, o0 + ty, k1 + tx);
            w1 = load_w(wb, cin, cout, o0 + ty + 16u, k1 + tx);
            w2 = load_w(wb, cin, cout, o0 + ty + 32u, k1 + tx);
            w3 = load_w(wb, cin, cout, o0 + ty + 48u, k1 + tx);
        }
        [[unroll]] for (uint kk = 0u; kk < 16u; kk++) {
            vec4 a = sw[kk][ty], b = sx[kk][tx];
            acc0 += a.x * b;
            acc1 += a.y * b;
            acc2 += a.z * b;
            acc3 += a.w * b;
        }
        barrier();
    }

    uint yb = REC(y_base) + n * REC(y_img) + c4;
    uint ob = o0 + 4u * ty;
    vec4 acc[4] = vec4[4](acc0, acc1, acc2, acc3);
#ifdef IG_EPI_NONE
    for (uint i = 0u; i < 4u; i++)
        if (ob + i < cout) yv[yb + (ob + i) * P4] = acc[i];
#else
    vec4 nz = vec4(0.0); // per pixel: the noise (CIPS)
#ifdef IG_EPI_NOISE
    if (NOISE(noise_on) != 0u) {
        uint seed = meta[r + IG_SEEDS + n], layer = NOISE(noise_layer), np = NOISE(np);
        uint q0 = NOISE(q0), width = NOISE(width);
        for (uint j = 0u; j < 4u; j++) {
            uint p = 4u * c4 + j;
            if (p < np) {
                uint q = q0 + p;
                uint col = ax[NOISE(col_axes) + (q % width) * 8u + 4u];
                uint row = ax[NOISE(row_axes) + (q / width) * 8u + 4u];
                nz[j] = ig_noise_value(seed, layer, row, col);
            }
        }
    }
    float nw = uintBitsToFloat(NOISE(noise_w));
#endif
#ifdef IG_EPI_RES
    uint rb = RES(r_base) + n * RES(r_img) + c4;
#endif
#ifdef IG_EPI_ADD
    // the coarse pixel of each of this invocation's 4 pixels (nearest: one tap)
    bool add = ADD(add_on) != 0u;
    uint ap = ADD(a_p), ab = ADD(a_base) + n * ADD(a_img);
    uvec4 src = uvec4(0u);
    bvec4 inside = bvec4(false);
    if (add) {
        uint width = ADD(width), wc = ADD(wc), np = ADD(np);
        for (uint j = 0u; j < 4u; j++) {
            uint p = 4u * c4 + j;
            if (p < np) {
                uint y = p / width;
                src[j] = rowmap[ADD(rowmap_base) + 4u * y] * wc + colmap[ADD(colmap_base) + 4u * (p - y * width)];
                inside[j] = true;
            }
        }
    }
#endif
    for (uint i = 0u; i < 4u; i++) {
        uint o = ob + i;
        if (o < cout) {
#ifdef IG_EPI_NOISE
            vec4 v = acc[i] + nw * nz + params[NOISE(b_base) + o];
#else
            vec4 v = acc[i] + params[ADD(b_base) + o];
            if (add)
                for (uint j = 0u; j < 4u; j++)
                    if (inside[j]) v[j] += av[ab + o * ap + src[j]];
#endif
            v = mix(0.2 * v, v, greaterThanEqual(v, vec4(0.0))) * 1.4142135623730951;
#ifdef IG_EPI_RES
            v = (v + rv[rb + o * P4]) * 0.7071067811865476;
#endif
            yv[yb + o * P4] = v;
        }
    }
#endif
}
