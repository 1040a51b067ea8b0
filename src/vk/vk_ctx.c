/* vk_ctx.c - Vulkan instance, validation messenger, device listing and choice, the device
 * with its one compute queue, and the one-line summary.
 *
 * volk provides the entry points: volkInitialize() dlopens libvulkan.so.1 once; instance-level
 * functions are loader trampolines (valid for every instance), loaded from the first instance
 * of the process and never reloaded; device functions live in a per-context VolkDeviceTable
 * (ctx->vk), so several contexts can coexist.
 *
 * A context either creates its own instance and device, or renders on the caller's
 * (ig_vk_desc.external): then it creates only its command pool, fence, query pool, pipelines
 * and memory, submits to the caller's queue under the caller's lock, and destroys only those.
 */
#include "vk_internal.h"
#include "ig_parse.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IG__VALIDATION_LAYER "VK_LAYER_KHRONOS_validation"

static pthread_mutex_t ig__vk_lock = PTHREAD_MUTEX_INITIALIZER;
static bool ig__vk_loaded;
static uint32_t ig__vk_instances; /* created by this library (ig_vk_instances_created) */

uint32_t ig_vk_instances_created(void) {
    return __atomic_load_n(&ig__vk_instances, __ATOMIC_RELAXED);
}

/* ---- loader + instance ------------------------------------------------------------------ */

static ig_result ig__vk_load(ig_error *err) {
    ig_result res = IG_OK;
    pthread_mutex_lock(&ig__vk_lock);
    if (!ig__vk_loaded) {
        if (volkInitialize() == VK_SUCCESS) {
            ig__vk_loaded = true;
        } else {
            res = ig_error_set(err, IG_ERR_NO_DEVICE,
                               "the Vulkan loader (libvulkan.so.1) was not found");
        }
    }
    pthread_mutex_unlock(&ig__vk_lock);
    return res;
}

static VKAPI_ATTR VkBool32 VKAPI_CALL ig__vk_messenger_cb(
    VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT types,
    const VkDebugUtilsMessengerCallbackDataEXT *data, void *user) {
    (void)types;
    ig_vk_context *ctx = user;
    if (ctx && (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT)) {
        __atomic_add_fetch(&ctx->validation_errors, 1, __ATOMIC_RELAXED);
        if (ctx->validation_msg[0] == 0 && data && data->pMessage)
            snprintf(ctx->validation_msg, sizeof ctx->validation_msg, "%s", data->pMessage);
        fprintf(stderr, "inrgan: vulkan validation error: %s\n",
                data && data->pMessage ? data->pMessage : "(no message)");
    }
    return VK_FALSE;
}

static bool ig__has_layer(const char *name) {
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0) return false;
    VkLayerProperties *p = calloc(n, sizeof *p);
    if (!p) return false;
    bool found = false;
    if (vkEnumerateInstanceLayerProperties(&n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = strcmp(p[i].layerName, name) == 0;
    free(p);
    return found;
}

static bool ig__has_instance_ext(const char *layer, const char *name) {
    uint32_t n = 0;
    if (vkEnumerateInstanceExtensionProperties(layer, &n, NULL) != VK_SUCCESS || n == 0)
        return false;
    VkExtensionProperties *p = calloc(n, sizeof *p);
    if (!p) return false;
    bool found = false;
    if (vkEnumerateInstanceExtensionProperties(layer, &n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = strcmp(p[i].extensionName, name) == 0;
    free(p);
    return found;
}

/* A caller's instance (ig_vk_external): the loader, and volk's instance-level entry points
 * only when no instance is loaded in this process's volk yet. When another one is (the
 * caller's own volk use, usually this very instance), the table stays as it is: the
 * instance-level functions the backend calls (physical-device queries, vkGetDeviceProcAddr)
 * are loader trampolines that dispatch on their handle. */
static ig_result ig__vk_use_instance(VkInstance inst, ig_error *err) {
    ig_result res = ig__vk_load(err);
    if (res != IG_OK) return res;
    pthread_mutex_lock(&ig__vk_lock);
    if (volkGetLoadedInstance() == VK_NULL_HANDLE) volkLoadInstanceOnly(inst);
    pthread_mutex_unlock(&ig__vk_lock);
    if (!vkGetPhysicalDeviceProperties2 || !vkGetDeviceProcAddr)
        return ig_error_set(err, IG_ERR_NO_DEVICE,
                            "the Vulkan loader gives no Vulkan 1.2 entry points for the instance");
    return IG_OK;
}

/* ctx may be NULL (listing): then no validation and no messenger. */
static ig_result ig__vk_instance(ig_vk_context *ctx, bool validate, VkInstance *out,
                                 ig_error *err) {
    ig_result res = ig__vk_load(err);
    if (res != IG_OK) return res;
    *out = VK_NULL_HANDLE;

    uint32_t version = VK_API_VERSION_1_0;
    if (vkEnumerateInstanceVersion) vkEnumerateInstanceVersion(&version);
    if (version < VK_API_VERSION_1_2)
        return ig_error_set(err, IG_ERR_NO_DEVICE,
                            "the Vulkan loader supports only Vulkan %u.%u (1.2 needed)",
                            VK_API_VERSION_MAJOR(version), VK_API_VERSION_MINOR(version));

    const char *layers[1];
    uint32_t n_layers = 0;
    const char *exts[4];
    uint32_t n_exts = 0;
    VkInstanceCreateFlags flags = 0;
    bool debug_utils = false;
    if (validate) {
        if (!ig__has_layer(IG__VALIDATION_LAYER))
            return ig_error_set(err, IG_ERR_UNSUPPORTED,
                                "validation requested but %s is not installed "
                                "(Debian: vulkan-validationlayers)",
                                IG__VALIDATION_LAYER);
        layers[n_layers++] = IG__VALIDATION_LAYER;
        if (ig__has_instance_ext(NULL, VK_EXT_DEBUG_UTILS_EXTENSION_NAME) ||
            ig__has_instance_ext(IG__VALIDATION_LAYER, VK_EXT_DEBUG_UTILS_EXTENSION_NAME)) {
            exts[n_exts++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
            debug_utils = true;
        }
    }
#ifdef VK_KHR_portability_enumeration
    if (ig__has_instance_ext(NULL, VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) {
        exts[n_exts++] = VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME;
        flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
    }
#endif

    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "inrgan",
        .applicationVersion = VK_MAKE_API_VERSION(0, 0, 1, 0),
        .pEngineName = "inrgan",
        .engineVersion = VK_MAKE_API_VERSION(0, 0, 1, 0),
        .apiVersion = VK_API_VERSION_1_2,
    };
    /* Also catches messages of vkCreateInstance / vkDestroyInstance themselves. */
    VkDebugUtilsMessengerCreateInfoEXT mci = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = ig__vk_messenger_cb,
        .pUserData = ctx,
    };
    VkInstanceCreateInfo ici = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pNext = debug_utils && ctx ? &mci : NULL,
        .flags = flags,
        .pApplicationInfo = &app,
        .enabledLayerCount = n_layers,
        .ppEnabledLayerNames = layers,
        .enabledExtensionCount = n_exts,
        .ppEnabledExtensionNames = exts,
    };
    VkInstance inst = VK_NULL_HANDLE;
    if (ctx) {
        IG_VK_ALLOC(ctx, vkCreateInstance(&ici, NULL, &inst));
    } else {
        IG_VK_CHECK(vkCreateInstance(&ici, NULL, &inst));
    }
    __atomic_add_fetch(&ig__vk_instances, 1, __ATOMIC_RELAXED);
    /* volk's instance-level entry points are process-wide: loaded from the first instance
     * only, never reloaded behind the back of whoever loaded them (a viewer's presenter); the
     * functions called through them are loader trampolines that dispatch on their handle */
    pthread_mutex_lock(&ig__vk_lock);
    if (volkGetLoadedInstance() == VK_NULL_HANDLE) volkLoadInstanceOnly(inst);
    pthread_mutex_unlock(&ig__vk_lock);

    if (ctx && debug_utils) {
        ctx->instance = inst; /* so that the fail path destroys it */
        /* this instance's own messenger functions (the global table may hold another's) */
        PFN_vkCreateDebugUtilsMessengerEXT create_messenger =
            (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
                inst, "vkCreateDebugUtilsMessengerEXT");
        ctx->destroy_messenger = (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
            inst, "vkDestroyDebugUtilsMessengerEXT");
        IG_VK_ASSERT(create_messenger && ctx->destroy_messenger); /* the extension is on */
        IG_VK_ALLOC(ctx, create_messenger(inst, &mci, NULL, &ctx->messenger));
        ctx->validation = true;
    } else if (ctx && validate) {
        ctx->validation = true; /* layer on, messages to its default output */
    }
    *out = inst;
    return IG_OK;
fail:
    if (ctx && ctx->instance == inst) ctx->instance = VK_NULL_HANDLE;
    if (inst) vkDestroyInstance(inst, NULL);
    return res;
}

/* ---- physical devices ------------------------------------------------------------------- */

typedef struct ig__vk_phys {
    VkPhysicalDevice pd;
    ig_vk_device_info info;
    uint8_t uuid[VK_UUID_SIZE];
    uint8_t cache_uuid[VK_UUID_SIZE];
    uint32_t driver_version;
    VkPhysicalDeviceType type;
    bool usable;            /* Vulkan >= 1.2 and a compute queue */
    char why_unusable[96];
    bool has_portability_subset;
    bool nv_coop_ext, nv_coop_feature;
} ig__vk_phys;

const char *ig_vk_device_type_name(int type) {
    switch ((VkPhysicalDeviceType)type) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
    }
}

bool ig__vk_has_ext(const VkExtensionProperties *e, uint32_t n, const char *name) {
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(e[i].extensionName, name) == 0) return true;
    return false;
}

