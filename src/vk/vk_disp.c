/* vk_disp.c - dispatch lists: what vk_inrgan.c (INR-GAN) and vk_cips.c (CIPS) plan, recorded.
 *
 * A family plans its batch as a list of compute dispatches (ig__vk_disp_new), each with a record
 * of meta words and the descriptor windows of its bindings (ig__vk_bind); the list is planned
 * twice, a dry run that only counts the meta words (they size the work allocation) and the real
 * one over the allocated buffers. Then, shared by both families: the pipelines, a descriptor
 * pool with one set per dispatch (binding 0: the dispatch's own meta words), the upload of the
 * meta words, and one submission that records every dispatch with a barrier between each two,
 * between timestamps, followed by the read-back of the result. Around a render's batches:
 * ig__vk_render_begin / ig__vk_render_end (statistics, device time, cleanup after a failure).
 * Also planned here, for both families: fc.comp layers (mapping, INR-GAN affine heads, CIPS
 * styles), the mapping network built of them, and lerp.comp interpolation, split into row
 * chunks and image groups.
 */
#include "vk_internal.h"
#include "ig_parse.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "records/fc.h"
#include "records/lerp.h"

uint32_t *ig__vk_disp_new(ig__vk_builder *b, int shader, uint32_t words, ig__vk_disp **out) {
    *out = NULL;
    if (b->n == b->cap) {
        int cap = b->cap ? 2 * b->cap : 64;
        ig__vk_disp *d = realloc(b->d, (size_t)cap * sizeof *d);
        if (!d) {
            b->oom = true;
            return NULL;
        }
        b->d = d;
        b->cap = cap;
    }
    if (b->n_meta + words > b->cap_meta) {
        uint32_t cap = b->cap_meta ? 2 * b->cap_meta : 1024;
        while (cap < b->n_meta + words) cap *= 2;
        uint32_t *m = realloc(b->meta, (size_t)cap * 4);
        if (!m) {
            b->oom = true;
            return NULL;
        }
        b->meta = m;
        b->cap_meta = cap;
    }
    ig__vk_disp *d = &b->d[b->n++];
    memset(d, 0, sizeof *d);
    d->shader = shader;
    d->level_tag = b->level_tag;
    d->spec[0] = IG_VK_WG;
    d->n_spec = 1;
    d->gx = d->gy = d->gz = 1;
    d->rec = d->meta_start = b->n_meta;
    d->meta_len = words;
    memset(b->meta + b->n_meta, 0, (size_t)words * 4);
    b->n_meta += words;
    *out = d;
    return b->meta + d->rec;
}

uint32_t ig__vk_bind(ig__vk_builder *b, ig__vk_disp *d, uint32_t binding, const ig_vk_buf *buf,
                     VkDeviceSize byte_off, VkDeviceSize len, uint32_t es) {
    uint32_t base = 0;
    d->used |= 1u << binding;
    if (b->dry) return 0;
    d->win[binding] = ig__vk_window_of(b->ctx, buf, byte_off, len, es, &base);
    return base;
}

void ig__vk_bind_dummy(ig__vk_builder *b, ig__vk_disp *d, uint32_t binding) {
    ig__vk_bind(b, d, binding, b->dummy, 0, 16, 4);
}

ig_result ig__vk_builder_status(const ig__vk_builder *b, ig_error *err) {
    return b->oom ? ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "dispatch list") : IG_OK;
}

/* ---- dispatches both families plan --------------------------------------------------------- */

uint32_t ig__vk_kfit(uint64_t cap, uint64_t stride, uint64_t len, uint64_t kmax) {
    if (stride == 0 || len > cap) return len > cap ? 1 : (uint32_t)kmax;
    uint64_t k = 1 + (cap - len) / stride;
    return ig__vk_min32(k < 1 ? 1 : k, kmax);
}

