#version 450
#extension GL_GOOGLE_include_directive : require
#include "records/gemm.h"
#define REC(f) meta[r + IGR_GEMM_##f] // a field of this dispatch's record
#define NOISE(f) meta[r + IGR_GEMM_NOISE_##f]
#define RES(f) meta[r + IGR_GEMM_RES_##f]
#define ADD(f) meta[r + IGR_GEMM_ADD_##f]
#extension GL_EXT_control_flow_attributes : enable
#if defined(IG_F16) || defined(IG_COOP_KHR)
#extension GL_EXT_shader_16bit_storage : require
#endif
#ifdef IG_COOP_KHR
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#endif
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
//                 with A the coarse-grid product of an up-sampling conv0 (exact coarse trick: the
//                 interpolation is linear per channel, so it commutes with W), gathered through
//                 the plan's maps: nearest, one tap up(p) = r0[p / width] Wc + c0[p % width];
//                 bilinear (align_corners), the taps (r0|r1, c0|c1) mixed with weights (rw, cw)
//   IG_EPI_NONE   Y = W X (that coarse product itself)
// lrelu slope 0.2. W is image n's per-image weight (cips_wgen.comp / wgen.comp), rows w_row
// apart starting at w_base (a column offset is folded into w_base: the two column blocks
// [W_prev | W_emb] of an up-sampling conv0 come from one row-major W). X and Y are channel-major
// per image, [C][P] with P (pixels of the chunk or level, padded) a multiple of the tile's BN, read and
// written as vec4. x_img = 0 lets every image read the same X (CIPS conv1's shared input, the
// INR-GAN embedding).
//
// Tiling (specialization constants; src/vk/vk_inrgan_gemm.c's tile sets, also used by
// src/vk/vk_cips.c; the defaults are the small one single-buffered): a workgroup of WX x WY
// invocations (ids 0, 1) computes a BM = WY TM (outputs) x BN = WX TN (pixels) tile of one image;
// gl_WorkGroupID = (pixel tile, output tile, image). Invocation (tx, ty) keeps TM x TN results in
// registers: the output quads 4 (ty + WY i) + {0..3}, i < TM / 4, times the pixel quads (vec4
// columns) tx + WX j, j < TN / 4, so that neighbouring invocations read neighbouring shared
// vec4s and write neighbouring global vec4s. K advances BK (id 2) at a time through shared
// memory: the W tile transposed to [k][o / 4] (vec4, rows padded by one vec4: the skew that
// spreads the transposing stores over the banks), the X tile as [k][p / 4]. Each invocation
// fetches BK BN / (4 WX WY) vec4 of X and BM BK / (WX WY) scalars of W per step into registers;
// the next step's fetch is issued before the current step is multiplied, so global latency
// overlaps the arithmetic. NBUF (id 5) = 2: double-buffered shared memory (one barrier per
// step), 1: a single buffer (two), where the device's shared memory is too small for two.
// Out-of-range rows (o >= c_out) and K (i >= c_in) read as zero.
//
// IG_F16: X, Y, A, R and W stored as fp16 (16-bit storage), shared memory and arithmetic fp32.
// IG_COOP_KHR (fp16 storage; IG_EPI_ADD, IG_EPI_NONE, and for CIPS IG_EPI_NOISE / IG_EPI_RES):
// the same tiles, fetches,
// staging loop and epilogue, the tile multiplied with GL_KHR_cooperative_matrix (16 x 16 x 16,
// fp16 x fp16 + fp32, SGM x SGN subgroups of NT / (SGM SGN) invocations: spec ids 6, 7), the
// accumulators passed to the epilogue through a per-subgroup fp32 16 x 16 staging fragment.
// Needs glslang >= 15. Its tested twin on lavapipe: the scalar IG_F16 kernel with the same
// spec constants 0..5 (same tile, same fetch order, same epilogue).
//
// Epilogue (IG_EPI_NOISE): the seeded noise n(seed, layer, row, col) of src/noise.h (the
// bit-exact GLSL twin below: integer hashing and one exact int -> float conversion) when
// enabled, + bias, leaky ReLU 0.2 times sqrt(2), one vec4 store per output row and quad. Pixels
// past the image (p >= np) get no noise (IG_EPI_ADD: no gathered value).
//
// Record at meta[rec] (src/vk/vk_cips.c, src/vk/vk_inrgan.c): shaders/records/gemm.h,
// IGR_GEMM_NOISE (then image n's noise seed at IGR_GEMM_NOISE_WORDS + n), IGR_GEMM_RES (seeds
// from IGR_GEMM_RES_WORDS), IGR_GEMM_ADD, IGR_GEMM (IG_EPI_NONE).
//   IG_EPI_NOISE: bindings 1 X, 2 Y, 3 per-image weights, 4 bias (model), 5 axes
//     (cips_input.comp's layout); IG_EPI_RES adds binding 6 R
//   IG_EPI_ADD: bindings 1 X, 2 Y, 3 per-image weights, 4 bias (model), 5 A, 6 row map,
//     7 column map (src/vk/vk_inrgan.c's {r0, r1, w, 0} maps), 11 instance-norm factors
//     (norm_on: the -bil models' instance norm of X, reference section 1.5, folded into W as
//     it loads: W[o][k] inv[n][k], inv = 1 / (sigma + 1e-8) from norm.comp; never on conv0)
//   IG_EPI_NONE: bindings 1 X, 2 Y, 3 per-image weights
//   IG_EPI_TORGB (with IG_EPI_ADD, scalar kernel): the ToRGB that follows the layer, fused as
//     per-tile partial sums: rgb_t[n][c][p] = sum over the tile's outputs o of
//     W_rgb[c][o] s_n[o] Y[n][o][p] (W_rgb [3][c_out], binding 10 from wrgb_base; s_n the
//     image's ToRGB factors, binding 8), reduced over the workgroup in shared memory and written
//     to the partials, binding 9: [n][output tile][3][P] fp32 (rgb_accum.comp IG_RGB_PART adds
//     them up); record IGR_GEMM_RGB
layout(local_size_x = 16, local_size_y = 16, local_size_x_id = 0, local_size_y_id = 1) in;
layout(constant_id = 2) const uint BK = 16u;
layout(constant_id = 3) const uint TM = 4u;
layout(constant_id = 4) const uint TN = 4u;
layout(constant_id = 5) const uint NBUF = 1u; // default: one buffer (8.5 KiB: any device), as before
const uint WX = gl_WorkGroupSize.x, WY = gl_WorkGroupSize.y, NT = WX * WY;
const uint TM4 = TM / 4u, TN4 = TN / 4u;          // output quads, pixel quads per invocation
const uint BM = WY * TM, BM4 = WY * TM4, BN4 = WX * TN4;
const uint LX = BK * BN4 / NT, LW = BM * BK / NT; // fetched per invocation per step

