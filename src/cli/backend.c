/* backend.c - the CLI's backend (docs/cli.md): --backend, -g, --precision, --validate and
 * --coopmat mapped onto the library's ig_backend (include/inrgan/ig_backend.h, src/backend.c),
 * which decides "auto": a discrete or integrated GPU through Vulkan when one exists, otherwise
 * the CPU backend with one line saying so; `--backend vulkan` with no usable device is an error,
 * not a silent fallback; a CPU-type Vulkan device (lavapipe) only when named with -g. */
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
#endif

static void cli__notice(void *user, const char *line) {
    (void)user;
    fprintf(stderr, "inrgan: %s\n", line);
}

/* The choice itself is the library's (src/backend.c); this maps the options onto it. */
ig_result cli_backend_open(cli_backend *b, const cli_backend_opts *o, bool quiet, ig_error *err) {
    memset(b, 0, sizeof *b);
    ig_backend_desc d = {.kind = strcmp(o->backend, "cpu") == 0      ? IG_BACKEND_CPU
                                 : strcmp(o->backend, "vulkan") == 0 ? IG_BACKEND_VULKAN
                                                                     : IG_BACKEND_AUTO,
                         .device = o->gpu, .precision = o->precision, .validate = o->validate,
                         .coopmat = o->coopmat, .kernel = o->kernel, .notice = quiet ? NULL : cli__notice};
    ig_result r = ig_backend_create(&d, &b->obj, err);
    if (r != IG_OK) return r;
    b->fn = ig_backend_render_fn;
    b->vk = ig_backend_vk_context(b->obj);
    snprintf(b->label, sizeof b->label, "%s", ig_backend_label(b->obj));
    if (b->vk) {
        snprintf(b->device, sizeof b->device, "%d", ig_backend_device_index(b->obj));
        snprintf(b->precision, sizeof b->precision, "%s", ig_backend_precision(b->obj));
    }
    return IG_OK;
}

ig_result cli_backend_check(cli_backend *b, ig_error *err) { return ig_backend_check(b->obj, err); }

void cli_backend_close(cli_backend *b) {
    ig_backend_free(b->obj);
#ifdef INRGAN_HAVE_VULKAN
    /* a context opened outside an ig_backend (the viewer's, on its presenting device) */
    if (!b->obj && b->vk) ig_vk_context_destroy((ig_vk_context *)b->vk);
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