void ig__vk_plan_fc(ig__vk_builder *b, const ig__vk_fc *fc) {
    const ig_vk_context *ctx = b->ctx;
    uint64_t R4 = ctx->range / 4, in = fc->in_dim;
    uint64_t kmax = ctx->props.limits.maxComputeWorkGroupCount[1]; /* images are gy */
    /* row chunks: W rows of one chunk fit a window */
    uint32_t rows_max = ig__vk_min32(R4 / in, fc->rows);
    for (uint32_t o0 = 0; o0 < fc->rows; o0 += rows_max) {
        uint32_t rows = ig__vk_min32(fc->rows - o0, rows_max);
        /* image groups: the caller's, or as many as the x and y windows of the chunk hold */
        uint32_t kg = fc->group ? ig__vk_min32(fc->group, kmax)
                                : ig__vk_min32(ig__vk_kfit(R4, fc->x_stride, in, fc->n),
                                               ig__vk_kfit(R4, fc->y_stride, rows, kmax));
        for (uint32_t n0 = 0; n0 < fc->n; n0 += kg) {
            uint32_t k = ig__vk_min32(fc->n - n0, kg);
            ig__vk_disp *d;
            uint32_t *m = ig__vk_disp_new(b, IG_SH_FC, IGR_FC_WORDS, &d);
            if (!m) return;
            m[IGR_FC_in_dim] = fc->in_dim;
            m[IGR_FC_rows] = rows;
            m[IGR_FC_n_img] = k;
            m[IGR_FC_flags] = fc->flags;
            m[IGR_FC_wgain] = ig__vk_fbits(fc->wgain);
            m[IGR_FC_bgain] = ig__vk_fbits(fc->bgain);
            m[IGR_FC_psi] = ig__vk_fbits(fc->psi);
            m[IGR_FC_w_base] = ig__vk_bind(b, d, 1, fc->w, (fc->w_off + o0 * in) * 4, rows * in * 4,
                                           4);
            m[IGR_FC_b_base] = ig__vk_bind(b, d, 4, fc->bias, (fc->b_off + o0) * 4,
                                           (uint64_t)rows * 4, 4);
            m[IGR_FC_x_base] = ig__vk_bind(b, d, 2, fc->x,
                                           (fc->x_off + (uint64_t)n0 * fc->x_stride) * 4,
                                           ((uint64_t)(k - 1) * fc->x_stride + in) * 4, 4);
            m[IGR_FC_x_stride] = fc->x_stride;
            m[IGR_FC_y_base] = ig__vk_bind(b, d, 3, fc->y,
                                           (fc->y_off + (uint64_t)n0 * fc->y_stride + o0) * 4,
                                           ((uint64_t)(k - 1) * fc->y_stride + rows) * 4, 4);
            m[IGR_FC_y_stride] = fc->y_stride;
            if (fc->avg)
                m[IGR_FC_avg_base] = ig__vk_bind(b, d, 5, fc->avg, (fc->avg_off + o0) * 4,
                                                 (uint64_t)rows * 4, 4);
            else
                ig__vk_bind_dummy(b, d, 5);
            d->n_spec = 0; /* fixed-size kernel: 64 rows x 32 vectors per workgroup */
            d->gx = ig__vk_groups(rows, 64);
            d->gy = ig__vk_groups(k, 32);
        }
    }
}

void ig__vk_plan_lerp(ig__vk_builder *b, const ig_vk_buf *buf, uint64_t b0, uint32_t len,
                      uint32_t stride, uint32_t es, uint32_t n, const float *t) {
    const ig_vk_context *ctx = b->ctx;
    uint64_t cap = ctx->range / es; /* elements one window holds */
    uint32_t chunk = ig__vk_min32(cap, len);
    /* image groups while a vector fits one window, else element chunks of one image */
    uint32_t kg = chunk < len ? 1 : ig__vk_kfit(cap, stride, len, n);
    kg = ig__vk_min32(kg, ctx->props.limits.maxComputeWorkGroupCount[1]);
    for (uint32_t i0 = 0; i0 < len; i0 += chunk) {
        uint32_t n_el = ig__vk_min32(len - i0, chunk);
        for (uint32_t n0 = 0; n0 < n; n0 += kg) {
            uint32_t k = ig__vk_min32(n - n0, kg);
            ig__vk_disp *d;
            uint32_t *m = ig__vk_disp_new(b, es == 2 ? IG_SH_LERP_F16 : IG_SH_LERP,
                                          IGR_LERP_WORDS + k, &d);
            if (!m) return;
            uint64_t span = ((uint64_t)(k - 1) * stride + n_el) * es;
            m[IGR_LERP_len] = n_el;
            m[IGR_LERP_n_img] = k;
            m[IGR_LERP_a_base] = ig__vk_bind(b, d, 1, buf, ((uint64_t)n0 * stride + i0) * es, span,
                                             es);
            m[IGR_LERP_stride] = stride;
            m[IGR_LERP_b_base] = ig__vk_bind(b, d, 2, buf, (b0 + (uint64_t)n0 * stride + i0) * es,
                                             span, es);
            for (uint32_t q = 0; q < k; q++) m[IGR_LERP_WORDS + q] = ig__vk_fbits(t[n0 + q]);
            d->gx = ig__vk_groups(n_el, IG_VK_WG);
            d->gy = k;
        }
    }
}

