/* vk_peak.c - the device's own arithmetic peaks (ig_vk_peak), measured in the spirit of
 * vkpeak: shaders/peak.comp runs independent FMA chains (fp32 vec4, fp16 f16vec4) or
 * cooperative-matrix products (GL_NV_cooperative_matrix 16x16x16, f16 x f16 + f32; or the same
 * through GL_KHR_cooperative_matrix on a device without the NV extension, when this build has
 * the PEAK_COOP_KHR variant) on registers only; the device time of one dispatch comes from
 * timestamp queries.
 *
 * The work size adapts to the device: it starts tiny (one workgroup, a few loop iterations)
 * and grows (workgroups first, up to enough to fill any current GPU several times, then loop
 * iterations, then workgroups again) until one dispatch takes at least IG__PEAK_TARGET_MS.
 * So lavapipe is done in a fraction of a second and a large GPU still runs long enough for a
 * meaningful figure. The result is the best of a few runs at that size.
 *
 * llvmpipe ends every shader loop after 65535 iterations per invocation (ctx->loop_limit);
 * the loop count per invocation is kept far below that there (IG__PEAK_LAVAPIPE_LOOPS).
 *
 * The pipelines are created here and destroyed at the end (no pipeline cache: they are tiny
 * and must not grow the render pipelines' cache file); the shared pipeline layout is used,
 * with binding 0 (a small output buffer that is never actually written) and the 16-byte push
 * constants {loops, m, a, never}.
 */
#include "vk_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define IG__PEAK_TARGET_MS 20.0       /* one timed dispatch at least this long */
#define IG__PEAK_REPS 3               /* timed runs at the final size (plus the last growth run) */
#define IG__PEAK_FILL_GROUPS 4096u    /* workgroups before loops grow: fills any GPU of today */
#define IG__PEAK_LAVAPIPE_LOOPS 1024u /* loop iterations per invocation cap under a loop limit */
#define IG__PEAK_MAX_LOOPS (1u << 20)
#define IG__PEAK_OUT_BYTES 4096u      /* outv[1024] */

/* FLOP per loop iteration, as counted in shaders/peak.comp */
#define IG__PEAK_FLOP_PER_INVOCATION 1024.0 /* fp32 / fp16: 8 chains x 16 rounds x vec4 FMA */
#define IG__PEAK_FLOP_PER_SUBGROUP 131072.0 /* coop: 16 MulAdds x 2 x 16 x 16 x 16 */

typedef struct ig__peak_kernel {
    const char *name;
    int shader;               /* IG_SH_PEAK_* */
    uint32_t wg;              /* invocations per workgroup */
    double flop_per_group;    /* per loop iteration */
    float m, a;               /* chain constants (push constants, so nothing folds) */
} ig__peak_kernel;

static double ig__peak_now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return 1e3 * (double)t.tv_sec + 1e-6 * (double)t.tv_nsec;
}

/* One dispatch of `groups` workgroups, `loops` iterations each; *ms = its device time (or the
 * submit-to-fence wall time when the queue has no timestamps). */
static ig_result ig__peak_run(ig_vk_context *ctx, VkPipeline pipe, VkDescriptorSet set,
                              const ig__peak_kernel *k, uint32_t groups, uint32_t loops,
                              double *ms, ig_error *err) {
    ig_result res = IG_OK;
    struct { uint32_t loops; float m, a, never; } pc = {loops, k->m, k->a, -1.0f};
    IG_VK_CHECK(ctx->vk.vkResetCommandBuffer(ctx->cmd, 0));
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    IG_VK_CHECK(ctx->vk.vkBeginCommandBuffer(ctx->cmd, &bi));
    ctx->vk.vkCmdBindPipeline(ctx->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipe);
    ctx->vk.vkCmdBindDescriptorSets(ctx->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, ctx->pipe_layout, 0,
                                    1, &set, 0, NULL);
    ctx->vk.vkCmdPushConstants(ctx->cmd, ctx->pipe_layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                               sizeof pc, &pc);
    if (ctx->ts_pool) {
        ctx->vk.vkCmdResetQueryPool(ctx->cmd, ctx->ts_pool, 0, 2);
        ctx->vk.vkCmdWriteTimestamp(ctx->cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, ctx->ts_pool, 0);
    }
    ctx->vk.vkCmdDispatch(ctx->cmd, groups, 1, 1);
    if (ctx->ts_pool)
        ctx->vk.vkCmdWriteTimestamp(ctx->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, ctx->ts_pool, 1);
    IG_VK_CHECK(ctx->vk.vkEndCommandBuffer(ctx->cmd));
    double t0 = ig__peak_now_ms();
    res = ig__vk_submit_wait(ctx, err);
    if (res != IG_OK) return res;
    *ms = ig__peak_now_ms() - t0;
    if (ctx->ts_pool) IG_VK_CHECK(ig__vk_timestamps_ms(ctx, ms));
    return IG_OK;
fail:
    return res;
}

