/* vk_mem.c - device memory.
 *
 * Memory comes in blocks: one VkDeviceMemory with one VkBuffer over all of it (storage +
 * transfer usage). Arenas hand out aligned byte ranges of their blocks by bumping an offset and
 * free all their blocks at once; the render keeps three arenas (model tensors, plan
 * embeddings, per-render work buffers) plus a host-visible staging arena.
 *
 * Limits respected here: maxMemoryAllocationSize per block, and a device-heap budget (80 % of
 * the heap, or the cap_heap_bytes test hook). maxStorageBufferRange is respected by the callers,
 * which bind windows of at most ctx->range bytes (ig__vk_window_of).
 */
#include "vk_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define IG__DEFAULT_BLOCK (64ull << 20)

VkDeviceSize ig__vk_heap_left(const ig_vk_context *ctx) {
    return ctx->heap_used >= ctx->heap_budget ? 0 : ctx->heap_budget - ctx->heap_used;
}

static bool ig__counts_against_budget(const ig_vk_context *ctx, uint32_t type) {
    return ctx->mem_props.memoryTypes[type].heapIndex ==
           ctx->mem_props.memoryTypes[ctx->device_type].heapIndex;
}

static void ig__block_free(ig_vk_context *ctx, ig__vk_block *b) {
    if (!b) return;
    if (b->map) ctx->vk.vkUnmapMemory(ctx->device, b->mem);
    if (b->buf) ctx->vk.vkDestroyBuffer(ctx->device, b->buf, NULL);
    if (b->mem) {
        ctx->vk.vkFreeMemory(ctx->device, b->mem, NULL);
        uint32_t type = b->device ? ctx->device_type : ctx->host_type;
        if (ig__counts_against_budget(ctx, type)) ctx->heap_used -= b->mem_size;
        ctx->blocks--;
    }
    free(b);
}

static ig_result ig__block_new(ig_vk_context *ctx, bool device, VkDeviceSize size,
                               ig__vk_block **out, ig_error *err) {
    ig_result res = IG_OK;
    *out = NULL;
    uint32_t type = device ? ctx->device_type : ctx->host_type;
    bool budgeted = ig__counts_against_budget(ctx, type);
    if (size > ctx->max_alloc)
        return ig_error_set(err, IG_ERR_OUT_OF_DEVICE_MEMORY,
                            "one buffer of %" PRIu64 " bytes exceeds maxMemoryAllocationSize "
                            "(%" PRIu64 " bytes) of %s",
                            (uint64_t)size, (uint64_t)ctx->max_alloc, ctx->info.name);
    if (budgeted && size > ig__vk_heap_left(ctx))
        return ig_error_set(err, IG_ERR_OUT_OF_DEVICE_MEMORY,
                            "device memory budget exceeded: %" PRIu64 " more bytes needed, %" PRIu64
                            " of %" PRIu64 " in use (try a smaller --batch, --size or --tile)",
                            (uint64_t)size, (uint64_t)ctx->heap_used, (uint64_t)ctx->heap_budget);

    ig__vk_block *b = calloc(1, sizeof *b);
    if (!b) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "memory block");
    b->device = device;
    b->size = size;
    VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                              .size = size,
                              .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                                       VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                       VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                              .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    IG_VK_ALLOC(ctx, ctx->vk.vkCreateBuffer(ctx->device, &bci, NULL, &b->buf));
    VkMemoryRequirements req;
    ctx->vk.vkGetBufferMemoryRequirements(ctx->device, b->buf, &req);
    if (!(req.memoryTypeBits & (1u << type))) {
        res = ig_error_set(err, IG_ERR_VULKAN,
                           "storage buffers cannot live in memory type %u of %s", type,
                           ctx->info.name);
        goto fail;
    }
    if (budgeted && req.size > ig__vk_heap_left(ctx)) {
        res = ig_error_set(err, IG_ERR_OUT_OF_DEVICE_MEMORY,
                           "device memory budget exceeded: %" PRIu64 " more bytes needed, %" PRIu64
                           " of %" PRIu64 " in use (try a smaller --batch, --size or --tile)",
                           (uint64_t)req.size, (uint64_t)ctx->heap_used,
                           (uint64_t)ctx->heap_budget);
        goto fail;
    }
    VkMemoryAllocateInfo mai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                                .allocationSize = req.size,
                                .memoryTypeIndex = type};
    VkResult r = ig__vk_inject(ctx) ? VK_ERROR_OUT_OF_DEVICE_MEMORY
                                    : ctx->vk.vkAllocateMemory(ctx->device, &mai, NULL, &b->mem);
    if (r != VK_SUCCESS) {
        char call[96];
        snprintf(call, sizeof call, "vkAllocateMemory(%" PRIu64 " bytes, memory type %u)",
                 (uint64_t)req.size, type);
        res = ig__vk_fail_alloc(ctx, err, r, call, __FILE__, __LINE__);
        goto fail;
    }
    b->mem_size = req.size;
    ctx->blocks++;
    if (budgeted) {
        ctx->heap_used += b->mem_size;
        if (ctx->heap_used > ctx->heap_peak) ctx->heap_peak = ctx->heap_used;
    }
    IG_VK_CHECK(ctx->vk.vkBindBufferMemory(ctx->device, b->buf, b->mem, 0));
    if (ctx->mem_props.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
        void *p = NULL;
        IG_VK_CHECK(ctx->vk.vkMapMemory(ctx->device, b->mem, 0, VK_WHOLE_SIZE, 0, &p));
        b->map = p;
    }
    *out = b;
    return IG_OK;
