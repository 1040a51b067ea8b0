#version 450
// level.comp - one multi-scale INR level (or one section of it) for a band of pixels of a
// group of images: one invocation = one pixel of one image, all its layers in registers.
//
//   x   = input features: none (first level), up2(previous level) or same grid (section
//         continuation of the -bil models); e = the level's coordinate embedding
//   for each op of the section:
//     FMM   : [x *= inv_std]  y[o] = lrelu(sum_i W[o][i] [x;e][i] + b[o]) * sqrt2 ;  x = y
//     TORGB : rgb[c] += sum_i Wrgb[c][i] m[i] x[i] + brgb[c]
//   rgb starts at 0, up2(previous rgb) or the same-grid rgb; stored at the end (and x if needed)
//
// up2 follows the plan's maps (src/plan.c): fine row i of the band reads input rows r0, r1
// with weight rw (row map entry {r0, r1, rw, 0}), fine column j reads columns c0, c1 with weight
// cw; nearest maps have r1 = r0, weight 0 and copy the value exactly (bilinear: align_corners).
// W is read from the per-image weights of the weight-generation pass, or (IG_FUSED) rebuilt
// from the rank factors: Ws[o][i] (1 + L[o].R[:,i]/sqrt(r)) / (|row| + 1e-8).
// Storage of W, e and features: fp32, or fp16 with IG_F16; arithmetic is always fp32.
//
// Dispatch record at meta[rec]: IGR_LEVEL, op records at meta[op_first + IGR_LEVEL_OP_WORDS k]:
// IGR_LEVEL_OP (shaders/records/level.h; src/vk/vk_inrgan.c writes them). params: the
// section's shared weights and biases; op offsets are relative to params_base.
#extension GL_GOOGLE_include_directive : require
#include "records/level.h"
#define REC(f) meta[r + IGR_LEVEL_##f] // a field of this dispatch's record
#define OP(f) meta[o + IGR_LEVEL_OP_##f]
#ifdef IG_F16
#extension GL_EXT_shader_16bit_storage : require
#define ST float16_t
#else
#define ST float
#endif
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const int CMAX = 64; // widest feature vector of the model
layout(constant_id = 2) const int EMAX = 64; // widest embedding of the model

layout(std430, binding = 0) readonly buffer Meta { uint meta[]; };
layout(std430, binding = 1) readonly buffer Params { float params[]; };
layout(std430, binding = 2) readonly buffer Fac { float fac[]; };
#ifdef IG_FUSED
layout(std430, binding = 3) readonly buffer RowN { float rown[]; };
#else
layout(std430, binding = 3) readonly buffer GenW { ST gw[]; };
#endif
layout(std430, binding = 4) readonly buffer Emb { ST emb[]; };
layout(std430, binding = 5) readonly buffer FIn { ST fin[]; };
layout(std430, binding = 6) writeonly buffer FOut { ST fout[]; };
layout(std430, binding = 7) readonly buffer RIn { float rin[]; };
layout(std430, binding = 8) writeonly buffer ROut { float rout[]; };
layout(std430, binding = 9) readonly buffer Inv { float inv[]; };
layout(std430, binding = 10) readonly buffer RowMap { uint rowmap[]; };
layout(std430, binding = 11) readonly buffer ColMap { uint colmap[]; };
layout(push_constant) uniform PC { uint rec; } pc;

float xa[CMAX];
float ya[CMAX];
float ea[EMAX];

float mix4(float v00, float v01, float v10, float v11, float fx, float fy) {
    if (fx == 0.0 && fy == 0.0) return v00;
    float t = v00 * (1.0 - fx) + v01 * fx;
    float u = v10 * (1.0 - fx) + v11 * fx;
    return t * (1.0 - fy) + u * fy;
}

