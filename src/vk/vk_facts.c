/* vk_facts.c - `inrgan devices --json`: what each Vulkan device offers, as one JSON document.
 *
 * Per device: identity (name, type, vendor/device id, driver and API versions, driver name and
 * info), the limits the kernels care about (shared memory, work-group size and invocations,
 * storage-buffer range, maxMemoryAllocationSize from VkPhysicalDeviceMaintenance3Properties),
 * memory heaps with the VK_EXT_memory_budget budget and usage when the device has it, the
 * subgroup size and its range (VK_EXT_subgroup_size_control or Vulkan 1.3), fp16 support, and
 * the tensor-core facts: KHR cooperative-matrix shapes (vkGetPhysicalDeviceCooperativeMatrix-
 * PropertiesKHR), NV cooperative-matrix shapes, presence of VK_NV_cooperative_matrix2 and
 * VK_NV_cooperative_vector.
 *
 * Debian 12's Vulkan headers (1.3.239) predate VK_KHR_cooperative_matrix (1.3.255); its few
 * structures are ABI-fixed by the specification, so they are declared here when the headers lack
 * them and the shape list is queried all the same. Properties of extensions this build has no
 * declarations for (coopmat2, cooperative vector) are reported as presence only, with
 * "properties": "unknown to this build".
 *
 * Also this build's shaders: "shaders": {"compiler", "gated": [{name, requires, built,
 * spirv_bytes}]}, the IG_SHADER_REQ variants of src/vk/vk_shaders.def.
 *
 * Its own instance (apiVersion min(loader, 1.3)), no device is created: nothing here touches a
 * rendering context, so it is safe next to one.
 */
#include "vk_internal.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* VK_KHR_cooperative_matrix declarations: vk_internal.h */

static const char *ig__component(int32_t t) {
    static const char *n[] = {"float16", "float32", "float64", "sint8", "sint16", "sint32",
                              "sint64", "uint8", "uint16", "uint32", "uint64"};
    if (t >= 0 && t < (int32_t)(sizeof n / sizeof *n)) return n[t];
    if (t == 1000491000) return "bfloat16";
    if (t == 1000491002) return "float8_e4m3";
    if (t == 1000491003) return "float8_e5m2";
    return "other";
}
static const char *ig__scope(int32_t s) {
    switch (s) {
    case 1: return "device";
    case 2: return "workgroup";
    case 3: return "subgroup";
    case 5: return "queue_family";
    default: return "other";
    }
}

/* One cooperative-matrix shape (KHR or NV: the same fields) appended to `shapes`; NULL when out
 * of memory. */
static cJSON *ig__shape(cJSON *shapes, uint32_t m, uint32_t n, uint32_t k, int32_t a, int32_t b,
                        int32_t c, int32_t result, int32_t scope) {
    cJSON *s = cJSON_CreateObject();
    if (!s) return NULL;
    cJSON_AddNumberToObject(s, "M", m);
    cJSON_AddNumberToObject(s, "N", n);
    cJSON_AddNumberToObject(s, "K", k);
    cJSON_AddStringToObject(s, "A", ig__component(a));
    cJSON_AddStringToObject(s, "B", ig__component(b));
    cJSON_AddStringToObject(s, "C", ig__component(c));
    cJSON_AddStringToObject(s, "result", ig__component(result));
    cJSON_AddStringToObject(s, "scope", ig__scope(scope));
    cJSON_AddItemToArray(shapes, s);
    return s;
}

static void ig__version(cJSON *o, const char *key, uint32_t v) {
    char s[32];
    snprintf(s, sizeof s, "%u.%u.%u", VK_API_VERSION_MAJOR(v), VK_API_VERSION_MINOR(v),
             VK_API_VERSION_PATCH(v));
    cJSON_AddStringToObject(o, key, s);
}

/* The driver version as its vendor encodes it (NVIDIA 10.8.8.6 bits, Intel on Windows differs:
 * not seen here), else the Vulkan encoding. */
