#version 450
// rgb_accum.comp - a ToRGB layer for a chunk of pixels of a group of images, accumulated into
// rgb planes, used by both families:
//   rgb[n][o][p] = start(n, o, p) + (sum_i Wrgb[n][o][i] X[n][i][p] + b[o])   for o < 3, p < np
//   CIPS (CIPSskip to_rgbs.K after linears.2K+1, src/cpu/cpu_cips.c ig__cips_chunk): Wrgb is the
//     image's modulated (not demodulated) weight from cips_wgen.comp, [3][c_in]
//   IG_RGB_MOD (INR-GAN, the "gemm" level kernel of src/vk/vk_inrgan.c): Wrgb[n][o][i] =
//     W_rgb[o][i] s_n[i] with W_rgb shared (model params) and s_n the image's ToRGB factors
// IG_RGB_PART (with IG_RGB_MOD): the sums themselves come from layer_gemm.comp's fused ToRGB
// (IG_EPI_TORGB): X holds c_in partial sums per colour, [c_in][3][P], added up here.
// X is channel-major [c_in][P] (IG_F16: stored as fp16; CIPS with fp16 storage also has
// IG_W16: its per-image weights Wrgb stored as fp16). start: 0 (mode 1), the plane's own
// value (mode 0: accumulate),
// or (mode 2, IG_RGB_MOD) the previous level's rgb up-sampled through the plan's maps {r0, r1,
// rw} x {c0, c1, cw}: nearest, one tap r0[p / width] Wc + c0[p % width]; bilinear
// (align_corners), the four taps mixed (the running rgb's skip, reference section 1.6). The
// three planes are bound one per binding (CIPS: the render's [N][3][H*W] output; INR-GAN: the
// per-image [3][P] rgb buffer). One invocation per (pixel, image). Record at meta[rec]:
// IGR_RGB, with IG_RGB_MOD IGR_RGB_MOD (shaders/records/rgb.h).
// Bindings: 1 X, 2 per-image weights (IG_RGB_MOD: factors s), 3 bias (and W_rgb) from the
// model, 4 red, 5 green, 6 blue; IG_RGB_MOD: 7 coarse rgb, 8 row map, 9 column map.
#extension GL_GOOGLE_include_directive : require
#ifdef IG_F16
#extension GL_EXT_shader_16bit_storage : require
#endif
#include "records/rgb.h"
#define REC(f) meta[r + IGR_RGB_##f] // a field of this dispatch's record
#define MOD(f) meta[r + IGR_RGB_MOD_##f]
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer Meta { uint meta[]; };
#ifdef IG_F16 // X stored as fp16 (the gemm level kernel's fp16 path)
layout(std430, binding = 1) readonly buffer X { float16_t xv[]; };
#else
layout(std430, binding = 1) readonly buffer X { float xv[]; };
#endif
#ifdef IG_W16 // CIPS with fp16 storage: the per-image ToRGB weights are fp16 too
layout(std430, binding = 2) readonly buffer Wt { float16_t wt[]; };
#else
layout(std430, binding = 2) readonly buffer Wt { float wt[]; };
#endif
layout(std430, binding = 3) readonly buffer Params { float params[]; };
layout(std430, binding = 4) buffer R { float rv[]; };
layout(std430, binding = 5) buffer G { float gv[]; };
layout(std430, binding = 6) buffer B { float bv[]; };
#ifdef IG_RGB_MOD
layout(std430, binding = 7) readonly buffer Coarse { float cv[]; };
layout(std430, binding = 8) readonly buffer RowMap { uint rowmap[]; };
layout(std430, binding = 9) readonly buffer ColMap { uint colmap[]; };
#endif
layout(push_constant) uniform PC { uint rec; } pc;

void main() {
    uint r = pc.rec;
    uint cin = REC(c_in), P = REC(p);
    uint p = gl_GlobalInvocationID.x, n = gl_GlobalInvocationID.y;
    if (p >= REC(np) || n >= REC(n_img)) return;
    uint xb = REC(x_base) + n * REC(x_img) + p;
    uint wb = REC(w_base) + n * REC(w_img);
    float a0 = 0.0, a1 = 0.0, a2 = 0.0;
#ifdef IG_RGB_PART // the layer's fused partial sums: c_in of them per colour, X = [c_in][3][P]
    for (uint i = 0u; i < cin; i++) {
        uint at = xb + 3u * i * P;
        a0 += float(xv[at]);
        a1 += float(xv[at + P]);
        a2 += float(xv[at + 2u * P]);
    }
#elif defined(IG_RGB_MOD)
    uint sb = MOD(wrgb_base);
    for (uint i = 0u; i < cin; i++) {
        float x = wt[wb + i] * float(xv[xb + i * P]);
        a0 += params[sb + i] * x;
        a1 += params[sb + cin + i] * x;
        a2 += params[sb + 2u * cin + i] * x;
    }
#else
    for (uint i = 0u; i < cin; i++) {
        float x = float(xv[xb + i * P]);
        a0 += float(wt[wb + i]) * x;
        a1 += float(wt[wb + cin + i]) * x;
        a2 += float(wt[wb + 2u * cin + i]) * x;
    }
#endif
    uint bb = REC(b_base);
    a0 += params[bb];
    a1 += params[bb + 1u];
    a2 += params[bb + 2u];
    uint q = n * REC(out_img) + p;
    uint qr = REC(out_r) + q, qg = REC(out_g) + q, qb = REC(out_b) + q;
    uint mode = REC(mode);
    if (mode == 1u) {
        rv[qr] = a0;
        gv[qg] = a1;
        bv[qb] = a2;
#ifdef IG_RGB_MOD
    } else if (mode == 2u) {
        uint width = MOD(width), y = p / width, wc = MOD(wc);
        uint rm = MOD(rowmap_base) + 4u * y, cm = MOD(colmap_base) + 4u * (p - y * width);
        uint r0 = rowmap[rm], c0 = colmap[cm];
        uint cb = MOD(c_base) + n * MOD(c_img) + r0 * wc + c0, cp = MOD(c_p);
        float fx = uintBitsToFloat(colmap[cm + 2u]), fy = uintBitsToFloat(rowmap[rm + 2u]);
        if (fx == 0.0 && fy == 0.0) { // nearest (or an exact bilinear tap): one value
            rv[qr] = cv[cb] + a0;
            gv[qg] = cv[cb + cp] + a1;
            bv[qb] = cv[cb + 2u * cp] + a2;
        } else { // bilinear (align_corners): taps (r0|r1, c0|c1)
            uint dx = colmap[cm + 1u] - c0, dy = (rowmap[rm + 1u] - r0) * wc;
            vec3 acc = vec3(a0, a1, a2);
            for (uint o = 0u; o < 3u; o++) {
                uint s = cb + o * cp;
                float u = cv[s] * (1.0 - fx) + cv[s + dx] * fx;
                float w = cv[s + dy] * (1.0 - fx) + cv[s + dy + dx] * fx;
                acc[o] += u * (1.0 - fy) + w * fy;
            }
            rv[qr] = acc[0];
            gv[qg] = acc[1];
            bv[qb] = acc[2];
        }
#endif
    } else {
        rv[qr] = rv[qr] + a0;
        gv[qg] = gv[qg] + a1;
        bv[qb] = bv[qb] + a2;
    }
}