ig_result ig__vk_disp_sets(ig__vk_builder *b, uint64_t meta_bytes, const char *label,
                           ig_error *err) {
    ig_vk_context *ctx = b->ctx;
    VkDescriptorSetLayout *layouts = NULL;
    VkWriteDescriptorSet *writes = NULL;
    VkDescriptorBufferInfo *infos = NULL;
    ig_result res = ig__vk_builder_status(b, err);
    if (res != IG_OK) return res;
    IG_VK_ASSERT(!b->dry && (uint64_t)b->n_meta * 4 == meta_bytes);

    /* pipelines */
    for (int i = 0; i < b->n; i++) {
        ig__vk_disp *d = &b->d[i];
        res = ig__vk_pipeline_get(ctx, d->shader, d->spec, d->n_spec, &d->pipe, err);
        if (res != IG_OK) return res;
    }

    /* descriptor sets: one per dispatch */
    uint32_t nd = (uint32_t)b->n;
    VkDescriptorPoolSize ps = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                               .descriptorCount = nd * IG_VK_BINDINGS};
    VkDescriptorPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                      .maxSets = nd,
                                      .poolSizeCount = 1,
                                      .pPoolSizes = &ps};
    VkDescriptorPool pool = VK_NULL_HANDLE;
    IG_VK_ALLOC(ctx, ctx->vk.vkCreateDescriptorPool(ctx->device, &pci, NULL, &pool));
    b->pool = pool;
    VkDescriptorSet *sets = b->sets = calloc(nd, sizeof *sets);
    layouts = calloc(nd, sizeof *layouts);
    writes = calloc((size_t)nd * IG_VK_BINDINGS, sizeof *writes);
    infos = calloc((size_t)nd * IG_VK_BINDINGS, sizeof *infos);
    if (!sets || !layouts || !writes || !infos) {
        res = ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "descriptor sets");
        goto fail;
    }
    for (uint32_t i = 0; i < nd; i++) layouts[i] = ctx->set_layout;
    VkDescriptorSetAllocateInfo dsai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                        .descriptorPool = pool,
                                        .descriptorSetCount = nd,
                                        .pSetLayouts = layouts};
    IG_VK_ALLOC(ctx, ctx->vk.vkAllocateDescriptorSets(ctx->device, &dsai, sets));
    uint32_t nw = 0;
    for (uint32_t i = 0; i < nd; i++) {
        ig__vk_disp *d = &b->d[i];
        /* binding 0: its records */
        d->win[0] = ig__vk_window_of(ctx, b->meta_buf, (uint64_t)d->meta_start * 4,
                                     (uint64_t)d->meta_len * 4, 4, NULL);
        d->used |= 1u;
        for (uint32_t k = 0; k < IG_VK_BINDINGS; k++) {
            if (!(d->used & (1u << k))) continue;
            infos[nw] = (VkDescriptorBufferInfo){d->win[k].buf, d->win[k].off, d->win[k].range};
            writes[nw] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                                .dstSet = sets[i],
                                                .dstBinding = k,
                                                .descriptorCount = 1,
                                                .descriptorType =
                                                    VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                                .pBufferInfo = &infos[nw]};
            nw++;
        }
    }
    ctx->vk.vkUpdateDescriptorSets(ctx->device, nw, writes, 0, NULL);
    if (ig__env_flag("INRGAN_VK_TRACE")) { /* the dispatch list, for debugging */
        for (uint32_t i = 0; i < nd; i++) {
            const ig__vk_disp *d = &b->d[i];
            fprintf(stderr, "inrgan vk: %sdispatch %u %s groups %ux%ux%u rec %u:", label, i,
                    ig__vk_shader(d->shader)->name, d->gx, d->gy, d->gz,
                    ig__vk_meta_rel(b, d->meta_start, d->rec));
            for (uint32_t k = 0; k < IG_VK_BINDINGS; k++)
                if (d->used & (1u << k))
                    fprintf(stderr, " %u:[%" PRIu64 "+%" PRIu64 "]", k, (uint64_t)d->win[k].off,
                            (uint64_t)d->win[k].range);
            fputc('\n', stderr);
        }
        if (ig__env_flag("INRGAN_VK_TRACE_WORDS")) /* every dispatch's meta words, in hex */
            for (uint32_t i = 0; i < nd; i++) {
                const ig__vk_disp *d = &b->d[i];
                fprintf(stderr, "inrgan vk: %swords %u:", label, i);
                for (uint32_t w = 0; w < d->meta_len; w++)
                    fprintf(stderr, " %08" PRIx32, b->meta[d->meta_start + w]);
                fputc('\n', stderr);
            }
    }
