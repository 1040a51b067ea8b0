/* test_vk_external.c - the Vulkan backend on the caller's instance and device
 * (ig_vk_desc.external, ig_vk_device_requirements), as the viewer uses it:
 *  - renders equal an own-device context's renders byte for byte (same device, same kernels);
 *  - no VkInstance is created by the library for it (ig_vk_instances_created);
 *  - submissions go through the caller's queue lock (balanced, at least one per render);
 *  - destroying the context leaves the device usable (a second context renders again) and
 *    destroys everything the library created: the caller's vkDestroyDevice /
 *    vkDestroyInstance with the validation layer report no object left over;
 *  - bad external descriptions are refused with a named error;
 *  - an own-instance context made while the caller's instance is loaded in volk's global
 *    table renders (validation clean) and leaves that table alone (volkGetLoadedInstance);
 *  - ig_vk_render_device (INR-GAN pixel and gemm kernels, CIPS): the floats it leaves in the
 *    device buffer, copied by the caller's own command buffer after the documented barrier and
 *    read through the documented strides, equal ig_vk_render's output bit for bit. */
#ifndef VK_NO_PROTOTYPES
#define VK_NO_PROTOTYPES
#endif
#include <volk.h>

#include "vk_test.h"

static int g_errors, g_locks, g_unlocks;

static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                 VkDebugUtilsMessageTypeFlagsEXT types,
                                                 const VkDebugUtilsMessengerCallbackDataEXT *data, void *user) {
    (void)types, (void)user;
    if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) {
        g_errors++;
        fprintf(stderr, "validation error: %s\n", data && data->pMessage ? data->pMessage : "?");
    }
    return VK_FALSE;
}

static void lock(void *user) {
    (void)user;
    g_locks++;
}
static void unlock(void *user) {
    (void)user;
    g_unlocks++;
}

typedef struct caller {
    VkInstance inst;
    VkDebugUtilsMessengerEXT msg;
    PFN_vkDestroyDebugUtilsMessengerEXT destroy_msg;
    VkPhysicalDevice pd;
    VkDevice dev;
    uint32_t family;
    VkQueue queue;
    PFN_vkDestroyDevice destroy_dev;
    PFN_vkDeviceWaitIdle wait_idle;
} caller;

/* The caller's own instance (validation + messenger when the tests validate) and device on the
 * test GPU, created with what ig_vk_device_requirements lists. */
