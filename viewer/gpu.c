/* gpu.c - the viewer's presenter: Vulkan (through volk) into a GLFW window.
 *
 * Set-up, in order: loader (volk) -> instance (Vulkan 1.2 where the loader has it, + validation
 * layer and an error-counting debug-utils messenger when asked) -> window surface -> physical
 * device (-g) -> device with one graphics queue that can present, and, when the Vulkan backend
 * is to render on it, the extensions and features ig_vk_device_requirements() lists ->
 * command pool, per-frame command buffers, fences and semaphores -> swapchain (recreated on
 * resize / out of date / suboptimal). The instance is the process's only one: the Vulkan
 * backend renders on this device and queue (vw_gpu_external -> ig_vk_desc.external); the
 * queue is shared under queue_lock (submit, present and device-wide waits).
 *
 * Per frame: a new render result (RGB8) is written into this frame's host-visible staging
 * buffer and copied into the device-local "content" image; the swapchain image is cleared and
 * the content image is blitted into it (letterboxed, scaled, possibly a sub-rectangle: the main
 * thread re-projects the last image while a new view renders); the HUD panel is copied on top
 * from another staging buffer; the image is presented. Two frames are in flight.
 *
 * Every Vulkan failure becomes an ig_result naming the call and the VkResult:
 * VK_ERROR_DEVICE_LOST -> IG_ERR_DEVICE_LOST, out of memory -> IG_ERR_OUT_OF_DEVICE_MEMORY.
 */
#ifndef VK_NO_PROTOTYPES
#define VK_NO_PROTOTYPES
#endif
#include <volk.h>
#define GLFW_INCLUDE_NONE
#include <GLFW/glfw3.h>

#include "ig_vk.h"
#include "spv_to_rgba8.h"
#include "vw.h"

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define VW_FRAMES 2           /* frames in flight */
#define VW_MAX_IMAGES 8       /* swapchain images we handle */

typedef struct vw_buffer {
    VkBuffer buf;
    VkDeviceMemory mem;
    void *map;
    VkDeviceSize size;
} vw_buffer;

typedef struct vw_frame_slot {
    VkCommandBuffer cmd;
    VkFence fence;            /* signalled when this slot's last submission finished */
    VkSemaphore acquired;     /* the swapchain image is ready to be written */
    vw_buffer upload;         /* staging for new content */
    vw_buffer hud;            /* staging for the HUD panel */
} vw_frame_slot;

struct vw_gpu {
    GLFWwindow *window;
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkSurfaceKHR surface;
    VkPhysicalDevice phys;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties mem_props;
    uint32_t queue_family;
    VkDevice device;
    struct VolkDeviceTable vk;
    VkQueue queue;
    pthread_mutex_t queue_lock; /* the queue is shared with the Vulkan backend's worker thread */
    bool compute;             /* the device has what the Vulkan backend needs (ig_vk_external) */
    VkCommandPool pool;

    VkSwapchainKHR swapchain;
    VkSurfaceFormatKHR format;
    bool bgr;                 /* B8G8R8A8 byte order (else R8G8B8A8) */
    VkFilter filter;
    VkExtent2D extent;
    uint32_t n_images;
    VkImage images[VW_MAX_IMAGES];
    VkSemaphore rendered[VW_MAX_IMAGES]; /* per image: the frame's commands finished, present */
    VkFence image_fence[VW_MAX_IMAGES];  /* the slot fence that last wrote each image */
    bool readback_ok;         /* swapchain images allow TRANSFER_SRC */
    bool recreate;

    vw_frame_slot slots[VW_FRAMES];
    uint32_t slot;
    uint32_t image_index;
    bool acquired;

    VkImage content;          /* the latest render, top-left upload_w x upload_h used */
    VkDeviceMemory content_mem;
    int content_w, content_h;
    VkImageLayout content_layout;
    vw_buffer readback;

    /* zero-copy presentation (vw_gpu_convert, worker thread): to_rgba8.comp and its own
     * command pool, buffer and fence (command pools are not shared between threads) */
    VkDescriptorSetLayout conv_dsl;
    VkPipelineLayout conv_layout;
    VkPipeline conv_pipe;
    VkDescriptorPool conv_pool;
    VkDescriptorSet conv_set;
    VkCommandPool conv_cmd_pool;
    VkCommandBuffer conv_cmd;
    VkFence conv_fence;
    /* device images no longer shown, destroyed once the frames that copied them finished:
     * subs[s] frames submitted on slot s so far, done[s] of them known finished */
    pthread_mutex_t grave_lock;
    vw_devimg *grave;
    uint64_t subs[VW_FRAMES], done[VW_FRAMES];

    bool inject_lost;
};

/* A render converted on the device: w * h 4-byte pixels in the swapchain's byte order. */
struct vw_devimg {
    VkBuffer buf;
    VkDeviceMemory mem;
    int w, h;
    bool used;                /* copied by a frame (then freed only after those frames) */
    uint64_t subs[VW_FRAMES]; /* the slots' submission counts when it was released */
    vw_devimg *next;
};

static atomic_int g_validation_errors, g_validation_warnings, g_instances;

int vw_gpu_instances_created(void) { return atomic_load(&g_instances); }

int vw_gpu_validation_errors(void) { return atomic_load(&g_validation_errors); }
int vw_gpu_validation_warnings(void) { return atomic_load(&g_validation_warnings); }

/* ---- errors ------------------------------------------------------------------------------ */

static const char *vk_result_name(VkResult r) {
    switch (r) {
#define N(x) case x: return #x;
    N(VK_SUCCESS) N(VK_NOT_READY) N(VK_TIMEOUT) N(VK_EVENT_SET) N(VK_EVENT_RESET) N(VK_INCOMPLETE)
    N(VK_ERROR_OUT_OF_HOST_MEMORY) N(VK_ERROR_OUT_OF_DEVICE_MEMORY) N(VK_ERROR_INITIALIZATION_FAILED)
    N(VK_ERROR_DEVICE_LOST) N(VK_ERROR_MEMORY_MAP_FAILED) N(VK_ERROR_LAYER_NOT_PRESENT)
    N(VK_ERROR_EXTENSION_NOT_PRESENT) N(VK_ERROR_FEATURE_NOT_PRESENT) N(VK_ERROR_INCOMPATIBLE_DRIVER)
    N(VK_ERROR_TOO_MANY_OBJECTS) N(VK_ERROR_FORMAT_NOT_SUPPORTED) N(VK_ERROR_FRAGMENTED_POOL)
    N(VK_ERROR_UNKNOWN) N(VK_ERROR_OUT_OF_POOL_MEMORY) N(VK_ERROR_SURFACE_LOST_KHR)
    N(VK_ERROR_NATIVE_WINDOW_IN_USE_KHR) N(VK_SUBOPTIMAL_KHR) N(VK_ERROR_OUT_OF_DATE_KHR)
    N(VK_ERROR_VALIDATION_FAILED_EXT)
#undef N
    default: return "VK_RESULT_UNKNOWN";
    }
}

static ig_result vk_fail(ig_error *err, const char *call, VkResult r) {
    ig_result code = r == VK_ERROR_DEVICE_LOST ? IG_ERR_DEVICE_LOST
                   : r == VK_ERROR_OUT_OF_DEVICE_MEMORY ? IG_ERR_OUT_OF_DEVICE_MEMORY
                   : r == VK_ERROR_OUT_OF_HOST_MEMORY ? IG_ERR_OUT_OF_MEMORY : IG_ERR_VULKAN;
    return ig_error_set(err, code, "%s failed: %s", call, vk_result_name(r));
}

