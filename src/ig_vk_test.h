/* ig_vk_test.h - test hooks of the Vulkan backend (tests/vk, bench_vk): private, not
 * installed; the public API is <inrgan/ig_vk.h>. The matching ig_vk_desc fields
 * (cap_heap_bytes, cap_buffer_range, fail_alloc_at, coopmat_emulate) are still in ig_vk.h. */
#ifndef IG_VK_TEST_H
#define IG_VK_TEST_H

#include "ig_vk.h"

/* ---- test hooks ----------------------------------------------------------------------- */
/* Counts Vulkan allocations/creations made so far; fail_at > 0 makes the fail_at-th one
 * from now fail with VK_ERROR_OUT_OF_DEVICE_MEMORY (0 = never). */
uint32_t ig_vk_alloc_count(const ig_vk_context *ctx);
void ig_vk_set_fail_alloc(ig_vk_context *ctx, int fail_at);
typedef struct ig_vk_mem_stats {
    uint64_t device_bytes;      /* device memory currently allocated */
    uint64_t peak_device_bytes;
    uint32_t blocks;            /* live VkDeviceMemory objects */
    uint32_t max_binding_bytes; /* largest descriptor range bound by the last render */
    uint32_t dispatches;        /* compute dispatches recorded by the last render */
    uint32_t submissions;       /* queue submissions of the last render */
} ig_vk_mem_stats;
void ig_vk_memory_stats(const ig_vk_context *ctx, ig_vk_mem_stats *stats);
/* Drops the cached model/plan uploads and work buffers (frees their device memory). */
void ig_vk_context_trim(ig_vk_context *ctx);
/* The shader variants gated by an extension (IG_SHADER_REQ lines of src/vk/vk_shaders.def):
 * index i < count: *name ("peak_coop_khr"), *requires ("GL_KHR_cooperative_matrix"), *built.
 * Returns the count; i out of range sets nothing. */
int ig_vk_test_gated_shader(int i, const char **name, const char **requires, bool *built);
/* Creates and destroys the pipeline of the gated variant i (workgroup size 64): a compiled-out
 * one must fail with IG_ERR_UNSUPPORTED, naming it. */
ig_result ig_vk_test_gated_pipeline(ig_vk_context *ctx, int i, ig_error *err);

#endif
