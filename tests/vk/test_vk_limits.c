/* test_vk_limits.c - small devices simulated on lavapipe (ig_vk_desc test hooks):
 *  - cap_buffer_range: every descriptor window must stay within the cap; the dispatches split
 *    into row chunks, image groups and row bands, and the result is bit-identical;
 *  - cap_heap_bytes: a batch larger than the budget is split into several submissions (same
 *    result), which ig_vk_render_device refuses (IG_ERR_UNSUPPORTED); a budget too small for one
 *    image fails cleanly with IG_ERR_OUT_OF_DEVICE_MEMORY. Byte counts are measured (device_bytes,
 *    peak), never assumed unrounded: a driver may round each allocation up to its page size, so
 *    the budget leaves half an image of margin. */
#include "vk_test.h"

typedef struct fixture {
    ig_model *m;
    ig_plan plan;
    float *z, *ref, *got;
    size_t n;
    ig_render_desc rd;
} fixture;

static int fixture_init(fixture *f, const char *path, const vk_test_spec *s, int count, int size) {
    memset(f, 0, sizeof *f);
    if (vk_test_model_write(path, s, 21) != 0 || vk_test_load(path, &f->m, &f->plan, size) != 0)
        return -1;
    const ig_config *c = ig_model_config(f->m);
    f->z = vk_test_latents(count, c->z_dim);
    f->n = (size_t)count * 3 * f->plan.width * f->plan.height;
    f->ref = malloc(f->n * sizeof(float));
    f->got = malloc(f->n * sizeof(float));
    f->rd = (ig_render_desc){.model = f->m, .plan = &f->plan, .z = f->z, .count = count,
                             .psi = c->truncation_psi};
    return 0;
}

static void fixture_free(fixture *f) {
    free(f->z);
    free(f->ref);
    free(f->got);
    if (f->m) {
        ig_plan_free(&f->plan);
        ig_model_free(f->m);
    }
}

/* Renders with desc d into out; returns the result and the memory stats. */
static ig_vk_render_report last_report; /* of render_with's render */
static ig_result render_with(const ig_vk_desc *d, fixture *f, float *out, ig_vk_mem_stats *st,
                             ig_error *err) {
    ig_vk_context *ctx = NULL;
    ig_result r = ig_vk_context_create(d, &ctx, err);
    if (r != IG_OK) return r;
    r = ig_vk_render(ctx, &f->rd, out, err);
    ig_vk_memory_stats(ctx, st);
    ig_vk_last_render_report(ctx, &last_report);
    vk_test_ctx_ok(ctx);
    ig_vk_context_destroy(ctx);
    return r;
}

static void capped_range(const char *label, const vk_test_spec *s, int precision, int fmm,
                         bool coop_emu, uint64_t cap, int size) {
    fixture f;
    if (fixture_init(&f, vk_test_path("limits.safetensors"), s, 3, size) != 0) {
        CHECK(0);
        return;
    }
    ig_error err = {0};
    ig_vk_mem_stats st0, st1;
    ig_vk_desc d = vk_test_desc();
    d.precision = precision;
    d.fmm = fmm;
    d.coopmat_emulate = coop_emu;
    CHECK_MSG(render_with(&d, &f, f.ref, &st0, &err) == IG_OK, "%s", err.msg);
    d.cap_buffer_range = cap;
    ig_result r = render_with(&d, &f, f.got, &st1, &err);
    CHECK_MSG(r == IG_OK, "%s: %s", label, err.msg);
    printf("  %s: cap %llu: %u dispatches (uncapped %u), largest window %u bytes (uncapped %u)\n",
           label, (unsigned long long)cap, st1.dispatches, st0.dispatches, st1.max_binding_bytes,
           st0.max_binding_bytes);
    CHECK(st1.max_binding_bytes <= cap);
    CHECK(st1.dispatches > st0.dispatches);
    if (r == IG_OK) {
        double e = vk_test_compare(f.got, f.ref, f.n);
        CHECK_MSG(e == 0, "%s: capped result differs by %.3g", label, e);
    }
    fixture_free(&f);
}