/* Evaluates a Vulkan call; on failure returns an ig_result naming the call and the result. */
#define VW_VK(call)                                                     \
    do {                                                                \
        VkResult vr_ = (call);                                          \
        if (vr_ != VK_SUCCESS) return vk_fail(err, #call, vr_);         \
    } while (0)

/* ---- instance ---------------------------------------------------------------------------- */

static VKAPI_ATTR VkBool32 VKAPI_CALL on_debug_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                       VkDebugUtilsMessageTypeFlagsEXT types,
                                                       const VkDebugUtilsMessengerCallbackDataEXT *data, void *user) {
    (void)user;
    bool error = (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) != 0;
    if (error && (types & VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT)) {
        atomic_fetch_add(&g_validation_errors, 1);
        fprintf(stderr, "inrgan-viewer: validation error: %s\n", data->pMessage);
    } else {
        atomic_fetch_add(&g_validation_warnings, 1);
        fprintf(stderr, "inrgan-viewer: vulkan %s: %s\n", error ? "error" : "warning", data->pMessage);
    }
    return VK_FALSE;
}

ig_result vw_gpu_init_loader(ig_error *err) {
    static bool loaded;
    if (loaded) return IG_OK;
    if (volkInitialize() != VK_SUCCESS)
        return ig_error_set(err, IG_ERR_NO_DEVICE, "no Vulkan loader (libvulkan.so.1); install libvulkan1 and a driver");
    loaded = true;
    return IG_OK;
}

static bool has_extension(const VkExtensionProperties *e, uint32_t n, const char *name) {
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(e[i].extensionName, name) == 0) return true;
    return false;
}

static ig_result instance_create(bool validate, bool surface, VkInstance *out, VkDebugUtilsMessengerEXT *messenger,
                                 ig_error *err) {
    ig_result r = vw_gpu_init_loader(err);
    if (r != IG_OK) return r;
    const char *exts[16];
    uint32_t n_exts = 0;
    if (surface) {
        uint32_t n = 0;
        const char **req = glfwGetRequiredInstanceExtensions(&n);
        if (!req || n > 12)
            return ig_error_set(err, IG_ERR_NO_DEVICE, "GLFW finds no Vulkan window-system support (surface extensions)");
        for (uint32_t i = 0; i < n; i++) exts[n_exts++] = req[i];
    }
    const char *layer = "VK_LAYER_KHRONOS_validation";
    VkValidationFeatureEnableEXT enables[] = {VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
    VkValidationFeaturesEXT features = {.sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
                                        .enabledValidationFeatureCount = 1, .pEnabledValidationFeatures = enables};
    VkDebugUtilsMessengerCreateInfoEXT mci = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = on_debug_message};
    const void *chain = NULL;
    if (validate) {
        uint32_t n = 0;
        VW_VK(vkEnumerateInstanceLayerProperties(&n, NULL));
        VkLayerProperties *lp = calloc(n ? n : 1, sizeof *lp);
        if (!lp) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "layer list");
        VkResult vr = vkEnumerateInstanceLayerProperties(&n, lp);
        bool found = false;
        for (uint32_t i = 0; vr == VK_SUCCESS && i < n; i++) found |= strcmp(lp[i].layerName, layer) == 0;
        free(lp);
        if (!found)
            return ig_error_set(err, IG_ERR_NO_DEVICE,
                                "validation asked for (--validate / INRGAN_VALIDATE=1) but %s is not installed "
                                "(Debian: vulkan-validationlayers)", layer);
        uint32_t ne = 0;
        VW_VK(vkEnumerateInstanceExtensionProperties(layer, &ne, NULL));
        VkExtensionProperties *le = calloc(ne ? ne : 1, sizeof *le);
        if (!le) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "extension list");
        vr = vkEnumerateInstanceExtensionProperties(layer, &ne, le);
        bool features_ext = vr == VK_SUCCESS && has_extension(le, ne, VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME);
        free(le);
        exts[n_exts++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
        /* the messenger also sees vkCreateInstance / vkDestroyInstance */
        chain = &mci;
        if (features_ext) {
            exts[n_exts++] = VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME;
            features.pNext = &mci;
            chain = &features;
        }
    }
    /* Vulkan 1.2 where the loader has it: the Vulkan backend renders on this instance's device */
    uint32_t api = VK_API_VERSION_1_0;
    if (vkEnumerateInstanceVersion) vkEnumerateInstanceVersion(&api);
    api = api >= VK_API_VERSION_1_2 ? VK_API_VERSION_1_2 : VK_API_VERSION_1_0;
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .pApplicationName = "inrgan-viewer",
                             .applicationVersion = 1, .pEngineName = "inrgan", .apiVersion = api};
    VkInstanceCreateInfo ici = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pNext = chain,
                                .pApplicationInfo = &app, .enabledLayerCount = validate ? 1 : 0,
                                .ppEnabledLayerNames = &layer, .enabledExtensionCount = n_exts,
                                .ppEnabledExtensionNames = exts};
    VkResult vr = vkCreateInstance(&ici, NULL, out);
    if (vr != VK_SUCCESS) return vk_fail(err, "vkCreateInstance", vr);
    atomic_fetch_add(&g_instances, 1);
    volkLoadInstanceOnly(*out);
    *messenger = VK_NULL_HANDLE;
    if (validate) {
        vr = vkCreateDebugUtilsMessengerEXT(*out, &mci, NULL, messenger);
        if (vr != VK_SUCCESS) {
            vkDestroyInstance(*out, NULL);
            *out = VK_NULL_HANDLE;
            return vk_fail(err, "vkCreateDebugUtilsMessengerEXT", vr);
        }
    }
    return IG_OK;
}

/* ---- devices ----------------------------------------------------------------------------- */

/* Preference of `-g auto`: lower is better; a CPU device (lavapipe) only when no GPU can
 * present, or when named. */
static int device_rank(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 4;
    default: return 3;
    }
}

static bool contains_nocase(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++) {
        size_t i = 0;
        while (i < n && p[i] && tolower((unsigned char)p[i]) == tolower((unsigned char)needle[i])) i++;
        if (i == n) return true;
    }
    return n == 0;
}

static ig_result enumerate_devices(VkInstance inst, VkPhysicalDevice **devs, uint32_t *n, ig_error *err) {
    *devs = NULL;
    VW_VK(vkEnumeratePhysicalDevices(inst, n, NULL));
    *devs = calloc(*n ? *n : 1, sizeof **devs);
    if (!*devs) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "device list");
    VkResult vr = vkEnumeratePhysicalDevices(inst, n, *devs);
    if (vr != VK_SUCCESS && vr != VK_INCOMPLETE) {
        free(*devs);
        *devs = NULL;
        return vk_fail(err, "vkEnumeratePhysicalDevices", vr);
    }
    return IG_OK;
}

ig_result vw_gpu_list(FILE *fp, bool validate, ig_error *err) {
    VkInstance inst;
    VkDebugUtilsMessengerEXT msg;
    ig_result r = instance_create(validate, false, &inst, &msg, err);
    if (r != IG_OK) return r;
    VkPhysicalDevice *devs;
    uint32_t n = 0;
    r = enumerate_devices(inst, &devs, &n, err);
    for (uint32_t i = 0; r == IG_OK && i < n; i++) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(devs[i], &p);
        fprintf(fp, "%u  %-10s  %s  (Vulkan %u.%u.%u, vendor 0x%04x, device 0x%04x)%s\n", i,
                ig_vk_device_type_name((int)p.deviceType), p.deviceName, VK_API_VERSION_MAJOR(p.apiVersion),
                VK_API_VERSION_MINOR(p.apiVersion), VK_API_VERSION_PATCH(p.apiVersion), p.vendorID, p.deviceID,
                p.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU ? "  [CPU: presents when no GPU can]" : "");
    }
    if (r == IG_OK && n == 0) fprintf(fp, "no Vulkan devices\n");
    free(devs);
    if (msg) vkDestroyDebugUtilsMessengerEXT(inst, msg, NULL);
    vkDestroyInstance(inst, NULL);
    return r;
}