#if defined(IG_F16) || defined(IG_COOP_KHR)
#define ST float16_t
#define ST4 f16vec4
#else
#define ST float
#define ST4 vec4
#endif
layout(std430, binding = 0) readonly buffer Meta { uint meta[]; };
layout(std430, binding = 1) readonly buffer X { ST4 xv[]; };
layout(std430, binding = 2) writeonly buffer Y { ST4 yv[]; };
layout(std430, binding = 3) readonly buffer Wt { ST wt[]; };
#ifndef IG_EPI_NONE
layout(std430, binding = 4) readonly buffer Params { float params[]; };
#endif
#ifdef IG_EPI_NOISE
layout(std430, binding = 5) readonly buffer Axes { uint ax[]; };
#endif
#ifdef IG_EPI_RES
layout(std430, binding = 6) readonly buffer Res { ST4 rv[]; };
#define IG_SEEDS IGR_GEMM_RES_WORDS // record word of the first image's noise seed
#else
#define IG_SEEDS IGR_GEMM_NOISE_WORDS
#endif
#ifdef IG_EPI_TORGB
#ifdef IG_COOP_KHR
#error "IG_EPI_TORGB is written for the scalar kernel"
#endif
#define RGB(f) meta[r + IGR_GEMM_RGB_##f]
layout(std430, binding = 8) readonly buffer Sf { float sv[]; };   // the image's ToRGB factors
layout(std430, binding = 9) writeonly buffer Part { vec4 pv[]; }; // partial rgb
layout(std430, binding = 10) readonly buffer Wrgb { float wrgb[]; }; // W_rgb (model params)
#endif
#ifdef IG_EPI_ADD
layout(std430, binding = 5) readonly buffer Add { ST av[]; };
layout(std430, binding = 6) readonly buffer RowMap { uint rowmap[]; };
layout(std430, binding = 7) readonly buffer ColMap { uint colmap[]; };
layout(std430, binding = 11) readonly buffer Inv { float inv[]; }; // instance norm: 1 / (sigma + 1e-8)
#endif
layout(push_constant) uniform PC { uint rec; } pc;