static int caller_create(caller *c, bool validate) {
    memset(c, 0, sizeof *c);
    if (volkInitialize() != VK_SUCCESS) return 0;
    const char *layer = "VK_LAYER_KHRONOS_validation";
    const char *ext = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    VkDebugUtilsMessengerCreateInfoEXT mci = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT,
        .pfnUserCallback = on_message};
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .apiVersion = VK_API_VERSION_1_2};
    VkInstanceCreateInfo ici = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pNext = validate ? &mci : NULL,
                                .pApplicationInfo = &app, .enabledLayerCount = validate ? 1 : 0,
                                .ppEnabledLayerNames = &layer, .enabledExtensionCount = validate ? 1 : 0,
                                .ppEnabledExtensionNames = &ext};
    if (vkCreateInstance(&ici, NULL, &c->inst) != VK_SUCCESS) return 0;
    volkLoadInstanceOnly(c->inst); /* as the viewer does: the library must not replace it */
    /* the library's table may hold another instance's trampolines: this one's own functions */
    if (validate) {
        PFN_vkCreateDebugUtilsMessengerEXT create_msg =
            (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(c->inst, "vkCreateDebugUtilsMessengerEXT");
        c->destroy_msg =
            (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(c->inst, "vkDestroyDebugUtilsMessengerEXT");
        if (!create_msg || create_msg(c->inst, &mci, NULL, &c->msg) != VK_SUCCESS) return 0;
    }
    PFN_vkEnumeratePhysicalDevices enum_pd =
        (PFN_vkEnumeratePhysicalDevices)vkGetInstanceProcAddr(c->inst, "vkEnumeratePhysicalDevices");
    PFN_vkGetPhysicalDeviceProperties props =
        (PFN_vkGetPhysicalDeviceProperties)vkGetInstanceProcAddr(c->inst, "vkGetPhysicalDeviceProperties");
    PFN_vkGetPhysicalDeviceQueueFamilyProperties qprops = (PFN_vkGetPhysicalDeviceQueueFamilyProperties)
        vkGetInstanceProcAddr(c->inst, "vkGetPhysicalDeviceQueueFamilyProperties");
    PFN_vkCreateDevice create_dev = (PFN_vkCreateDevice)vkGetInstanceProcAddr(c->inst, "vkCreateDevice");
    PFN_vkGetDeviceProcAddr gdpa = (PFN_vkGetDeviceProcAddr)vkGetInstanceProcAddr(c->inst, "vkGetDeviceProcAddr");
    VkPhysicalDevice pds[16];
    uint32_t n = 16;
    VkResult r = enum_pd(c->inst, &n, pds);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) return 0;
    for (uint32_t i = 0; i < n && !c->pd; i++) {
        VkPhysicalDeviceProperties p;
        props(pds[i], &p);
        char lower[256];
        size_t k = 0;
        for (; p.deviceName[k] && k < sizeof lower - 1; k++)
            lower[k] = (char)(p.deviceName[k] >= 'A' && p.deviceName[k] <= 'Z' ? p.deviceName[k] + 32 : p.deviceName[k]);
        lower[k] = 0;
        if (strstr(lower, vk_test_gpu)) c->pd = pds[i];
    }
    if (!c->pd) return 0;
    VkQueueFamilyProperties qf[16];
    uint32_t nq = 16;
    qprops(c->pd, &nq, qf);
    c->family = UINT32_MAX;
    for (uint32_t i = 0; i < nq && c->family == UINT32_MAX; i++)
        if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) c->family = i;
    if (c->family == UINT32_MAX) return 0;

    ig_vk_device_reqs req;
    ig_error err = {0};
    CHECK_MSG(ig_vk_device_requirements(c->inst, c->pd, &req, &err) == IG_OK, "requirements: %s", err.msg);
    CHECK(req.api_version >= VK_API_VERSION_1_2 && req.n_extensions <= 4);
    VkPhysicalDeviceCooperativeMatrixFeaturesNV coop = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV,
        .cooperativeMatrix = req.cooperative_matrix_nv};
    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
                                            .pNext = req.cooperative_matrix_nv ? &coop : NULL,
                                            .shaderFloat16 = req.shader_float16,
                                            .vulkanMemoryModel = req.vulkan_memory_model};
    VkPhysicalDeviceVulkan11Features f11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
                                            .pNext = &f12,
                                            .storageBuffer16BitAccess = req.storage_buffer_16bit_access};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f11};
    float prio = 1;
    VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                   .queueFamilyIndex = c->family, .queueCount = 1, .pQueuePriorities = &prio};
    VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, .pNext = &f2,
                              .queueCreateInfoCount = 1, .pQueueCreateInfos = &qci,
                              .enabledExtensionCount = req.n_extensions, .ppEnabledExtensionNames = req.extensions};
    if (create_dev(c->pd, &dci, NULL, &c->dev) != VK_SUCCESS) return 0;
    PFN_vkGetDeviceQueue get_queue = (PFN_vkGetDeviceQueue)gdpa(c->dev, "vkGetDeviceQueue");
    c->destroy_dev = (PFN_vkDestroyDevice)gdpa(c->dev, "vkDestroyDevice");
    c->wait_idle = (PFN_vkDeviceWaitIdle)gdpa(c->dev, "vkDeviceWaitIdle");
    get_queue(c->dev, c->family, 0, &c->queue);
    return 1;
}

static void caller_destroy(caller *c) {
    if (c->dev) c->destroy_dev(c->dev, NULL);
    if (c->msg) c->destroy_msg(c->inst, c->msg, NULL);
    if (c->inst) {
        PFN_vkDestroyInstance destroy =
            (PFN_vkDestroyInstance)vkGetInstanceProcAddr(c->inst, "vkDestroyInstance");
        destroy(c->inst, NULL);
    }
}