VkExtensionProperties *ig__vk_device_extensions(VkPhysicalDevice pd, uint32_t *n) {
    VkExtensionProperties *ext = NULL;
    *n = 0;
    if (vkEnumerateDeviceExtensionProperties(pd, NULL, n, NULL) == VK_SUCCESS && *n) {
        ext = calloc(*n, sizeof *ext);
        if (!ext || vkEnumerateDeviceExtensionProperties(pd, NULL, n, ext) != VK_SUCCESS) *n = 0;
    }
    return ext;
}

static void ig__describe(VkPhysicalDevice pd, ig__vk_phys *d) {
    memset(d, 0, sizeof *d);
    d->pd = pd;
    VkPhysicalDeviceProperties p0;
    vkGetPhysicalDeviceProperties(pd, &p0);
    d->type = p0.deviceType;
    d->info.type = ig_vk_device_type_name((int)p0.deviceType);
    d->info.vendor_id = p0.vendorID;
    d->info.device_id = p0.deviceID;
    d->info.api_version = p0.apiVersion;
    d->driver_version = p0.driverVersion;
    memcpy(d->cache_uuid, p0.pipelineCacheUUID, VK_UUID_SIZE);
    snprintf(d->info.name, sizeof d->info.name, "%s", p0.deviceName);
    d->info.max_storage_buffer_range = p0.limits.maxStorageBufferRange;
    d->info.max_shared_memory = p0.limits.maxComputeSharedMemorySize;

    uint32_t n_ext;
    VkExtensionProperties *ext = ig__vk_device_extensions(pd, &n_ext);
    d->has_portability_subset = ig__vk_has_ext(ext, n_ext, "VK_KHR_portability_subset");
    d->nv_coop_ext = ig__vk_has_ext(ext, n_ext, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
    d->info.coopmat_khr_ext = ig__vk_has_ext(ext, n_ext, "VK_KHR_cooperative_matrix");
    free(ext);

    uint32_t n_q = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n_q, NULL);
    VkQueueFamilyProperties *qf = calloc(n_q ? n_q : 1, sizeof *qf);
    bool compute = false;
    if (qf) {
        vkGetPhysicalDeviceQueueFamilyProperties(pd, &n_q, qf);
        for (uint32_t i = 0; i < n_q; i++)
            if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) compute = true;
        free(qf);
    }

    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(pd, &mp);
    for (uint32_t h = 0; h < mp.memoryHeapCount; h++)
        if (mp.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
            d->info.device_local_bytes += mp.memoryHeaps[h].size;

    if (p0.apiVersion < VK_API_VERSION_1_2) {
        snprintf(d->why_unusable, sizeof d->why_unusable, "Vulkan %u.%u < 1.2",
                 VK_API_VERSION_MAJOR(p0.apiVersion), VK_API_VERSION_MINOR(p0.apiVersion));
        snprintf(d->info.driver, sizeof d->info.driver, "driver 0x%x", p0.driverVersion);
        return;
    }
    if (!compute) {
        snprintf(d->why_unusable, sizeof d->why_unusable, "no compute queue");
    } else {
        d->usable = true;
    }

    VkPhysicalDeviceSubgroupProperties sub = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceDriverProperties drv = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES, .pNext = &sub};
    VkPhysicalDeviceIDProperties idp = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES,
                                        .pNext = &drv};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                      .pNext = &idp};
    vkGetPhysicalDeviceProperties2(pd, &p2);
    memcpy(d->uuid, idp.deviceUUID, VK_UUID_SIZE);
    d->info.subgroup_size = sub.subgroupSize;
    snprintf(d->info.driver, sizeof d->info.driver, "%.120s %.120s", drv.driverName,
             drv.driverInfo);

    VkPhysicalDeviceCooperativeMatrixFeaturesNV coop = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
    VkPhysicalDeviceVulkan12Features f12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
        .pNext = d->nv_coop_ext ? &coop : NULL};
    VkPhysicalDeviceVulkan11Features f11 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES, .pNext = &f12};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                    .pNext = &f11};
    vkGetPhysicalDeviceFeatures2(pd, &f2);
    d->info.fp16_storage = f11.storageBuffer16BitAccess;
    d->info.fp16_arith = f12.shaderFloat16;
    d->nv_coop_feature = d->nv_coop_ext && coop.cooperativeMatrix;

    /* Tensor-core shape the coopmat kernel uses: 16x16x16, f16 x f16 + f32 -> f32. */
    if (d->nv_coop_feature && vkGetPhysicalDeviceCooperativeMatrixPropertiesNV) {
        uint32_t n = 0;
        if (vkGetPhysicalDeviceCooperativeMatrixPropertiesNV(pd, &n, NULL) == VK_SUCCESS && n) {
            VkCooperativeMatrixPropertiesNV *cp = calloc(n, sizeof *cp);
            if (cp) {
                for (uint32_t i = 0; i < n; i++)
                    cp[i].sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV;
                if (vkGetPhysicalDeviceCooperativeMatrixPropertiesNV(pd, &n, cp) == VK_SUCCESS) {
                    for (uint32_t i = 0; i < n; i++) {
                        if (cp[i].MSize == 16 && cp[i].NSize == 16 && cp[i].KSize == 16 &&
                            cp[i].AType == VK_COMPONENT_TYPE_FLOAT16_NV &&
                            cp[i].BType == VK_COMPONENT_TYPE_FLOAT16_NV &&
                            cp[i].CType == VK_COMPONENT_TYPE_FLOAT32_NV &&
                            cp[i].DType == VK_COMPONENT_TYPE_FLOAT32_NV &&
                            cp[i].scope == VK_SCOPE_SUBGROUP_NV)
                            d->info.coopmat_nv = true;
                    }
                }
                free(cp);
            }
        }
    }
    d->info.coopmat_nv = d->info.coopmat_nv && d->info.fp16_storage && d->info.fp16_arith &&
                         f12.vulkanMemoryModel;
}

