/* cpu_backend.c - the CPU backend's entry: the C reference backend and the fallback where no GPU
 * exists. It checks the request and hands it to the model family's render, from the table below
 * (docs/architecture.md, "What a family must provide"). The CPU keeps no state between renders,
 * so a family has no prepare or release step here. */
#include "cpu_internal.h"

static const ig_cpu_family ig__cpu_families[] = {
    [IG_FAMILY_INRGAN] = {"INR-GAN", ig_cpu_inrgan_render}, /* cpu_inrgan.c */
    [IG_FAMILY_CIPS] = {"CIPS", ig_cpu_cips_render},       /* cpu_cips.c */
};

ig_result ig_cpu_render(const ig_render_desc *d, float *out, ig_error *err) {
    if (!d || !d->model || !d->plan || !d->z || d->count < 1 || !out)
        return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "ig_cpu_render: missing model, plan, z or output");
    const ig_config *c = &d->model->cfg;
    if (d->plan->n_levels != c->n_levels)
        return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "plan was made for another model");
    if ((unsigned)c->kind >= sizeof ig__cpu_families / sizeof ig__cpu_families[0] ||
        !ig__cpu_families[c->kind].render)
        return ig_error_set(err, IG_ERR_MODEL_FAMILY, "the CPU backend has no family %d", (int)c->kind);
    int threads = d->threads > 0 ? d->threads : ig_cpu_default_threads();
    return ig__cpu_families[c->kind].render(d, threads, out, err);
}