static void ig__driver_version(cJSON *o, uint32_t vendor, uint32_t v) {
    char s[32];
    if (vendor == 0x10de)
        snprintf(s, sizeof s, "%u.%u.%u.%u", v >> 22, (v >> 14) & 0xff, (v >> 6) & 0xff, v & 0x3f);
    else
        snprintf(s, sizeof s, "%u.%u.%u", VK_API_VERSION_MAJOR(v), VK_API_VERSION_MINOR(v),
                 VK_API_VERSION_PATCH(v));
    cJSON_AddNumberToObject(o, "driver_version_raw", v);
    cJSON_AddStringToObject(o, "driver_version", s);
}

static cJSON *ig__u32_array(const uint32_t *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static cJSON *ig__device(VkInstance inst, VkPhysicalDevice pd, int index, uint32_t inst_api) {
    cJSON *d = cJSON_CreateObject();
    if (!d) return NULL;
    uint32_t n_ext;
    VkExtensionProperties *ext = ig__vk_device_extensions(pd, &n_ext);
    VkPhysicalDeviceProperties p0;
    vkGetPhysicalDeviceProperties(pd, &p0);
    uint32_t api = p0.apiVersion < inst_api ? p0.apiVersion : inst_api; /* usable here */
    bool v13 = api >= VK_API_VERSION_1_3;
    bool has_budget = ig__vk_has_ext(ext, n_ext, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
    bool has_sgsc = v13 || ig__vk_has_ext(ext, n_ext, VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);
    bool has_coop_nv = ig__vk_has_ext(ext, n_ext, "VK_NV_cooperative_matrix");
    bool has_coop_khr = ig__vk_has_ext(ext, n_ext, "VK_KHR_cooperative_matrix");
    bool has_coop2 = ig__vk_has_ext(ext, n_ext, "VK_NV_cooperative_matrix2");
    bool has_cvec = ig__vk_has_ext(ext, n_ext, "VK_NV_cooperative_vector");

    /* properties: 1.1 (subgroup), 1.2 (driver), maintenance3, subgroup size control */
    VkPhysicalDeviceSubgroupSizeControlPropertiesEXT sgsc = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES_EXT};
    VkPhysicalDeviceMaintenance3Properties m3 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES,
        .pNext = has_sgsc ? &sgsc : NULL};
    VkPhysicalDeviceDriverProperties drv = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES, .pNext = &m3};
    VkPhysicalDeviceSubgroupProperties sg = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES, .pNext = &drv};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                      .pNext = &sg};
    vkGetPhysicalDeviceProperties2(pd, &p2);
    VkPhysicalDeviceVulkan12Features f12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceVulkan11Features f11 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES, .pNext = &f12};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                    .pNext = &f11};
    vkGetPhysicalDeviceFeatures2(pd, &f2);

    const VkPhysicalDeviceLimits *L = &p0.limits;
    cJSON_AddNumberToObject(d, "index", index);
    cJSON_AddStringToObject(d, "name", p0.deviceName);
    cJSON_AddStringToObject(d, "type", ig_vk_device_type_name((int)p0.deviceType));
    cJSON_AddNumberToObject(d, "vendor_id", p0.vendorID);
    cJSON_AddNumberToObject(d, "device_id", p0.deviceID);
    ig__driver_version(d, p0.vendorID, p0.driverVersion);
    cJSON_AddStringToObject(d, "driver_name", drv.driverName);
    cJSON_AddStringToObject(d, "driver_info", drv.driverInfo);
    ig__version(d, "api_version", p0.apiVersion);

    cJSON *lim = cJSON_AddObjectToObject(d, "limits");
    if (lim) {
        cJSON_AddNumberToObject(lim, "maxComputeSharedMemorySize", L->maxComputeSharedMemorySize);
        cJSON_AddItemToObject(lim, "maxComputeWorkGroupSize",
                              ig__u32_array(L->maxComputeWorkGroupSize, 3));
        cJSON_AddItemToObject(lim, "maxComputeWorkGroupCount",
                              ig__u32_array(L->maxComputeWorkGroupCount, 3));
        cJSON_AddNumberToObject(lim, "maxComputeWorkGroupInvocations",
                                L->maxComputeWorkGroupInvocations);
        cJSON_AddNumberToObject(lim, "maxStorageBufferRange", L->maxStorageBufferRange);
        cJSON_AddNumberToObject(lim, "maxMemoryAllocationSize", (double)m3.maxMemoryAllocationSize);
        cJSON_AddNumberToObject(lim, "maxMemoryAllocationCount", L->maxMemoryAllocationCount);
        cJSON_AddNumberToObject(lim, "maxPushConstantsSize", L->maxPushConstantsSize);
        cJSON_AddNumberToObject(lim, "minStorageBufferOffsetAlignment",
                                (double)L->minStorageBufferOffsetAlignment);
        cJSON_AddNumberToObject(lim, "timestampPeriod", L->timestampPeriod);
        cJSON_AddBoolToObject(lim, "timestampComputeAndGraphics", L->timestampComputeAndGraphics);
    }

    /* memory heaps, with the budget when VK_EXT_memory_budget is there */
    VkPhysicalDeviceMemoryBudgetPropertiesEXT bud = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
    VkPhysicalDeviceMemoryProperties2 mp2 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2,
        .pNext = has_budget ? &bud : NULL};
    vkGetPhysicalDeviceMemoryProperties2(pd, &mp2);
    const VkPhysicalDeviceMemoryProperties *mp = &mp2.memoryProperties;
    cJSON_AddBoolToObject(d, "memory_budget_ext", has_budget);
    cJSON *heaps = cJSON_AddArrayToObject(d, "memory_heaps");
    for (uint32_t h = 0; heaps && h < mp->memoryHeapCount; h++) {
        cJSON *o = cJSON_CreateObject();
        if (!o) break;
        cJSON_AddNumberToObject(o, "size", (double)mp->memoryHeaps[h].size);
        cJSON_AddBoolToObject(o, "device_local",
                              (mp->memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0);
        if (has_budget) {
            cJSON_AddNumberToObject(o, "budget", (double)bud.heapBudget[h]);
            cJSON_AddNumberToObject(o, "usage", (double)bud.heapUsage[h]);
        } else {
            cJSON_AddNullToObject(o, "budget");
            cJSON_AddNullToObject(o, "usage");
        }
        cJSON *types = cJSON_AddArrayToObject(o, "memory_types");
        for (uint32_t t = 0; types && t < mp->memoryTypeCount; t++) {
            if (mp->memoryTypes[t].heapIndex != h) continue;
            VkMemoryPropertyFlags f = mp->memoryTypes[t].propertyFlags;
            char s[64];
            snprintf(s, sizeof s, "%s%s%s%s", f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT ? "device_local " : "",
                     f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT ? "host_visible " : "",
                     f & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT ? "host_coherent " : "",
                     f & VK_MEMORY_PROPERTY_HOST_CACHED_BIT ? "host_cached " : "");
            size_t n = strlen(s);
            if (n) s[n - 1] = 0;
            cJSON_AddItemToArray(types, cJSON_CreateString(s));
        }
        cJSON_AddItemToArray(heaps, o);
    }

    cJSON *sgo = cJSON_AddObjectToObject(d, "subgroup");
    if (sgo) {
        cJSON_AddNumberToObject(sgo, "size", sg.subgroupSize);
        if (has_sgsc) {
            cJSON_AddNumberToObject(sgo, "min_size", sgsc.minSubgroupSize);
            cJSON_AddNumberToObject(sgo, "max_size", sgsc.maxSubgroupSize);
            cJSON_AddNumberToObject(sgo, "max_compute_workgroup_subgroups",
                                    sgsc.maxComputeWorkgroupSubgroups);
        } else {
            cJSON_AddNullToObject(sgo, "min_size");
            cJSON_AddNullToObject(sgo, "max_size");
            cJSON_AddNullToObject(sgo, "max_compute_workgroup_subgroups");
        }
        cJSON_AddBoolToObject(sgo, "size_control", has_sgsc);
        cJSON_AddBoolToObject(sgo, "arithmetic_in_compute",
                              (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                                  (sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT));
    }
    cJSON *fp = cJSON_AddObjectToObject(d, "fp16");
    if (fp) {
        cJSON_AddBoolToObject(fp, "storage_buffer_16bit", f11.storageBuffer16BitAccess);
        cJSON_AddBoolToObject(fp, "shader_float16", f12.shaderFloat16);
    }

    /* KHR cooperative matrix: the shape list */
    cJSON *ck = cJSON_AddObjectToObject(d, "coopmat_khr");
    if (ck) {
        cJSON_AddBoolToObject(ck, "present", has_coop_khr);
        cJSON_AddStringToObject(ck, "declarations", IG__KHR_COOPMAT_DECL);
        cJSON *shapes = cJSON_AddArrayToObject(ck, "shapes");
        ig__pfn_coop_khr fn = has_coop_khr ? (ig__pfn_coop_khr)vkGetInstanceProcAddr(
                                                 inst, "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR")
                                           : NULL;
        uint32_t n = 0;
        if (has_coop_khr && !fn) cJSON_AddStringToObject(ck, "error", "entry point not found");
        if (fn && fn(pd, &n, NULL) == VK_SUCCESS && n > 0 && n < 4096) {
            ig__coopmat_props_khr *cp = calloc(n, sizeof *cp);
            for (uint32_t i = 0; cp && i < n; i++) cp[i].sType = IG__STYPE_COOPMAT_PROPS_KHR;
            if (cp && fn(pd, &n, cp) == VK_SUCCESS) {
                for (uint32_t i = 0; shapes && i < n; i++) {
                    cJSON *s = ig__shape(shapes, cp[i].MSize, cp[i].NSize, cp[i].KSize, (int32_t)cp[i].AType,
                                         (int32_t)cp[i].BType, (int32_t)cp[i].CType, (int32_t)cp[i].ResultType,
                                         (int32_t)cp[i].scope);
                    if (!s) break;
                    cJSON_AddBoolToObject(s, "saturating", cp[i].saturatingAccumulation);
                }
            }
            free(cp);
        }
    }
    /* NV cooperative matrix: the shape list (VK_NV_cooperative_matrix is in every header here) */
    cJSON *cn = cJSON_AddObjectToObject(d, "coopmat_nv");
    if (cn) {
        cJSON_AddBoolToObject(cn, "present", has_coop_nv);
        cJSON *shapes = cJSON_AddArrayToObject(cn, "shapes");
        PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV fn =
            has_coop_nv ? (PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV)vkGetInstanceProcAddr(
                              inst, "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV")
                        : NULL;
        uint32_t n = 0;
        if (fn && fn(pd, &n, NULL) == VK_SUCCESS && n > 0 && n < 4096) {
            VkCooperativeMatrixPropertiesNV *cp = calloc(n, sizeof *cp);
            for (uint32_t i = 0; cp && i < n; i++)
                cp[i].sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV;
            if (cp && fn(pd, &n, cp) == VK_SUCCESS) {
                for (uint32_t i = 0; shapes && i < n; i++)
                    if (!ig__shape(shapes, cp[i].MSize, cp[i].NSize, cp[i].KSize, (int32_t)cp[i].AType,
                                   (int32_t)cp[i].BType, (int32_t)cp[i].CType, (int32_t)cp[i].DType,
                                   (int32_t)cp[i].scope))
                        break;
            }
            free(cp);
        }
    }
    /* presence only: this build has no declarations of their property structures */
    cJSON *c2 = cJSON_AddObjectToObject(d, "coopmat2_nv");
    if (c2) {
        cJSON_AddBoolToObject(c2, "present", has_coop2);
        cJSON_AddStringToObject(c2, "properties", "unknown to this build");
    }
    cJSON *cv = cJSON_AddObjectToObject(d, "coopvec_nv");
    if (cv) {
        cJSON_AddBoolToObject(cv, "present", has_cvec);
        cJSON_AddStringToObject(cv, "properties", "unknown to this build");
    }
    cJSON_AddNumberToObject(d, "extension_count", n_ext);
    free(ext);
    return d;
}

ig_result ig_vk_devices_json(char **out, ig_error *err) {
    if (!out) return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    ig_vk_device_info probe;
    int count = 0;
    /* loads the loader (volk) once, the way every other entry point does */
    ig_result res = ig_vk_enumerate(&probe, 1, &count, err);
    if (res != IG_OK) return res;
    uint32_t loader = VK_API_VERSION_1_0;
    if (vkEnumerateInstanceVersion) vkEnumerateInstanceVersion(&loader);
    uint32_t api = loader < VK_API_VERSION_1_3 ? loader : VK_API_VERSION_1_3;
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .pApplicationName = "inrgan devices",
                             .pEngineName = "inrgan",
                             .apiVersion = api};
    VkInstanceCreateInfo ici = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                                .pApplicationInfo = &app};
    VkInstance inst = VK_NULL_HANDLE;
    VkResult vr = vkCreateInstance(&ici, NULL, &inst);
    if (vr != VK_SUCCESS) return ig__vk_fail(err, vr, "vkCreateInstance", __FILE__, __LINE__);
    volkLoadInstanceOnly(inst);
    uint32_t n = 0;
    VkPhysicalDevice *pds = NULL;
    vr = vkEnumeratePhysicalDevices(inst, &n, NULL);
    if (vr == VK_SUCCESS && n) {
        pds = calloc(n, sizeof *pds);
        if (!pds) vr = VK_ERROR_OUT_OF_HOST_MEMORY;
        else vr = vkEnumeratePhysicalDevices(inst, &n, pds);
        if (vr == VK_INCOMPLETE) vr = VK_SUCCESS;
    }
    if (vr != VK_SUCCESS) {
        free(pds);
        vkDestroyInstance(inst, NULL);
        return ig__vk_fail(err, vr, "vkEnumeratePhysicalDevices", __FILE__, __LINE__);
    }
    /* one entry per device UUID, numbered as `inrgan devices` and -g number them */
    uint32_t k = 0;
    uint8_t (*uuids)[VK_UUID_SIZE] = calloc(n ? n : 1, VK_UUID_SIZE);
    for (uint32_t i = 0; uuids && i < n; i++) {
        VkPhysicalDeviceIDProperties idp = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
        VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                          .pNext = &idp};
        vkGetPhysicalDeviceProperties2(pds[i], &p2);
        static const uint8_t zero[VK_UUID_SIZE];
        bool dup = false;
        for (uint32_t j = 0; j < k && !dup; j++)
            dup = memcmp(uuids[j], idp.deviceUUID, VK_UUID_SIZE) == 0 &&
                  memcmp(idp.deviceUUID, zero, VK_UUID_SIZE) != 0;
        if (dup) continue;
        memcpy(uuids[k], idp.deviceUUID, VK_UUID_SIZE);
        pds[k++] = pds[i];
    }
    free(uuids);
    n = k;
    cJSON *root = cJSON_CreateObject();
    cJSON *devs = root ? cJSON_AddArrayToObject(root, "devices") : NULL;
    if (root) {
        ig__version(root, "loader_api_version", loader);
        cJSON_AddNumberToObject(root, "header_version", VK_HEADER_VERSION);
        /* this build's shaders: the compiler, and each IG_SHADER_REQ variant (built or
         * compiled out at configure time, src/vk/vk.cmake) */
        cJSON *sh = cJSON_AddObjectToObject(root, "shaders");
        cJSON *gated = sh ? cJSON_AddArrayToObject(sh, "gated") : NULL;
        if (sh) cJSON_AddStringToObject(sh, "compiler", ig__vk_shader_compiler());
        for (int i = 0; gated && i < IG_SH_COUNT; i++) {
            const ig__vk_spirv *v = ig__vk_shader(i);
            if (!v->requires) continue;
            cJSON *g = cJSON_CreateObject();
            if (!g) break;
            cJSON_AddStringToObject(g, "name", v->name + 7); /* without "ig_spv_" */
            cJSON_AddStringToObject(g, "requires", v->requires);
            cJSON_AddBoolToObject(g, "built", ig__vk_shader_built(i));
            cJSON_AddNumberToObject(g, "spirv_bytes", (double)v->bytes);
            cJSON_AddItemToArray(gated, g);
        }
    }
    bool oom = !devs;
    for (uint32_t i = 0; !oom && i < n; i++) {
        cJSON *d = ig__device(inst, pds[i], (int)i, api);
        if (!d) oom = true;
        else cJSON_AddItemToArray(devs, d);
    }
    free(pds);
    vkDestroyInstance(inst, NULL);
    char *text = oom ? NULL : cJSON_Print(root);
    cJSON_Delete(root);
    size_t len = text ? strlen(text) : 0;
    char *nl = text ? realloc(text, len + 2) : NULL; /* one trailing newline */
    if (text && !nl) free(text);
    text = nl;
    if (text) memcpy(text + len, "\n", 2);
    if (!text) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "devices --json: building the JSON text");
    *out = text;
    return IG_OK;
}