/* A queue family that has graphics (blits) and can present to the surface; -1 if none. */
static int present_family(vw_gpu *g, VkPhysicalDevice d) {
    uint32_t n = 0;
    vkEnumerateDeviceExtensionProperties(d, NULL, &n, NULL);
    VkExtensionProperties *e = calloc(n ? n : 1, sizeof *e);
    if (!e) return -1;
    bool swapchain = vkEnumerateDeviceExtensionProperties(d, NULL, &n, e) == VK_SUCCESS &&
                     has_extension(e, n, VK_KHR_SWAPCHAIN_EXTENSION_NAME);
    free(e);
    if (!swapchain) return -1;
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(d, &nq, NULL);
    VkQueueFamilyProperties *q = calloc(nq ? nq : 1, sizeof *q);
    if (!q) return -1;
    vkGetPhysicalDeviceQueueFamilyProperties(d, &nq, q);
    int found = -1;
    for (uint32_t i = 0; i < nq && found < 0; i++) {
        VkBool32 present = VK_FALSE;
        if ((q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT) &&
            vkGetPhysicalDeviceSurfaceSupportKHR(d, i, g->surface, &present) == VK_SUCCESS && present)
            found = (int)i;
    }
    free(q);
    return found;
}

static ig_result select_device(vw_gpu *g, const char *want, ig_error *err) {
    VkPhysicalDevice *devs;
    uint32_t n = 0;
    ig_result r = enumerate_devices(g->instance, &devs, &n, err);
    if (r != IG_OK) return r;
    bool by_name = want && *want && strcmp(want, "auto") != 0;
    bool by_index = by_name;
    for (const char *p = want; by_index && *p; p++) by_index = isdigit((unsigned char)*p) != 0;
    int best = -1, best_rank = 99, best_family = -1;
    for (uint32_t i = 0; i < n; i++) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(devs[i], &p);
        if (by_index && (uint32_t)strtoul(want, NULL, 10) != i) continue;
        if (by_name && !by_index && !contains_nocase(p.deviceName, want)) continue;
        int family = present_family(g, devs[i]);
        if (family < 0) {
            if (by_index)
                r = ig_error_set(err, IG_ERR_NO_DEVICE, "-g %s: device %u (%s) cannot present to this window", want, i,
                                 p.deviceName);
            continue;
        }
        int rank = device_rank(p.deviceType);
        if (rank < best_rank) {
            best = (int)i;
            best_rank = rank;
            best_family = family;
        }
    }
    if (best >= 0) {
        g->phys = devs[best];
        g->queue_family = (uint32_t)best_family;
        vkGetPhysicalDeviceProperties(g->phys, &g->props);
        vkGetPhysicalDeviceMemoryProperties(g->phys, &g->mem_props);
        r = IG_OK;
    } else if (r == IG_OK) {
        if (by_name)
            r = ig_error_set(err, IG_ERR_NO_DEVICE, "-g %s: no such Vulkan device can present to this window (see --list-devices)",
                             want);
        else
            r = ig_error_set(err, IG_ERR_NO_DEVICE, "no Vulkan device can present to this window");
    }
    free(devs);
    return r;
}

/* ---- memory ------------------------------------------------------------------------------ */

static int memory_type(const vw_gpu *g, uint32_t bits, VkMemoryPropertyFlags want, VkMemoryPropertyFlags nice) {
    for (int pass = 0; pass < 2; pass++)
        for (uint32_t i = 0; i < g->mem_props.memoryTypeCount; i++) {
            VkMemoryPropertyFlags f = g->mem_props.memoryTypes[i].propertyFlags;
            VkMemoryPropertyFlags need = pass == 0 ? want | nice : want;
            if ((bits & (1u << i)) && (f & need) == need) return (int)i;
        }
    return -1;
}

static void buffer_destroy(vw_gpu *g, vw_buffer *b) {
    if (b->buf) g->vk.vkDestroyBuffer(g->device, b->buf, NULL);
    if (b->mem) g->vk.vkFreeMemory(g->device, b->mem, NULL); /* unmaps */
    memset(b, 0, sizeof *b);
}

/* A host-visible, coherent buffer of at least `size` bytes (kept when large enough). */
static ig_result buffer_ensure(vw_gpu *g, vw_buffer *b, VkDeviceSize size, VkBufferUsageFlags usage, bool cached,
                               ig_error *err) {
    if (b->buf && b->size >= size) return IG_OK;
    buffer_destroy(g, b);
    VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = size, .usage = usage,
                              .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VW_VK(g->vk.vkCreateBuffer(g->device, &bci, NULL, &b->buf));
    VkMemoryRequirements req;
    g->vk.vkGetBufferMemoryRequirements(g->device, b->buf, &req);
    int type = memory_type(g, req.memoryTypeBits,
                           VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                           cached ? VK_MEMORY_PROPERTY_HOST_CACHED_BIT : 0);
    if (type < 0) return ig_error_set(err, IG_ERR_VULKAN, "no host-visible coherent memory type for a staging buffer");
    VkMemoryAllocateInfo mai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size,
                                .memoryTypeIndex = (uint32_t)type};
    VW_VK(g->vk.vkAllocateMemory(g->device, &mai, NULL, &b->mem));
    VW_VK(g->vk.vkBindBufferMemory(g->device, b->buf, b->mem, 0));
    VW_VK(g->vk.vkMapMemory(g->device, b->mem, 0, VK_WHOLE_SIZE, 0, &b->map));
    b->size = size;
    return IG_OK;
}

/* vkDeviceWaitIdle needs every queue of the device: ours is shared with the backend's thread. */
static VkResult device_wait_idle(vw_gpu *g) {
    pthread_mutex_lock(&g->queue_lock);
    VkResult vr = g->vk.vkDeviceWaitIdle(g->device);
    pthread_mutex_unlock(&g->queue_lock);
    return vr;
}

static void content_destroy(vw_gpu *g) {
    if (g->content) g->vk.vkDestroyImage(g->device, g->content, NULL);
    if (g->content_mem) g->vk.vkFreeMemory(g->device, g->content_mem, NULL);
    g->content = VK_NULL_HANDLE;
    g->content_mem = VK_NULL_HANDLE;
    g->content_w = g->content_h = 0;
}

/* The device-local image the renders are uploaded to; grows (never shrinks) to fit w x h. */
static ig_result content_ensure(vw_gpu *g, int w, int h, ig_error *err) {
    if (g->content && g->content_w >= w && g->content_h >= h) return IG_OK;
    int nw = w > g->content_w ? w : g->content_w, nh = h > g->content_h ? h : g->content_h;
    if (g->content) VW_VK(device_wait_idle(g)); /* earlier frames may still blit from it */
    content_destroy(g);
    VkImageCreateInfo ici = {.sType = VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO, .imageType = VK_IMAGE_TYPE_2D,
                             .format = g->format.format, .extent = {(uint32_t)nw, (uint32_t)nh, 1}, .mipLevels = 1,
                             .arrayLayers = 1, .samples = VK_SAMPLE_COUNT_1_BIT, .tiling = VK_IMAGE_TILING_OPTIMAL,
                             .usage = VK_IMAGE_USAGE_TRANSFER_DST_BIT | VK_IMAGE_USAGE_TRANSFER_SRC_BIT,
                             .sharingMode = VK_SHARING_MODE_EXCLUSIVE, .initialLayout = VK_IMAGE_LAYOUT_UNDEFINED};
    VW_VK(g->vk.vkCreateImage(g->device, &ici, NULL, &g->content));
    VkMemoryRequirements req;
    g->vk.vkGetImageMemoryRequirements(g->device, g->content, &req);
    int type = memory_type(g, req.memoryTypeBits, 0, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    if (type < 0) return ig_error_set(err, IG_ERR_VULKAN, "no memory type for a %dx%d image", nw, nh);
    VkMemoryAllocateInfo mai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size,
                                .memoryTypeIndex = (uint32_t)type};
    VW_VK(g->vk.vkAllocateMemory(g->device, &mai, NULL, &g->content_mem));
    VW_VK(g->vk.vkBindImageMemory(g->device, g->content, g->content_mem, 0));
    g->content_w = nw;
    g->content_h = nh;
    g->content_layout = VK_IMAGE_LAYOUT_UNDEFINED;
    return IG_OK;
}

/* RGB8 rows -> the swapchain format's 4-byte pixels. */
static void pack_pixels(const vw_gpu *g, const uint8_t *rgb, size_t pixels, uint8_t *out) {
    int r = g->bgr ? 2 : 0, b = g->bgr ? 0 : 2;
    for (size_t i = 0; i < pixels; i++) {
        out[4 * i + r] = rgb[3 * i + 0];
        out[4 * i + 1] = rgb[3 * i + 1];
        out[4 * i + b] = rgb[3 * i + 2];
        out[4 * i + 3] = 255;
    }
}

