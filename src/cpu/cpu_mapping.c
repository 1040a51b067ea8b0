/* cpu_mapping.c - the mapping network on the CPU, shared by the families: z -> w through the
 * MLP, truncation towards w_avg, and interpolation in z (slerp), w or params space. */
#include "cpu_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void ig__mapping(const ig_model *m, const float *z, double psi, bool lerp_at_psi1, float *w_out) {
    const ig_config *c = &m->cfg;
    int n = c->w_dim > c->z_dim ? c->w_dim : c->z_dim;
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    if (!x || !y) { free(x); free(y); memset(w_out, 0, (size_t)c->w_dim * sizeof *w_out); return; }
    double ms = 0;
    for (int k = 0; k < c->z_dim; k++) ms += (double)z[k] * z[k];
    double inv = 1.0 / sqrt(ms / c->z_dim + 1e-8);
    for (int k = 0; k < c->z_dim; k++) x[k] = (float)(z[k] * inv);
    int in = c->z_dim;
    double lr = c->mapping_lr_multiplier;
    for (int l = 0; l < c->mapping_layers; l++) {
        double wg = lr / sqrt((double)in);
        for (int o = 0; o < c->w_dim; o++) {
            const float *row = m->map_w[l]->data + (size_t)o * in;
            double acc = 0;
            for (int k = 0; k < in; k++) acc += (double)row[k] * x[k];
            double v = acc * wg + m->map_b[l]->data[o] * lr;
            y[o] = (float)((v < 0 ? 0.2 * v : v) * 1.4142135623730951);
        }
        memcpy(x, y, (size_t)c->w_dim * sizeof *x);
        in = c->w_dim;
    }
    for (int k = 0; k < c->w_dim; k++) {
        /* CIPS skips the lerp at psi 1, as its reference does; without w_avg psi is 1 (checked) */
        if (!m->w_avg || (!lerp_at_psi1 && psi == 1.0)) { w_out[k] = x[k]; continue; }
        double a = m->w_avg->data[k];
        w_out[k] = (float)(a + psi * (x[k] - a));
    }
    free(x);
    free(y);
}

/* w of every image (after interpolation in z or w space), and of its params-space endpoint. */
void ig_cpu_latents(const ig_render_desc *d, bool lerp_at_psi1, float *ws, float *ws_b, float *zt) {
    const ig_config *c = &d->model->cfg;
    for (int n = 0; n < d->count; n++) {
        const float *za = d->z + (size_t)n * c->z_dim;
        const float *zb = d->z_b ? d->z_b + (size_t)n * c->z_dim : NULL;
        double t = zb ? d->t[n] : 0.0;
        float *w = ws + (size_t)n * c->w_dim;
        if (zb && d->space == IG_SPACE_Z) {
            ig_latent_slerp(za, zb, t, zt, c->z_dim);
            za = zt;
        }
        ig__mapping(d->model, za, d->psi, lerp_at_psi1, w);
        if (zb && d->space == IG_SPACE_W) {
            float *wb = ws_b + (size_t)n * c->w_dim; /* scratch here */
            ig__mapping(d->model, zb, d->psi, lerp_at_psi1, wb);
            for (int k = 0; k < c->w_dim; k++)
                w[k] = t == 0 ? w[k] : t == 1 ? wb[k] : (float)((1 - t) * w[k] + t * wb[k]);
        }
        if (zb && d->space == IG_SPACE_PARAMS) ig__mapping(d->model, zb, d->psi, lerp_at_psi1, ws_b + (size_t)n * c->w_dim);
    }
}
