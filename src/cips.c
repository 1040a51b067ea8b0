/* cips.c - CIPS per-plan coordinates and per-image weights, shared by both backends (cips.h). */
#include "cips.h"
#include "ig_parse.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int ig_noise_parse(const char *text, ig_noise *mode, uint32_t *seed, bool *fixed) {
    *fixed = false;
    if (strcmp(text, "zero") == 0) { *mode = IG_NOISE_ZERO; return 0; }
    if (strcmp(text, "seeded") == 0) { *mode = IG_NOISE_SEEDED; return 0; }
    int64_t v; /* the one integer parser: no blanks, signs or junk around the digits */
    if (ig_parse_int64("--noise", text, 0, 2147483647, &v, NULL) != IG_OK) return -1;
    *mode = IG_NOISE_SEEDED;
    *seed = (uint32_t)v;
    *fixed = true;
    return 0;
}

void ig_cips_axes_free(ig_cips_axes *a) {
    free(a->x); free(a->y); free(a->u0); free(a->u1); free(a->v0); free(a->v1);
    free(a->uw); free(a->vw); free(a->col); free(a->row);
    memset(a, 0, sizeof *a);
}

/* One axis: CIPS coordinate (already mapped), embedding taps and weight. */
static void ig__axis(double t, int size, float *coord, int *i0, int *i1, float *w) {
    *coord = (float)t;
    double u = ((t + 1.0) * size - 1.0) / 2.0;
    if (!(u > 0)) u = 0; /* border padding (also catches NaN) */
    if (u > size - 1) u = size - 1;
    int a = (int)floor(u);
    *i0 = a;
    *i1 = a + 1 < size ? a + 1 : a;
    *w = (float)(u - a);
}

ig_result ig_cips_axes_make(const ig_model *m, const ig_plan *plan, ig_cips_axes *a, ig_error *err) {
    memset(a, 0, sizeof *a);
    const ig_level_plan *lp = &plan->levels[0];
    int W = lp->width, H = lp->height, S = m->cfg.cips.size;
    double n = m->cfg.cips.coords_size;
    a->width = W;
    a->height = H;
    a->x = malloc((size_t)W * sizeof *a->x);
    a->u0 = malloc((size_t)W * sizeof(int));
    a->u1 = malloc((size_t)W * sizeof(int));
    a->uw = malloc((size_t)W * sizeof(float));
    a->col = malloc((size_t)W * sizeof(uint32_t));
    a->y = malloc((size_t)H * sizeof *a->y);
    a->v0 = malloc((size_t)H * sizeof(int));
    a->v1 = malloc((size_t)H * sizeof(int));
    a->vw = malloc((size_t)H * sizeof(float));
    a->row = malloc((size_t)H * sizeof(uint32_t));
    if (!a->x || !a->u0 || !a->u1 || !a->uw || !a->col || !a->y || !a->v0 || !a->v1 || !a->vw || !a->row) {
        ig_cips_axes_free(a);
        return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "CIPS coordinates for %dx%d", W, H);
    }
    for (int j = 0; j < W; j++) {
        ig__axis((lp->xs[j] + 1.0) * n / (n - 1.0) - 1.0, S, &a->x[j], &a->u0[j], &a->u1[j], &a->uw[j]);
        a->col[j] = (uint32_t)lp->cols[j];
    }
    for (int i = 0; i < H; i++) {
        ig__axis((1.0 - lp->ys[i]) * n / (n - 1.0) - (n + 1.0) / (n - 1.0), S, &a->y[i], &a->v0[i], &a->v1[i],
                 &a->vw[i]);
        a->row[i] = (uint32_t)lp->rows[i];
    }
    return IG_OK;
}

void ig_cips_input(const ig_model *m, const ig_cips_axes *a, int i, int j, float *out, size_t stride) {
    const ig_cips_tensors *t = &m->cips;
    int Hd = m->cfg.cips.hidden, S = m->cfg.cips.size;
    float x = a->x[j], y = a->y[i];
    const float *B = t->lff_w->data, *c = t->lff_b->data;
    for (int k = 0; k < Hd; k++) out[(size_t)k * stride] = sinf(B[2 * k] * x + B[2 * k + 1] * y + c[k]);
    int u0 = a->u0[j], u1 = a->u1[j], v0 = a->v0[i], v1 = a->v1[i];
    float uw = a->uw[j], vw = a->vw[i];
    for (int k = 0; k < Hd; k++) {
        const float *e = t->emb->data + (size_t)k * S * S;
        float top = e[(size_t)v0 * S + u0] + uw * (e[(size_t)v0 * S + u1] - e[(size_t)v0 * S + u0]);
        float bot = e[(size_t)v1 * S + u0] + uw * (e[(size_t)v1 * S + u1] - e[(size_t)v1 * S + u0]);
        out[(size_t)(Hd + k) * stride] = top + vw * (bot - top);
    }
}

void ig_cips_style(const ig_model *m, const ig_cips_layer *L, const float *w, float *s) {
    int S = m->cfg.w_dim;
    double g = 1.0 / sqrt((double)S);
    for (int i = 0; i < L->c_in; i++) {
        const float *row = L->mod_w->data + (size_t)i * S;
        double acc = 0;
        for (int k = 0; k < S; k++) acc += (double)row[k] * w[k];
        s[i] = (float)(acc * g + L->mod_b->data[i]);
    }
}

void ig_cips_weight(const ig_cips_layer *L, const float *s, bool demod, float *out) {
    int ci = L->c_in;
    float g = (float)(1.0 / sqrt((double)ci));
    for (int o = 0; o < L->c_out; o++) {
        const float *w = L->weight->data + (size_t)o * ci;
        float *r = out + (size_t)o * ci;
        double ss = 0;
        for (int i = 0; i < ci; i++) {
            r[i] = w[i] * g * s[i];
            ss += (double)r[i] * r[i];
        }
        if (demod) {
            float d = (float)(1.0 / sqrt(ss + 1e-8));
            for (int i = 0; i < ci; i++) r[i] *= d;
        }
    }
}