/* ---- zero-copy presentation -------------------------------------------------------------- */

static void devimg_destroy(vw_gpu *g, vw_devimg *d) {
    if (d->buf) g->vk.vkDestroyBuffer(g->device, d->buf, NULL);
    if (d->mem) g->vk.vkFreeMemory(g->device, d->mem, NULL);
    free(d);
}

/* Destroys the released images no frame in flight can still copy from (all = true: every one;
 * the device is idle then). */
static void grave_collect(vw_gpu *g, bool all) {
    pthread_mutex_lock(&g->grave_lock);
    vw_devimg **p = &g->grave;
    while (*p) {
        vw_devimg *d = *p;
        bool free_now = all;
        if (!free_now) {
            free_now = true;
            for (int s = 0; s < VW_FRAMES; s++)
                if (g->done[s] < d->subs[s]) free_now = false;
        }
        if (free_now) {
            *p = d->next;
            devimg_destroy(g, d);
        } else {
            p = &d->next;
        }
    }
    pthread_mutex_unlock(&g->grave_lock);
}

void vw_gpu_devimg_free(vw_gpu *g, vw_devimg *d) {
    if (!d) return;
    if (!d->used) { /* never copied by a frame: its conversion finished before it was published */
        devimg_destroy(g, d);
        return;
    }
    pthread_mutex_lock(&g->grave_lock);
    for (int s = 0; s < VW_FRAMES; s++) d->subs[s] = g->subs[s];
    d->next = g->grave;
    g->grave = d;
    pthread_mutex_unlock(&g->grave_lock);
}

static ig_result conv_setup(vw_gpu *g, ig_error *err) {
    if (g->conv_pipe) return IG_OK;
    VkDescriptorSetLayoutBinding b[2] = {
        {.binding = 0, .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .descriptorCount = 1,
         .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT},
        {.binding = 1, .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .descriptorCount = 1,
         .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT}};
    VkDescriptorSetLayoutCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                           .bindingCount = 2, .pBindings = b};
    VW_VK(g->vk.vkCreateDescriptorSetLayout(g->device, &dci, NULL, &g->conv_dsl));
    VkPushConstantRange pcr = {VK_SHADER_STAGE_COMPUTE_BIT, 0, 6 * sizeof(uint32_t)};
    VkPipelineLayoutCreateInfo pli = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, .setLayoutCount = 1,
                                      .pSetLayouts = &g->conv_dsl, .pushConstantRangeCount = 1,
                                      .pPushConstantRanges = &pcr};
    VW_VK(g->vk.vkCreatePipelineLayout(g->device, &pli, NULL, &g->conv_layout));
    VkShaderModuleCreateInfo smi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                    .codeSize = sizeof vw_spv_to_rgba8, .pCode = vw_spv_to_rgba8};
    VkShaderModule mod;
    VW_VK(g->vk.vkCreateShaderModule(g->device, &smi, NULL, &mod));
    VkComputePipelineCreateInfo cpi = {.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
                                       .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                                                 .stage = VK_SHADER_STAGE_COMPUTE_BIT, .module = mod,
                                                 .pName = "main"},
                                       .layout = g->conv_layout};
    VkResult pr = g->vk.vkCreateComputePipelines(g->device, VK_NULL_HANDLE, 1, &cpi, NULL, &g->conv_pipe);
    g->vk.vkDestroyShaderModule(g->device, mod, NULL);
    VW_VK(pr);
    VkDescriptorPoolSize ps = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 2};
    VkDescriptorPoolCreateInfo dpi = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO, .maxSets = 1,
                                      .poolSizeCount = 1, .pPoolSizes = &ps};
    VW_VK(g->vk.vkCreateDescriptorPool(g->device, &dpi, NULL, &g->conv_pool));
    VkDescriptorSetAllocateInfo dsa = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                       .descriptorPool = g->conv_pool, .descriptorSetCount = 1,
                                       .pSetLayouts = &g->conv_dsl};
    VW_VK(g->vk.vkAllocateDescriptorSets(g->device, &dsa, &g->conv_set));
    VkCommandPoolCreateInfo cpci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                    .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                    .queueFamilyIndex = g->queue_family};
    VW_VK(g->vk.vkCreateCommandPool(g->device, &cpci, NULL, &g->conv_cmd_pool));
    VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                       .commandPool = g->conv_cmd_pool, .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                       .commandBufferCount = 1};
    VW_VK(g->vk.vkAllocateCommandBuffers(g->device, &cai, &g->conv_cmd));
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VW_VK(g->vk.vkCreateFence(g->device, &fci, NULL, &g->conv_fence));
    return IG_OK;
}

/* Submits cmd on the shared queue and waits for it (the lock is not held while waiting). */
static ig_result submit_wait(vw_gpu *g, VkCommandBuffer cmd, VkFence fence, ig_error *err) {
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cmd};
    pthread_mutex_lock(&g->queue_lock);
    VkResult sr = g->vk.vkQueueSubmit(g->queue, 1, &si, fence);
    pthread_mutex_unlock(&g->queue_lock);
    VW_VK(sr);
    VW_VK(g->vk.vkWaitForFences(g->device, 1, &fence, VK_TRUE, UINT64_MAX));
    VW_VK(g->vk.vkResetFences(g->device, 1, &fence));
    return IG_OK;
}

static ig_result devimg_alloc(vw_gpu *g, vw_devimg *d, ig_error *err) {
    VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                              .size = (VkDeviceSize)d->w * d->h * 4,
                              .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT,
                              .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VW_VK(g->vk.vkCreateBuffer(g->device, &bci, NULL, &d->buf));
    VkMemoryRequirements req;
    g->vk.vkGetBufferMemoryRequirements(g->device, d->buf, &req);
    int type = memory_type(g, req.memoryTypeBits, 0, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    if (type < 0) return ig_error_set(err, IG_ERR_VULKAN, "no memory type for a %dx%d device image", d->w, d->h);
    VkMemoryAllocateInfo mai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size,
                                .memoryTypeIndex = (uint32_t)type};
    VW_VK(g->vk.vkAllocateMemory(g->device, &mai, NULL, &d->mem));
    VW_VK(g->vk.vkBindBufferMemory(g->device, d->buf, d->mem, 0));
    return IG_OK;
}

static ig_result convert(vw_gpu *g, const ig_vk_device_output *o, vw_devimg *d, ig_error *err) {
    ig_result r = conv_setup(g, err);
    if (r != IG_OK) return r;
    if ((r = devimg_alloc(g, d, err)) != IG_OK) return r;
    /* the source binding starts at the offset rounded down to the device's alignment */
    VkDeviceSize align = g->props.limits.minStorageBufferOffsetAlignment;
    if (align < 4) align = 4;
    VkDeviceSize off = o->offset / align * align, range = o->offset - off + o->size;
    uint64_t last = (o->offset - off) / 4 + 2 * o->channel_stride + ((uint64_t)d->w * d->h - 1) * o->pixel_stride;
    if (range > g->props.limits.maxStorageBufferRange || last >= UINT32_MAX)
        return ig_error_set(err, IG_ERR_UNSUPPORTED, "a %dx%d render exceeds one storage binding", d->w, d->h);
    VkDescriptorBufferInfo bi[2] = {{(VkBuffer)o->buffer, off, range}, {d->buf, 0, VK_WHOLE_SIZE}};
    VkWriteDescriptorSet wr[2];
    for (int i = 0; i < 2; i++)
        wr[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = g->conv_set,
                                       .dstBinding = (uint32_t)i, .descriptorCount = 1,
                                       .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .pBufferInfo = &bi[i]};
    g->vk.vkUpdateDescriptorSets(g->device, 2, wr, 0, NULL); /* the previous conversion has finished */
    VkCommandBuffer cmd = g->conv_cmd;
    VkCommandBufferBeginInfo cbi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                    .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    VW_VK(g->vk.vkBeginCommandBuffer(cmd, &cbi));
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_SHADER_READ_BIT};
    /* the render's writes before our reads (ig_vk_render_device's contract) */
    g->vk.vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1,
                               &mb, 0, NULL, 0, NULL);
    g->vk.vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, g->conv_pipe);
    g->vk.vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, g->conv_layout, 0, 1, &g->conv_set, 0, NULL);
    uint32_t pc[6] = {(uint32_t)((o->offset - off) / 4), (uint32_t)o->channel_stride, (uint32_t)o->pixel_stride,
                      (uint32_t)d->w, (uint32_t)d->h, g->bgr ? 1u : 0u};
    g->vk.vkCmdPushConstants(cmd, g->conv_layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof pc, pc);
    g->vk.vkCmdDispatch(cmd, ((uint32_t)d->w + 15) / 16, ((uint32_t)d->h + 15) / 16, 1);
    VkMemoryBarrier tb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT};
    /* our writes before the frames' (and screenshots') copies */
    g->vk.vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &tb,
                               0, NULL, 0, NULL);
    VW_VK(g->vk.vkEndCommandBuffer(cmd));
    return submit_wait(g, cmd, g->conv_fence, err);
}