/* Multiplies the work by about f: workgroups up to `fill`, then loops up to lmax, then
 * workgroups up to gmax. False when nothing can grow any more. */
static bool ig__peak_grow(uint32_t *groups, uint32_t *loops, double f, uint32_t fill,
                          uint32_t gmax, uint32_t lmax) {
    double g = *groups, l = *loops;
    double ng = fmin(fmax(g, (double)fill), fmax(g, ceil(g * f)));
    if (ng > gmax) ng = gmax;
    if (ng < g) ng = g;
    f *= g / ng;
    double nl = l;
    if (f > 1.0) {
        nl = fmin((double)lmax, ceil(l * f));
        if (nl < l) nl = l;
        f *= l / nl;
    }
    if (f > 1.0) ng = fmin((double)gmax, ceil(ng * f));
    bool grew = (uint32_t)ng != *groups || (uint32_t)nl != *loops;
    *groups = (uint32_t)ng;
    *loops = (uint32_t)nl;
    return grew;
}

static ig_result ig__peak_measure(ig_vk_context *ctx, VkDescriptorSet set,
                                  const ig__peak_kernel *k, double *gflops, ig_error *err) {
    VkPipeline pipe = VK_NULL_HANDLE;
    ig_result res = ig__vk_pipeline_create(ctx, k->shader, &k->wg, 1, VK_NULL_HANDLE, &pipe, err);
    if (res != IG_OK) return res;

    uint32_t gmax = ctx->props.limits.maxComputeWorkGroupCount[0];
    if (gmax > 65535u) gmax = 65535u;
    uint32_t fill = IG__PEAK_FILL_GROUPS < gmax ? IG__PEAK_FILL_GROUPS : gmax;
    uint32_t lmax = IG__PEAK_MAX_LOOPS;
    if (ctx->loop_limit) { /* llvmpipe: far below its per-invocation loop limit */
        lmax = (uint32_t)(ctx->loop_limit / 16);
        if (lmax > IG__PEAK_LAVAPIPE_LOOPS) lmax = IG__PEAK_LAVAPIPE_LOOPS;
    }
    uint32_t groups = 1, loops = lmax < 8u ? lmax : 8u;
    double t;
    /* warm-up: lavapipe JIT-compiles the shader at its first dispatch */
    res = ig__peak_run(ctx, pipe, set, k, 1, 1, &t, err);
    if (res != IG_OK) goto fail;
    for (int step = 0; step < 64; step++) {
        res = ig__peak_run(ctx, pipe, set, k, groups, loops, &t, err);
        if (res != IG_OK) goto fail;
        if (t >= IG__PEAK_TARGET_MS) break;
        double f = t > 0 ? 1.25 * IG__PEAK_TARGET_MS / t : 16.0;
        f = fmin(16.0, fmax(2.0, f));
        if (!ig__peak_grow(&groups, &loops, f, fill, gmax, lmax)) break;
    }
    double best = t;
    for (int r = 0; r < IG__PEAK_REPS; r++) {
        res = ig__peak_run(ctx, pipe, set, k, groups, loops, &t, err);
        if (res != IG_OK) goto fail;
        if (t < best) best = t;
    }
    double flop = k->flop_per_group * (double)groups * (double)loops;
    *gflops = best > 0 ? flop / (best * 1e6) : -1.0;
    if (ig__env_flag("INRGAN_VK_TRACE"))
        fprintf(stderr, "inrgan vk: peak %s: %u groups x %u invocations x %u loops, %.3f ms, "
                        "%.1f GFLOP/s\n", k->name, groups, k->wg, loops, best, *gflops);
fail:
    ctx->vk.vkDestroyPipeline(ctx->device, pipe, NULL);
    return res;
}