static float *render(const ig_vk_desc *vd, const ig_model *m, const ig_plan *plan, size_t n) {
    ig_error err = {0};
    ig_vk_context *ctx = NULL;
    if (ig_vk_context_create(vd, &ctx, &err) != IG_OK) {
        CHECK_MSG(0, "context: %s", err.msg);
        return NULL;
    }
    const ig_config *c = ig_model_config(m);
    float *z = vk_test_latents(2, c->z_dim);
    float *out = malloc(n * sizeof *out);
    ig_render_desc rd = {.model = m, .plan = plan, .z = z, .count = 2, .psi = 0.7, .threads = 1};
    CHECK_MSG(out && ig_vk_render(ctx, &rd, out, &err) == IG_OK, "render: %s", err.msg);
    vk_test_ctx_ok(ctx);
    ig_vk_context_destroy(ctx);
    free(z);
    return out;
}


/* Copies out->size bytes at out->offset of out->buffer to the host with the caller's own command
 * buffer on the shared queue, after the barrier ig_vk_render_device asks for. */
static float *device_read(const caller *c, const ig_vk_device_output *out) {
    struct VolkDeviceTable t;
    volkLoadDeviceTable(&t, c->dev);
    PFN_vkGetPhysicalDeviceMemoryProperties mprops = (PFN_vkGetPhysicalDeviceMemoryProperties)vkGetInstanceProcAddr(
        c->inst, "vkGetPhysicalDeviceMemoryProperties");
    float *host = NULL;
    VkBuffer buf = VK_NULL_HANDLE;
    VkDeviceMemory mem = VK_NULL_HANDLE;
    VkCommandPool pool = VK_NULL_HANDLE;
    VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = out->size,
                              .usage = VK_BUFFER_USAGE_TRANSFER_DST_BIT};
    if (t.vkCreateBuffer(c->dev, &bci, NULL, &buf) != VK_SUCCESS) goto done;
    VkMemoryRequirements req;
    t.vkGetBufferMemoryRequirements(c->dev, buf, &req);
    VkPhysicalDeviceMemoryProperties mp;
    mprops(c->pd, &mp);
    uint32_t type = UINT32_MAX;
    VkMemoryPropertyFlags want = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    for (uint32_t i = 0; i < mp.memoryTypeCount && type == UINT32_MAX; i++)
        if ((req.memoryTypeBits & (1u << i)) && (mp.memoryTypes[i].propertyFlags & want) == want) type = i;
    VkMemoryAllocateInfo mai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size,
                                .memoryTypeIndex = type};
    if (type == UINT32_MAX || t.vkAllocateMemory(c->dev, &mai, NULL, &mem) != VK_SUCCESS ||
        t.vkBindBufferMemory(c->dev, buf, mem, 0) != VK_SUCCESS)
        goto done;
    VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO, .queueFamilyIndex = c->family};
    if (t.vkCreateCommandPool(c->dev, &pci, NULL, &pool) != VK_SUCCESS) goto done;
    VkCommandBuffer cmd;
    VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, .commandPool = pool,
                                       .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = 1};
    if (t.vkAllocateCommandBuffers(c->dev, &cai, &cmd) != VK_SUCCESS) goto done;
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    t.vkBeginCommandBuffer(cmd, &bi);
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT};
    t.vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0,
                           NULL, 0, NULL);
    VkBufferCopy cp = {.srcOffset = out->offset, .dstOffset = 0, .size = out->size};
    t.vkCmdCopyBuffer(cmd, (VkBuffer)out->buffer, buf, 1, &cp);
    VkMemoryBarrier hb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
    t.vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &hb, 0, NULL, 0,
                           NULL);
    t.vkEndCommandBuffer(cmd);
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cmd};
    if (t.vkQueueSubmit(c->queue, 1, &si, VK_NULL_HANDLE) != VK_SUCCESS || t.vkQueueWaitIdle(c->queue) != VK_SUCCESS)
        goto done;
    void *p;
    if (t.vkMapMemory(c->dev, mem, 0, VK_WHOLE_SIZE, 0, &p) != VK_SUCCESS) goto done;
    host = malloc(out->size);
    if (host) memcpy(host, p, out->size);
    t.vkUnmapMemory(c->dev, mem);