/* All devices, deduplicated by deviceUUID, in loader order. */
static ig_result ig__enumerate(VkInstance inst, ig__vk_phys **out, int *count, ig_error *err) {
    *out = NULL;
    *count = 0;
    uint32_t n = 0;
    VkResult r = vkEnumeratePhysicalDevices(inst, &n, NULL);
    if (r != VK_SUCCESS) return ig__vk_fail(err, r, "vkEnumeratePhysicalDevices", __FILE__, __LINE__);
    if (n == 0) return IG_OK;
    VkPhysicalDevice *pds = calloc(n, sizeof *pds);
    ig__vk_phys *ds = calloc(n, sizeof *ds);
    if (!pds || !ds) {
        free(pds);
        free(ds);
        return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "listing Vulkan devices");
    }
    r = vkEnumeratePhysicalDevices(inst, &n, pds);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        free(pds);
        free(ds);
        return ig__vk_fail(err, r, "vkEnumeratePhysicalDevices", __FILE__, __LINE__);
    }
    int k = 0;
    for (uint32_t i = 0; i < n; i++) {
        ig__vk_phys d;
        ig__describe(pds[i], &d);
        bool dup = false;
        static const uint8_t zero[VK_UUID_SIZE];
        for (int j = 0; j < k && !dup; j++)
            dup = memcmp(ds[j].uuid, d.uuid, VK_UUID_SIZE) == 0 &&
                  memcmp(d.uuid, zero, VK_UUID_SIZE) != 0;
        if (dup) continue;
        d.info.index = k;
        ds[k++] = d;
    }
    free(pds);
    *out = ds;
    *count = k;
    return IG_OK;
}

ig_result ig_vk_enumerate(ig_vk_device_info *infos, int max, int *count, ig_error *err) {
    VkInstance inst;
    ig_result res = ig__vk_instance(NULL, false, &inst, err);
    if (res != IG_OK) return res;
    ig__vk_phys *ds;
    int n;
    res = ig__enumerate(inst, &ds, &n, err);
    if (res == IG_OK) {
        for (int i = 0; i < n && i < max; i++) infos[i] = ds[i].info;
        if (count) *count = n;
        free(ds);
    }
    vkDestroyInstance(inst, NULL);
    return res;
}

static void ig__bytes(char *buf, size_t len, uint64_t b) {
    if (b >= (1ull << 30))
        snprintf(buf, len, "%.1f GiB", (double)b / (1ull << 30));
    else
        snprintf(buf, len, "%.0f MiB", (double)b / (1ull << 20));
}

ig_result ig_vk_list_devices(char *buf, size_t len, ig_error *err) {
    if (!buf || len == 0) return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "no buffer");
    buf[0] = 0;
    VkInstance inst;
    ig_result res = ig__vk_instance(NULL, false, &inst, err);
    if (res != IG_OK) return res;
    ig__vk_phys *ds;
    int n;
    res = ig__enumerate(inst, &ds, &n, err);
    vkDestroyInstance(inst, NULL);
    if (res != IG_OK) return res;
    size_t used = 0;
#define IG__APPEND(...)                                                                     \
    do {                                                                                    \
        if (used < len) {                                                                   \
            int w = snprintf(buf + used, len - used, __VA_ARGS__);                          \
            used += w > 0 ? (size_t)w : 0;                                                  \
        }                                                                                   \
    } while (0)
    if (n == 0) IG__APPEND("no Vulkan devices\n");
    for (int i = 0; i < n; i++) {
        const ig_vk_device_info *d = &ds[i].info;
        char mem[32];
        ig__bytes(mem, sizeof mem, d->device_local_bytes);
        IG__APPEND("%d: %s | %s | vendor 0x%04x device 0x%04x | %s | Vulkan %u.%u.%u | %s | "
                   "subgroup %u | fp16 %s | coopmat %s%s%s\n",
                   d->index, d->name, d->type, d->vendor_id, d->device_id, d->driver,
                   VK_API_VERSION_MAJOR(d->api_version), VK_API_VERSION_MINOR(d->api_version),
                   VK_API_VERSION_PATCH(d->api_version), mem, d->subgroup_size,
                   d->fp16_storage ? (d->fp16_arith ? "storage+arith" : "storage") : "no",
                   d->coopmat_nv ? "nv-16x16x16" : (d->coopmat_khr_ext ? "khr (unused)" : "no"),
                   ds[i].usable ? "" : " | unusable: ", ds[i].usable ? "" : ds[i].why_unusable);
    }