fail:
    ig__block_free(ctx, b);
    return res;
}

ig_result ig__vk_arena_reserve(ig_vk_context *ctx, ig_vk_arena *arena, VkDeviceSize size,
                               ig_error *err) {
    size = (size + ctx->align - 1) / ctx->align * ctx->align;
    ig__vk_block *h = arena->head;
    if (h) {
        VkDeviceSize at = (h->used + ctx->align - 1) / ctx->align * ctx->align;
        if (at + size <= h->size) return IG_OK;
    }
    ig__vk_block *b;
    ig_result res = ig__block_new(ctx, arena->device, size, &b, err);
    if (res != IG_OK) return res;
    b->next = arena->head;
    arena->head = b;
    return IG_OK;
}

ig_result ig__vk_arena_alloc(ig_vk_context *ctx, ig_vk_arena *arena, VkDeviceSize size,
                             ig_vk_buf *out, ig_error *err) {
    memset(out, 0, sizeof *out);
    if (size < ctx->align) size = ctx->align;
    size = (size + ctx->align - 1) / ctx->align * ctx->align;
    ig__vk_block *h = arena->head;
    VkDeviceSize at = 0;
    if (h) at = (h->used + ctx->align - 1) / ctx->align * ctx->align;
    if (!h || at + size > h->size) {
        VkDeviceSize bs = arena->block_size ? arena->block_size : IG__DEFAULT_BLOCK;
        if (arena->device || ctx->uma) {
            VkDeviceSize left = ig__vk_heap_left(ctx);
            if (bs > left) bs = left;
        }
        if (bs > ctx->max_alloc) bs = ctx->max_alloc;
        if (bs < size) bs = size;
        ig__vk_block *b;
        ig_result res = ig__block_new(ctx, arena->device, bs, &b, err);
        if (res != IG_OK) return res;
        b->next = arena->head;
        arena->head = h = b;
        at = 0;
    }
    h->used = at + size;
    out->buf = h->buf;
    out->off = at;
    out->size = size;
    out->map = h->map ? h->map + at : NULL;
    return IG_OK;
}

void ig__vk_arena_free(ig_vk_context *ctx, ig_vk_arena *arena) {
    ig__vk_block *b = arena->head;
    while (b) {
        ig__vk_block *next = b->next;
        ig__block_free(ctx, b);
        b = next;
    }
    arena->head = NULL;
}

ig_result ig__vk_work_reserve(ig_vk_context *ctx, VkDeviceSize total, ig_error *err) {
    if (!ctx->work.head || ctx->work.head->next || ctx->work.head->size < total) {
        ig__vk_arena_free(ctx, &ctx->work);
        ig_result res = ig__vk_arena_reserve(ctx, &ctx->work, total, err);
        if (res != IG_OK) return res;
    }
    ctx->work.head->used = 0;
    ctx->work_size = total;
    return IG_OK;
}

ig__vk_window ig__vk_window_of(ig_vk_context *ctx, const ig_vk_buf *b, VkDeviceSize byte_off,
                               VkDeviceSize byte_len, uint32_t elem_size, uint32_t *base) {
    IG_VK_ASSERT(byte_off + byte_len <= b->size);
    VkDeviceSize start = b->off + byte_off;
    VkDeviceSize a = start / ctx->align * ctx->align;
    ig__vk_window w = {.buf = b->buf, .off = a, .range = start - a + byte_len};
    if (w.range < 4) w.range = 4; /* an empty window still needs a valid descriptor */
    w.range = (w.range + 3) / 4 * 4;
    IG_VK_ASSERT((start - a) % elem_size == 0);
    IG_VK_ASSERT(w.range <= ctx->range + ctx->align);
    if (base) *base = (uint32_t)((start - a) / elem_size);
    if (w.range > ctx->stats.max_binding_bytes) ctx->stats.max_binding_bytes = (uint32_t)w.range;
    return w;
}