fail:
    free(layouts);
    free(writes);
    free(infos);
    return res;
}

ig_result ig__vk_disp_upload_meta(ig__vk_builder *b, ig_vk_uploads *ups, ig_error *err) {
    void *p;
    uint64_t bytes = (uint64_t)b->n_meta * 4;
    ig_result res = ig__vk_upload_ptr(b->ctx, ups, b->meta_buf, 0, bytes, &p, err);
    if (res == IG_OK) memcpy(p, b->meta, bytes);
    return res;
}

/* ---- per-phase device time (ig_vk_set_profiling) -------------------------------------------- */

static const char *ig__vk_phase_of(const ig__vk_disp *d, char *buf, size_t len) {
    switch (d->shader) {
    case IG_SH_FC:
    case IG_SH_LERP:
    case IG_SH_LERP_F16: return "hypernetwork";
    case IG_SH_WGEN:
    case IG_SH_WGEN_F16:
    case IG_SH_WNORM:
    case IG_SH_CIPS_WGEN: return "weights";
    case IG_SH_GEMM_RGB:
    case IG_SH_GEMM_RGB_F16:
    case IG_SH_GEMM_RGB_PART:
    case IG_SH_CIPS_RGB: return "torgb";
    case IG_SH_CIPS_INPUT:
    case IG_SH_CIPS_LAYER:
    case IG_SH_CIPS_LAYER_RES: return "layers";
    default:
        if (d->level_tag > 0) {
            snprintf(buf, len, "level%d", d->level_tag - 1);
            return buf;
        }
        return "other";
    }
}

/* Adds the device time of each dispatch to its phase: dispatch i of submission s (the list cut at
 * seg[0..n_seg]) between timestamps t[i + s] and t[i + s + 1] (ig__vk_disp_record). */
static void ig__vk_phases_add(ig_vk_context *ctx, const ig__vk_builder *b, const uint64_t *t,
                              const int *seg) {
    ig_vk_render_report *rep = &ctx->report;
    uint64_t mask = ctx->ts_valid_bits >= 64 ? ~0ull : (1ull << ctx->ts_valid_bits) - 1;
    double period = ctx->props.limits.timestampPeriod * 1e-6; /* ns per tick -> ms */
    for (int i = 0, s = 0; i < b->n; i++) {
        while (i >= seg[s + 1]) s++;
        char buf[24];
        const char *name = ig__vk_phase_of(&b->d[i], buf, sizeof buf);
        int k = 0;
        while (k < rep->n_phases && strcmp(rep->phases[k].name, name) != 0) k++;
        if (k == rep->n_phases) {
            if (k == IG_VK_MAX_PHASES) k--, name = "other"; /* more levels than slots: lumped */
            else rep->n_phases++;
            snprintf(rep->phases[k].name, sizeof rep->phases[k].name, "%s", name);
        }
        double ms = (double)((t[i + s + 1] - t[i + s]) & mask) * period;
        rep->phases[k].ms += ms;
        rep->phases[k].dispatches++;
        rep->phases_ms += ms;
    }
    rep->profiled = true;
}

