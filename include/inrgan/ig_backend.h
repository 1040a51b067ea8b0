/* ig_backend.h - who renders, as an object: the CPU backend or Vulkan, chosen once.
 *
 *   ig_backend_desc bd = {.kind = IG_BACKEND_AUTO};
 *   ig_backend *b;
 *   if (ig_backend_create(&bd, &b, &err) != IG_OK) ...;
 *   ig_backend_render(b, &render_desc, out, &err);      // or, for ig_render_image:
 *   job.backend = ig_backend_render_fn; job.backend_ctx = b;
 *   ig_backend_free(b);
 *
 * "auto" is decided here (docs/cli.md, --backend): a discrete or integrated GPU through Vulkan
 * when one exists, otherwise the CPU backend, with one notice line saying so; a CPU-type Vulkan
 * device (lavapipe) only when named in desc.device. IG_BACKEND_VULKAN with no usable device is
 * an error (IG_ERR_NO_DEVICE), never a silent fallback. Inside, a backend is a table of
 * functions (docs/architecture.md, "What a backend must provide").
 */
#ifndef IG_BACKEND_H
#define IG_BACKEND_H

#include <stdbool.h>

#include "inrgan.h"

typedef enum ig_backend_kind { IG_BACKEND_AUTO = 0, IG_BACKEND_CPU = 1, IG_BACKEND_VULKAN = 2 } ig_backend_kind;

typedef struct ig_backend_desc {
    ig_backend_kind kind;
    const char *device;    /* Vulkan: index or name substring; NULL = auto. Refused with the CPU */
    const char *precision; /* "fp32" (NULL) | "fp16" | "auto"; the CPU computes in fp32 only */
    int threads;           /* CPU threads per render when the render's desc says 0; 0 = all */
    bool validate;         /* Vulkan: Khronos validation layer */
    bool coopmat;          /* Vulkan: allow the cooperative-matrix level kernel */
    const char *kernel;    /* Vulkan INR-GAN level kernel: "auto" (NULL) | "pixel" | "gemm"
                              (ig_vk_desc.level_kernel; INRGAN_VK_KERNEL overrides it) */
    /* One line for the user, without a program prefix: why "auto" took the CPU ("no GPU found;
     * using the CPU backend"), or the Vulkan device's summary. NULL: not told. */
    void (*notice)(void *user, const char *line);
    void *notice_user;
} ig_backend_desc;

typedef struct ig_backend ig_backend;

/* IG_ERR_INVALID_ARGUMENT for a device or precision the chosen backend cannot take,
 * IG_ERR_NO_DEVICE when Vulkan was asked for and no device can render. */
ig_result ig_backend_create(const ig_backend_desc *desc, ig_backend **out, ig_error *err);
/* Uploads and compiles what renders of desc need (Vulkan); the CPU has nothing to prepare. */
ig_result ig_backend_prepare(ig_backend *b, const ig_render_desc *desc, ig_error *err);
/* out [count, 3, H, W] as ig_cpu_render. */
ig_result ig_backend_render(ig_backend *b, const ig_render_desc *desc, float *out, ig_error *err);
/* ig_backend_render with ig_backend_fn's signature: ig_image_job.backend = ig_backend_render_fn,
 * .backend_ctx = the ig_backend; a NULL backend_ctx renders with the CPU backend. */
ig_result ig_backend_render_fn(void *backend, const ig_render_desc *desc, float *out, ig_error *err);
/* IG_ERR_VULKAN when the validation layer reported errors so far; IG_OK otherwise. */
ig_result ig_backend_check(const ig_backend *b, ig_error *err);
/* "cpu" or "vulkan". */
const char *ig_backend_name(const ig_backend *b);
/* For sentences: "the CPU backend" or "Vulkan". */
const char *ig_backend_label(const ig_backend *b);
/* One line: the Vulkan device's summary, or "the CPU backend". */
const char *ig_backend_describe(const ig_backend *b);
/* Vulkan: the index of the rendering device (as `inrgan devices` lists it); -1 for the CPU. */
int ig_backend_device_index(const ig_backend *b);
/* The storage precision in use: "fp32" or "fp16". */
const char *ig_backend_precision(const ig_backend *b);
/* The Vulkan context (ig_vk.h) that renders, or NULL for the CPU backend. */
struct ig_vk_context *ig_backend_vk_context(const ig_backend *b);
void ig_backend_free(ig_backend *b);

#endif