#ifdef IG_COOP_KHR
// KHR cooperative matrices: SGM x SGN subgroups (ids 6, 7; subgroup size NT / (SGM SGN)), each
// computing a WM x WN block of the tile as FM x FN fragments of 16 x 16 (fp16 A = W, B = X,
// fp32 accumulators). Shared memory holds the tiles in fp16, row-major and skewed by 8 halves
// (W as [o][k], X as [k][p]), and per subgroup one fp32 16 x 16 fragment for the epilogue.
layout(constant_id = 6) const uint SGM = 2u;
layout(constant_id = 7) const uint SGN = 4u;
const uint BN = 4u * BN4, WM = BM / SGM, WN = BN / SGN, FM = WM / 16u, FN = WN / 16u;
const uint SAS = BK + 8u, SBS = BN + 8u;
shared float16_t sa[NBUF * BM * SAS]; // W tiles: [buffer][o][k]
shared float16_t sb[NBUF * BK * SBS]; // X tiles: [buffer][k][p]
shared float stage[SGM * SGN * 256u]; // per subgroup: one accumulator fragment
#else
const uint SWS = BM4 + 1u;       // a W row of shared memory, skewed
shared vec4 sw[NBUF * BK * SWS]; // W tiles: [buffer][k][o / 4]
shared vec4 sx[NBUF * BK * BN4]; // X tiles: [buffer][k][p / 4]
#endif
#ifdef IG_EPI_TORGB
shared vec4 red[3u * BN4]; // the tile's partial rgb: [colour][p / 4]
#endif

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

uint r, n, cin, cout, P4, w_row, xb, wb, yb, o0, q0; // the record's sizes, this tile's bases
bool normed; // IG_EPI_ADD: instance norm of X folded into W's columns (ib: image n's factors)
uint ib;

// What the epilogue needs per pixel quad of the tile: the noise (CIPS), the gathered coarse
// pixels (the coarse trick: src = the (r0, c0) tap, dx = c1 - c0, dy = (r1 - r0) Wc, weights
// fx, fy; nearest maps: one tap, weights 0) and whether the pixels are inside the image.
struct Quad {
    vec4 nz;
    uvec4 src, dx, dy;
    vec4 fx, fy;
    bvec4 inside;
};