ig_result vw_gpu_convert(vw_gpu *g, const ig_vk_device_output *o, vw_devimg **out, ig_error *err) {
    *out = NULL;
    if (!o || !o->buffer || o->count < 1 || o->width < 1 || o->height < 1)
        return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "vw_gpu_convert: no device output");
    vw_devimg *d = calloc(1, sizeof *d);
    if (!d) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "device image");
    d->w = o->width;
    d->h = o->height;
    ig_result r = convert(g, o, d, err);
    if (r != IG_OK) {
        devimg_destroy(g, d);
        return r;
    }
    *out = d;
    return IG_OK;
}

ig_result vw_gpu_devimg_read(vw_gpu *g, const vw_devimg *d, uint8_t **rgb, ig_error *err) {
    *rgb = NULL;
    vw_buffer host = {0};
    VkCommandBuffer cmd = VK_NULL_HANDLE;
    VkFence fence = VK_NULL_HANDLE;
    size_t px = (size_t)d->w * d->h;
    ig_result r = buffer_ensure(g, &host, (VkDeviceSize)px * 4, VK_BUFFER_USAGE_TRANSFER_DST_BIT, true, err);
    VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                       .commandPool = g->pool, .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                       .commandBufferCount = 1};
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VkResult vr = VK_SUCCESS;
    if (r == IG_OK && (vr = g->vk.vkAllocateCommandBuffers(g->device, &cai, &cmd)) != VK_SUCCESS)
        r = vk_fail(err, "vkAllocateCommandBuffers", vr);
    if (r == IG_OK && (vr = g->vk.vkCreateFence(g->device, &fci, NULL, &fence)) != VK_SUCCESS)
        r = vk_fail(err, "vkCreateFence", vr);
    if (r == IG_OK) {
        VkCommandBufferBeginInfo cbi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                        .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
        g->vk.vkBeginCommandBuffer(cmd, &cbi);
        VkBufferCopy cp = {0, 0, (VkDeviceSize)px * 4};
        g->vk.vkCmdCopyBuffer(cmd, d->buf, host.buf, 1, &cp);
        VkMemoryBarrier hb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                              .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
        g->vk.vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &hb, 0,
                                   NULL, 0, NULL); /* the copy before the host reads */
        if ((vr = g->vk.vkEndCommandBuffer(cmd)) != VK_SUCCESS) r = vk_fail(err, "vkEndCommandBuffer", vr);
    }
    if (r == IG_OK) r = submit_wait(g, cmd, fence, err);
    if (r == IG_OK && !(*rgb = malloc(px * 3))) r = ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "screenshot");
    if (r == IG_OK) {
        const uint8_t *src = host.map;
        int rc = g->bgr ? 2 : 0, bc = g->bgr ? 0 : 2;
        for (size_t i = 0; i < px; i++) {
            (*rgb)[3 * i + 0] = src[4 * i + rc];
            (*rgb)[3 * i + 1] = src[4 * i + 1];
            (*rgb)[3 * i + 2] = src[4 * i + bc];
        }
    }
    if (fence) g->vk.vkDestroyFence(g->device, fence, NULL);
    if (cmd) g->vk.vkFreeCommandBuffers(g->device, g->pool, 1, &cmd);
    buffer_destroy(g, &host);
    return r;
}

static void conv_destroy(vw_gpu *g) {
    grave_collect(g, true);
    if (g->conv_fence) g->vk.vkDestroyFence(g->device, g->conv_fence, NULL);
    if (g->conv_cmd_pool) g->vk.vkDestroyCommandPool(g->device, g->conv_cmd_pool, NULL);
    if (g->conv_pool) g->vk.vkDestroyDescriptorPool(g->device, g->conv_pool, NULL);
    if (g->conv_pipe) g->vk.vkDestroyPipeline(g->device, g->conv_pipe, NULL);
    if (g->conv_layout) g->vk.vkDestroyPipelineLayout(g->device, g->conv_layout, NULL);
    if (g->conv_dsl) g->vk.vkDestroyDescriptorSetLayout(g->device, g->conv_dsl, NULL);
}

/* ---- swapchain --------------------------------------------------------------------------- */

static void swapchain_release_semaphores(vw_gpu *g) {
    for (uint32_t i = 0; i < VW_MAX_IMAGES; i++) {
        if (g->rendered[i]) g->vk.vkDestroySemaphore(g->device, g->rendered[i], NULL);
        g->rendered[i] = VK_NULL_HANDLE;
        g->image_fence[i] = VK_NULL_HANDLE;
    }
}

/* (Re)creates the swapchain for the window's current size. extent 0 (minimised): no swapchain,
 * g->recreate stays set. */
static ig_result swapchain_create(vw_gpu *g, ig_error *err) {
    VkSurfaceCapabilitiesKHR caps;
    VW_VK(vkGetPhysicalDeviceSurfaceCapabilitiesKHR(g->phys, g->surface, &caps));
    VkExtent2D ext = caps.currentExtent;
    if (ext.width == UINT32_MAX) {
        int fw = 0, fh = 0;
        glfwGetFramebufferSize(g->window, &fw, &fh);
        ext.width = (uint32_t)fw;
        ext.height = (uint32_t)fh;
        if (ext.width < caps.minImageExtent.width) ext.width = caps.minImageExtent.width;
        if (ext.height < caps.minImageExtent.height) ext.height = caps.minImageExtent.height;
        if (ext.width > caps.maxImageExtent.width) ext.width = caps.maxImageExtent.width;
        if (ext.height > caps.maxImageExtent.height) ext.height = caps.maxImageExtent.height;
    }
    if (g->swapchain) VW_VK(device_wait_idle(g));
    if (ext.width == 0 || ext.height == 0) {
        g->recreate = true;
        return IG_OK;
    }
    if (!(caps.supportedUsageFlags & VK_IMAGE_USAGE_TRANSFER_DST_BIT))
        return ig_error_set(err, IG_ERR_UNSUPPORTED, "the window's swapchain images cannot be transfer destinations");
    g->readback_ok = (caps.supportedUsageFlags & VK_IMAGE_USAGE_TRANSFER_SRC_BIT) != 0;
    uint32_t count = caps.minImageCount + 1;
    if (caps.maxImageCount && count > caps.maxImageCount) count = caps.maxImageCount;
    if (count > VW_MAX_IMAGES) count = VW_MAX_IMAGES;
    if (count < caps.minImageCount) count = caps.minImageCount;
    VkCompositeAlphaFlagBitsKHR alpha = VK_COMPOSITE_ALPHA_OPAQUE_BIT_KHR;
    if (!(caps.supportedCompositeAlpha & alpha))
        for (uint32_t bit = 1; bit <= VK_COMPOSITE_ALPHA_INHERIT_BIT_KHR; bit <<= 1)
            if (caps.supportedCompositeAlpha & bit) {
                alpha = (VkCompositeAlphaFlagBitsKHR)bit;
                break;
            }
    VkSwapchainKHR old = g->swapchain;
    VkSwapchainCreateInfoKHR sci = {
        .sType = VK_STRUCTURE_TYPE_SWAPCHAIN_CREATE_INFO_KHR, .surface = g->surface, .minImageCount = count,
        .imageFormat = g->format.format, .imageColorSpace = g->format.colorSpace, .imageExtent = ext,
        .imageArrayLayers = 1,
        .imageUsage = VK_IMAGE_USAGE_TRANSFER_DST_BIT | (g->readback_ok ? VK_IMAGE_USAGE_TRANSFER_SRC_BIT : 0),
        .imageSharingMode = VK_SHARING_MODE_EXCLUSIVE, .preTransform = caps.currentTransform,
        .compositeAlpha = alpha, .presentMode = VK_PRESENT_MODE_FIFO_KHR, .clipped = VK_TRUE, .oldSwapchain = old};
    VkSwapchainKHR sc;
    VkResult vr = g->vk.vkCreateSwapchainKHR(g->device, &sci, NULL, &sc);
    if (old) {
        g->vk.vkDestroySwapchainKHR(g->device, old, NULL);
        g->swapchain = VK_NULL_HANDLE;
    }
    swapchain_release_semaphores(g);
    if (vr != VK_SUCCESS) return vk_fail(err, "vkCreateSwapchainKHR", vr);
    g->swapchain = sc;
    g->extent = ext;
    g->n_images = 0;
    VW_VK(g->vk.vkGetSwapchainImagesKHR(g->device, sc, &g->n_images, NULL));
    if (g->n_images > VW_MAX_IMAGES)
        return ig_error_set(err, IG_ERR_UNSUPPORTED, "swapchain has %u images (at most %d handled)", g->n_images,
                            VW_MAX_IMAGES);
    VW_VK(g->vk.vkGetSwapchainImagesKHR(g->device, sc, &g->n_images, g->images));
    VkSemaphoreCreateInfo sem = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
    for (uint32_t i = 0; i < g->n_images; i++) VW_VK(g->vk.vkCreateSemaphore(g->device, &sem, NULL, &g->rendered[i]));
    g->recreate = false;
    return IG_OK;
}

