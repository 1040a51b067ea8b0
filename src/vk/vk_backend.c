/* vk_backend.c - the Vulkan backend's entry: ig_vk_prepare, ig_vk_render and the release of the
 * cached uploads go to the model family's entry in the table below (docs/architecture.md,
 * "What a family must provide"). The families are vk_inrgan.c and vk_cips.c; they share the
 * context (vk_ctx.c), memory (vk_mem.c), pipelines (vk_pipe.c) and dispatch lists (vk_disp.c). */
#include "vk_internal.h"

#include "model.h"

static const ig__vk_family ig__vk_families[] = {
    [IG_FAMILY_INRGAN] = {"INR-GAN", ig__vk_inrgan_prepare, ig__vk_inrgan_render, ig__vk_inrgan_release, false},
    [IG_FAMILY_CIPS] = {"CIPS", ig__vk_cips_prepare, ig__vk_cips_render, ig__vk_cips_release, true},
};
enum { IG__VK_N_FAMILIES = sizeof ig__vk_families / sizeof ig__vk_families[0] };

/* Every family's cached uploads (in reverse table order), then the shared work and staging
 * memory: ctx->release_cached. */
static void ig__vk_release_all(ig_vk_context *ctx) {
    for (int f = IG__VK_N_FAMILIES - 1; f >= 0; f--) ig__vk_families[f].release(ctx);
    ig__vk_arena_free(ctx, &ctx->work);
    ig__vk_arena_free(ctx, &ctx->stage);
    ctx->work_size = 0;
}

/* The family of desc's model; INR-GAN's when the request lacks a model or context (its
 * argument checks then report what is missing), NULL for a family this backend lacks. */
static const ig__vk_family *ig__vk_family_of(ig_vk_context *ctx, const ig_render_desc *desc) {
    if (ctx) ctx->release_cached = ig__vk_release_all;
    if (!ctx || !desc || !desc->model) return &ig__vk_families[IG_FAMILY_INRGAN];
    unsigned k = (unsigned)desc->model->cfg.kind;
    return k < IG__VK_N_FAMILIES && ig__vk_families[k].render ? &ig__vk_families[k] : NULL;
}

/* INR-GAN: the level kernel for desc's model shape (vk_choice.c; measures at the first use). */
static ig_result ig__vk_choose(ig_vk_context *ctx, const ig__vk_family *f, const ig_render_desc *desc,
                               ig_error *err) {
    if (f != &ig__vk_families[IG_FAMILY_INRGAN] || !ctx || !desc || !desc->model || !desc->plan)
        return IG_OK; /* the family's own checks report what is missing */
    if (desc->plan->n_levels != desc->model->cfg.n_levels) return IG_OK;
    return ig__vk_kernel_choose(ctx, desc, err);
}

ig_result ig_vk_prepare(ig_vk_context *ctx, const ig_render_desc *desc, ig_error *err) {
    const ig__vk_family *f = ig__vk_family_of(ctx, desc);
    if (!f) return ig_error_set(err, IG_ERR_MODEL_FAMILY, "the Vulkan backend has no family %d", (int)desc->model->cfg.kind);
    ig_result res = ig__vk_choose(ctx, f, desc, err);
    return res == IG_OK ? f->prepare(ctx, desc, err) : res;
}

ig_result ig_vk_render(ig_vk_context *ctx, const ig_render_desc *desc, float *out, ig_error *err) {
    const ig__vk_family *f = ig__vk_family_of(ctx, desc);
    if (!f) return ig_error_set(err, IG_ERR_MODEL_FAMILY, "the Vulkan backend has no family %d", (int)desc->model->cfg.kind);
    ig_result res = ig__vk_choose(ctx, f, desc, err);
    return res == IG_OK ? f->render(ctx, desc, out, err) : res;
}

ig_result ig_vk_render_device(ig_vk_context *ctx, const ig_render_desc *desc,
                              ig_vk_device_output *out, ig_error *err) {
    if (!out) return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "ig_vk_render_device: no output");
    memset(out, 0, sizeof *out);
    if (!ctx) return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "ig_vk_render_device: no context");
    ctx->dev_want = true;
    ctx->dev_batches = 0;
    memset(&ctx->dev_out, 0, sizeof ctx->dev_out);
    float unused; /* the families write no host output while dev_want is set */
    ig_result res = ig_vk_render(ctx, desc, &unused, err);
    ctx->dev_want = false;
    if (res == IG_OK && (ctx->dev_batches != 1 || !ctx->dev_out.buffer || !ctx->dev_out.width))
        res = ig_error_set(err, IG_ERR_VULKAN, "ig_vk_render_device: the render left no device result");
    if (res != IG_OK) return res;
    *out = ctx->dev_out;
    out->count = desc->count;
    return IG_OK;
}

void ig_vk_context_trim(ig_vk_context *ctx) {
    if (!ctx || !ctx->device) return;
    ig__vk_wait_idle(ctx);
    ctx->release_cached = ig__vk_release_all;
    ig__vk_release_all(ctx);
}

const char *ig_vk_render_precision(const ig_vk_context *ctx, const ig_model *model) {
    unsigned k = (unsigned)ig_model_config(model)->kind;
    if (k < IG__VK_N_FAMILIES && ig__vk_families[k].storage_only) /* no cooperative-matrix path */
        return ig_vk_context_precision(ctx) == IG_VK_PRECISION_FP16 ? "fp16" : "fp32";
    return ig_vk_context_coopmat(ctx) ? "coopmat"
           : ig_vk_context_precision(ctx) == IG_VK_PRECISION_FP16 ? "fp16" : "fp32";
}