void ig_vk_set_profiling(ig_vk_context *ctx, bool on) {
    if (ctx) ctx->profile = on && ctx->ts_pool != VK_NULL_HANDLE;
}

void ig_vk_last_render_report(const ig_vk_context *ctx, ig_vk_render_report *report) {
    if (!report) return;
    memset(report, 0, sizeof *report);
    report->chunk_limit = "";
    report->gemm_tiles = "";
    if (ctx) *report = ctx->report;
}

void ig__vk_note_chunk(ig_vk_context *ctx, int images, const char *limit) {
    ig_vk_render_report *rep = &ctx->report;
    if (rep->chunk_images == 0 || images < rep->chunk_images) {
        rep->chunk_images = images;
        rep->chunk_limit = limit;
    }
}

/* Dispatches [i0, i1) of the list (submission s of a split list), in order, into ctx->cmd; with
 * `prof`, timestamp i0 + s before the first when everything recorded before it has finished,
 * then i + s + 1 after dispatch i (consecutive ones: the phases sum to the submission's time). */
static void ig__vk_disp_record(const ig__vk_builder *b, int i0, int i1, int s, VkQueryPool prof) {
    ig_vk_context *ctx = b->ctx;
    VkPipeline bound = VK_NULL_HANDLE;
    for (int i = i0; i < i1; i++) {
        const ig__vk_disp *d = &b->d[i];
        if (i > 0) {
            /* every dispatch reads what the previous ones wrote (and may overwrite what they
             * read): shader writes before later shader reads and writes (also across the
             * submissions of a split list: same queue, submission order) */
            VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                                  .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                                  .dstAccessMask =
                                      VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
            ctx->vk.vkCmdPipelineBarrier(ctx->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, NULL,
                                         0, NULL);
        }
        if (d->pipe != bound) {
            ctx->vk.vkCmdBindPipeline(ctx->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, d->pipe);
            bound = d->pipe;
        }
        ctx->vk.vkCmdBindDescriptorSets(ctx->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, ctx->pipe_layout,
                                        0, 1, &b->sets[i], 0, NULL);
        uint32_t pc[4] = {ig__vk_meta_rel(b, d->meta_start, d->rec), 0, 0, 0};
        ctx->vk.vkCmdPushConstants(ctx->cmd, ctx->pipe_layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                                   sizeof pc, pc);
        /* the first when everything before (uploads, fill) has finished: phases exclude them
         * and the gaps between the submissions of a split list */
        if (prof && i == i0)
            ctx->vk.vkCmdWriteTimestamp(ctx->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, prof,
                                        (uint32_t)(i + s));
        ctx->vk.vkCmdDispatch(ctx->cmd, d->gx, d->gy, d->gz);
        /* after the barrier-separated dispatch i: when all earlier work has finished */
        if (prof)
            ctx->vk.vkCmdWriteTimestamp(ctx->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, prof,
                                        (uint32_t)(i + s + 1));
    }
}

void ig__vk_disp_spread_flop(ig__vk_builder *b, int tag, double flop) {
    double groups = 0;
    for (int i = 0; i < b->n; i++)
        if (b->d[i].level_tag == tag) groups += (double)b->d[i].gx * b->d[i].gy * b->d[i].gz;
    if (groups <= 0 || flop <= 0) return;
    for (int i = 0; i < b->n; i++)
        if (b->d[i].level_tag == tag)
            b->d[i].flop += flop * ((double)b->d[i].gx * b->d[i].gy * b->d[i].gz) / groups;
}