uint64_t ig__vk_fnv(uint64_t h, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

uint64_t ig__vk_model_fp(uint64_t h, const ig_model *m) {
    const char *json = m->config_json ? m->config_json : "";
    h = ig__vk_fnv(h, json, strlen(json));
    h = ig__vk_fnv(h, &m->n_tensors, sizeof m->n_tensors);
    for (int i = 0; i < m->n_tensors; i++) {
        const ig_tensor *t = &m->tensors[i];
        h = ig__vk_fnv(h, t->name, strlen(t->name));
        h = ig__vk_fnv(h, &t->numel, sizeof t->numel);
        int64_t step = t->numel / 32 + 1;
        for (int64_t k = 0; k < t->numel; k += step) h = ig__vk_fnv(h, &t->data[k], sizeof(float));
        if (t->numel) h = ig__vk_fnv(h, &t->data[t->numel - 1], sizeof(float));
    }
    return h;
}

/* ---- uploads through staging (or in place on UMA devices) ------------------------------------ */

/* Returns a host pointer where `bytes` for dst+off must be written. */
ig_result ig__vk_upload_ptr(ig_vk_context *ctx, ig_vk_uploads *ups, const ig_vk_buf *dst,
                                VkDeviceSize off, VkDeviceSize bytes, void **ptr, ig_error *err) {
    if (dst->map) {
        *ptr = dst->map + off;
        return IG_OK;
    }
    if (ups->n == ups->cap) {
        int cap = ups->cap ? 2 * ups->cap : 32;
        ig_vk_upload *u = realloc(ups->u, (size_t)cap * sizeof *u);
        if (!u) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "upload list");
        ups->u = u;
        ups->cap = cap;
    }
    ig_vk_upload *u = &ups->u[ups->n];
    ig_result res = ig__vk_arena_alloc(ctx, &ctx->stage, bytes, &u->src, err);
    if (res != IG_OK) return res;
    u->src.size = bytes;
    u->dst = *dst;
    u->off = off;
    ups->n++;
    *ptr = u->src.map;
    return IG_OK;
}

void ig__vk_record_uploads(ig_vk_context *ctx, const ig_vk_uploads *ups) {
    if (ups->n == 0) return;
    for (int i = 0; i < ups->n; i++) {
        const ig_vk_upload *u = &ups->u[i];
        VkBufferCopy c = {.srcOffset = u->src.off, .dstOffset = u->dst.off + u->off,
                          .size = u->src.size};
        ctx->vk.vkCmdCopyBuffer(ctx->cmd, u->src.buf, u->dst.buf, 1, &c);
    }
    /* the copies above before any shader reads them */
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_SHADER_READ_BIT};
    ctx->vk.vkCmdPipelineBarrier(ctx->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT,
                                 VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, NULL, 0,
                                 NULL);
}

ig_result ig__vk_begin(ig_vk_context *ctx, ig_error *err) {
    ig_result res = IG_OK;
    IG_VK_CHECK(ctx->vk.vkResetCommandBuffer(ctx->cmd, 0));
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    IG_VK_CHECK(ctx->vk.vkBeginCommandBuffer(ctx->cmd, &bi));
    return IG_OK;
fail:
    return res;
}

ig_result ig__vk_end_submit(ig_vk_context *ctx, ig_error *err) {
    ig_result res = IG_OK;
    IG_VK_CHECK(ctx->vk.vkEndCommandBuffer(ctx->cmd));
    return ig__vk_submit_wait(ctx, err);
fail:
    return res;
}

/* Submits pending staging copies (model / plan uploads) and frees the staging memory. */
ig_result ig__vk_flush_uploads(ig_vk_context *ctx, ig_vk_uploads *ups, ig_error *err) {
    ig_result res = IG_OK;
    if (ups->n > 0) {
        res = ig__vk_begin(ctx, err);
        if (res == IG_OK) {
            ig__vk_record_uploads(ctx, ups);
            res = ig__vk_end_submit(ctx, err);
        }
    }
    ig__vk_arena_free(ctx, &ctx->stage);
    ups->n = 0;
    return res;
}

ig_result ig__vk_uploads_end(ig_vk_context *ctx, ig_vk_uploads *ups, ig_result res,
                             ig_error *err) {
    if (res == IG_OK)
        res = ig__vk_flush_uploads(ctx, ups, err);
    else
        ig__vk_arena_free(ctx, &ctx->stage);
    free(ups->u);
    memset(ups, 0, sizeof *ups);
    return res;
}
