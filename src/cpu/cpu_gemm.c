/* cpu_gemm.c - register-blocked GEMM for per-pixel FMM layers.
 *
 * Layout: activations are channel-major [C][P], so one output row is a contiguous run of pixels
 * and the inner loop is a broadcast-weight x vector-of-pixels FMA. The micro-kernel holds a
 * 4 (rows) x 16 (pixels) block of Y in registers and walks k; W is pre-packed into 4-row panels
 * so the four weights of each k are adjacent. Built twice (x86-64-v3 with AVX2+FMA, and the
 * baseline) and picked at load time by the CPU, so one binary runs everywhere. Each output
 * element is summed in k order: results are deterministic for a given machine. */
#include "cpu_gemm.h"

#include <stdlib.h>
#include <string.h>

#include "cpu_simd.h"

void ig_gemm_pack(const float *w, size_t ldw, int m, int k, float *packed) {
    int panels = (m + 3) / 4;
    for (int pn = 0; pn < panels; pn++)
        for (int kk = 0; kk < k; kk++)
            for (int r = 0; r < 4; r++) {
                int o = pn * 4 + r;
                packed[((size_t)pn * k + kk) * 4 + r] = o < m ? w[(size_t)o * ldw + kk] : 0.0f;
            }
}

/* unaligned vector load/store (macros: vectors never cross a function boundary) */
#define ig__load8(dst, p) memcpy(&(dst), (p), sizeof(ig_v8))
#define ig__store8(p, v) memcpy((p), &(v), sizeof(ig_v8))

/* Y[o][p .. p+16) for the 4 rows of one panel. Tail pixels go through the same code on a
 * zero-padded copy, so every output element is computed by the same instructions wherever its
 * pixel falls: tiles of any size and offset give bit-identical results. */
#define IG_KERNEL_4x16(wp0, k, xp0, ldx, acc)                                        \
    do {                                                                             \
        const float *wp_ = (wp0), *xp_ = (xp0);                                      \
        ig_v8 a00 = {0}, a01 = {0}, a10 = {0}, a11 = {0}, a20 = {0}, a21 = {0}, a30 = {0}, a31 = {0}; \
        for (int kk = 0; kk < (k); kk++, xp_ += (ldx), wp_ += 4) {                   \
            ig_v8 x0, x1;                                                            \
            ig__load8(x0, xp_);                                                      \
            ig__load8(x1, xp_ + 8);                                                  \
            a00 += wp_[0] * x0; a01 += wp_[0] * x1;                                  \
            a10 += wp_[1] * x0; a11 += wp_[1] * x1;                                  \
            a20 += wp_[2] * x0; a21 += wp_[2] * x1;                                  \
            a30 += wp_[3] * x0; a31 += wp_[3] * x1;                                  \
        }                                                                            \
        acc[0][0] = a00; acc[0][1] = a01; acc[1][0] = a10; acc[1][1] = a11;          \
        acc[2][0] = a20; acc[2][1] = a21; acc[3][0] = a30; acc[3][1] = a31;          \
    } while (0)

#define IG_STRIPS 8 /* 16-pixel strips per tile: one 4-row weight panel stays in L1 across them */

IG_MULTIVERSION
void ig_gemm_run(const float *packed, int m, int k, const float *x, size_t ldx, float *y,
                 size_t ldy, size_t p0, size_t p1, int accumulate, const float *bias) {
    int panels = (m + 3) / 4;
    /* each 16-pixel strip of X is first copied into a contiguous k x 16 block: activation rows
     * are often a power of two apart (65536 pixels), which would make every k map to the same
     * cache sets; the copy also zero-pads the tail strip */
    float *strips = aligned_alloc(64, ((size_t)IG_STRIPS * k * 16 * sizeof(float) + 63) / 64 * 64);
    if (!strips) return; /* a few hundred KiB: only fails when the process is out of memory anyway */
    for (size_t p = p0; p < p1; p += 16 * IG_STRIPS) {
        int ns = 0;
        size_t widths[IG_STRIPS];
        for (size_t q0 = p; q0 < p1 && ns < IG_STRIPS; q0 += 16, ns++) {
            size_t n = p1 - q0 < 16 ? p1 - q0 : 16;
            widths[ns] = n;
            float *blk = strips + (size_t)ns * k * 16;
            for (int kk = 0; kk < k; kk++) {
                float *dst = blk + (size_t)kk * 16;
                memcpy(dst, x + (size_t)kk * ldx + q0, n * sizeof *dst);
                for (size_t q = n; q < 16; q++) dst[q] = 0.0f;
            }
        }
        for (int pn = 0; pn < panels; pn++) {
            const float *wp = packed + (size_t)pn * k * 4;
            for (int st = 0; st < ns; st++) {
                ig_v8 acc[4][2];
                IG_KERNEL_4x16(wp, k, strips + (size_t)st * k * 16, 16, acc);
                size_t n = widths[st], q0 = p + 16 * (size_t)st;
                for (int r = 0; r < 4; r++) {
                    int o = pn * 4 + r;
                    if (o >= m) break;
                    float *yp = y + (size_t)o * ldy + q0;
                    float tmp[16];
                    ig__store8(tmp, acc[r][0]);
                    ig__store8(tmp + 8, acc[r][1]);
                    if (accumulate)
                        for (size_t q = 0; q < n; q++) tmp[q] += yp[q];
                    if (bias) /* epilogue: lrelu(y + b, 0.2) * sqrt(2) */
                        for (int q = 0; q < 16; q++) {
                            float v = tmp[q] + bias[o];
                            tmp[q] = (v < 0 ? v * 0.2f : v) * 1.41421356237309504880f;
                        }
                    memcpy(yp, tmp, n * sizeof *tmp);
                }
            }
        }
    }
    free(strips);
}

/* sum_k a[k] b[k] with 8 interleaved partial sums added in a fixed order (deterministic). */
IG_MULTIVERSION
float ig_dot(const float *a, const float *b, int n) {
    ig_v8 acc = {0};
    int k = 0;
    for (; k + 8 <= n; k += 8) {
        ig_v8 x, y;
        ig__load8(x, a + k);
        ig__load8(y, b + k);
        acc += x * y;
    }
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; k < n; k++) s += a[k] * b[k];
    return s;
}

/* y[i] += alpha x[i] */
IG_MULTIVERSION
void ig_axpy(float alpha, const float *x, float *y, int n) {
    for (int i = 0; i < n; i++) y[i] += alpha * x[i];
}