/* ---- create / destroy -------------------------------------------------------------------- */

static ig_result choose_format(vw_gpu *g, ig_error *err) {
    uint32_t n = 0;
    VW_VK(vkGetPhysicalDeviceSurfaceFormatsKHR(g->phys, g->surface, &n, NULL));
    VkSurfaceFormatKHR *f = calloc(n ? n : 1, sizeof *f);
    if (!f) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "format list");
    VkResult vr = vkGetPhysicalDeviceSurfaceFormatsKHR(g->phys, g->surface, &n, f);
    /* UNORM first: the PNG bytes are already sRGB-encoded and go to the screen unchanged */
    static const VkFormat prefs[] = {VK_FORMAT_B8G8R8A8_UNORM, VK_FORMAT_R8G8B8A8_UNORM, VK_FORMAT_B8G8R8A8_SRGB,
                                     VK_FORMAT_R8G8B8A8_SRGB};
    int found = -1;
    for (int p = 0; vr == VK_SUCCESS && p < 4 && found < 0; p++)
        for (uint32_t i = 0; i < n && found < 0; i++)
            if (f[i].format == prefs[p] && f[i].colorSpace == VK_COLOR_SPACE_SRGB_NONLINEAR_KHR) found = (int)i;
    if (found >= 0) g->format = f[found];
    free(f);
    if (vr != VK_SUCCESS) return vk_fail(err, "vkGetPhysicalDeviceSurfaceFormatsKHR", vr);
    if (found < 0) return ig_error_set(err, IG_ERR_UNSUPPORTED, "the window offers no 8-bit BGRA/RGBA sRGB surface format");
    g->bgr = g->format.format == VK_FORMAT_B8G8R8A8_UNORM || g->format.format == VK_FORMAT_B8G8R8A8_SRGB;
    VkFormatProperties fp;
    vkGetPhysicalDeviceFormatProperties(g->phys, g->format.format, &fp);
    VkFormatFeatureFlags need = VK_FORMAT_FEATURE_BLIT_SRC_BIT | VK_FORMAT_FEATURE_BLIT_DST_BIT |
                                VK_FORMAT_FEATURE_TRANSFER_SRC_BIT | VK_FORMAT_FEATURE_TRANSFER_DST_BIT;
    if ((fp.optimalTilingFeatures & need) != need)
        return ig_error_set(err, IG_ERR_UNSUPPORTED, "device cannot blit the surface format %d", (int)g->format.format);
    g->filter = fp.optimalTilingFeatures & VK_FORMAT_FEATURE_SAMPLED_IMAGE_FILTER_LINEAR_BIT ? VK_FILTER_LINEAR
                                                                                           : VK_FILTER_NEAREST;
    return IG_OK;
}

static ig_result gpu_setup(vw_gpu *g, const vw_gpu_desc *desc, ig_error *err) {
    ig_result r = instance_create(desc->validate, true, &g->instance, &g->messenger, err);
    if (r != IG_OK) return r;
    VW_VK(glfwCreateWindowSurface(g->instance, g->window, NULL, &g->surface));
    if ((r = select_device(g, desc->gpu, err)) != IG_OK) return r;
    if ((r = choose_format(g, err)) != IG_OK) return r;

    float priority = 1.0f;
    VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                   .queueFamilyIndex = g->queue_family, .queueCount = 1,
                                   .pQueuePriorities = &priority};
    const char *exts[8] = {VK_KHR_SWAPCHAIN_EXTENSION_NAME};
    uint32_t n_exts = 1;
    VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, .queueCreateInfoCount = 1,
                              .pQueueCreateInfos = &qci, .ppEnabledExtensionNames = exts};
    /* the Vulkan backend renders on this device: what it needs (src/vk/vk_ctx.c) */
    VkPhysicalDeviceCooperativeMatrixFeaturesNV coop = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceVulkan11Features f11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
                                            .pNext = &f12};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f11};
    bool want = desc->compute == 2 || (desc->compute == 1 && !vw_gpu_is_cpu(g));
    ig_vk_device_reqs req;
    ig_error rerr = {0};
#ifdef INRGAN_HAVE_VULKAN
    bool reqs = want && g->props.apiVersion >= VK_API_VERSION_1_2 &&
                ig_vk_device_requirements(g->instance, g->phys, &req, &rerr) == IG_OK && req.n_extensions <= 7;
#else
    bool reqs = false;
    (void)want, (void)rerr;
#endif
    if (reqs) {
        for (uint32_t i = 0; i < req.n_extensions; i++) exts[n_exts++] = req.extensions[i];
        f11.storageBuffer16BitAccess = req.storage_buffer_16bit_access;
        f12.shaderFloat16 = req.shader_float16;
        f12.vulkanMemoryModel = req.vulkan_memory_model;
        coop.cooperativeMatrix = req.cooperative_matrix_nv;
        if (req.cooperative_matrix_nv) f12.pNext = &coop;
        dci.pNext = &f2;
        g->compute = true;
    }
    dci.enabledExtensionCount = n_exts;
    VW_VK(vkCreateDevice(g->phys, &dci, NULL, &g->device));
    volkLoadDeviceTable(&g->vk, g->device);
    g->vk.vkGetDeviceQueue(g->device, g->queue_family, 0, &g->queue);

    VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                   .queueFamilyIndex = g->queue_family};
    VW_VK(g->vk.vkCreateCommandPool(g->device, &pci, NULL, &g->pool));
    for (int i = 0; i < VW_FRAMES; i++) {
        vw_frame_slot *s = &g->slots[i];
        VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                           .commandPool = g->pool, .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                           .commandBufferCount = 1};
        VW_VK(g->vk.vkAllocateCommandBuffers(g->device, &cai, &s->cmd));
        VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO, .flags = VK_FENCE_CREATE_SIGNALED_BIT};
        VW_VK(g->vk.vkCreateFence(g->device, &fci, NULL, &s->fence));
        VkSemaphoreCreateInfo sci = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
        VW_VK(g->vk.vkCreateSemaphore(g->device, &sci, NULL, &s->acquired));
    }
    return swapchain_create(g, err);
}

