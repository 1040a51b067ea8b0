#version 450
// level_coop.comp - one level (or section) on tensor cores: a workgroup of one subgroup owns a
// tile of 16 pixels of one image and runs every layer of the section on it, activations kept
// in shared memory as fp16 [16][XS] (ping-pong), weights read as 16x16 fp16 tiles, fp32
// accumulation (GL_NV_cooperative_matrix, 16x16x16, f16 x f16 + f32).
//
//   Y[16 x Npad] = X[16 x Kpad] . W^T        W = the generated weights, per image, stored
//                                             [Npad][Kpad] fp16 with zero padding (wgen.comp
//                                             with a row stride), read column-major as W^T
//   then per element: y = lrelu(acc + b) * sqrt2 (zero in the padding), fp16 into the other
//   half of shared memory. ToRGB: 16 pixels x 3 dot products, rgb kept in fp32.
//
// IG_COOP_NV : the tensor-core kernel (needs VK_NV_cooperative_matrix, shaderFloat16,
//              vulkanMemoryModel; workgroup = one subgroup).
// IG_COOP_EMU: the same tiling, layouts and indexing with the matrix products done by plain
//              loops, so that lavapipe (no cooperative matrix) tests everything but the
//              tensor-core instructions themselves (needs shaderFloat16 for fp16 shared memory).
// The dispatch record and op records are level.comp's (shaders/records/level.h), with the op
// records' kpad and npad.
// Storage is always fp16 (the coopmat path implies --precision fp16).
#extension GL_GOOGLE_include_directive : require
#include "records/level.h"
#define REC(f) meta[r + IGR_LEVEL_##f] // a field of this dispatch's record
#define OP(f) meta[o + IGR_LEVEL_OP_##f]
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#ifdef IG_COOP_NV
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#endif
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint XS = 32u; // shared row stride: max padded width, multiple of 16

layout(std430, binding = 0) readonly buffer Meta { uint meta[]; };
layout(std430, binding = 1) readonly buffer Params { float params[]; };
layout(std430, binding = 2) readonly buffer Fac { float fac[]; };
layout(std430, binding = 3) readonly buffer GenW { float16_t gw[]; };
layout(std430, binding = 4) readonly buffer Emb { float16_t emb[]; };
layout(std430, binding = 5) readonly buffer FIn { float16_t fin[]; };
layout(std430, binding = 6) writeonly buffer FOut { float16_t fout[]; };
layout(std430, binding = 7) readonly buffer RIn { float rin[]; };
layout(std430, binding = 8) writeonly buffer ROut { float rout[]; };
layout(std430, binding = 9) readonly buffer Inv { float inv[]; };
layout(std430, binding = 10) readonly buffer RowMap { uint rowmap[]; };
layout(std430, binding = 11) readonly buffer ColMap { uint colmap[]; };
layout(push_constant) uniform PC { uint rec; } pc;

shared float16_t sx[32u * XS]; // two halves of [16][XS]
shared float sacc[256];        // one 16x16 fp32 accumulator tile, row-major
shared float srgb[48];         // [16][3]

float mix4(float v00, float v01, float v10, float v11, float fx, float fy) {
    if (fx == 0.0 && fy == 0.0) return v00;
    float t = v00 * (1.0 - fx) + v01 * fx;
    float u = v10 * (1.0 - fx) + v11 * fx;
    return t * (1.0 - fy) + u * fy;
}

// The up-sampling taps of band pixel p (rows relative to the input window).
void taps(uint r, uint ly, uint x, out uint y0, out uint y1, out uint x0, out uint x1,
          out float fy, out float fx) {
    uint rm = REC(rowmap_base) + 4u * ly, cm = REC(colmap_base) + 4u * x;
    y0 = rowmap[rm] - REC(in_row0);
    y1 = rowmap[rm + 1u] - REC(in_row0);
    fy = uintBitsToFloat(rowmap[rm + 2u]);
    x0 = colmap[cm];
    x1 = colmap[cm + 1u];
    fx = uintBitsToFloat(colmap[cm + 2u]);
}