void main() {
    uint r = pc.rec;
    uint W = REC(w), Wc = REC(wc);
    uint row0 = REC(row0), rows = REC(rows);
    uint p = gl_GlobalInvocationID.x, n = gl_GlobalInvocationID.y;
    if (p >= rows * W || n >= REC(n_img)) return;
    uint ly = p / W, x = p - ly * W, y = row0 + ly;
    uint in_mode = REC(in_mode), rgb_mode = REC(rgb_mode);
    uint c_fin = REC(c_fin), c_emb = REC(c_emb);

    // the up-sampling taps of this pixel (in_mode 1): rows relative to the input window
    uint y0 = 0u, y1 = 0u, x0 = 0u, x1 = 0u;
    float fy = 0.0, fx = 0.0;
    if (in_mode == 1u) {
        uint rm = REC(rowmap_base) + 4u * ly, cm = REC(colmap_base) + 4u * x;
        y0 = rowmap[rm] - REC(in_row0);
        y1 = rowmap[rm + 1u] - REC(in_row0);
        fy = uintBitsToFloat(rowmap[rm + 2u]);
        x0 = colmap[cm];
        x1 = colmap[cm + 1u];
        fx = uintBitsToFloat(colmap[cm + 2u]);
    }

    // input features
    uint cx = 0u;
    if (in_mode == 3u) {
        uint b = REC(fin_base) + n * REC(fin_stride) + ((y - REC(in_row0)) * W + x) * c_fin;
        for (uint i = 0u; i < c_fin; i++) xa[i] = float(fin[b + i]);
        cx = c_fin;
    } else if (in_mode == 1u) {
        uint b = REC(fin_base) + n * REC(fin_stride);
        uint q00 = b + (y0 * Wc + x0) * c_fin, q01 = b + (y0 * Wc + x1) * c_fin;
        uint q10 = b + (y1 * Wc + x0) * c_fin, q11 = b + (y1 * Wc + x1) * c_fin;
        for (uint i = 0u; i < c_fin; i++)
            xa[i] = mix4(float(fin[q00 + i]), float(fin[q01 + i]), float(fin[q10 + i]),
                         float(fin[q11 + i]), fx, fy);
        cx = c_fin;
    }
    if (c_emb > 0u) {
        uint b = REC(e_base) + p * c_emb;
        for (uint i = 0u; i < c_emb; i++) ea[i] = float(emb[b + i]);
    }

    // running rgb
    vec3 rgb = vec3(0.0);
    uint rb = REC(rin_base) + n * REC(rin_stride);
    if (rgb_mode == 3u) {
        uint q = rb + ((y - REC(rin_row0)) * W + x) * 3u;
        rgb = vec3(rin[q], rin[q + 1u], rin[q + 2u]);
    } else if (rgb_mode == 1u) { // same rows as the features (rin_row0 == in_row0)
        uint q00 = rb + (y0 * Wc + x0) * 3u, q01 = rb + (y0 * Wc + x1) * 3u;
        uint q10 = rb + (y1 * Wc + x0) * 3u, q11 = rb + (y1 * Wc + x1) * 3u;
        for (uint c = 0u; c < 3u; c++)
            rgb[c] = mix4(rin[q00 + c], rin[q01 + c], rin[q10 + c], rin[q11 + c], fx, fy);
    }

    uint s_img = REC(s_base) + n * REC(s_stride);
#ifdef IG_FUSED
    uint rank = REC(rank);
    float isr = uintBitsToFloat(REC(isr));
    uint rn_img = REC(gw_base) + n * REC(gw_stride);
#else
    uint gw_img = REC(gw_base) + n * REC(gw_stride);
#endif
    uint op_first = REC(op_first), op_count = REC(op_count), pb = REC(params_base);
    for (uint k = 0u; k < op_count; k++) {
        uint o = op_first + IGR_LEVEL_OP_WORDS * k;
        uint c_in = OP(c_x);
        if (OP(kind) == 1u) {
            uint ce = OP(c_e), c_out = OP(c_out), wrow = c_in + ce;
            uint bb = pb + OP(b_off);
            if (OP(in_norm) != 0u) {
                uint ib = REC(inv_base) + n * REC(inv_stride) + OP(inv_off);
                for (uint i = 0u; i < c_in; i++) xa[i] *= inv[ib + i];
            }
            for (uint oc = 0u; oc < c_out; oc++) {
                float acc = 0.0;
#ifdef IG_FUSED
                uint lb = s_img + OP(s_off) + oc * rank;
                uint rbase = s_img + OP(s_off) + c_out * rank;
                uint ws = pb + OP(ws_off) + oc * wrow;
                for (uint i = 0u; i < c_in; i++) {
                    float m = 0.0;
                    for (uint j = 0u; j < rank; j++) m += fac[lb + j] * fac[rbase + j * wrow + i];
                    acc += params[ws + i] * (1.0 + m * isr) * xa[i];
                }
                for (uint i = 0u; i < ce; i++) {
                    float m = 0.0;
                    for (uint j = 0u; j < rank; j++)
                        m += fac[lb + j] * fac[rbase + j * wrow + c_in + i];
                    acc += params[ws + c_in + i] * (1.0 + m * isr) * ea[i];
                }
                acc *= rown[rn_img + OP(rn_off) + oc];
#else
                uint wb = gw_img + OP(gw_off) + oc * wrow;
                for (uint i = 0u; i < c_in; i++) acc += float(gw[wb + i]) * xa[i];
                for (uint i = 0u; i < ce; i++) acc += float(gw[wb + c_in + i]) * ea[i];
#endif
                acc += params[bb + oc];
                ya[oc] = (acc < 0.0 ? 0.2 * acc : acc) * 1.4142135623730951;
            }
            for (uint i = 0u; i < c_out; i++) xa[i] = ya[i];
            cx = c_out;
        } else {
            uint wb = pb + OP(ws_off), mb = s_img + OP(s_off);
            for (uint c = 0u; c < 3u; c++) {
                float acc = 0.0;
                for (uint i = 0u; i < c_in; i++) acc += params[wb + c * c_in + i] * (fac[mb + i] * xa[i]);
                rgb[c] += acc + params[pb + OP(b_off) + c];
            }
        }
    }

    if (REC(store_feat) != 0u) {
        uint b = REC(fout_base) + n * REC(fout_stride) + p * cx;
        for (uint i = 0u; i < cx; i++) fout[b + i] = ST(xa[i]);
    }
    uint q = REC(rout_base) + n * REC(rout_stride) + p * 3u;
    rout[q] = rgb.x;
    rout[q + 1u] = rgb.y;
    rout[q + 2u] = rgb.z;
}
