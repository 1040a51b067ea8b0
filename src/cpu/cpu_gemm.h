/* cpu_gemm.h - the CPU backend's one hot loop: Y = W X over a range of pixels, channel-major. */
#ifndef IG_CPU_GEMM_H
#define IG_CPU_GEMM_H

#include <stddef.h>

/* Packs W [m][k] (rows ldw floats apart) into panels of 4 rows, k-major:
 * packed[(o/4)*k*4 + kk*4 + o%4]. packed must hold ((m+3)/4)*4*k floats; missing rows are zero. */
void ig_gemm_pack(const float *w, size_t ldw, int m, int k, float *packed);

/* For pixels [p0, p1): Y[o][p] = act(sum_kk W[o][kk] X[kk][p] (+ Y[o][p] if accumulate)).
 * X rows have stride ldx, Y rows stride ldy. act = lrelu(v + bias[o], 0.2) * sqrt(2) when bias
 * is given (the FMM layer epilogue), identity when bias is NULL. */
void ig_gemm_run(const float *packed, int m, int k, const float *x, size_t ldx, float *y,
                 size_t ldy, size_t p0, size_t p1, int accumulate, const float *bias);



/* Helpers of the per-image weight generation (the hypernetwork), vectorised and deterministic. */
float ig_dot(const float *a, const float *b, int n);
void ig_axpy(float alpha, const float *x, float *y, int n);
#endif
