/* backend.c - backends as objects (include/inrgan/ig_backend.h): the choice of "auto" and one
 * table of functions per backend kind. The CPU backend is stateless (src/cpu/); Vulkan keeps a
 * context (src/vk/). Each backend then hands a render to its model family's table. */
#include "ig_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef INRGAN_HAVE_VULKAN
#include "ig_vk.h"
#endif

/* What every backend provides (docs/architecture.md). */
typedef struct ig__backend_ops {
    const char *name;  /* ig_backend_name */
    const char *label; /* ig_backend_label */
    ig_result (*prepare)(ig_backend *b, const ig_render_desc *d, ig_error *err);
    ig_result (*render)(ig_backend *b, const ig_render_desc *d, float *out, ig_error *err);
    ig_result (*check)(const ig_backend *b, ig_error *err); /* after renders: IG_ERR_VULKAN ... */
    void (*release)(ig_backend *b);
} ig__backend_ops;

struct ig_backend {
    const ig__backend_ops *ops;
    void *state;     /* Vulkan: the ig_vk_context */
    int threads;
    int device;      /* -1: none */
    char precision[8];
    char describe[768];
};

/* ---- the CPU backend ---- */

static ig_result ig__cpu_prepare(ig_backend *b, const ig_render_desc *d, ig_error *err) {
    (void)b; (void)d; (void)err;
    return IG_OK;
}

static ig_result ig__cpu_render(ig_backend *b, const ig_render_desc *d, float *out, ig_error *err) {
    if (d && d->threads == 0 && b->threads > 0) {
        ig_render_desc dt = *d;
        dt.threads = b->threads;
        return ig_cpu_render(&dt, out, err);
    }
    return ig_cpu_render(d, out, err);
}

static ig_result ig__cpu_check(const ig_backend *b, ig_error *err) {
    (void)b; (void)err;
    return IG_OK;
}

static void ig__cpu_release(ig_backend *b) { (void)b; }

static const ig__backend_ops ig__cpu_ops = {"cpu", "the CPU backend", ig__cpu_prepare, ig__cpu_render,
                                            ig__cpu_check, ig__cpu_release};

/* ---- Vulkan ---- */

#ifdef INRGAN_HAVE_VULKAN
static ig_result ig__vk_prepare_b(ig_backend *b, const ig_render_desc *d, ig_error *err) {
    return ig_vk_prepare((ig_vk_context *)b->state, d, err);
}

static ig_result ig__vk_render_b(ig_backend *b, const ig_render_desc *d, float *out, ig_error *err) {
    return ig_vk_render((ig_vk_context *)b->state, d, out, err);
}

static ig_result ig__vk_check_b(const ig_backend *b, ig_error *err) {
    const ig_vk_context *ctx = b->state;
    if (ig_vk_validation_errors(ctx) > 0)
        return ig_error_set(err, IG_ERR_VULKAN, "the validation layer reported %u error(s), first: %s",
                            ig_vk_validation_errors(ctx), ig_vk_validation_message(ctx));
    return IG_OK;
}

static void ig__vk_release_b(ig_backend *b) { ig_vk_context_destroy((ig_vk_context *)b->state); }

static const ig__backend_ops ig__vk_ops = {"vulkan", "Vulkan", ig__vk_prepare_b, ig__vk_render_b, ig__vk_check_b,
                                           ig__vk_release_b};
#endif

/* ---- the choice ---- */

static void ig__notice(const ig_backend_desc *d, const char *fmt, const char *arg) {
    if (!d->notice) return;
    char line[1024];
    snprintf(line, sizeof line, fmt, arg);
    d->notice(d->notice_user, line);
}

static ig_backend *ig__backend_new(const ig__backend_ops *ops, const ig_backend_desc *d) {
    ig_backend *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->ops = ops;
    b->threads = d->threads;
    b->device = -1;
    snprintf(b->precision, sizeof b->precision, "fp32");
    snprintf(b->describe, sizeof b->describe, "%s", ops->label);
    return b;
}

static ig_result ig__cpu_create(const ig_backend_desc *d, ig_backend **out, ig_error *err) {
    *out = ig__backend_new(&ig__cpu_ops, d);
    return *out ? IG_OK : ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "backend");
}

ig_result ig_backend_create(const ig_backend_desc *desc, ig_backend **out, ig_error *err) {
    if (!out) return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "ig_backend_create: no output");
    *out = NULL;
    static const ig_backend_desc none = {0};
    const ig_backend_desc *d = desc ? desc : &none;
    bool is_auto = d->kind == IG_BACKEND_AUTO;
    if (d->kernel && strcmp(d->kernel, "auto") && strcmp(d->kernel, "pixel") && strcmp(d->kernel, "gemm") &&
        strcmp(d->kernel, "fused") && strcmp(d->kernel, "fused16"))
        return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "--kernel %s is not auto, pixel, gemm, fused or fused16",
                            d->kernel);
    if (d->kind == IG_BACKEND_CPU) {
        if (d->device) return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "-g %s needs --backend vulkan or auto", d->device);
        if (d->precision && strcmp(d->precision, "fp32") && strcmp(d->precision, "auto"))
            return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "--precision %s: the CPU backend computes in fp32",
                                d->precision);
        return ig__cpu_create(d, out, err);
    }
    if (d->kind != IG_BACKEND_VULKAN && !is_auto)
        return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "backend kind %d is not auto, cpu or vulkan", (int)d->kind);