Quad quad_info(uint qt) {
    Quad qi = Quad(vec4(0.0), uvec4(0u), uvec4(0u), uvec4(0u), vec4(0.0), vec4(0.0), bvec4(false));
#ifdef IG_EPI_NOISE
    if (NOISE(noise_on) != 0u) {
        uint seed = meta[r + IG_SEEDS + n], layer = NOISE(noise_layer), np = NOISE(np);
        uint qa = NOISE(q0), width = NOISE(width);
        for (uint t = 0u; t < 4u; t++) {
            uint p = 4u * (q0 + qt) + t;
            if (p < np) {
                uint q = qa + p;
                uint col = ax[NOISE(col_axes) + (q % width) * 8u + 4u];
                uint row = ax[NOISE(row_axes) + (q / width) * 8u + 4u];
                qi.nz[t] = ig_noise_value(seed, layer, row, col);
            }
        }
    }
#endif
#ifdef IG_EPI_ADD
    if (ADD(add_on) != 0u) {
        uint width = ADD(width), wc = ADD(wc), np = ADD(np);
        for (uint t = 0u; t < 4u; t++) {
            uint p = 4u * (q0 + qt) + t;
            if (p < np) {
                uint y = p / width, rm = ADD(rowmap_base) + 4u * y;
                uint cm = ADD(colmap_base) + 4u * (p - y * width);
                uint r0 = rowmap[rm], c0 = colmap[cm];
                qi.src[t] = r0 * wc + c0;
                qi.dx[t] = colmap[cm + 1u] - c0;
                qi.dy[t] = (rowmap[rm + 1u] - r0) * wc;
                qi.fx[t] = uintBitsToFloat(colmap[cm + 2u]);
                qi.fy[t] = uintBitsToFloat(rowmap[rm + 2u]);
                qi.inside[t] = true;
            }
        }
    }
#endif
    return qi;
}

// The epilogue of output o at pixel quad qt of the tile: v = the 4 sums -> Y; returns what it
// stored (0 past c_out).
vec4 emit(uint o, uint qt, vec4 v, Quad qi) {
    if (o >= cout) return vec4(0.0);
#ifdef IG_EPI_NOISE
    v += uintBitsToFloat(NOISE(noise_w)) * qi.nz + params[NOISE(b_base) + o];
#endif
#ifdef IG_EPI_ADD
    v += params[ADD(b_base) + o];
    uint ab = ADD(a_base) + n * ADD(a_img) + o * ADD(a_p);
    for (uint t = 0u; t < 4u; t++)
        if (qi.inside[t]) {
            uint s = ab + qi.src[t];
            float fx = qi.fx[t], fy = qi.fy[t], a = float(av[s]);
            if (fx != 0.0 || fy != 0.0) { // bilinear (align_corners); nearest: the one tap, exact
                uint dx = qi.dx[t], dy = qi.dy[t];
                float u = a * (1.0 - fx) + float(av[s + dx]) * fx;
                float w = float(av[s + dy]) * (1.0 - fx) + float(av[s + dy + dx]) * fx;
                a = u * (1.0 - fy) + w * fy;
            }
            v[t] += a;
        }
#endif
#ifndef IG_EPI_NONE
    v = mix(0.2 * v, v, greaterThanEqual(v, vec4(0.0))) * 1.4142135623730951;
#endif
#ifdef IG_EPI_RES
    v = (v + vec4(rv[RES(r_base) + n * RES(r_img) + q0 + o * P4 + qt])) * 0.7071067811865476;
#endif
    yv[yb + o * P4 + qt] = ST4(v);
    return v;
}

#ifdef IG_COOP_KHR // the fetched step: as stored (coop), or fp32 (the scalar kernel)
#define RT ST
#define RT4 ST4
#else
#define RT float
#define RT4 vec4
#endif
RT4 xr[LX];
RT wr[LW];

// Fetches the step at k0 into registers: X element e = tid + NT j is row e / BN4, quad
// e % BN4 of the tile; W element e is row e / BK, column e % BK.
void fetch(uint tid, uint k0) {
    [[unroll]] for (uint j = 0u; j < LX; j++) {
        uint e = tid + NT * j, k = k0 + e / BN4;
        xr[j] = k < cin ? RT4(xv[xb + k * P4 + e % BN4]) : RT4(0.0);
    }
    [[unroll]] for (uint j = 0u; j < LW; j++) {
        uint e = tid + NT * j, o = o0 + e / BK, k = k0 + e % BK;
        wr[j] = o < cout && k < cin ? RT(wt[wb + o * w_row + k]) : RT(0.0);
#ifdef IG_EPI_ADD
        if (normed && k < cin) wr[j] = RT(float(wr[j]) * inv[ib + k]); // W[o][k] / (sigma_k + 1e-8)
#endif
    }
}