static void test_capped_range_nearest(void) {
    /* 16x16 output: the last level's embedding (26 channels) is 26 KiB, its rgb 3 KiB per
     * image, so 6 KiB windows force row bands there, image groups elsewhere and row chunks of
     * the affine heads; the first level's shared weights (about 4 KiB) still fit */
    vk_test_spec s = vk_test_spec_tiny("nearest", 0, 1);
    capped_range("nearest fp32", &s, IG_VK_PRECISION_FP32, IG_VK_FMM_PASS, false, 6144, 0);
    capped_range("nearest coopmat-emulated", &s, IG_VK_PRECISION_FP16, IG_VK_FMM_PASS, true, 6144, 0);
}

static void test_capped_range_bil(void) {
    vk_test_spec s = vk_test_spec_tiny("bilinear", 1, 1);
    capped_range("bilinear+IN fp32", &s, IG_VK_PRECISION_FP32, IG_VK_FMM_PASS, false, 3072, 0);
    capped_range("bilinear+IN fp16 fused", &s, IG_VK_PRECISION_FP16, IG_VK_FMM_FUSED, false, 3072, 0);
}

static void test_capped_heap(void) {
    vk_test_spec s = vk_test_spec_tiny("nearest", 0, 1);
    fixture f;
    /* 320x320: about 5 MiB of work memory per image, so that half an image of margin below
     * outweighs the rounding of an allocation (a driver may round a buffer up to its page size,
     * 64 KiB to 2 MiB on NVIDIA; lavapipe does not round) */
    if (fixture_init(&f, vk_test_path("limits_heap.safetensors"), &s, 5, 320) != 0) {
        CHECK(0);
        return;
    }
    ig_error err = {0};
    ig_vk_mem_stats st0, st1;
    ig_vk_desc d = vk_test_desc();
    CHECK_MSG(render_with(&d, &f, f.ref, &st0, &err) == IG_OK, "%s", err.msg);
    CHECK(st0.submissions >= 1);
    CHECK_MSG(last_report.chunk_images == 5 && !last_report.chunk_limit[0], "uncapped: chunk %d (%s)",
              last_report.chunk_images, last_report.chunk_limit);
    /* model + embeddings + about two images of work memory */
    uint64_t fixed = 0;
    {
        ig_vk_context *ctx = NULL;
        ig_vk_desc d1 = vk_test_desc();
        if (ig_vk_context_create(&d1, &ctx, &err) == IG_OK) {
            ig_render_desc one = f.rd;
            CHECK(ig_vk_prepare(ctx, &one, &err) == IG_OK);
            ig_vk_mem_stats st;
            ig_vk_memory_stats(ctx, &st);
            fixed = st.device_bytes;
            ig_vk_context_destroy(ctx);
        }
    }
    /* the figures are what the allocations really took (VkMemoryRequirements.size, rounded
     * up by the driver): fixed and the peak include that rounding, per_image an average */
    uint64_t per_image = (st0.peak_device_bytes - fixed) / 5;
    printf("  fixed %llu bytes, %llu per image (peak %llu)\n", (unsigned long long)fixed,
           (unsigned long long)per_image, (unsigned long long)st0.peak_device_bytes);
    d.cap_heap_bytes = fixed + 2 * per_image + per_image / 2;
    ig_result r = render_with(&d, &f, f.got, &st1, &err);
    CHECK_MSG(r == IG_OK, "%s", err.msg);
    printf("  heap cap %llu: %u submissions (uncapped %u), peak %llu bytes\n",
           (unsigned long long)d.cap_heap_bytes, st1.submissions, st0.submissions,
           (unsigned long long)st1.peak_device_bytes);
    CHECK(st1.submissions > st0.submissions);
    CHECK(st1.peak_device_bytes <= d.cap_heap_bytes);
    /* the shrunk batch is reported (inrgan bench prints it), with what shrank it */
    CHECK_MSG(last_report.chunk_images >= 1 && last_report.chunk_images < 5 &&
                  strcmp(last_report.chunk_limit, "device memory budget") == 0,
              "chunk %d (%s)", last_report.chunk_images, last_report.chunk_limit);
    printf("  chunks of %d image(s): %s\n", last_report.chunk_images, last_report.chunk_limit);
    if (r == IG_OK) CHECK(vk_test_compare(f.got, f.ref, f.n) == 0);

    /* the same split batch cannot stay on the device (ig_vk_render_device): a named refusal,
     * and the context renders to the host afterwards */
    {
        ig_vk_context *ctx = NULL;
        if (ig_vk_context_create(&d, &ctx, &err) == IG_OK) {
            ig_vk_device_output out;
            r = ig_vk_render_device(ctx, &f.rd, &out, &err);
            CHECK_MSG(r == IG_ERR_UNSUPPORTED && strstr(err.msg, "more than one batch") && !out.buffer,
                      "split batch on the device: %s: %s", ig_result_name(r), err.msg);
            printf("  heap cap, device output: %s\n", err.msg);
            memset(f.got, 0, f.n * sizeof *f.got);
            CHECK_MSG(ig_vk_render(ctx, &f.rd, f.got, &err) == IG_OK && vk_test_compare(f.got, f.ref, f.n) == 0,
                      "host render after the refusal: %s", err.msg);
            vk_test_ctx_ok(ctx);
            ig_vk_context_destroy(ctx);
        } else {
            CHECK_MSG(0, "context: %s", err.msg);
        }
    }

    /* far too small: a clean out-of-memory error */
    d.cap_heap_bytes = 4096;
    r = render_with(&d, &f, f.got, &st1, &err);
    CHECK_MSG(r == IG_ERR_OUT_OF_DEVICE_MEMORY, "%s: %s", ig_result_name(r), err.msg);
    printf("  heap cap 4096: %s\n", err.msg);
    d.cap_heap_bytes = fixed + 1024;
    r = render_with(&d, &f, f.got, &st1, &err);
    CHECK_MSG(r == IG_ERR_OUT_OF_DEVICE_MEMORY, "%s: %s", ig_result_name(r), err.msg);
    printf("  heap cap model+1KiB: %s\n", err.msg);
    fixture_free(&f);
}

