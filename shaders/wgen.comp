#version 450
// wgen.comp - FMM weights of one layer for a batch of images (reference section 1.4):
//   Wt[o][i] = Ws[o][i] * (1 + sum_k L[o][k] R[k][i] / sqrt(r)),  W[o][:] = Wt[o][:] / (|Wt[o][:]| + 1e-8)
// with L = s[0 : cout*r] as [cout][r], R = s[cout*r :] as [r][wrow] (s = the layer's affine head).
// IG_NORM_ONLY: write only 1/(|Wt[o]| + 1e-8) (the fused level kernel rebuilds W itself).
// One workgroup of 256 invocations per (block of WG_BR = 32 rows of a chunk of rows, image):
// the block's L rows are staged in shared memory (read from s when rank > 32), R in slices of
// columns (as many as WG_RS floats hold, a specialization constant: the whole of R when
// rank * wrow <= WG_RS, e.g. FFHQ's rank 10 x 688 with 48 KiB of shared memory). Subgroup-
// sized run g = t / 32 of invocations takes rows g + 8 u (u < 4), its 32 lanes stride along the
// row, so W_s is read and W written contiguous along i. Pass 1 sums each row's Wt^2 (per lane,
// then the 32 lanes' partials in shared memory, in lane order), pass 2 recomputes Wt and writes
// Wt / (|Wt| + 1e-8) in the storage precision (IG_F16: fp16). As before this layout, the k sum
// of L R runs k = 0 .. r-1 and is then scaled by 1/sqrt(r) (the CPU backend scales each term);
// the row's sum of squares now adds 32 per-lane partials, a different rounding order.
// Record: IGR_WGEN (shaders/records/wgen.h; src/vk/vk_inrgan.c dispatches ceil(rows / 32) x
// n_img workgroups); the coopmat kernel reads rows padded to a multiple of 16, zero-filled
// beforehand (out_row_stride). Shared memory: 8,320 bytes + 4 WG_RS.
#extension GL_GOOGLE_include_directive : require
#include "records/wgen.h"
#define REC(f) meta[r + IGR_WGEN_##f] // a field of this dispatch's record
#ifdef IG_F16
#extension GL_EXT_shader_16bit_storage : require
#define ST float16_t
#else
#define ST float
#endif
#define WG_BR 32u   // rows per workgroup
#define WG_LS 1024u // staged L: WG_BR rows of rank <= 32
layout(local_size_x = 256) in;
// staged R, rank x (a slice of columns): as many floats as the device's shared memory holds
// beside the other arrays (src/vk/vk_inrgan.c ig__wgen_rs; 1984 within 16 KiB)
layout(constant_id = 0) const uint WG_RS = 1984u;

layout(std430, binding = 0) readonly buffer Meta { uint meta[]; };
layout(std430, binding = 1) readonly buffer Params { float params[]; };
layout(std430, binding = 2) readonly buffer Fac { float fac[]; };
#ifdef IG_NORM_ONLY
layout(std430, binding = 3) writeonly buffer Out { float outv[]; };
#else
layout(std430, binding = 3) writeonly buffer Out { ST outv[]; };
#endif
layout(push_constant) uniform PC { uint rec; } pc;

shared float sl[WG_LS];          // [row][k]
shared float sr[WG_RS];          // [k][column of the slice]
shared float red[WG_BR * 32u];   // [row][lane]: partial sums of squares
shared float sinv[WG_BR];        // 1 / (|Wt[row]| + 1e-8)

uint g_rank, g_lb, g_rb, g_wrow, g_ic;
bool g_lsh;

// stages R[:, i0 : i0 + g_ic] into sr (between barriers)
void stage_r(uint i0, uint t) {
    uint n = g_rank * g_ic;
    for (uint e = t; e < n; e += 256u) {
        uint k = e / g_ic, ii = e - k * g_ic;
        sr[e] = i0 + ii < g_wrow ? fac[g_rb + k * g_wrow + i0 + ii] : 0.0;
    }
}

