/* backend.c - the CLI's choice of backend (docs/cli.md): `--backend auto` takes a discrete or
 * integrated GPU through Vulkan when one exists and otherwise says so in one line and uses the
 * CPU backend; `--backend vulkan` with no usable device is an error, not a silent fallback; a
 * CPU-type Vulkan device (lavapipe) only when named with -g. */
#include "cli.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* INRGAN_PIN_VULKAN_LIBS=1 (sanitizer test runs): keep lavapipe and the validation layer loaded
 * until exit. The loader unloads them while their globals still reference heap blocks, which
 * LeakSanitizer would report as leaks of an unknown module; pinned, tests/lsan.supp names them. */
void cli_pin_vulkan_libs(void) {
    const char *env = getenv("INRGAN_PIN_VULKAN_LIBS");
    if (!env || !*env || strcmp(env, "0") == 0) return;
    static const char *libs[] = {"libvulkan_lvp.so", "libVkLayer_khronos_validation.so"};
    for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) {
        void *h = dlopen(libs[i], RTLD_NOW | RTLD_NODELETE);
        if (h) dlclose(h); /* the library stays: RTLD_NODELETE */
    }
}

#ifdef INRGAN_HAVE_VULKAN
#include "ig_vk.h"

static ig_result cli__vk_render(void *ctx, const ig_render_desc *d, float *out, ig_error *err) {
    return ig_vk_render((ig_vk_context *)ctx, d, out, err);
}
#endif

static ig_result cli__cpu_render(void *ctx, const ig_render_desc *d, float *out, ig_error *err) {
    (void)ctx;
    return ig_cpu_render(d, out, err);
}

ig_result cli_backend_open(cli_backend *b, const cli_backend_opts *o, bool quiet, ig_error *err) {
    memset(b, 0, sizeof *b);
    b->fn = cli__cpu_render;
    snprintf(b->label, sizeof b->label, "the CPU backend");
    bool is_auto = strcmp(o->backend, "auto") == 0;
    if (strcmp(o->backend, "cpu") == 0) {
        if (o->gpu) return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "-g %s needs --backend vulkan or auto", o->gpu);
        if (o->precision && strcmp(o->precision, "fp32") && strcmp(o->precision, "auto"))
            return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "--precision %s: the CPU backend computes in fp32", o->precision);
        return IG_OK;
    }
#ifdef INRGAN_HAVE_VULKAN
    if (is_auto && !o->gpu && !ig_vk_gpu_available()) {
        if (!quiet) fprintf(stderr, "inrgan: no GPU found; using the CPU backend\n");
        return IG_OK;
    }
    ig_vk_desc vd = {.gpu = o->gpu, .allow_cpu_device = o->gpu != NULL, .validate = o->validate,
                     .coopmat = o->coopmat};
    if (!o->precision || !strcmp(o->precision, "fp32")) vd.precision = IG_VK_PRECISION_FP32;
    else if (!strcmp(o->precision, "fp16")) vd.precision = IG_VK_PRECISION_FP16;
    else vd.precision = IG_VK_PRECISION_AUTO;
    ig_vk_context *ctx;
    ig_result r = ig_vk_context_create(&vd, &ctx, err);
    if (r != IG_OK) {
        if (is_auto && !o->gpu && r == IG_ERR_NO_DEVICE) {
            if (!quiet) fprintf(stderr, "inrgan: no usable GPU (%s); using the CPU backend\n", err->msg);
            return IG_OK;
        }
        return r;
    }
    b->vk = ctx;
    b->fn = cli__vk_render;
    snprintf(b->label, sizeof b->label, "Vulkan");
    const char *sum = ig_vk_context_summary(ctx); /* "[INDEX NAME] ..." */
    snprintf(b->device, sizeof b->device, "%d", sum[0] == '[' ? atoi(sum + 1) : 0);
    snprintf(b->precision, sizeof b->precision, "%s",
             ig_vk_context_precision(ctx) == IG_VK_PRECISION_FP16 ? "fp16" : "fp32");
    if (!quiet) fprintf(stderr, "inrgan: %s\n", ig_vk_context_summary(ctx));
    return IG_OK;
#else
    (void)is_auto;
    if (strcmp(o->backend, "vulkan") == 0 || o->gpu)
        return ig_error_set(err, IG_ERR_NO_DEVICE, "--backend vulkan: this build has no Vulkan backend");
    if (!quiet) fprintf(stderr, "inrgan: no GPU found; using the CPU backend\n");
    return IG_OK;
#endif
}

ig_result cli_backend_check(cli_backend *b, ig_error *err) {
#ifdef INRGAN_HAVE_VULKAN
    if (b->vk && ig_vk_validation_errors((ig_vk_context *)b->vk) > 0)
        return ig_error_set(err, IG_ERR_VULKAN, "the validation layer reported %u error(s), first: %s",
                            ig_vk_validation_errors((ig_vk_context *)b->vk),
                            ig_vk_validation_message((ig_vk_context *)b->vk));
#else
    (void)b; (void)err;
#endif
    return IG_OK;
}

void cli_backend_close(cli_backend *b) {
#ifdef INRGAN_HAVE_VULKAN
    if (b->vk) ig_vk_context_destroy((ig_vk_context *)b->vk);
#endif
    memset(b, 0, sizeof *b);
}

int cli_devices(void) {
#ifdef INRGAN_HAVE_VULKAN
    char *buf = malloc(1 << 16);
    ig_error err = {0};
    if (!buf) return 1;
    ig_result r = ig_vk_list_devices(buf, 1 << 16, &err);
    if (r == IG_OK) fputs(buf, stdout);
    else fprintf(stderr, "inrgan: error: %s [%s]\n", err.msg, ig_result_name(r));
    free(buf);
    printf("auto picks: %s\n", ig_vk_gpu_available() ? "the first discrete, else integrated GPU" :
                                                      "the CPU backend (no discrete or integrated GPU)");
    return r == IG_OK ? 0 : ig_result_exit_code(r);
#else
    printf("this build has no Vulkan backend; renders use the CPU backend\n");
    return 0;
#endif
}