#undef IG__APPEND
    free(ds);
    if (used >= len)
        return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "device list longer than %zu bytes", len);
    return IG_OK;
}

static int ig__type_rank(VkPhysicalDeviceType t, bool allow_cpu) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 4;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 3;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return allow_cpu ? 1 : 0;
    default: return 0;
    }
}

bool ig_vk_gpu_available(void) {
    ig_vk_device_info infos[16];
    int n = 0;
    if (ig_vk_enumerate(infos, 16, &n, NULL) != IG_OK) return false;
    for (int i = 0; i < n && i < 16; i++)
        if ((strcmp(infos[i].type, "discrete") == 0 || strcmp(infos[i].type, "integrated") == 0) &&
            infos[i].api_version >= VK_API_VERSION_1_2)
            return true;
    return false;
}

static bool ig__contains_ci(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    if (n == 0) return false;
    for (const char *h = hay; *h; h++) {
        size_t i = 0;
        while (i < n && h[i] && tolower((unsigned char)h[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n) return true;
    }
    return false;
}

static ig_result ig__choose(const ig__vk_phys *ds, int n, const char *gpu, bool allow_cpu,
                            int *chosen, ig_error *err) {
    *chosen = -1;
    bool is_auto = !gpu || !*gpu || strcmp(gpu, "auto") == 0 || strcmp(gpu, "all") == 0;
    if (is_auto) {
        int best = -1, best_rank = 0;
        for (int i = 0; i < n; i++) {
            int r = ds[i].usable ? ig__type_rank(ds[i].type, allow_cpu) : 0;
            if (r > best_rank) {
                best = i;
                best_rank = r;
            }
        }
        if (best < 0)
            return ig_error_set(err, IG_ERR_NO_DEVICE,
                                "no Vulkan GPU found among %d device(s) (a CPU device such as "
                                "llvmpipe is used only when named with -g)",
                                n);
        *chosen = best;
        return IG_OK;
    }
    bool digits = true;
    for (const char *p = gpu; *p; p++)
        if (!isdigit((unsigned char)*p)) digits = false;
    int pick = -1;
    if (digits) {
        long idx = strtol(gpu, NULL, 10);
        if (idx >= 0 && idx < n) pick = (int)idx;
        if (pick < 0)
            return ig_error_set(err, IG_ERR_NO_DEVICE,
                                "no Vulkan device with index %s (%d device(s); see `inrgan "
                                "devices`)",
                                gpu, n);
    } else {
        for (int i = 0; i < n && pick < 0; i++)
            if (ig__contains_ci(ds[i].info.name, gpu)) pick = i;
        if (pick < 0)
            return ig_error_set(err, IG_ERR_NO_DEVICE,
                                "no Vulkan device name contains \"%s\" (see `inrgan devices`)",
                                gpu);
    }
    if (!ds[pick].usable)
        return ig_error_set(err, IG_ERR_NO_DEVICE, "Vulkan device %d (%s) is unusable: %s", pick,
                            ds[pick].info.name, ds[pick].why_unusable);
    *chosen = pick;
    return IG_OK;
}

/* Whether an own device can run the KHR cooperative-matrix peak (shaders/peak.comp
 * IG_PEAK_COOP_KHR): the extension with its cooperativeMatrix feature, vulkanMemoryModel and
 * an f16 x f16 + f32 -> f32 16x16x16 subgroup shape, and the variant in this build. */
static bool ig__khr_coopmat_ok(VkInstance inst, VkPhysicalDevice pd) {
    if (!ig__vk_shader_built(IG_SH_PEAK_COOP_KHR)) return false;
    ig__coopmat_features_khr cf = {.sType = IG__STYPE_COOPMAT_FEATURES_KHR};
    VkPhysicalDeviceVulkan12Features f12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES, .pNext = &cf};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                    .pNext = &f12};
    vkGetPhysicalDeviceFeatures2(pd, &f2);
    if (!cf.cooperativeMatrix || !f12.vulkanMemoryModel || !f12.shaderFloat16) return false;
    ig__pfn_coop_khr fn = (ig__pfn_coop_khr)vkGetInstanceProcAddr(
        inst, "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR");
    uint32_t n = 0;
    if (!fn || fn(pd, &n, NULL) != VK_SUCCESS || n == 0 || n > 4096) return false;
    ig__coopmat_props_khr *cp = calloc(n, sizeof *cp);
    if (!cp) return false;
    for (uint32_t i = 0; i < n; i++) cp[i].sType = IG__STYPE_COOPMAT_PROPS_KHR;
    bool ok = false;
    VkResult r = fn(pd, &n, cp);
    for (uint32_t i = 0; (r == VK_SUCCESS || r == VK_INCOMPLETE) && i < n; i++)
        if (cp[i].MSize == 16 && cp[i].NSize == 16 && cp[i].KSize == 16 &&
            cp[i].AType == (int32_t)VK_COMPONENT_TYPE_FLOAT16_NV &&
            cp[i].BType == (int32_t)VK_COMPONENT_TYPE_FLOAT16_NV &&
            cp[i].CType == (int32_t)VK_COMPONENT_TYPE_FLOAT32_NV &&
            cp[i].ResultType == (int32_t)VK_COMPONENT_TYPE_FLOAT32_NV &&
            !cp[i].saturatingAccumulation && cp[i].scope == (int32_t)VK_SCOPE_SUBGROUP_NV)
            ok = true;
    free(cp);
    return ok;
}

/* ---- device requirements ------------------------------------------------------------------ */

/* What the backend enables on a device it creates, and asks an external device to have. The
 * environment switches drop fp16 storage / cooperative matrices. */
static void ig__reqs(const ig__vk_phys *pd, ig_vk_device_reqs *r) {
    memset(r, 0, sizeof *r);
    r->api_version = VK_API_VERSION_1_2;
    bool fp16_ok = pd->info.fp16_storage && !ig__env_flag("INRGAN_DISABLE_FP16");
    bool coop_ok = pd->info.coopmat_nv && !ig__env_flag("INRGAN_DISABLE_COOPMAT");
    bool arith = fp16_ok && pd->info.fp16_arith;
    r->storage_buffer_16bit_access = fp16_ok;
    r->shader_float16 = arith || coop_ok;
    r->vulkan_memory_model = coop_ok;
    r->cooperative_matrix_nv = coop_ok;
    if (coop_ok) r->extensions[r->n_extensions++] = VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME;
    if (pd->has_portability_subset) r->extensions[r->n_extensions++] = "VK_KHR_portability_subset";
}