ig_result ig__vk_submit_budget(const ig_vk_context *ctx, double *target_ms, double *flop_per_ms,
                               ig_error *err) {
    const char *env = getenv("INRGAN_VK_SUBMIT_MS");
    bool cpu = strcmp(ctx->info.type, "cpu") == 0;
    *target_ms = cpu ? 0.0 : 100.0;
    /* observed in a long submission before, else an assumption that errs on the slow side */
    *flop_per_ms = ctx->flop_rate > 0 ? ctx->flop_rate : cpu ? 20e6 : 250e6;
    if (env && *env) return ig_parse_double("INRGAN_VK_SUBMIT_MS", env, 0, 1e7, target_ms, err);
    return IG_OK;
}

/* Where the list is cut: seg[0] = 0 < seg[1] < ... < seg[n] = b->n, greedily, so that each
 * submission's estimated FLOPs take at most target_ms at the observed rate (a dispatch is
 * never cut: one alone may exceed it). Returns n (1: no split); seg has b->n + 1 entries. */
static int ig__vk_segments(const ig__vk_builder *b, double target_ms, double rate, int *seg) {
    int n = 0;
    seg[n++] = 0;
    if (target_ms > 0) {
        double acc = 0;
        for (int i = 0; i < b->n; i++) {
            if (i > seg[n - 1] && (acc + b->d[i].flop) / rate > target_ms) {
                seg[n++] = i;
                acc = 0;
            }
            acc += b->d[i].flop;
        }
    }
    seg[n] = b->n;
    return n;
}