// Stores the fetched step into shared buffer `buf`.
void store(uint tid, uint buf) {
    [[unroll]] for (uint j = 0u; j < LX; j++) {
        uint e = tid + NT * j;
#ifdef IG_COOP_KHR
        uint at = (buf * BK + e / BN4) * SBS + 4u * (e % BN4);
        for (uint t = 0u; t < 4u; t++) sb[at + t] = xr[j][t];
#else
        sx[buf * BK * BN4 + e] = xr[j];
#endif
    }
    [[unroll]] for (uint j = 0u; j < LW; j++) {
        uint e = tid + NT * j, o = e / BK;
#ifdef IG_COOP_KHR
        sa[(buf * BM + o) * SAS + e % BK] = wr[j];
#else
        sw[(buf * BK + e % BK) * SWS + (o >> 2)][o & 3u] = wr[j]; // transposed
#endif
    }
}

void main() {
    r = pc.rec;
    cin = REC(c_in);
    cout = REC(c_out);
    P4 = REC(p4);
    w_row = REC(w_row);
    uint tid = gl_LocalInvocationIndex;
    n = gl_WorkGroupID.z;
    q0 = gl_WorkGroupID.x * BN4; // the tile's first pixel quad
    o0 = gl_WorkGroupID.y * BM;
    xb = REC(x_base) + n * REC(x_img) + q0;
    wb = REC(w_base) + n * REC(w_img);
    yb = REC(y_base) + n * REC(y_img) + q0;
    normed = false;
    ib = 0u;
#ifdef IG_EPI_ADD
    normed = ADD(norm_on) != 0u;
    ib = ADD(inv_base) + n * ADD(inv_img);
#endif
#ifdef IG_COOP_KHR
    uint sg = gl_SubgroupID, sgm = sg / SGN, sgn = sg % SGN;
    coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator> acc[FM * FN];
    [[unroll]] for (uint i = 0u; i < FM * FN; i++)
        acc[i] = coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator>(0.0);
#else
    uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    vec4 acc[TM * TN4]; // [output TM4 i + c][quad j]: outputs 4 (ty + WY i) + c, quads tx + WX j
    [[unroll]] for (uint i = 0u; i < TM * TN4; i++) acc[i] = vec4(0.0);
#endif
    uint steps = (cin + BK - 1u) / BK, buf = 0u;
    fetch(tid, 0u);
    store(tid, 0u);
    barrier();
    if (steps > 1u) fetch(tid, BK);
    for (uint s = 0u; s < steps; s++) {
#ifdef IG_COOP_KHR
        [[unroll]] for (uint kk = 0u; kk < BK; kk += 16u) {
            coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseA> a[FM];
            [[unroll]] for (uint i = 0u; i < FM; i++)
                coopMatLoad(a[i], sa, (buf * BM + sgm * WM + 16u * i) * SAS + kk, SAS,
                            gl_CooperativeMatrixLayoutRowMajor);
            [[unroll]] for (uint j = 0u; j < FN; j++) {
                coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseB> b;
                coopMatLoad(b, sb, (buf * BK + kk) * SBS + sgn * WN + 16u * j, SBS,
                            gl_CooperativeMatrixLayoutRowMajor);
                [[unroll]] for (uint i = 0u; i < FM; i++)
                    acc[i * FN + j] = coopMatMulAdd(a[i], b, acc[i * FN + j]);
            }
        }
#else
        uint wbase = buf * BK * SWS + ty, xbase = buf * BK * BN4 + tx;
        [[unroll]] for (uint kk = 0u; kk < BK; kk++) {
            vec4 a[TM4], b[TN4];
            [[unroll]] for (uint i = 0u; i < TM4; i++) a[i] = sw[wbase + kk * SWS + WY * i];
            [[unroll]] for (uint j = 0u; j < TN4; j++) b[j] = sx[xbase + kk * BN4 + WX * j];
            [[unroll]] for (uint i = 0u; i < TM4; i++)
                [[unroll]] for (uint c = 0u; c < 4u; c++)
                    [[unroll]] for (uint j = 0u; j < TN4; j++)
                        acc[(4u * i + c) * TN4 + j] += a[i][c] * b[j];
        }
#endif
        if (s + 1u < steps) { // uniform: the next step into the other (or, NBUF 1, the same) buffer
            if (NBUF == 1u) barrier();
            buf = NBUF == 1u ? 0u : 1u - buf;
            store(tid, buf);
            if (s + 2u < steps) fetch(tid, (s + 2u) * BK);
            barrier();
        }
    }

#ifdef IG_COOP_KHR
    // each fragment through the subgroup's fp32 staging: lane l takes quads l, l + size, ...
    uint lane = gl_SubgroupInvocationID, st = 256u * sg;
    [[unroll]] for (uint i = 0u; i < FM; i++)
        [[unroll]] for (uint j = 0u; j < FN; j++) {
            coopMatStore(acc[i * FN + j], stage, st, 16u, gl_CooperativeMatrixLayoutRowMajor);
            subgroupMemoryBarrierShared();
            subgroupBarrier();
            for (uint qd = lane; qd < 64u; qd += gl_SubgroupSize) {
                uint row = qd >> 2, at = st + 4u * qd;
                uint qt = (sgn * WN + 16u * j) / 4u + (qd & 3u);
                vec4 v = vec4(stage[at], stage[at + 1u], stage[at + 2u], stage[at + 3u]);
                emit(o0 + sgm * WM + 16u * i + row, qt, v, quad_info(qt));
            }
            subgroupMemoryBarrierShared();
            subgroupBarrier();
        }
#else
    Quad qi[TN4];
    [[unroll]] for (uint j = 0u; j < TN4; j++) qi[j] = quad_info(tx + WX * j);
#ifdef IG_EPI_TORGB
    vec4 prgb[3u * TN4]; // [colour][quad j]: this invocation's share of the tile's ToRGB
    [[unroll]] for (uint j = 0u; j < 3u * TN4; j++) prgb[j] = vec4(0.0);
    uint sb = RGB(s_base) + n * RGB(s_img), wr = RGB(wrgb_base);
#endif
    [[unroll]] for (uint i = 0u; i < TM4; i++)
        [[unroll]] for (uint c = 0u; c < 4u; c++) {
            uint o = o0 + 4u * (ty + WY * i) + c;
            [[unroll]] for (uint j = 0u; j < TN4; j++) {
                vec4 v = emit(o, tx + WX * j, acc[(4u * i + c) * TN4 + j], qi[j]);
#ifdef IG_EPI_TORGB
                if (o < cout) {
                    float f = sv[sb + o];
                    [[unroll]] for (uint col = 0u; col < 3u; col++)
                        prgb[col * TN4 + j] += wrgb[wr + col * cout + o] * f * v;
                }
#endif
            }
        }
#ifdef IG_EPI_TORGB
    // the workgroup's rows of invocations one after another into the tile's sums, then out
    for (uint k = tid; k < 3u * BN4; k += NT) red[k] = vec4(0.0);
    barrier();
    for (uint row = 0u; row < WY; row++) {
        if (ty == row)
            [[unroll]] for (uint col = 0u; col < 3u; col++)
                [[unroll]] for (uint j = 0u; j < TN4; j++)
                    red[col * BN4 + tx + WX * j] += prgb[col * TN4 + j];
        barrier();
    }
    uint pb = RGB(p_base) + n * RGB(p_img) + gl_WorkGroupID.y * 3u * P4 + q0;
    for (uint k = tid; k < 3u * BN4; k += NT) pv[pb + (k / BN4) * P4 + k % BN4] = red[k];
#endif
#endif
}