ig_result ig_vk_device_requirements(void *instance, void *physical_device, ig_vk_device_reqs *out,
                                    ig_error *err) {
    if (!instance || !physical_device || !out)
        return ig_error_set(err, IG_ERR_INVALID_ARGUMENT,
                            "ig_vk_device_requirements: instance, physical device and out are needed");
    memset(out, 0, sizeof *out);
    ig_result res = ig__vk_use_instance((VkInstance)instance, err);
    if (res != IG_OK) return res;
    ig__vk_phys d;
    ig__describe((VkPhysicalDevice)physical_device, &d);
    if (!d.usable)
        return ig_error_set(err, IG_ERR_UNSUPPORTED, "%s cannot run the Vulkan backend: %s",
                            d.info.name, d.why_unusable);
    ig__reqs(&d, out);
    return IG_OK;
}

/* ---- the shared queue ------------------------------------------------------------------- */


void ig__vk_wait_idle(ig_vk_context *ctx) {
    if (!ctx || !ctx->device) return;
    if (!ctx->external) {
        ctx->vk.vkDeviceWaitIdle(ctx->device);
        return;
    }
    /* a shared device: other queues are not ours to synchronise; ours is the only one used */
    if (!ctx->queue) return;
    ig__vk_queue_lock(ctx);
    ctx->vk.vkQueueWaitIdle(ctx->queue);
    ig__vk_queue_unlock(ctx);
}

/* ---- memory types ---------------------------------------------------------------------- */

static int ig__pick_type(const VkPhysicalDeviceMemoryProperties *mp, VkMemoryPropertyFlags need,
                         VkMemoryPropertyFlags want, VkMemoryPropertyFlags avoid) {
    int best = -1, best_score = -1;
    for (uint32_t i = 0; i < mp->memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = mp->memoryTypes[i].propertyFlags;
        if ((f & need) != need) continue;
        if (f & (VK_MEMORY_PROPERTY_PROTECTED_BIT | VK_MEMORY_PROPERTY_LAZILY_ALLOCATED_BIT))
            continue;
        int score = 0;
        if ((f & want) == want) score += 2;
        if (!(f & avoid)) score += 1;
        if (score > best_score) {
            best = (int)i;
            best_score = score;
        }
    }
    return best;
}

/* ---- context ------------------------------------------------------------------------------ */

ig_vk_precision ig_vk_context_precision(const ig_vk_context *ctx) {
    return ctx ? ctx->precision : IG_VK_PRECISION_FP32;
}
bool ig_vk_context_coopmat(const ig_vk_context *ctx) { return ctx && ctx->coopmat; }

uint32_t ig_vk_validation_errors(const ig_vk_context *ctx) {
    return ctx ? __atomic_load_n(&ctx->validation_errors, __ATOMIC_RELAXED) : 0;
}
const char *ig_vk_validation_message(const ig_vk_context *ctx) {
    return ctx ? ctx->validation_msg : "";
}
const char *ig_vk_context_summary(const ig_vk_context *ctx) { return ctx ? ctx->summary : ""; }
const char *ig_vk_level_kernel_used(const ig_vk_context *ctx) {
    return ctx && ctx->kernel_used ? ctx->kernel_used : "";
}

void ig_vk_memory_stats(const ig_vk_context *ctx, ig_vk_mem_stats *stats) {
    if (!stats) return;
    memset(stats, 0, sizeof *stats);
    if (!ctx) return;
    *stats = ctx->stats;
    stats->device_bytes = ctx->heap_used;
    stats->peak_device_bytes = ctx->heap_peak;
    stats->blocks = ctx->blocks;
}

static ig_result ig__vk_fence_timeout(const ig_vk_context *ctx, uint64_t *ns, ig_error *err) {
    const char *env = getenv("INRGAN_VK_FENCE_TIMEOUT");
    double s = strcmp(ctx->info.type, "cpu") == 0 ? 600.0 : 60.0;
    if (env && *env) {
        ig_result r = ig_parse_double("INRGAN_VK_FENCE_TIMEOUT (seconds)", env, 1e-9, 1e6, &s, err);
        if (r != IG_OK) return r;
    }
    *ns = (uint64_t)(s * 1e9) ? (uint64_t)(s * 1e9) : 1;
    return IG_OK;
}

ig_result ig__vk_submit_wait(ig_vk_context *ctx, ig_error *err) {
    ig_result res = IG_OK;
    uint64_t timeout_ns;
    res = ig__vk_fence_timeout(ctx, &timeout_ns, err);
    if (res != IG_OK) return res;
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                       .commandBufferCount = 1,
                       .pCommandBuffers = &ctx->cmd};
    IG_VK_CHECK(ctx->vk.vkResetFences(ctx->device, 1, &ctx->fence));
    ig__vk_queue_lock(ctx); /* a shared queue (ig_vk_external): held for the submission only */
    VkResult sr = ctx->vk.vkQueueSubmit(ctx->queue, 1, &si, ctx->fence);
    ig__vk_queue_unlock(ctx);
    if (sr != VK_SUCCESS) {
        res = ig__vk_fail(err, sr, "vkQueueSubmit", __FILE__, __LINE__);
        goto fail;
    }
    ctx->stats.submissions++;
    /* One bounded wait: a device that does not finish in time is treated as lost (its command
     * buffer may still be pending, so this context cannot record again). */
    VkResult r = ctx->vk.vkWaitForFences(ctx->device, 1, &ctx->fence, VK_TRUE, timeout_ns);
    if (r == VK_TIMEOUT) {
        ctx->lost = true;
        return ig_error_set(err, IG_ERR_DEVICE_LOST,
                            "%s did not finish a submission within %.3g s (hung or far too slow; "
                            "INRGAN_VK_FENCE_TIMEOUT sets the limit)",
                            ctx->info.name, (double)timeout_ns * 1e-9);
    }
    IG_VK_CHECK(r);
    return IG_OK;
fail:
    if (res == IG_ERR_DEVICE_LOST) ctx->lost = true;
    return res;
}

void ig__vk_disp_release(ig_vk_context *ctx) {
    if (ctx->lost_pool) ctx->vk.vkDestroyDescriptorPool(ctx->device, ctx->lost_pool, NULL);
    ctx->lost_pool = VK_NULL_HANDLE;
}