// sum_k L[row][k] R[k][i0 + ii] (ii inside the staged slice)
float lr(uint row, uint ii) {
    float m = 0.0;
    if (g_lsh) {
        for (uint k = 0u; k < g_rank; k++) m += sl[row * g_rank + k] * sr[k * g_ic + ii];
    } else {
        for (uint k = 0u; k < g_rank; k++) m += fac[g_lb + row * g_rank + k] * sr[k * g_ic + ii];
    }
    return m;
}

void main() {
    uint r = pc.rec;
    uint wrow = REC(wrow), cout = REC(cout), rank = REC(rank), rows = REC(rows);
    uint t = gl_LocalInvocationID.x, lane = t & 31u, grp = t >> 5u;
    uint n = gl_WorkGroupID.y, ob = gl_WorkGroupID.x * WG_BR; // first row of the block
    // the dispatch covers rows x n_img exactly along y: no early exit before the barriers
    float isr = uintBitsToFloat(REC(isr));
    uint sb = REC(s_base) + n * REC(s_stride);
    g_rank = rank;
    g_wrow = wrow;
    g_lb = sb + (REC(o0) + ob) * rank; // L row of the block's first row
    g_rb = sb + cout * rank;
    g_ic = min(wrow, WG_RS / rank);    // columns per staged slice (rank <= 1024: >= 1)
    g_lsh = rank * WG_BR <= WG_LS;
    uint nrow = min(WG_BR, rows - min(rows, ob)); // rows of this block
    if (g_lsh)
        for (uint e = t; e < nrow * rank; e += 256u) sl[e] = fac[g_lb + e];
    uint ws = REC(ws_base) + ob * wrow;
    // pass 1: sums of squares of Wt per row
    float ss[4] = float[4](0.0, 0.0, 0.0, 0.0);
    for (uint i0 = 0u; i0 < wrow; i0 += g_ic) {
        barrier();
        stage_r(i0, t);
        barrier();
        uint ic = min(g_ic, wrow - i0);
        for (uint u = 0u; u < 4u; u++) {
            uint row = grp + 8u * u;
            if (row >= nrow) break;
            for (uint ii = lane; ii < ic; ii += 32u) {
                float w = params[ws + row * wrow + i0 + ii] * (1.0 + lr(row, ii) * isr);
                ss[u] += w * w;
            }
        }
    }
    for (uint u = 0u; u < 4u; u++) red[(grp + 8u * u) * 32u + lane] = ss[u];
    barrier();
    if (t < WG_BR) {
        float s = 0.0;
        for (uint c = 0u; c < 32u; c++) s += red[t * 32u + c];
        sinv[t] = 1.0 / (sqrt(s) + 1e-8);
    }
    barrier();
#ifdef IG_NORM_ONLY
    if (t < nrow) outv[REC(out_base) + n * REC(out_stride) + ob + t] = sinv[t];
#else
    uint ostride = REC(out_row_stride) != 0u ? REC(out_row_stride) : wrow;
    uint obase = REC(out_base) + n * REC(out_stride) + ob * ostride;
    // pass 2: the weights (R is still staged when one slice holds it)
    bool one = g_ic >= wrow;
    for (uint i0 = 0u; i0 < wrow; i0 += g_ic) {
        if (!one) {
            barrier();
            stage_r(i0, t);
            barrier();
        }
        uint ic = min(g_ic, wrow - i0);
        for (uint u = 0u; u < 4u; u++) {
            uint row = grp + 8u * u;
            if (row >= nrow) break;
            float inv = sinv[row];
            for (uint ii = lane; ii < ic; ii += 32u) {
                float w = params[ws + row * wrow + i0 + ii] * (1.0 + lr(row, ii) * isr);
                outv[obase + row * ostride + i0 + ii] = ST(w * inv);
            }
        }
    }
#endif
}