/* llvmpipe stops a shader invocation's loops after 65535 iterations: a model whose level
 * kernel would loop more must be refused there (not rendered wrong). */
static void test_llvmpipe_loop_cap(void) {
    vk_test_spec s = {.z_dim = 16, .w_dim = 16, .map_layers = 2, .rank = 4,
                      .upsampling = "nearest", .psi = 1.0, .n_blocks = 4};
    s.blocks[0] = (vk_test_block){"b4", 8, 128, 0, 2, 1, 0, 8};
    s.blocks[1] = (vk_test_block){"b8", 8, 128, 0, -1, 0, 0, 0};
    s.blocks[2] = (vk_test_block){"b16", 8, 128, 0, -1, 0, 0, 0};
    s.blocks[3] = (vk_test_block){"b32", 8, 128, 0, -1, 0, 0, 0};
    fixture f;
    if (fixture_init(&f, vk_test_path("limits_loops.safetensors"), &s, 1, 0) != 0) {
        CHECK(0);
        return;
    }
    ig_error err = {0};
    ig_vk_mem_stats st;
    ig_vk_desc d = vk_test_desc();
    ig_vk_context *ctx = NULL;
    CHECK_MSG(ig_vk_context_create(&d, &ctx, &err) == IG_OK, "%s", err.msg);
    bool lvp = ctx && strstr(ig_vk_context_summary(ctx), "llvmpipe") != NULL;
    ig_vk_context_destroy(ctx);
    ig_result r = render_with(&d, &f, f.got, &st, &err);
    if (lvp) {
        CHECK_MSG(r == IG_ERR_UNSUPPORTED && strstr(err.msg, "65535"), "%s: %s",
                  ig_result_name(r), err.msg);
        printf("  llvmpipe: %s\n", err.msg);
    } else {
        CHECK_MSG(r == IG_OK, "%s", err.msg); /* GPUs have no such cap */
        ig_render_desc rd = f.rd;
        CHECK(ig_cpu_render(&rd, f.ref, &err) == IG_OK);
        if (r == IG_OK) CHECK(vk_test_compare(f.got, f.ref, f.n) <= 1e-4);
    }
    fixture_free(&f);
}

int main(void) {
    vk_test_init();
    RUN(test_llvmpipe_loop_cap);
    RUN(test_capped_range_nearest);
    RUN(test_capped_range_bil);
    RUN(test_capped_heap);
    return TEST_EXIT();
}