ig_result ig__vk_disp_submit(ig__vk_builder *b, const ig_vk_uploads *ups, const ig_vk_buf *zero,
                             const ig_vk_buf *result, VkDeviceSize bytes, const void **host,
                             ig_error *err) {
    ig_vk_context *ctx = b->ctx;
    ig_vk_buf readback = {0};
    ig_result res = IG_OK;
    int *seg = NULL;
    if (ctx->dev_want && ctx->dev_batches++ > 0) /* only one batch's result can stay */
        return ig_error_set(err, IG_ERR_UNSUPPORTED,
                            "the render needs more than one batch on %s: it cannot stay on the "
                            "device (render fewer images at once)", ctx->info.name);
    double target_ms, rate;
    res = ig__vk_submit_budget(ctx, &target_ms, &rate, err);
    if (res != IG_OK) return res;
    if (!result->map && !ctx->dev_want) {
        res = ig__vk_arena_alloc(ctx, &ctx->stage, bytes, &readback, err);
        if (res != IG_OK) return res;
    }

    seg = malloc(((size_t)b->n + 2) * sizeof *seg);
    if (!seg) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "submission segments");
    int n_seg = ig__vk_segments(b, target_ms, rate, seg);
    /* profiling: a query pool of its own, n + n_seg timestamps, made and destroyed here */
    VkQueryPool prof = VK_NULL_HANDLE;
    uint64_t *prof_t = NULL;
    uint32_t n_q = (uint32_t)(b->n + n_seg);
    if (ctx->profile && b->n > 0) {
        VkQueryPoolCreateInfo qpci = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                      .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                      .queryCount = n_q};
        prof_t = malloc((size_t)n_q * sizeof *prof_t);
        if (!prof_t) {
            free(seg);
            return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "profiling timestamps");
        }
        IG_VK_ALLOC(ctx, ctx->vk.vkCreateQueryPool(ctx->device, &qpci, NULL, &prof));
    }
    ctx->report.submit_target_ms = target_ms;
    for (int s = 0; s < n_seg; s++) {
        bool first = s == 0, last = s + 1 == n_seg;
        res = ig__vk_begin(ctx, err);
        if (res != IG_OK) goto fail;
        if (first) {
            if (prof) ctx->vk.vkCmdResetQueryPool(ctx->cmd, prof, 0, n_q);
            ig__vk_record_uploads(ctx, ups);
            if (zero) {
                ctx->vk.vkCmdFillBuffer(ctx->cmd, zero->buf, zero->off, zero->size, 0);
                VkMemoryBarrier fb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                                      .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                                      .dstAccessMask =
                                          VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
                /* the fill before the dispatches read or write it */
                ctx->vk.vkCmdPipelineBarrier(ctx->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT,
                                             VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &fb, 0,
                                             NULL, 0, NULL);
            }
        }
        if (ctx->ts_pool) { /* device time of this submission's dispatches (after the uploads) */
            ctx->vk.vkCmdResetQueryPool(ctx->cmd, ctx->ts_pool, 0, 2);
            ctx->vk.vkCmdWriteTimestamp(ctx->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT,
                                        ctx->ts_pool, 0);
        }
        ig__vk_disp_record(b, seg[s], seg[s + 1], s, prof);
        if (ctx->ts_pool)
            ctx->vk.vkCmdWriteTimestamp(ctx->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT,
                                        ctx->ts_pool, 1);
        if (last && readback.buf) {
            VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                                  .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                                  .dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT};
            /* the result before the copy to the host-visible buffer */
            ctx->vk.vkCmdPipelineBarrier(ctx->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                                         VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0, NULL, 0,
                                         NULL);
            VkBufferCopy cp = {.srcOffset = result->off, .dstOffset = readback.off, .size = bytes};
            ctx->vk.vkCmdCopyBuffer(ctx->cmd, result->buf, readback.buf, 1, &cp);
            VkMemoryBarrier hb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                                  .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                                  .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
            /* the copy before the host reads the mapped memory */
            ctx->vk.vkCmdPipelineBarrier(ctx->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT,
                                         VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &hb, 0, NULL, 0, NULL);
        } else if (last && !ctx->dev_want) { /* device output: the caller's barrier */
            VkMemoryBarrier hb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                                  .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                                  .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
            /* the shaders' writes before the host reads the mapped memory */
            ctx->vk.vkCmdPipelineBarrier(ctx->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                                         VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &hb, 0, NULL, 0, NULL);
        }
        ctx->stats.dispatches += (uint32_t)(seg[s + 1] - seg[s]);
        res = ig__vk_end_submit(ctx, err);
        if (res != IG_OK) goto fail;
        ctx->report.submissions++;
        double ms;
        if (ctx->ts_pool && ig__vk_timestamps_ms(ctx, &ms) == VK_SUCCESS) {
            ctx->gpu_ms += ms;
            if (ms > ctx->report.max_submission_ms) ctx->report.max_submission_ms = ms;
            double flop = 0;
            for (int i = seg[s]; i < seg[s + 1]; i++) flop += b->d[i].flop;
            if (ms >= 0.5 && flop > 0) ctx->flop_rate = flop / ms; /* long enough to trust */
        } else {
            ctx->report.max_submission_ms = -1;
        }
    }
    if (prof && ctx->vk.vkGetQueryPoolResults(ctx->device, prof, 0, n_q,
                                              (size_t)n_q * sizeof *prof_t, prof_t,
                                              sizeof *prof_t,
                                              VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT) ==
                    VK_SUCCESS)
        ig__vk_phases_add(ctx, b, prof_t, seg);
    *host = readback.buf ? readback.map : result->map;
    if (ctx->dev_want) {
        *host = NULL;
        ctx->dev_out.buffer = (void *)result->buf;
        ctx->dev_out.offset = result->off;
        ctx->dev_out.size = bytes;
    }
fail:
    /* not while a timed-out submission may still write it (left to the device's end) */
    if (prof && !ctx->lost) ctx->vk.vkDestroyQueryPool(ctx->device, prof, NULL);
    free(prof_t);
    free(seg);
    return res;
}

void ig__vk_dev_layout(ig_vk_context *ctx, int height, int width, uint64_t image_stride,
                       uint64_t channel_stride, uint64_t pixel_stride) {
    ctx->dev_out.height = height;
    ctx->dev_out.width = width;
    ctx->dev_out.image_stride = image_stride;
    ctx->dev_out.channel_stride = channel_stride;
    ctx->dev_out.pixel_stride = pixel_stride;
}