ig_result vw_gpu_create(const vw_gpu_desc *desc, vw_gpu **out, ig_error *err) {
    *out = NULL;
    vw_gpu *g = calloc(1, sizeof *g);
    if (!g) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "presenter");
    pthread_mutex_init(&g->queue_lock, NULL);
    pthread_mutex_init(&g->grave_lock, NULL);
    g->window = desc->window;
    ig_result r = gpu_setup(g, desc, err);
    if (r != IG_OK) {
        vw_gpu_destroy(g);
        return r;
    }
    *out = g;
    return IG_OK;
}

const char *vw_gpu_device_name(const vw_gpu *g) { return g->props.deviceName; }

bool vw_gpu_is_cpu(const vw_gpu *g) { return g->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU; }

static void queue_lock(void *user) { pthread_mutex_lock(&((vw_gpu *)user)->queue_lock); }
static void queue_unlock(void *user) { pthread_mutex_unlock(&((vw_gpu *)user)->queue_lock); }

bool vw_gpu_external(vw_gpu *g, ig_vk_external *out) {
    memset(out, 0, sizeof *out);
    if (!g->compute) return false;
    out->instance = g->instance;
    out->physical_device = g->phys;
    out->device = g->device;
    out->queue_family = g->queue_family;
    out->queue = g->queue;
    out->queue_lock = queue_lock;
    out->queue_unlock = queue_unlock;
    out->queue_user = g;
    return true;
}

bool vw_gpu_has_compute_gpu(vw_gpu *g) {
    VkPhysicalDevice *devs;
    uint32_t n = 0;
    ig_error err = {0};
    if (enumerate_devices(g->instance, &devs, &n, &err) != IG_OK) return false;
    bool found = false;
    for (uint32_t i = 0; i < n && !found; i++) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(devs[i], &p);
        found = (p.deviceType == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU ||
                 p.deviceType == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU) && p.apiVersion >= VK_API_VERSION_1_2;
    }
    free(devs);
    return found;
}

void vw_gpu_resized(vw_gpu *g) { g->recreate = true; }

void vw_gpu_inject_device_lost(vw_gpu *g) { g->inject_lost = true; }

void vw_gpu_destroy(vw_gpu *g) {
    if (!g) return;
    if (g->device) {
        device_wait_idle(g); /* may report device lost: nothing left to wait for then */
        for (int i = 0; i < VW_FRAMES; i++) {
            vw_frame_slot *s = &g->slots[i];
            buffer_destroy(g, &s->upload);
            buffer_destroy(g, &s->hud);
            if (s->acquired) g->vk.vkDestroySemaphore(g->device, s->acquired, NULL);
            if (s->fence) g->vk.vkDestroyFence(g->device, s->fence, NULL);
        }
        buffer_destroy(g, &g->readback);
        conv_destroy(g);
        content_destroy(g);
        swapchain_release_semaphores(g);
        if (g->swapchain) g->vk.vkDestroySwapchainKHR(g->device, g->swapchain, NULL);
        if (g->pool) g->vk.vkDestroyCommandPool(g->device, g->pool, NULL); /* frees the command buffers */
        g->vk.vkDestroyDevice(g->device, NULL);
    }
    if (g->surface) vkDestroySurfaceKHR(g->instance, g->surface, NULL);
    if (g->messenger) vkDestroyDebugUtilsMessengerEXT(g->instance, g->messenger, NULL);
    if (g->instance) vkDestroyInstance(g->instance, NULL);
    pthread_mutex_destroy(&g->queue_lock);
    pthread_mutex_destroy(&g->grave_lock);
    free(g);
}

/* ---- frames ------------------------------------------------------------------------------ */

ig_result vw_gpu_begin(vw_gpu *g, int *width, int *height, bool *ready, ig_error *err) {
    *ready = false;
    if (g->recreate || !g->swapchain) {
        ig_result r = swapchain_create(g, err);
        if (r != IG_OK || g->recreate) return r; /* minimised: try again later */
    }
    vw_frame_slot *s = &g->slots[g->slot];
    VW_VK(g->vk.vkWaitForFences(g->device, 1, &s->fence, VK_TRUE, UINT64_MAX));
    g->done[g->slot] = g->subs[g->slot]; /* every frame of this slot finished */
    grave_collect(g, false);
    if (g->inject_lost) return vk_fail(err, "vkWaitForFences (injected by the script's device-lost)", VK_ERROR_DEVICE_LOST);
    VkResult vr = g->vk.vkAcquireNextImageKHR(g->device, g->swapchain, UINT64_MAX, s->acquired, VK_NULL_HANDLE,
                                              &g->image_index);
    if (vr == VK_ERROR_OUT_OF_DATE_KHR) {
        g->recreate = true;
        return IG_OK;
    }
    if (vr == VK_SUBOPTIMAL_KHR) g->recreate = true; /* still presentable: draw it, recreate after */
    else if (vr != VK_SUCCESS) return vk_fail(err, "vkAcquireNextImageKHR", vr);
    /* the image may still be written by the other frame slot */
    VkFence busy = g->image_fence[g->image_index];
    if (busy && busy != s->fence) VW_VK(g->vk.vkWaitForFences(g->device, 1, &busy, VK_TRUE, UINT64_MAX));
    g->image_fence[g->image_index] = s->fence;
    g->acquired = true;
    *width = (int)g->extent.width;
    *height = (int)g->extent.height;
    *ready = true;
    return IG_OK;
}

static void image_barrier(vw_gpu *g, VkCommandBuffer cmd, VkImage image, VkImageLayout from, VkImageLayout to,
                          VkAccessFlags src_access, VkAccessFlags dst_access, VkPipelineStageFlags src_stage,
                          VkPipelineStageFlags dst_stage) {
    VkImageMemoryBarrier b = {.sType = VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER, .srcAccessMask = src_access,
                              .dstAccessMask = dst_access, .oldLayout = from, .newLayout = to,
                              .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                              .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED, .image = image,
                              .subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1}};
    g->vk.vkCmdPipelineBarrier(cmd, src_stage, dst_stage, 0, 0, NULL, 0, NULL, 1, &b);
}