#ifdef INRGAN_HAVE_VULKAN
    if (is_auto && !d->device && !ig_vk_gpu_available()) {
        ig__notice(d, "%s", "no GPU found; using the CPU backend");
        return ig__cpu_create(d, out, err);
    }
    ig_vk_desc vd = {.gpu = d->device, .allow_cpu_device = d->device != NULL, .validate = d->validate,
                     .coopmat = d->coopmat};
    if (!d->precision || !strcmp(d->precision, "fp32")) vd.precision = IG_VK_PRECISION_FP32;
    else if (!strcmp(d->precision, "fp16")) vd.precision = IG_VK_PRECISION_FP16;
    else vd.precision = IG_VK_PRECISION_AUTO;
    vd.level_kernel = !d->kernel || !strcmp(d->kernel, "auto") ? IG_VK_KERNEL_AUTO
                      : !strcmp(d->kernel, "pixel")            ? IG_VK_KERNEL_PIXEL
                      : !strcmp(d->kernel, "fused")            ? IG_VK_KERNEL_FUSED
                      : !strcmp(d->kernel, "fused16")          ? IG_VK_KERNEL_FUSED16
                                                               : IG_VK_KERNEL_GEMM;
    ig_vk_context *ctx;
    ig_result r = ig_vk_context_create(&vd, &ctx, err);
    if (r != IG_OK) {
        if (is_auto && !d->device && r == IG_ERR_NO_DEVICE) {
            ig__notice(d, "no usable GPU (%s); using the CPU backend", err ? err->msg : "no device");
            return ig__cpu_create(d, out, err);
        }
        return r;
    }
    ig_backend *b = ig__backend_new(&ig__vk_ops, d);
    if (!b) {
        ig_vk_context_destroy(ctx);
        return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "backend");
    }
    b->state = ctx;
    const char *sum = ig_vk_context_summary(ctx); /* "[INDEX NAME] ..." */
    b->device = sum[0] == '[' ? atoi(sum + 1) : 0;
    snprintf(b->precision, sizeof b->precision, "%s",
             ig_vk_context_precision(ctx) == IG_VK_PRECISION_FP16 ? "fp16" : "fp32");
    snprintf(b->describe, sizeof b->describe, "%s", sum);
    ig__notice(d, "%s", sum);
    *out = b;
    return IG_OK;
#else
    if (d->kind == IG_BACKEND_VULKAN || d->device)
        return ig_error_set(err, IG_ERR_NO_DEVICE, "--backend vulkan: this build has no Vulkan backend");
    ig__notice(d, "%s", "no GPU found; using the CPU backend");
    return ig__cpu_create(d, out, err);
#endif
}

ig_result ig_backend_prepare(ig_backend *b, const ig_render_desc *desc, ig_error *err) {
    if (!b) return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "ig_backend_prepare: no backend");
    return b->ops->prepare(b, desc, err);
}

ig_result ig_backend_render(ig_backend *b, const ig_render_desc *desc, float *out, ig_error *err) {
    if (!b) return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "ig_backend_render: no backend");
    return b->ops->render(b, desc, out, err);
}

ig_result ig_backend_render_fn(void *backend, const ig_render_desc *desc, float *out, ig_error *err) {
    if (!backend) return ig_cpu_render(desc, out, err); /* as ig_image_job's NULL backend */
    return ig_backend_render((ig_backend *)backend, desc, out, err);
}

ig_result ig_backend_check(const ig_backend *b, ig_error *err) { return b ? b->ops->check(b, err) : IG_OK; }
const char *ig_backend_name(const ig_backend *b) { return b ? b->ops->name : ""; }
const char *ig_backend_label(const ig_backend *b) { return b ? b->ops->label : ""; }
const char *ig_backend_describe(const ig_backend *b) { return b ? b->describe : ""; }
int ig_backend_device_index(const ig_backend *b) { return b ? b->device : -1; }
const char *ig_backend_precision(const ig_backend *b) { return b ? b->precision : "fp32"; }
struct ig_vk_context *ig_backend_vk_context(const ig_backend *b) {
    return b && b->ops != &ig__cpu_ops ? b->state : NULL;
}

void ig_backend_free(ig_backend *b) {
    if (!b) return;
    b->ops->release(b);
    free(b);
}