/* How long one submission may take before the device counts as hung: INRGAN_VK_FENCE_TIMEOUT
 * (seconds, > 0), else 60 s on a GPU and 600 s on a CPU-type device (lavapipe JIT-compiles
 * pipelines at their first dispatch, and runs slowly under the sanitizers). */
void ig__vk_builder_free(ig__vk_builder *b) {
    /* after a fence timeout the submission may still run and use the sets: the pool is left to
     * the device's destruction (ig_vk_context_destroy waits for the device first) */
    bool pending = b->ctx && b->ctx->lost &&
                   b->ctx->vk.vkGetFenceStatus(b->ctx->device, b->ctx->fence) == VK_NOT_READY;
    if (b->pool && pending && !b->ctx->lost_pool) b->ctx->lost_pool = b->pool;
    else if (b->pool) b->ctx->vk.vkDestroyDescriptorPool(b->ctx->device, b->pool, NULL);
    free(b->sets);
    free(b->d);
    free(b->meta);
    memset(b, 0, sizeof *b);
}

void ig__vk_render_begin(ig_vk_context *ctx) {
    memset(&ctx->report, 0, sizeof ctx->report);
    ctx->report.chunk_limit = "";
    ctx->report.gemm_tiles = "";
    ctx->stats.dispatches = 0;
    ctx->stats.submissions = 0;
    ctx->gpu_ms = 0;
}

ig_result ig__vk_render_end(ig_vk_context *ctx, const ig_render_desc *desc, ig_result res) {
    if (res == IG_OK && desc->gpu_ms) *desc->gpu_ms = ctx->ts_pool ? ctx->gpu_ms : -1.0;
    if (res != IG_OK && !ctx->lost) {
        /* leave a clean context behind: drop the (possibly partial) work buffers */
        ig__vk_wait_idle(ctx);
        ig__vk_arena_free(ctx, &ctx->work);
        ig__vk_arena_free(ctx, &ctx->stage);
    }
    return res;
}

VkResult ig__vk_timestamps_ms(ig_vk_context *ctx, double *ms) {
    uint64_t ts[2];
    VkResult r = ctx->vk.vkGetQueryPoolResults(ctx->device, ctx->ts_pool, 0, 2, sizeof ts, ts, sizeof ts[0],
                                               VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
    if (r != VK_SUCCESS) return r;
    uint64_t mask = ctx->ts_valid_bits >= 64 ? ~0ull : (1ull << ctx->ts_valid_bits) - 1;
    *ms = (double)((ts[1] - ts[0]) & mask) * ctx->props.limits.timestampPeriod * 1e-6;
    return VK_SUCCESS;
}

/* The mapping network of either family (vk_internal.h). */
int ig__vk_plan_mapping(ig__vk_builder *b, const ig_config *c, const ig_vk_buf *map, const uint32_t *map_w,
                        const uint32_t *map_b, uint32_t avg_off, bool trunc, const ig_vk_buf *z, ig_vk_buf *h,
                        uint32_t n, double psi, uint32_t group) {
    double lr = c->mapping_lr_multiplier;
    ig__vk_fc fc = {.in_dim = (uint32_t)c->z_dim, .rows = (uint32_t)c->w_dim, .n = n, .bgain = (float)lr,
                    .psi = (float)psi, .w = map, .bias = map, .x = z, .y_stride = (uint32_t)c->w_dim,
                    .avg_off = avg_off, .group = group};
    int cur = 0, w_buf = 0;
    for (int l = 0; l < c->mapping_layers; l++) {
        bool last = l + 1 == c->mapping_layers;
        fc.flags = (l == 0 ? 1u : 0u) | 2u | (last && trunc ? 4u : 0u);
        fc.wgain = (float)(lr / sqrt((double)fc.in_dim));
        fc.w_off = map_w[l];
        fc.b_off = map_b[l];
        fc.x_stride = fc.in_dim;
        fc.y = &h[cur];
        fc.avg = last && trunc ? map : NULL; /* w_avg is read by the truncation only */
        ig__vk_plan_fc(b, &fc);
        fc.x = fc.y;
        fc.in_dim = fc.rows;
        w_buf = cur;
        cur = 1 - cur;
    }
    return w_buf;
}
