/* cpu_gemm.c - register-blocked GEMM for per-pixel FMM layers.
 *
 * Layout: activations are channel-major [C][P], so one output row is a contiguous run of pixels
 * and the inner loop is a broadcast-weight x vector-of-pixels FMA. The micro-kernel holds a
 * 4 (rows) x 16 (pixels) block of Y in registers and walks k; W is pre-packed into 4-row panels
 * so the four weights of each k are adjacent. Built twice (x86-64-v3 with AVX2+FMA, and the
 * baseline) and picked at load time by the CPU, so one binary runs everywhere. Each output
 * element is summed in k order: results are deterministic for a given machine. */
#include "cpu_gemm.h"

#include <string.h>

typedef float ig_v8 __attribute__((vector_size(32)));

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define IG_MULTIVERSION __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define IG_MULTIVERSION
#endif

void ig_gemm_pack(const float *w, int m, int k, float *packed) {
    int panels = (m + 3) / 4;
    for (int pn = 0; pn < panels; pn++)
        for (int kk = 0; kk < k; kk++)
            for (int r = 0; r < 4; r++) {
                int o = pn * 4 + r;
                packed[((size_t)pn * k + kk) * 4 + r] = o < m ? w[(size_t)o * k + kk] : 0.0f;
            }
}

/* unaligned vector load/store (macros: vectors never cross a function boundary) */
#define ig__load8(dst, p) memcpy(&(dst), (p), sizeof(ig_v8))
#define ig__store8(p, v) memcpy((p), &(v), sizeof(ig_v8))

IG_MULTIVERSION
void ig_gemm_run(const float *packed, int m, int k, const float *x, size_t ldx, float *y,
                 size_t ldy, size_t p0, size_t p1, int accumulate) {
    int panels = (m + 3) / 4;
    size_t p = p0;
    for (; p + 16 <= p1; p += 16) {
        for (int pn = 0; pn < panels; pn++) {
            const float *wp = packed + (size_t)pn * k * 4;
            ig_v8 a00 = {0}, a01 = {0}, a10 = {0}, a11 = {0}, a20 = {0}, a21 = {0}, a30 = {0}, a31 = {0};
            const float *xp = x + p;
            for (int kk = 0; kk < k; kk++, xp += ldx, wp += 4) {
                ig_v8 x0, x1;
                ig__load8(x0, xp);
                ig__load8(x1, xp + 8);
                a00 += wp[0] * x0; a01 += wp[0] * x1;
                a10 += wp[1] * x0; a11 += wp[1] * x1;
                a20 += wp[2] * x0; a21 += wp[2] * x1;
                a30 += wp[3] * x0; a31 += wp[3] * x1;
            }
            ig_v8 acc[4][2] = {{a00, a01}, {a10, a11}, {a20, a21}, {a30, a31}};
            for (int r = 0; r < 4; r++) {
                int o = pn * 4 + r;
                if (o >= m) break;
                float *yp = y + (size_t)o * ldy + p;
                if (accumulate) {
                    ig_v8 y0, y1;
                    ig__load8(y0, yp);
                    ig__load8(y1, yp + 8);
                    acc[r][0] += y0;
                    acc[r][1] += y1;
                }
                ig__store8(yp, acc[r][0]);
                ig__store8(yp + 8, acc[r][1]);
            }
        }
    }
    /* remaining pixels, one at a time (same summation order per element) */
    for (; p < p1; p++) {
        for (int pn = 0; pn < panels; pn++) {
            const float *wp = packed + (size_t)pn * k * 4;
            float acc[4] = {0, 0, 0, 0};
            for (int kk = 0; kk < k; kk++) {
                float xv = x[(size_t)kk * ldx + p];
                for (int r = 0; r < 4; r++) acc[r] += wp[kk * 4 + r] * xv;
            }
            for (int r = 0; r < 4 && pn * 4 + r < m; r++) {
                float *yp = y + (size_t)(pn * 4 + r) * ldy + p;
                *yp = accumulate ? *yp + acc[r] : acc[r];
            }
        }
    }
}