ig_result ig_vk_peak(ig_vk_context *ctx, double *fp32_gflops, double *fp16_gflops,
                     double *coopmat_gflops, ig_error *err) {
    ig_result res = IG_OK;
    if (fp32_gflops) *fp32_gflops = -1.0;
    if (fp16_gflops) *fp16_gflops = -1.0;
    if (coopmat_gflops) *coopmat_gflops = -1.0;
    if (!ctx) return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "ig_vk_peak: no context");
    if (ctx->lost)
        return ig_error_set(err, IG_ERR_DEVICE_LOST, "%s was lost earlier; create a new context",
                            ctx->info.name);

    /* vk_ctx.c enables shaderFloat16, and VK_NV_cooperative_matrix with vulkanMemoryModel,
     * wherever the device has them (and they are not disabled by environment switches). */
    bool f16 = ctx->fp16_arith;
    /* the coopmat figure: through GL_NV_cooperative_matrix where the device has it, else
     * through GL_KHR_cooperative_matrix (AMD, Intel; the PEAK_COOP_KHR variant, built only with
     * a compiler that has the extension: docs/building.md) */
    bool coop = ctx->coopmat_ok || ctx->coopmat_khr_ok;
    int coop_shader = ctx->coopmat_ok ? IG_SH_PEAK_COOP : IG_SH_PEAK_COOP_KHR;

    const VkPhysicalDeviceLimits *lim = &ctx->props.limits;
    uint32_t wg_max = lim->maxComputeWorkGroupInvocations;
    if (lim->maxComputeWorkGroupSize[0] < wg_max) wg_max = lim->maxComputeWorkGroupSize[0];
    uint32_t wg = wg_max < 256u ? wg_max : 256u;
    uint32_t sg = ctx->info.subgroup_size ? ctx->info.subgroup_size : 32u;
    uint32_t cwg = 4u * sg; /* four subgroups, each with its own tiles */
    while (cwg > wg_max && cwg > sg) cwg -= sg;

    ig__peak_kernel ks[3] = {
        {"fp32", IG_SH_PEAK_FP32, wg,
         IG__PEAK_FLOP_PER_INVOCATION * wg, 0.999f, 1e-4f},
        {"fp16", IG_SH_PEAK_FP16, wg,
         IG__PEAK_FLOP_PER_INVOCATION * wg, 0.99f, 1e-3f},
        {ctx->coopmat_ok ? "coopmat" : "coopmat-khr", coop_shader, cwg,
         IG__PEAK_FLOP_PER_SUBGROUP * (cwg / sg), 1.0f, 1.0f / 1024.0f},
    };
    double *outs[3] = {fp32_gflops, f16 ? fp16_gflops : NULL, coop ? coopmat_gflops : NULL};
    if (!outs[0] && !outs[1] && !outs[2]) return IG_OK;

    ig_vk_arena arena = {.device = true, .block_size = 64 * 1024};
    VkDescriptorPool pool = VK_NULL_HANDLE;
    ig_vk_buf out;
    res = ig__vk_arena_alloc(ctx, &arena, IG__PEAK_OUT_BYTES, &out, err);
    if (res != IG_OK) goto fail;
    VkDescriptorPoolSize ps = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                               .descriptorCount = IG_VK_BINDINGS};
    VkDescriptorPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                      .maxSets = 1,
                                      .poolSizeCount = 1,
                                      .pPoolSizes = &ps};
    IG_VK_ALLOC(ctx, ctx->vk.vkCreateDescriptorPool(ctx->device, &pci, NULL, &pool));
    VkDescriptorSet set;
    VkDescriptorSetAllocateInfo dsai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                        .descriptorPool = pool,
                                        .descriptorSetCount = 1,
                                        .pSetLayouts = &ctx->set_layout};
    IG_VK_ALLOC(ctx, ctx->vk.vkAllocateDescriptorSets(ctx->device, &dsai, &set));
    /* only binding 0 is used by peak.comp; the other bindings stay unwritten */
    VkDescriptorBufferInfo info = {out.buf, out.off, IG__PEAK_OUT_BYTES};
    VkWriteDescriptorSet w = {.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                              .dstSet = set,
                              .dstBinding = 0,
                              .descriptorCount = 1,
                              .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                              .pBufferInfo = &info};
    ctx->vk.vkUpdateDescriptorSets(ctx->device, 1, &w, 0, NULL);

    for (int i = 0; i < 3 && res == IG_OK; i++)
        if (outs[i]) res = ig__peak_measure(ctx, set, &ks[i], outs[i], err);
    if (res != IG_OK && err && strlen(err->msg) + 24 < sizeof err->msg) {
        size_t l = strlen(err->msg);
        snprintf(err->msg + l, sizeof err->msg - l, " [peak microbenchmark]");
    }
fail:
    if (res != IG_OK) {
        if (fp32_gflops) *fp32_gflops = -1.0;
        if (fp16_gflops) *fp16_gflops = -1.0;
        if (coopmat_gflops) *coopmat_gflops = -1.0;
    }
    if (ctx->device && !ctx->lost) ig__vk_wait_idle(ctx);
    if (pool) ctx->vk.vkDestroyDescriptorPool(ctx->device, pool, NULL);
    ig__vk_arena_free(ctx, &arena);
    return res;
}
