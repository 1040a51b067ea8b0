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
// Dispatch record at meta[rec] (src/vk/vk_render.c writes it):
//   0 op_first 1 op_count 2 in_mode 3 rgb_mode 4 store_feat 5 c_fin 6 c_fout 7 c_emb
//   8 H 9 W 10 Hc 11 Wc 12 row0 13 rows 14 in_row0 15 n_img
//   16 s_base 17 gw_base 18 e_base 19 fin_base 20 fout_base 21 rin_base 22 rout_base 23 inv_base
//   24 s_stride 25 gw_stride 26 fin_stride 27 fout_stride 28 rin_stride 29 rout_stride
//   30 inv_stride 31 rank 32 1/sqrt(rank) 33 rin_row0 34 params_base 35 rowmap_base
//   36 colmap_base
// (params: the section's shared weights and biases; op offsets are relative to params_base)
// Op record (16 uints) at meta[op_first + 16 k]:
//   FMM  : 0 =1  1 c_x  2 c_e  3 c_out  4 w_off  5 b_off  6 in_norm  7 s_off  8 rn_off  9 ws_off
//          12 inv_off (its instance-norm factors inside the per-image inv vector)
//   TORGB: 0 =2  1 c_in                          5 b_off              7 m_off            9 w_off
// Modes: 0 none/zero, 1 up2 through the maps, 3 same grid.
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
    uint W = meta[r + 9], Wc = meta[r + 11];
    uint row0 = meta[r + 12], rows = meta[r + 13];
    uint p = gl_GlobalInvocationID.x, n = gl_GlobalInvocationID.y;
    if (p >= rows * W || n >= meta[r + 15]) return;
    uint ly = p / W, x = p - ly * W, y = row0 + ly;
    uint in_mode = meta[r + 2], rgb_mode = meta[r + 3];
    uint c_fin = meta[r + 5], c_emb = meta[r + 7];

    // the up-sampling taps of this pixel (in_mode 1): rows relative to the input window
    uint y0 = 0u, y1 = 0u, x0 = 0u, x1 = 0u;
    float fy = 0.0, fx = 0.0;
    if (in_mode == 1u) {
        uint rm = meta[r + 35] + 4u * ly, cm = meta[r + 36] + 4u * x;
        y0 = rowmap[rm] - meta[r + 14];
        y1 = rowmap[rm + 1u] - meta[r + 14];
        fy = uintBitsToFloat(rowmap[rm + 2u]);
        x0 = colmap[cm];
        x1 = colmap[cm + 1u];
        fx = uintBitsToFloat(colmap[cm + 2u]);
    }

    // input features
    uint cx = 0u;
    if (in_mode == 3u) {
        uint b = meta[r + 19] + n * meta[r + 26] + ((y - meta[r + 14]) * W + x) * c_fin;
        for (uint i = 0u; i < c_fin; i++) xa[i] = float(fin[b + i]);
        cx = c_fin;
    } else if (in_mode == 1u) {
        uint b = meta[r + 19] + n * meta[r + 26];
        uint q00 = b + (y0 * Wc + x0) * c_fin, q01 = b + (y0 * Wc + x1) * c_fin;
        uint q10 = b + (y1 * Wc + x0) * c_fin, q11 = b + (y1 * Wc + x1) * c_fin;
        for (uint i = 0u; i < c_fin; i++)
            xa[i] = mix4(float(fin[q00 + i]), float(fin[q01 + i]), float(fin[q10 + i]),
                         float(fin[q11 + i]), fx, fy);
        cx = c_fin;
    }
    if (c_emb > 0u) {
        uint b = meta[r + 18] + p * c_emb;
        for (uint i = 0u; i < c_emb; i++) ea[i] = float(emb[b + i]);
    }

    // running rgb
    vec3 rgb = vec3(0.0);
    uint rb = meta[r + 21] + n * meta[r + 28];
    if (rgb_mode == 3u) {
        uint q = rb + ((y - meta[r + 33]) * W + x) * 3u;
        rgb = vec3(rin[q], rin[q + 1u], rin[q + 2u]);
    } else if (rgb_mode == 1u) { // same rows as the features (rin_row0 == in_row0)
        uint q00 = rb + (y0 * Wc + x0) * 3u, q01 = rb + (y0 * Wc + x1) * 3u;
        uint q10 = rb + (y1 * Wc + x0) * 3u, q11 = rb + (y1 * Wc + x1) * 3u;
        for (uint c = 0u; c < 3u; c++)
            rgb[c] = mix4(rin[q00 + c], rin[q01 + c], rin[q10 + c], rin[q11 + c], fx, fy);
    }

    uint s_img = meta[r + 16] + n * meta[r + 24];
#ifdef IG_FUSED
    uint rank = meta[r + 31];
    float isr = uintBitsToFloat(meta[r + 32]);
    uint rn_img = meta[r + 17] + n * meta[r + 25];
#else
    uint gw_img = meta[r + 17] + n * meta[r + 25];
#endif
    uint op_first = meta[r + 0], op_count = meta[r + 1], pb = meta[r + 34];
    for (uint k = 0u; k < op_count; k++) {
        uint o = op_first + 16u * k;
        uint c_in = meta[o + 1];
        if (meta[o] == 1u) {
            uint ce = meta[o + 2], c_out = meta[o + 3], wrow = c_in + ce;
            uint bb = pb + meta[o + 5];
            if (meta[o + 6] != 0u) {
                uint ib = meta[r + 23] + n * meta[r + 30] + meta[o + 12];
                for (uint i = 0u; i < c_in; i++) xa[i] *= inv[ib + i];
            }
            for (uint oc = 0u; oc < c_out; oc++) {
                float acc = 0.0;
#ifdef IG_FUSED
                uint lb = s_img + meta[o + 7] + oc * rank;
                uint rbase = s_img + meta[o + 7] + c_out * rank;
                uint ws = pb + meta[o + 9] + oc * wrow;
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
                acc *= rown[rn_img + meta[o + 8] + oc];
#else
                uint wb = gw_img + meta[o + 4] + oc * wrow;
                for (uint i = 0u; i < c_in; i++) acc += float(gw[wb + i]) * xa[i];
                for (uint i = 0u; i < ce; i++) acc += float(gw[wb + c_in + i]) * ea[i];
#endif
                acc += params[bb + oc];
                ya[oc] = (acc < 0.0 ? 0.2 * acc : acc) * 1.4142135623730951;
            }
            for (uint i = 0u; i < c_out; i++) xa[i] = ya[i];
            cx = c_out;
        } else {
            uint wb = pb + meta[o + 9], mb = s_img + meta[o + 7];
            for (uint c = 0u; c < 3u; c++) {
                float acc = 0.0;
                for (uint i = 0u; i < c_in; i++) acc += params[wb + c * c_in + i] * (fac[mb + i] * xa[i]);
                rgb[c] += acc + params[pb + meta[o + 5] + c];
            }
        }
    }

    if (meta[r + 4] != 0u) {
        uint b = meta[r + 20] + n * meta[r + 27] + p * cx;
        for (uint i = 0u; i < cx; i++) fout[b + i] = ST(xa[i]);
    }
    uint q = meta[r + 22] + n * meta[r + 29] + p * 3u;
    rout[q] = rgb.x;
    rout[q + 1u] = rgb.y;
    rout[q + 2u] = rgb.z;
}