void ig_vk_context_destroy(ig_vk_context *ctx) {
    if (!ctx) return;
    if (ctx->device) {
        ig__vk_wait_idle(ctx);
        ig__vk_disp_release(ctx);
        ig__vk_release_cached(ctx);
        ig__vk_pipe_destroy(ctx);
        if (ctx->fence) ctx->vk.vkDestroyFence(ctx->device, ctx->fence, NULL);
        if (ctx->ts_pool) ctx->vk.vkDestroyQueryPool(ctx->device, ctx->ts_pool, NULL);
        if (ctx->cmd_pool) ctx->vk.vkDestroyCommandPool(ctx->device, ctx->cmd_pool, NULL);
        if (!ctx->external) ctx->vk.vkDestroyDevice(ctx->device, NULL);
    }
    if (!ctx->external) { /* an external instance and device are the caller's */
        if (ctx->messenger && ctx->destroy_messenger)
            ctx->destroy_messenger(ctx->instance, ctx->messenger, NULL);
        if (ctx->instance) vkDestroyInstance(ctx->instance, NULL);
    }
    free(ctx);
}

static void ig__make_summary(ig_vk_context *ctx) {
    const ig_vk_device_info *d = &ctx->info;
    char mem[32];
    ig__bytes(mem, sizeof mem, d->device_local_bytes);
    snprintf(ctx->summary, sizeof ctx->summary,
             "[%d %s] %s vendor=0x%04x driver=%s api=%u.%u.%u mem=%s subgroup=%u "
             "fp16=%s coopmat=%s precision=%s%s fmm=%s kernel=%s validation=%s",
             d->index, d->name, d->type, d->vendor_id, d->driver,
             VK_API_VERSION_MAJOR(d->api_version), VK_API_VERSION_MINOR(d->api_version),
             VK_API_VERSION_PATCH(d->api_version), mem, d->subgroup_size,
             d->fp16_storage ? (d->fp16_arith ? "storage+arith" : "storage") : "no",
             ctx->coopmat ? (ctx->coop_emu ? "emulated" : "nv") : (d->coopmat_nv ? "available" : "no"),
             ctx->precision == IG_VK_PRECISION_FP16 ? "fp16" : "fp32",
             ctx->fp16_ok || ctx->precision == IG_VK_PRECISION_FP16 ? "" : "(fp16 unavailable)",
             ctx->fused_fmm ? "fused" : "pass",
             ctx->kernel_req == IG_VK_KERNEL_GEMM      ? "gemm"
             : ctx->kernel_req == IG_VK_KERNEL_PIXEL   ? "pixel"
             : ctx->kernel_req == IG_VK_KERNEL_FUSED   ? "fused"
             : ctx->kernel_req == IG_VK_KERNEL_FUSED16 ? "fused16"
                                                       : "auto",
             ctx->validation ? "on" : "off");
}