static ig_result record(vw_gpu *g, vw_frame_slot *s, const vw_draw *d, ig_error *err) {
    VkCommandBuffer cmd = s->cmd;
    VkImage target = g->images[g->image_index];
    const VkPipelineStageFlags T = VK_PIPELINE_STAGE_TRANSFER_BIT;
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    VW_VK(g->vk.vkBeginCommandBuffer(cmd, &bi));

    if (d->upload || d->upload_dev) {
        /* new content: staging buffer (or the device image) -> content image */
        image_barrier(g, cmd, g->content, g->content_layout, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 0,
                      VK_ACCESS_TRANSFER_WRITE_BIT, T, T); /* after the blits of earlier frames */
        VkBufferImageCopy region = {.bufferRowLength = (uint32_t)d->upload_w,
                                    .imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1},
                                    .imageExtent = {(uint32_t)d->upload_w, (uint32_t)d->upload_h, 1}};
        /* zero copy: the converted render (written and made available by vw_gpu_convert's
         * submission, which finished before the worker published it) */
        VkBuffer from = d->upload_dev ? d->upload_dev->buf : s->upload.buf;
        g->vk.vkCmdCopyBufferToImage(cmd, from, g->content, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 1, &region);
        image_barrier(g, cmd, g->content, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL,
                      VK_ACCESS_TRANSFER_WRITE_BIT, VK_ACCESS_TRANSFER_READ_BIT, T, T); /* copy before blit */
        g->content_layout = VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL;
    }

    /* the swapchain image: its old contents are not needed (chained to the acquire wait) */
    image_barrier(g, cmd, target, VK_IMAGE_LAYOUT_UNDEFINED, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 0,
                  VK_ACCESS_TRANSFER_WRITE_BIT, T, T);
    VkClearColorValue bg = {.float32 = {0.055f, 0.06f, 0.075f, 1.0f}};
    VkImageSubresourceRange all = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1};
    g->vk.vkCmdClearColorImage(cmd, target, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, &bg, 1, &all);

    if (d->blit && g->content_layout == VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL) {
        image_barrier(g, cmd, target, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL,
                      VK_ACCESS_TRANSFER_WRITE_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, T, T); /* clear before blit */
        VkImageBlit blit = {.srcSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1},
                            .srcOffsets = {{d->src.x0, d->src.y0, 0}, {d->src.x1, d->src.y1, 1}},
                            .dstSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1},
                            .dstOffsets = {{d->dst.x0, d->dst.y0, 0}, {d->dst.x1, d->dst.y1, 1}}};
        g->vk.vkCmdBlitImage(cmd, g->content, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, target,
                             VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 1, &blit, g->filter);
    }

    if (d->hud) {
        int w = d->hud_w, h = d->hud_h;
        if (d->hud_x + w > (int)g->extent.width) w = (int)g->extent.width - d->hud_x;
        if (d->hud_y + h > (int)g->extent.height) h = (int)g->extent.height - d->hud_y;
        if (w > 0 && h > 0) {
            image_barrier(g, cmd, target, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL,
                          VK_ACCESS_TRANSFER_WRITE_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, T, T); /* image before HUD */
            VkBufferImageCopy region = {.bufferRowLength = (uint32_t)d->hud_w,
                                        .imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1},
                                        .imageOffset = {d->hud_x, d->hud_y, 0},
                                        .imageExtent = {(uint32_t)w, (uint32_t)h, 1}};
            g->vk.vkCmdCopyBufferToImage(cmd, s->hud.buf, target, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 1, &region);
        }
    }

    if (d->readback) {
        image_barrier(g, cmd, target, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL,
                      VK_ACCESS_TRANSFER_WRITE_BIT, VK_ACCESS_TRANSFER_READ_BIT, T, T); /* drawing before read */
        VkBufferImageCopy region = {.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1},
                                    .imageExtent = {g->extent.width, g->extent.height, 1}};
        g->vk.vkCmdCopyImageToBuffer(cmd, target, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, g->readback.buf, 1, &region);
        VkBufferMemoryBarrier bb = {.sType = VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER,
                                    .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                                    .dstAccessMask = VK_ACCESS_HOST_READ_BIT,
                                    .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                                    .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED, .buffer = g->readback.buf,
                                    .size = VK_WHOLE_SIZE};
        g->vk.vkCmdPipelineBarrier(cmd, T, VK_PIPELINE_STAGE_HOST_BIT, 0, 0, NULL, 1, &bb, 0, NULL); /* copy before host read */
        image_barrier(g, cmd, target, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, VK_IMAGE_LAYOUT_PRESENT_SRC_KHR, 0, 0, T,
                      VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT); /* read before present */
    } else {
        image_barrier(g, cmd, target, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, VK_IMAGE_LAYOUT_PRESENT_SRC_KHR,
                      VK_ACCESS_TRANSFER_WRITE_BIT, 0, T, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT); /* writes before present */
    }
    VW_VK(g->vk.vkEndCommandBuffer(cmd));
    return IG_OK;
}

ig_result vw_gpu_end(vw_gpu *g, const vw_draw *d, ig_error *err) {
    if (!g->acquired) return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "vw_gpu_end without vw_gpu_begin");
    g->acquired = false;
    vw_frame_slot *s = &g->slots[g->slot];
    ig_result r = IG_OK;
    vw_draw draw = *d;
    /* host data first: this slot's fence has been waited for in vw_gpu_begin */
    if (draw.upload_dev) {
        draw.upload = NULL;
        draw.upload_w = draw.upload_dev->w;
        draw.upload_h = draw.upload_dev->h;
        if ((r = content_ensure(g, draw.upload_w, draw.upload_h, err)) != IG_OK) return r;
        draw.upload_dev->used = true;
    }
    if (draw.upload) {
        if ((r = content_ensure(g, draw.upload_w, draw.upload_h, err)) != IG_OK) return r;
        VkDeviceSize bytes = (VkDeviceSize)draw.upload_w * draw.upload_h * 4;
        if ((r = buffer_ensure(g, &s->upload, bytes, VK_BUFFER_USAGE_TRANSFER_SRC_BIT, false, err)) != IG_OK) return r;
        pack_pixels(g, draw.upload, (size_t)draw.upload_w * draw.upload_h, s->upload.map);
    }
    if (draw.hud) {
        VkDeviceSize bytes = (VkDeviceSize)draw.hud_w * draw.hud_h * 4;
        if ((r = buffer_ensure(g, &s->hud, bytes, VK_BUFFER_USAGE_TRANSFER_SRC_BIT, false, err)) != IG_OK) return r;
        pack_pixels(g, draw.hud, (size_t)draw.hud_w * draw.hud_h, s->hud.map);
    }
    if (draw.readback && !g->readback_ok)
        return ig_error_set(err, IG_ERR_UNSUPPORTED, "this surface cannot be read back (no TRANSFER_SRC usage)");
    if (draw.readback) {
        VkDeviceSize bytes = (VkDeviceSize)g->extent.width * g->extent.height * 4;
        VW_VK(device_wait_idle(g)); /* the readback buffer is shared by both slots */
        if ((r = buffer_ensure(g, &g->readback, bytes, VK_BUFFER_USAGE_TRANSFER_DST_BIT, true, err)) != IG_OK) return r;
    }
    if ((r = record(g, s, &draw, err)) != IG_OK) return r;

    VW_VK(g->vk.vkResetFences(g->device, 1, &s->fence));
    VkPipelineStageFlags wait_stage = VK_PIPELINE_STAGE_TRANSFER_BIT;
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .waitSemaphoreCount = 1, .pWaitSemaphores = &s->acquired,
                       .pWaitDstStageMask = &wait_stage, .commandBufferCount = 1, .pCommandBuffers = &s->cmd,
                       .signalSemaphoreCount = 1, .pSignalSemaphores = &g->rendered[g->image_index]};
    pthread_mutex_lock(&g->queue_lock);
    VkResult sr = g->vk.vkQueueSubmit(g->queue, 1, &si, s->fence);
    pthread_mutex_unlock(&g->queue_lock);
    VW_VK(sr);
    pthread_mutex_lock(&g->grave_lock);
    g->subs[g->slot]++;
    pthread_mutex_unlock(&g->grave_lock);
    VkPresentInfoKHR pi = {.sType = VK_STRUCTURE_TYPE_PRESENT_INFO_KHR, .waitSemaphoreCount = 1,
                           .pWaitSemaphores = &g->rendered[g->image_index], .swapchainCount = 1,
                           .pSwapchains = &g->swapchain, .pImageIndices = &g->image_index};
    pthread_mutex_lock(&g->queue_lock);
    VkResult vr = g->vk.vkQueuePresentKHR(g->queue, &pi);
    pthread_mutex_unlock(&g->queue_lock);
    if (vr == VK_ERROR_OUT_OF_DATE_KHR || vr == VK_SUBOPTIMAL_KHR) g->recreate = true;
    else if (vr != VK_SUCCESS) return vk_fail(err, "vkQueuePresentKHR", vr);

    if (draw.readback) {
        VW_VK(g->vk.vkWaitForFences(g->device, 1, &s->fence, VK_TRUE, UINT64_MAX));
        size_t px = (size_t)g->extent.width * g->extent.height;
        uint8_t *rgb = malloc(px * 3);
        if (!rgb) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "window screenshot");
        const uint8_t *src = g->readback.map;
        int rc = g->bgr ? 2 : 0, bc = g->bgr ? 0 : 2;
        for (size_t i = 0; i < px; i++) {
            rgb[3 * i + 0] = src[4 * i + rc];
            rgb[3 * i + 1] = src[4 * i + 1];
            rgb[3 * i + 2] = src[4 * i + bc];
        }
        *draw.readback_rgb = rgb;
        *draw.readback_w = (int)g->extent.width;
        *draw.readback_h = (int)g->extent.height;
    }
    g->slot = (g->slot + 1) % VW_FRAMES;
    return IG_OK;
}
