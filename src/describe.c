/* describe.c - the architecture of a config as text (`inrgan info`), one family per function, so
 * front ends print a model without knowing its family. */
#include "inrgan.h"

#include <stdarg.h>
#include <stdio.h>

typedef struct ig__text {
    char *buf;
    size_t len, at;
} ig__text;

static void ig__put(ig__text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ig__put(ig__text *t, const char *fmt, ...) {
    if (t->at >= t->len) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->at, t->len - t->at, fmt, ap);
    va_end(ap);
    if (n > 0) t->at += (size_t)n;
}

static void ig__describe_inrgan(const ig_config *c, ig__text *t) {
    ig__put(t, "fmm:          rank %d, upsampling %s, instance norm %s\n", c->rank,
            c->upsampling == IG_UP_NEAREST ? "nearest" : "bilinear", c->instance_norm ? "on" : "off");
    ig__put(t, "levels:      ");
    for (int l = 0; l < c->n_levels; l++) ig__put(t, " %d²", c->level_grid[l]);
    ig__put(t, "\n");
    for (int i = 0; i < c->n_blocks; i++) {
        const ig_block_config *b = &c->blocks[i];
        ig__put(t, "  %-5s grid %4d  channels %4d  extra convs %d", b->name, b->grid, b->channels, b->extra_convs);
        if (b->has_embedding)
            ig__put(t, "  embedding %d ch (log %d%s, random %d, const %d)", b->emb.channels, b->emb.n_log,
                    b->emb.diagonal ? " incl. diagonal" : "", b->emb.random, b->emb.constant);
        ig__put(t, "\n");
    }
}

static void ig__describe_cips(const ig_config *c, ig__text *t) {
    const ig_cips_config *k = &c->cips;
    ig__put(t, "cips:         %s, Fourier features %d + embedding %d ch at %d², noise %s%s\n",
            k->res ? "CIPSres" : "CIPSskip", k->hidden, k->hidden, k->size, k->noise_zero ? "zero" : "seeded",
            k->has_w_avg ? ", w_avg stored" : "");
    ig__put(t, "layers:       %s %d -> %d", k->res ? "linears.0" : "conv1", 2 * k->hidden, k->channels[0]);
    for (int i = 0; i < k->n_pairs; i++) ig__put(t, ", %s %d: %d", k->res ? "block" : "pair", i, k->channels[i]);
    ig__put(t, k->res ? " (residual blocks, one ToRGB at the end)\n" : " (ToRGB after each pair)\n");
}

size_t ig_config_describe(const ig_config *cfg, char *buf, size_t len) {
    ig__text t = {buf, len, 0};
    if (len) buf[0] = 0;
    ig__put(&t, "family:       %s (format %d)\n", cfg->family, cfg->format_version);
    ig__put(&t, "resolution:   %dx%d\n", cfg->resolution, cfg->resolution);
    ig__put(&t, "latents:      z_dim %d, w_dim %d, mapping %d layers, num_ws %d, default psi %g\n", cfg->z_dim,
            cfg->w_dim, cfg->mapping_layers, cfg->num_ws, cfg->truncation_psi);
    /* the family's own lines, one entry per family */
    static void (*const describe[])(const ig_config *, ig__text *) = {
        [IG_FAMILY_INRGAN] = ig__describe_inrgan,
        [IG_FAMILY_CIPS] = ig__describe_cips,
    };
    if ((unsigned)cfg->kind < sizeof describe / sizeof describe[0]) describe[cfg->kind](cfg, &t);
    return t.at;
}
