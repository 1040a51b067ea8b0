/* cpu_internal.h - what the CPU backend's modules share: the entry (cpu_backend.c, the family
 * table), the families (cpu_inrgan.c, cpu_cips.c) and the helpers they use (cpu_parallel.c,
 * cpu_mapping.c). Families depend on the helpers only, never on the entry or on each other. */
#ifndef IG_CPU_INTERNAL_H
#define IG_CPU_INTERNAL_H

#include "model.h"

/* ---- cpu_parallel.c ---- */
typedef void (*ig_cpu_task_fn)(void *ctx, size_t i0, size_t i1);
/* Runs fn over [0, n) split into `threads` contiguous chunks (boundaries multiples of align). */
void ig_cpu_parallel(int threads, size_t n, size_t align, ig_cpu_task_fn fn, void *ctx);
/* The online processors, 1..64. */
int ig_cpu_default_threads(void);

/* ---- cpu_mapping.c ---- */
/* w of every image after interpolation in z or w (ws), and the params-space endpoints (ws_b).
 * lerp_at_psi1: apply the truncation lerp at psi 1 too (INR-GAN) or skip it there (CIPS). */
void ig_cpu_latents(const ig_render_desc *d, bool lerp_at_psi1, float *ws, float *ws_b, float *zt);

/* ---- the families: one render each, listed in cpu_backend.c's table ----
 * out [count, 3, H, W]; d is checked (model, plan of this model, z, count >= 1, out) and
 * threads >= 1 resolved by the entry. */
typedef ig_result (*ig_cpu_family_render_fn)(const ig_render_desc *d, int threads, float *out, ig_error *err);
typedef struct ig_cpu_family {
    const char *name;
    ig_cpu_family_render_fn render;
} ig_cpu_family;

ig_result ig_cpu_inrgan_render(const ig_render_desc *d, int threads, float *out, ig_error *err); /* cpu_inrgan.c */
ig_result ig_cpu_cips_render(const ig_render_desc *d, int threads, float *out, ig_error *err);   /* cpu_cips.c */

#endif
