/* cpu_internal.h - what the CPU backend's family modules share (cpu_backend.c owns them). */
#ifndef IG_CPU_INTERNAL_H
#define IG_CPU_INTERNAL_H

#include "model.h"

typedef void (*ig_cpu_task_fn)(void *ctx, size_t i0, size_t i1);
/* Runs fn over [0, n) split into `threads` contiguous chunks (boundaries multiples of align). */
void ig_cpu_parallel(int threads, size_t n, size_t align, ig_cpu_task_fn fn, void *ctx);
/* w of every image after interpolation in z or w (ws), and the params-space endpoints (ws_b). */
void ig_cpu_latents(const ig_render_desc *d, float *ws, float *ws_b, float *zt);

/* CIPS (cpu_cips.c): out [count, 3, H, W] from the mapped ws (and ws_b for params space). */
ig_result ig_cpu_cips_render(const ig_render_desc *d, int threads, const float *ws, const float *ws_b, float *out,
                             ig_error *err);

#endif