ig_result ig_vk_context_create(const ig_vk_desc *desc_in, ig_vk_context **out, ig_error *err) {
    ig_result res = IG_OK;
    ig__vk_phys *ds = NULL;
    int n_ds = 0;
    if (!out) return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    ig_vk_desc desc = {0};
    if (desc_in) desc = *desc_in;

    ig_vk_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "Vulkan context");
    if (desc.fail_alloc_at > 0) ctx->fail_at = (uint32_t)desc.fail_alloc_at;

    bool validate = desc.validate || ig__env_flag("INRGAN_VALIDATE");
    const ig_vk_external *ext = desc.external;
    ig__vk_phys ext_pd;
    const ig__vk_phys *pd;
    if (ext) {
        /* the caller's instance and device: nothing of them is created or destroyed here */
        if (!ext->instance || !ext->physical_device || !ext->device || !ext->queue) {
            res = ig_error_set(err, IG_ERR_INVALID_ARGUMENT,
                               "ig_vk_external needs an instance, a physical device, a device "
                               "and a queue");
            goto fail;
        }
        res = ig__vk_use_instance((VkInstance)ext->instance, err);
        if (res != IG_OK) goto fail;
        ctx->external = true;
        ctx->instance = (VkInstance)ext->instance;
        ctx->queue_lock = ext->queue_lock;
        ctx->queue_unlock = ext->queue_unlock;
        ctx->queue_user = ext->queue_user;
        ctx->validation = validate; /* the caller's layer and messenger */
        ig__describe((VkPhysicalDevice)ext->physical_device, &ext_pd);
        if (!ext_pd.usable) {
            res = ig_error_set(err, IG_ERR_UNSUPPORTED, "%s cannot run the Vulkan backend: %s",
                               ext_pd.info.name, ext_pd.why_unusable);
            goto fail;
        }
        /* its index in the listing (`inrgan render -g INDEX` names the same device) */
        res = ig__enumerate(ctx->instance, &ds, &n_ds, err);
        if (res != IG_OK) goto fail;
        for (int i = 0; i < n_ds; i++)
            if (ds[i].pd == ext_pd.pd || memcmp(ds[i].uuid, ext_pd.uuid, VK_UUID_SIZE) == 0) {
                ext_pd.info.index = ds[i].info.index;
                break;
            }
        pd = &ext_pd;
    } else {
        res = ig__vk_instance(ctx, validate, &ctx->instance, err);
        if (res != IG_OK) goto fail;

        res = ig__enumerate(ctx->instance, &ds, &n_ds, err);
        if (res != IG_OK) goto fail;
        int pick;
        res = ig__choose(ds, n_ds, desc.gpu, desc.allow_cpu_device, &pick, err);
        if (res != IG_OK) goto fail;
        pd = &ds[pick];
    }
    ctx->phys = pd->pd;
    ctx->info = pd->info;
    ctx->driver_version = pd->driver_version;
    memcpy(ctx->pipeline_cache_uuid, pd->cache_uuid, VK_UUID_SIZE);
    vkGetPhysicalDeviceProperties(ctx->phys, &ctx->props);
    vkGetPhysicalDeviceMemoryProperties(ctx->phys, &ctx->mem_props);

    /* Features and precision. */
    ctx->fp16_ok = pd->info.fp16_storage && !ig__env_flag("INRGAN_DISABLE_FP16");
    ctx->coopmat_ok = pd->info.coopmat_nv && !ig__env_flag("INRGAN_DISABLE_COOPMAT");
    ctx->precision = IG_VK_PRECISION_FP32;
    if (desc.precision == IG_VK_PRECISION_FP16 && ctx->fp16_ok)
        ctx->precision = IG_VK_PRECISION_FP16;
    if (desc.precision == IG_VK_PRECISION_AUTO && ctx->fp16_ok &&
        pd->type != VK_PHYSICAL_DEVICE_TYPE_CPU)
        ctx->precision = IG_VK_PRECISION_FP16;
    ctx->fp16 = ctx->precision == IG_VK_PRECISION_FP16;
    ctx->coopmat = desc.coopmat && ctx->coopmat_ok;
    ctx->fp16_arith = ctx->fp16_ok && pd->info.fp16_arith;
    /* KHR cooperative matrices: only the peak microbenchmark uses them, on an own device
     * without the NV extension (where it has NV, nothing changes: Debian 12's validation
     * layer predates the KHR extension) */
    ctx->coopmat_khr_ok = !ext && !ctx->coopmat_ok && pd->info.coopmat_khr_ext &&
                          ctx->fp16_arith && !ig__env_flag("INRGAN_DISABLE_COOPMAT") &&
                          ig__khr_coopmat_ok(ctx->instance, pd->pd);
    if (!ctx->coopmat && desc.coopmat_emulate && ctx->fp16_arith) {
        ctx->coopmat = true;
        ctx->coop_emu = true;
    }
    if (ctx->coopmat) { /* the coopmat kernel works on fp16 weights from the wgen pass */
        ctx->precision = IG_VK_PRECISION_FP16;
        ctx->fp16 = true;
    }
    ctx->fused_fmm = desc.fmm == IG_VK_FMM_FUSED && !ctx->coopmat;
    /* the level kernel asked for (the environment overrides the desc): pixel, gemm, fused or
     * fused16 now, auto per model shape at its first render (vk_choice.c); whether a render can
     * use gemm / fused is decided per render (vk_inrgan.c), the summary says what was asked */
    int lk = desc.level_kernel;
    ctx->kernel_req = lk == IG_VK_KERNEL_PIXEL || lk == IG_VK_KERNEL_GEMM ||
                              lk == IG_VK_KERNEL_FUSED || lk == IG_VK_KERNEL_FUSED16
                          ? lk
                          : IG_VK_KERNEL_AUTO;
    ctx->kernel_req_src = ctx->kernel_req == IG_VK_KERNEL_AUTO ? NULL : "option";
    const char *kern = getenv("INRGAN_VK_KERNEL");
    if (kern && *kern) {
        int k = strcmp(kern, "gemm") == 0      ? IG_VK_KERNEL_GEMM
                : strcmp(kern, "pixel") == 0   ? IG_VK_KERNEL_PIXEL
                : strcmp(kern, "fused") == 0   ? IG_VK_KERNEL_FUSED
                : strcmp(kern, "fused16") == 0 ? IG_VK_KERNEL_FUSED16
                : strcmp(kern, "auto") == 0    ? IG_VK_KERNEL_AUTO
                                               : -1;
        if (k < 0) {
            res = ig_error_set(err, IG_ERR_INVALID_ARGUMENT,
                               "INRGAN_VK_KERNEL=%.32s is not auto, pixel, gemm, fused or fused16",
                               kern);
            goto fail;
        }
        ctx->kernel_req = k;
        ctx->kernel_req_src = k == IG_VK_KERNEL_AUTO ? NULL : "env";
    }
    ctx->level_fused16 = ctx->kernel_req == IG_VK_KERNEL_FUSED16;
    ctx->level_fused = ctx->kernel_req == IG_VK_KERNEL_FUSED || ctx->level_fused16;
    ctx->level_gemm = ctx->kernel_req == IG_VK_KERNEL_GEMM || ctx->level_fused;
    /* the gemm kernel's tile set (vk_inrgan_gemm.c): auto (per level), or forced */
    const char *tile = getenv("INRGAN_VK_GEMM_TILE");
    ctx->gemm_tile = -1;
    if (tile && *tile && strcmp(tile, "auto") != 0) {
        if (strcmp(tile, "small") == 0) {
            ctx->gemm_tile = 0;
        } else if (strcmp(tile, "large") == 0) {
            ctx->gemm_tile = 1;
        } else if (strcmp(tile, "coop") == 0) {
            ctx->gemm_tile = 2;
        } else {
            res = ig_error_set(err, IG_ERR_USAGE,
                               "INRGAN_VK_GEMM_TILE=%s: expected small, large, coop or auto", tile);
            goto fail;
        }
    }
    /* its cooperative-matrix variant: the KHR kernel where the device and the build have it
     * (vk_inrgan_gemm.c decides), or its scalar twin through the same host path (test hook) */
    ctx->gemm_coop_emu = ig__env_flag("INRGAN_VK_COOP_EMU") && ctx->fp16_ok;
    /* ... its KHR cooperative-matrix variant (fp16 storage, both variants in this build, the
     * gemm kernel asked for or left to the choice): the extension on an own device, NVIDIA's
     * too (next to NV coopmat; enabled only for such contexts) */
    if (!ctx->coopmat_khr_ok && ctx->kernel_req != IG_VK_KERNEL_PIXEL && ctx->fp16 && !ext &&
        pd->info.coopmat_khr_ext && ctx->fp16_arith && !ig__env_flag("INRGAN_DISABLE_COOPMAT") &&
        ig__vk_shader_built(IG_SH_GEMM_LEVEL_COOP) && ig__vk_shader_built(IG_SH_GEMM_RAW_COOP))
        ctx->coopmat_khr_ok = ig__khr_coopmat_ok(ctx->instance, pd->pd);
    ctx->gemm_coop_khr = ctx->coopmat_khr_ok && ig__vk_shader_built(IG_SH_GEMM_LEVEL_COOP) &&
                         ig__vk_shader_built(IG_SH_GEMM_RAW_COOP);
    ctx->kernel_used = "";

    /* One compute queue. */
    uint32_t n_q = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(ctx->phys, &n_q, NULL);
    VkQueueFamilyProperties qf[64];
    if (n_q > 64) n_q = 64;
    vkGetPhysicalDeviceQueueFamilyProperties(ctx->phys, &n_q, qf);
    ctx->queue_family = UINT32_MAX;
    if (ext) {
        if (ext->queue_family >= n_q || !(qf[ext->queue_family].queueFlags & VK_QUEUE_COMPUTE_BIT)) {
            res = ig_error_set(err, IG_ERR_UNSUPPORTED,
                               "ig_vk_external: queue family %u of %s has no compute",
                               ext->queue_family, ctx->info.name);
            goto fail;
        }
        ctx->queue_family = ext->queue_family;
    }
    for (uint32_t i = 0; i < n_q && ctx->queue_family == UINT32_MAX; i++)
        if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) ctx->queue_family = i;
    IG_VK_ASSERT(ctx->queue_family != UINT32_MAX); /* checked by ig__describe */
    ctx->ts_valid_bits = qf[ctx->queue_family].timestampValidBits;

    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                   .queueFamilyIndex = ctx->queue_family,
                                   .queueCount = 1,
                                   .pQueuePriorities = &prio};
    VkPhysicalDeviceCooperativeMatrixFeaturesNV coop = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV,
        .cooperativeMatrix = VK_TRUE};
    /* Features follow what the device can do, not what this context's renders use, so the
     * peak microbenchmarks (ig_vk_peak) can measure fp16 and tensor-core throughput on the
     * same device whatever the render precision. */
    bool coop_nv = ctx->coopmat_ok, coop_khr = ctx->coopmat_khr_ok;
    ig__coopmat_features_khr coop_k = {.sType = IG__STYPE_COOPMAT_FEATURES_KHR,
                                       .pNext = coop_nv ? &coop : NULL,
                                       .cooperativeMatrix = VK_TRUE};
    VkPhysicalDeviceVulkan12Features f12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
        .pNext = coop_khr ? (void *)&coop_k : coop_nv ? (void *)&coop : NULL,
        .shaderFloat16 = ctx->fp16_arith || ctx->coopmat ? VK_TRUE : VK_FALSE,
        .vulkanMemoryModel = coop_nv || coop_khr ? VK_TRUE : VK_FALSE};
    VkPhysicalDeviceVulkan11Features f11 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
        .pNext = &f12,
        .storageBuffer16BitAccess = ctx->fp16_ok ? VK_TRUE : VK_FALSE};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                    .pNext = &f11};
    const char *exts[4];
    uint32_t n_exts = 0;
    if (coop_nv) exts[n_exts++] = VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME;
    if (coop_khr) exts[n_exts++] = "VK_KHR_cooperative_matrix";
    if (pd->has_portability_subset) exts[n_exts++] = "VK_KHR_portability_subset";
    VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                              .pNext = &f2,
                              .queueCreateInfoCount = 1,
                              .pQueueCreateInfos = &qci,
                              .enabledExtensionCount = n_exts,
                              .ppEnabledExtensionNames = exts};
    if (ext) {
        /* created by the caller with ig_vk_device_requirements(): the same features as above
         * (a context's coopmat is within coopmat_ok, so shaderFloat16 is among them) */
        (void)dci;
        ctx->device = (VkDevice)ext->device;
        volkLoadDeviceTable(&ctx->vk, ctx->device);
        ctx->queue = (VkQueue)ext->queue;
    } else {
        IG_VK_ALLOC(ctx, vkCreateDevice(ctx->phys, &dci, NULL, &ctx->device));
        volkLoadDeviceTable(&ctx->vk, ctx->device);
        ctx->vk.vkGetDeviceQueue(ctx->device, ctx->queue_family, 0, &ctx->queue);
    }

    VkCommandPoolCreateInfo cpci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                    .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                    .queueFamilyIndex = ctx->queue_family};
    IG_VK_ALLOC(ctx, ctx->vk.vkCreateCommandPool(ctx->device, &cpci, NULL, &ctx->cmd_pool));
    VkCommandBufferAllocateInfo cbai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                        .commandPool = ctx->cmd_pool,
                                        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                        .commandBufferCount = 1};
    IG_VK_ALLOC(ctx, ctx->vk.vkAllocateCommandBuffers(ctx->device, &cbai, &ctx->cmd));
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    IG_VK_ALLOC(ctx, ctx->vk.vkCreateFence(ctx->device, &fci, NULL, &ctx->fence));
    if (ctx->ts_valid_bits > 0 && ctx->props.limits.timestampPeriod > 0) {
        VkQueryPoolCreateInfo qpci = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                      .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                      .queryCount = 2};
        IG_VK_ALLOC(ctx, ctx->vk.vkCreateQueryPool(ctx->device, &qpci, NULL, &ctx->ts_pool));
    }

    /* Memory: a device-local type for everything the shaders touch, a host-visible coherent
     * one for staging. When the device type is itself host visible + coherent (lavapipe,
     * UMA), buffers are written in place and no staging copies are made. */
    const VkMemoryPropertyFlags HV = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                     VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    int dt = ig__pick_type(&ctx->mem_props, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0,
                           VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT);
    int ht = ig__pick_type(&ctx->mem_props, HV, VK_MEMORY_PROPERTY_HOST_CACHED_BIT,
                           VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    if (dt < 0) dt = ht;
    if (dt < 0 || ht < 0) {
        res = ig_error_set(err, IG_ERR_NO_DEVICE, "%s has no usable memory type", ctx->info.name);
        goto fail;
    }
    ctx->device_type = (uint32_t)dt;
    ctx->host_type = (uint32_t)ht;
    ctx->uma = (ctx->mem_props.memoryTypes[dt].propertyFlags & HV) == HV;

    VkPhysicalDeviceMaintenance3Properties m3 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                      .pNext = &m3};
    vkGetPhysicalDeviceProperties2(ctx->phys, &p2);
    ctx->max_alloc = m3.maxMemoryAllocationSize ? m3.maxMemoryAllocationSize : (1ull << 30);

    VkDeviceSize align = ctx->props.limits.minStorageBufferOffsetAlignment;
    if (align < 16) align = 16;
    if (ctx->props.limits.nonCoherentAtomSize > align) align = ctx->props.limits.nonCoherentAtomSize;
    ctx->align = align;
    VkDeviceSize range = ctx->props.limits.maxStorageBufferRange;
    if (desc.cap_buffer_range && desc.cap_buffer_range < range) range = desc.cap_buffer_range;
    range = range / align * align;
    if (range < 4 * align) range = 4 * align;
    ctx->range = range - align; /* room to align a window's start down */

    uint32_t heap = ctx->mem_props.memoryTypes[dt].heapIndex;
    VkDeviceSize heap_size = ctx->mem_props.memoryHeaps[heap].size;
    ctx->heap_budget = heap_size / 10 * 8;
    if (desc.cap_heap_bytes && desc.cap_heap_bytes < ctx->heap_budget)
        ctx->heap_budget = desc.cap_heap_bytes;

    ctx->work.device = true;
    ctx->stage.device = false;
    {
        VkPhysicalDeviceDriverProperties drv = {
            .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
        VkPhysicalDeviceProperties2 pp = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                          .pNext = &drv};
        vkGetPhysicalDeviceProperties2(ctx->phys, &pp);
        if (drv.driverID == VK_DRIVER_ID_MESA_LLVMPIPE) ctx->loop_limit = 60000; /* < 65535 */
    }

    res = ig__vk_pipe_init(ctx, desc.cache_dir, err);
    if (res != IG_OK) goto fail;

    ig__make_summary(ctx);
    free(ds);
    *out = ctx;
    return IG_OK;
fail:
    free(ds);
    ig_vk_context_destroy(ctx);
    return res;
}
