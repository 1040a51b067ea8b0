/* vk_util.c - VkResult names, failure messages, allocation-failure injection, env switches. */
#include "vk_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define IG__VK_RESULTS(X)                                                                   \
    X(VK_SUCCESS)                                                                           \
    X(VK_NOT_READY)                                                                         \
    X(VK_TIMEOUT)                                                                           \
    X(VK_EVENT_SET)                                                                         \
    X(VK_EVENT_RESET)                                                                       \
    X(VK_INCOMPLETE)                                                                        \
    X(VK_ERROR_OUT_OF_HOST_MEMORY)                                                          \
    X(VK_ERROR_OUT_OF_DEVICE_MEMORY)                                                        \
    X(VK_ERROR_INITIALIZATION_FAILED)                                                       \
    X(VK_ERROR_DEVICE_LOST)                                                                 \
    X(VK_ERROR_MEMORY_MAP_FAILED)                                                           \
    X(VK_ERROR_LAYER_NOT_PRESENT)                                                           \
    X(VK_ERROR_EXTENSION_NOT_PRESENT)                                                       \
    X(VK_ERROR_FEATURE_NOT_PRESENT)                                                         \
    X(VK_ERROR_INCOMPATIBLE_DRIVER)                                                         \
    X(VK_ERROR_TOO_MANY_OBJECTS)                                                            \
    X(VK_ERROR_FORMAT_NOT_SUPPORTED)                                                        \
    X(VK_ERROR_FRAGMENTED_POOL)                                                             \
    X(VK_ERROR_UNKNOWN)                                                                     \
    X(VK_ERROR_OUT_OF_POOL_MEMORY)                                                          \
    X(VK_ERROR_INVALID_EXTERNAL_HANDLE)                                                     \
    X(VK_ERROR_FRAGMENTATION)                                                               \
    X(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS)                                              \
    X(VK_PIPELINE_COMPILE_REQUIRED)                                                         \
    X(VK_ERROR_SURFACE_LOST_KHR)                                                            \
    X(VK_ERROR_NATIVE_WINDOW_IN_USE_KHR)                                                    \
    X(VK_SUBOPTIMAL_KHR)                                                                    \
    X(VK_ERROR_OUT_OF_DATE_KHR)                                                             \
    X(VK_ERROR_INCOMPATIBLE_DISPLAY_KHR)                                                    \
    X(VK_ERROR_VALIDATION_FAILED_EXT)                                                       \
    X(VK_ERROR_INVALID_SHADER_NV)                                                           \
    X(VK_ERROR_INVALID_DRM_FORMAT_MODIFIER_PLANE_LAYOUT_EXT)                                \
    X(VK_ERROR_NOT_PERMITTED_KHR)                                                           \
    X(VK_ERROR_FULL_SCREEN_EXCLUSIVE_MODE_LOST_EXT)                                         \
    X(VK_THREAD_IDLE_KHR)                                                                   \
    X(VK_THREAD_DONE_KHR)                                                                   \
    X(VK_OPERATION_DEFERRED_KHR)                                                            \
    X(VK_OPERATION_NOT_DEFERRED_KHR)

const char *ig__vk_result_name(VkResult r) {
    switch (r) {
#define IG__VK_CASE(name)                                                                   \
    case name:                                                                              \
        return #name;
        IG__VK_RESULTS(IG__VK_CASE)
#undef IG__VK_CASE
    default:
        return "VK_RESULT_UNKNOWN";
    }
}

ig_result ig__vk_result_code(VkResult r) {
    switch (r) {
    case VK_SUCCESS:
        return IG_OK;
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
    case VK_ERROR_OUT_OF_POOL_MEMORY:
    case VK_ERROR_FRAGMENTED_POOL:
    case VK_ERROR_FRAGMENTATION:
    case VK_ERROR_TOO_MANY_OBJECTS:
        return IG_ERR_OUT_OF_DEVICE_MEMORY;
    case VK_ERROR_OUT_OF_HOST_MEMORY:
        return IG_ERR_OUT_OF_MEMORY;
    case VK_ERROR_DEVICE_LOST:
        return IG_ERR_DEVICE_LOST;
    case VK_ERROR_INCOMPATIBLE_DRIVER:
        return IG_ERR_NO_DEVICE;
    default:
        return IG_ERR_VULKAN;
    }
}

/* "ctx->vk.vkFoo(ctx->device, &x)" reads better as "vkFoo(device, &x)". */
static void ig__vk_tidy_call(const char *call, char *out, size_t len) {
    size_t n = 0;
    for (const char *p = call; *p && n + 1 < len;) {
        if (strncmp(p, "ctx->vk.", 8) == 0) {
            p += 8;
            continue;
        }
        if (strncmp(p, "ctx->", 5) == 0) {
            p += 5;
            continue;
        }
        out[n++] = *p++;
    }
    out[n] = 0;
}

ig_result ig__vk_fail(ig_error *err, VkResult r, const char *call, const char *file, int line) {
    ig_result code = ig__vk_result_code(r);
    if (code == IG_OK) code = IG_ERR_VULKAN; /* a non-error status where success was needed */
    char tidy[256];
    ig__vk_tidy_call(call, tidy, sizeof tidy);
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    const char *hint = "";
    if (code == IG_ERR_OUT_OF_DEVICE_MEMORY && strstr(call, "AllocateMemory"))
        hint = " (try a smaller --batch, --size or --tile)";
    if (code == IG_ERR_DEVICE_LOST) hint = " (the GPU reset or the driver crashed)";
    return ig_error_set(err, code, "%s:%d: %s failed: %s%s", base, line, tidy,
                        ig__vk_result_name(r), hint);
}

ig_result ig__vk_fail_alloc(ig_vk_context *ctx, ig_error *err, VkResult r, const char *call,
                            const char *file, int line) {
    ig_result res = ig__vk_fail(err, r, call, file, line);
    if (ctx && ctx->injected) {
        ctx->injected = false;
        if (err) {
            size_t n = strlen(err->msg);
            snprintf(err->msg + n, sizeof err->msg - n, " [injected at allocation %u]",
                     ctx->alloc_count);
        }
    }
    return res;
}

bool ig__vk_inject(ig_vk_context *ctx) {
    if (!ctx) return false;
    ctx->alloc_count++;
    if (ctx->fail_at != 0 && ctx->alloc_count == ctx->fail_at) {
        ctx->injected = true;
        return true;
    }
    return false;
}

void ig__vk_assert_fail(const char *what, const char *file, int line) {
    fprintf(stderr, "inrgan: internal error: %s:%d: assertion failed: %s\n", file, line, what);
    abort();
}

bool ig__env_flag(const char *name) {
    const char *v = getenv(name);
    if (!v || !*v) return false;
    return strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 ||
           strcasecmp(v, "on") == 0;
}

uint32_t ig_vk_alloc_count(const ig_vk_context *ctx) { return ctx ? ctx->alloc_count : 0; }

void ig_vk_set_fail_alloc(ig_vk_context *ctx, int fail_at) {
    if (!ctx) return;
    ctx->fail_at = fail_at > 0 ? ctx->alloc_count + (uint32_t)fail_at : 0;
    ctx->injected = false;
}