done:
    if (pool) t.vkDestroyCommandPool(c->dev, pool, NULL);
    if (buf) t.vkDestroyBuffer(c->dev, buf, NULL);
    if (mem) t.vkFreeMemory(c->dev, mem, NULL);
    CHECK_MSG(host != NULL, "reading the device output back failed");
    return host;
}

/* ig_vk_render_device == ig_vk_render on the same context, through the documented layout. */
static void device_output_case(const caller *c, const ig_vk_external *ext, const char *model, int kernel) {
    ig_error err = {0};
    ig_model *m = NULL;
    if (ig_model_load(vk_test_data(model), &m, &err) != IG_OK) {
        CHECK_MSG(0, "model %s: %s", model, err.msg);
        return;
    }
    const ig_config *cfg = ig_model_config(m);
    ig_plan plan;
    ig_plan_desc pd = {.width = 24, .height = 20, .view = {-1.2, -1, 1.2, 1}};
    CHECK_MSG(ig_plan_make(&plan, cfg, &pd, &err) == IG_OK, "plan: %s", err.msg);
    int W = plan.width, H = plan.height, N = 2;
    size_t n = (size_t)N * 3 * W * H;
    ig_vk_desc vd = vk_test_desc();
    vd.external = ext;
    vd.level_kernel = kernel;
    ig_vk_context *ctx = NULL;
    float *z = vk_test_latents(N, cfg->z_dim);
    float *ref = malloc(n * sizeof *ref);
    if (ig_vk_context_create(&vd, &ctx, &err) != IG_OK || !ref) {
        CHECK_MSG(0, "context: %s", err.msg);
        goto done;
    }
    ig_render_desc rd = {.model = m, .plan = &plan, .z = z, .count = N, .psi = 0.7, .threads = 1};
    CHECK_MSG(ig_vk_render(ctx, &rd, ref, &err) == IG_OK, "render: %s", err.msg);
    ig_vk_device_output dev;
    CHECK_MSG(ig_vk_render_device(ctx, &rd, &dev, &err) == IG_OK, "%s: render_device: %s", model, err.msg);
    CHECK(dev.buffer && dev.count == N && dev.width == W && dev.height == H && dev.offset % 4 == 0);
    const char *used = cfg->kind == IG_FAMILY_CIPS ? "cips" : ig_vk_level_kernel_used(ctx);
    float *got = dev.buffer ? device_read(c, &dev) : NULL;
    size_t bad = 0, outside = 0;
    for (int i = 0; got && i < N; i++)
        for (int ch = 0; ch < 3; ch++)
            for (int q = 0; q < W * H; q++) {
                uint64_t at = (uint64_t)i * dev.image_stride + (uint64_t)ch * dev.channel_stride +
                              (uint64_t)q * dev.pixel_stride;
                if ((at + 1) * 4 > dev.size) {
                    outside++;
                    continue;
                }
                if (memcmp(&got[at], &ref[((size_t)i * 3 + ch) * W * H + q], 4) != 0) bad++;
            }
    CHECK_MSG(got && bad == 0 && outside == 0,
              "%s (%s kernel): %zu of %zu device-output values differ from ig_vk_render, %zu outside the region",
              model, used, bad, n, outside);
    fprintf(stderr, "device output %s (%s): strides %llu/%llu/%llu, %zu values equal\n", model, used,
            (unsigned long long)dev.image_stride, (unsigned long long)dev.channel_stride,
            (unsigned long long)dev.pixel_stride, got ? n - bad : 0);
    free(got);
    /* the context renders to the host again afterwards */
    float *again = malloc(n * sizeof *again);
    CHECK_MSG(again && ig_vk_render(ctx, &rd, again, &err) == IG_OK && memcmp(again, ref, n * sizeof *ref) == 0,
              "host render after a device render: %s", err.msg);
    free(again);
    CHECK_MSG(ig_vk_render_device(ctx, &rd, NULL, &err) == IG_ERR_INVALID_ARGUMENT, "NULL output refused");
done:
    ig_vk_context_destroy(ctx);
    free(z);
    free(ref);
    ig_plan_free(&plan);
    ig_model_free(m);
}