void main() {
    uint r = pc.rec;
    uint W = REC(w), Wc = REC(wc);
    uint row0 = REC(row0), rows = REC(rows), npix = rows * W;
    uint n = gl_WorkGroupID.y, tid = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
    uint p0 = gl_WorkGroupID.x * 16u;
    if (n >= REC(n_img)) return; // uniform over the workgroup
    uint in_mode = REC(in_mode), rgb_mode = REC(rgb_mode);
    uint c_fin = REC(c_fin), c_emb = REC(c_emb);
    uint op_first = REC(op_first), op_count = REC(op_count), pb = REC(params_base);
    uint s_img = REC(s_base) + n * REC(s_stride);
    uint gw_img = REC(gw_base) + n * REC(gw_stride);
    uint kin = meta[op_first + IGR_LEVEL_OP_kpad]; // padded width of the first layer's input

    // ---- input tile: [x ; e ; 0] of 16 pixels into half 0 -------------------------------
    for (uint idx = tid; idx < 16u * kin; idx += WG) {
        uint pr = idx / kin, i = idx - pr * kin, p = p0 + pr;
        float v = 0.0;
        if (p < npix) {
            uint ly = p / W, x = p - ly * W, y = row0 + ly;
            if (i < c_fin) {
                uint b = REC(fin_base) + n * REC(fin_stride);
                if (in_mode == 3u) {
                    v = float(fin[b + ((y - REC(in_row0)) * W + x) * c_fin + i]);
                } else if (in_mode == 1u) {
                    uint y0, y1, x0, x1;
                    float fy, fx;
                    taps(r, ly, x, y0, y1, x0, x1, fy, fx);
                    v = mix4(float(fin[b + (y0 * Wc + x0) * c_fin + i]),
                             float(fin[b + (y0 * Wc + x1) * c_fin + i]),
                             float(fin[b + (y1 * Wc + x0) * c_fin + i]),
                             float(fin[b + (y1 * Wc + x1) * c_fin + i]), fx, fy);
                }
            } else if (i < c_fin + c_emb) {
                v = float(emb[REC(e_base) + p * c_emb + (i - c_fin)]);
            }
        }
        sx[pr * XS + i] = float16_t(v);
    }
    for (uint idx = tid; idx < 48u; idx += WG) {
        uint pr = idx / 3u, c = idx - pr * 3u, p = p0 + pr;
        float v = 0.0;
        if (p < npix) {
            uint ly = p / W, x = p - ly * W, y = row0 + ly;
            uint rb = REC(rin_base) + n * REC(rin_stride);
            if (rgb_mode == 3u) {
                v = rin[rb + ((y - REC(rin_row0)) * W + x) * 3u + c];
            } else if (rgb_mode == 1u) {
                uint y0, y1, x0, x1;
                float fy, fx;
                taps(r, ly, x, y0, y1, x0, x1, fy, fx);
                v = mix4(rin[rb + (y0 * Wc + x0) * 3u + c], rin[rb + (y0 * Wc + x1) * 3u + c],
                         rin[rb + (y1 * Wc + x0) * 3u + c], rin[rb + (y1 * Wc + x1) * 3u + c], fx, fy);
            }
        }
        srgb[idx] = v;
    }
    barrier();

    uint cur = 0u, cx = c_fin;
    for (uint k = 0u; k < op_count; k++) {
        uint o = op_first + IGR_LEVEL_OP_WORDS * k;
        uint c_in = OP(c_x);
        uint xo = cur * 16u * XS;
        if (OP(kind) == 1u) {
            uint c_out = OP(c_out), kpad = OP(kpad), npad = OP(npad);
            uint bb = pb + OP(b_off), wb = gw_img + OP(gw_off);
            uint yo = (1u - cur) * 16u * XS;
            if (OP(in_norm) != 0u) { // instance norm of the input channels
                uint ib = REC(inv_base) + n * REC(inv_stride) + OP(inv_off);
                for (uint idx = tid; idx < 16u * c_in; idx += WG) {
                    uint pr = idx / c_in, i = idx - pr * c_in;
                    sx[xo + pr * XS + i] = float16_t(float(sx[xo + pr * XS + i]) * inv[ib + i]);
                }
                barrier();
            }
            for (uint nt = 0u; nt < npad / 16u; nt++) {
#ifdef IG_COOP_NV
                fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> acc = fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>(0.0);
                for (uint kt = 0u; kt < kpad / 16u; kt++) {
                    fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> a;
                    fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> bm;
                    coopMatLoadNV(a, sx, xo + kt * 16u, XS, false);
                    coopMatLoadNV(bm, gw, wb + nt * 16u * kpad + kt * 16u, kpad, true);
                    acc = coopMatMulAddNV(a, bm, acc);
                }
                coopMatStoreNV(acc, sacc, 0u, 16u, false);
#else
                for (uint e = tid; e < 256u; e += WG) {
                    uint pr = e >> 4, c = e & 15u;
                    float s = 0.0;
                    for (uint i = 0u; i < kpad; i++)
                        s += float(sx[xo + pr * XS + i]) * float(gw[wb + (nt * 16u + c) * kpad + i]);
                    sacc[e] = s;
                }
#endif
                barrier();
                for (uint e = tid; e < 256u; e += WG) {
                    uint pr = e >> 4, oc = nt * 16u + (e & 15u);
                    float v = 0.0;
                    if (oc < c_out) {
                        v = sacc[e] + params[bb + oc];
                        v = (v < 0.0 ? 0.2 * v : v) * 1.4142135623730951;
                    }
                    sx[yo + pr * XS + oc] = float16_t(v);
                }
                barrier();
            }
            cur = 1u - cur;
            cx = c_out;
        } else {
            uint wrgb = pb + OP(ws_off), mb = s_img + OP(s_off), brgb = pb + OP(b_off);
            for (uint idx = tid; idx < 48u; idx += WG) {
                uint pr = idx / 3u, c = idx - pr * 3u;
                float acc = 0.0;
                for (uint i = 0u; i < c_in; i++)
                    acc += params[wrgb + c * c_in + i] * (fac[mb + i] * float(sx[xo + pr * XS + i]));
                srgb[idx] += acc + params[brgb + c];
            }
            barrier();
        }
    }

    // ---- outputs -------------------------------------------------------------------------
    uint xo = cur * 16u * XS;
    if (REC(store_feat) != 0u) {
        uint fb = REC(fout_base) + n * REC(fout_stride);
        for (uint idx = tid; idx < 16u * cx; idx += WG) {
            uint pr = idx / cx, i = idx - pr * cx, p = p0 + pr;
            if (p < npix) fout[fb + p * cx + i] = sx[xo + pr * XS + i];
        }
    }
    uint q = REC(rout_base) + n * REC(rout_stride);
    for (uint idx = tid; idx < 48u; idx += WG) {
        uint p = p0 + idx / 3u;
        if (p < npix) rout[q + p * 3u + (idx - (idx / 3u) * 3u)] = srgb[idx];
    }
}