static void test_external(void) {
    ig_error err = {0};
    ig_model *m = NULL;
    if (ig_model_load(vk_test_data("golden_tiny.safetensors"), &m, &err) != IG_OK) {
        CHECK_MSG(0, "model: %s", err.msg);
        return;
    }
    const ig_config *cfg = ig_model_config(m);
    ig_plan plan;
    ig_plan_desc pd = {.width = 24, .height = 20, .view = {-1.2, -1, 1.2, 1}};
    CHECK_MSG(ig_plan_make(&plan, cfg, &pd, &err) == IG_OK, "plan: %s", err.msg);
    size_t n = (size_t)2 * 3 * plan.width * plan.height;

    ig_vk_desc own = vk_test_desc();
    caller c;
    int made = caller_create(&c, own.validate);
    /* an own instance and device next to the caller's: the caller's volk table stays */
    float *ref = render(&own, m, &plan, n);
    CHECK_MSG(!made || volkGetLoadedInstance() == c.inst, "volk's global table was reloaded by the library");
    if (!made) {
        CHECK_MSG(0, "the test's own instance/device on %s could not be created", vk_test_gpu);
        caller_destroy(&c);
        free(ref);
        ig_plan_free(&plan);
        ig_model_free(m);
        return;
    }
    uint32_t instances = ig_vk_instances_created();
    ig_vk_external ext = {.instance = c.inst, .physical_device = c.pd, .device = c.dev, .queue_family = c.family,
                          .queue = c.queue, .queue_lock = lock, .queue_unlock = unlock};
    ig_vk_desc shared = vk_test_desc();
    shared.gpu = "no such device: unused with external";
    shared.external = &ext;
    for (int round = 0; round < 2; round++) { /* the second: the device outlived the first context */
        g_locks = g_unlocks = 0;
        float *got = render(&shared, m, &plan, n);
        CHECK_MSG(got && ref && memcmp(got, ref, n * sizeof *ref) == 0,
                  "round %d: external-device render == own-device render, max rel diff %g", round,
                  got && ref ? vk_test_compare(got, ref, n) : -1.0);
        CHECK_MSG(g_locks > 0 && g_locks == g_unlocks, "round %d: queue lock %d / unlock %d", round, g_locks,
                  g_unlocks);
        free(got);
        CHECK(c.wait_idle(c.dev) == VK_SUCCESS);
    }
    CHECK_MSG(ig_vk_instances_created() == instances, "the library created %u instance(s) for external contexts",
              ig_vk_instances_created() - instances);

    /* the result left on the device */
    device_output_case(&c, &ext, "golden_tiny.safetensors", IG_VK_KERNEL_PIXEL);
    device_output_case(&c, &ext, "golden_tiny.safetensors", IG_VK_KERNEL_GEMM);
    device_output_case(&c, &ext, "tiny_cips.safetensors", IG_VK_KERNEL_DEFAULT);
    CHECK(c.wait_idle(c.dev) == VK_SUCCESS);

    /* bad descriptions */
    ig_vk_context *ctx = NULL;
    ig_vk_external bad = ext;
    bad.device = NULL;
    shared.external = &bad;
    CHECK(ig_vk_context_create(&shared, &ctx, &err) == IG_ERR_INVALID_ARGUMENT && !ctx);
    CHECK(strstr(err.msg, "ig_vk_external") != NULL);
    bad = ext;
    bad.queue_family = 999;
    CHECK(ig_vk_context_create(&shared, &ctx, &err) == IG_ERR_UNSUPPORTED && !ctx);
    CHECK(strstr(err.msg, "queue family 999") != NULL);
    CHECK(ig_vk_device_requirements(NULL, c.pd, &(ig_vk_device_reqs){0}, &err) == IG_ERR_INVALID_ARGUMENT);

    /* every object of the library is gone: the layer reports leftovers at these destroys */
    caller_destroy(&c);
    CHECK_MSG(g_errors == 0, "%d validation error(s) on the caller's instance", g_errors);
    free(ref);
    ig_plan_free(&plan);
    ig_model_free(m);
}

int main(void) {
    vk_test_init();
    RUN(test_external);
    return TEST_EXIT();
}
