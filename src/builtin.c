/* builtin.c - the built-in configurations (the released INR-GAN families and tiny test
 * configs) as config JSON, built by the same rules as python/inrgan/config.py (make_config):
 * blocks b4 ... b<resolution>, channels min(channel_base / res, channel_max), blocks at or below
 * the input grid run on it, an embedding on the first block and on every block that doubles the
 * grid (log_freqs = ceil(log2 grid); "low" options up to low_max_grid, "high" above). A test
 * checks that both sides produce the same JSON. */
#include "inrgan.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ig__emb_opts { bool diagonal; int random, constant; } ig__emb_opts;

typedef struct ig__make {
    int resolution, input_grid, channel_base, channel_max, rank, z_dim, w_dim, mapping_layers;
    bool bilinear;
    int extra_res[4], extra_n[4];
    ig__emb_opts low, high;
    int low_max_grid;
    double psi;
} ig__make;

/* Adds the provenance of a built-in config and prints the JSON (caller frees). */
static char *ig__finish(cJSON *root) {
    cJSON *prov = cJSON_CreateObject();
    cJSON_AddStringToObject(prov, "source", "built-in configuration, random weights");
    cJSON_AddItemToObject(root, "provenance", prov);
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return json;
}

static char *ig__make_config(const ig__make *k) {
    cJSON *root = cJSON_CreateObject(), *map = cJSON_CreateObject(), *blocks = cJSON_CreateArray();
    cJSON_AddNumberToObject(root, "format_version", 1);
    cJSON_AddStringToObject(root, "family", "inrgan");
    cJSON_AddNumberToObject(root, "resolution", k->resolution);
    cJSON_AddNumberToObject(root, "z_dim", k->z_dim);
    cJSON_AddNumberToObject(root, "w_dim", k->w_dim);
    cJSON_AddNumberToObject(map, "num_layers", k->mapping_layers);
    cJSON_AddNumberToObject(map, "lr_multiplier", 0.01);
    cJSON_AddItemToObject(root, "mapping", map);
    cJSON_AddNumberToObject(root, "rank", k->rank);
    cJSON_AddStringToObject(root, "upsampling", k->bilinear ? "bilinear" : "nearest");
    cJSON_AddBoolToObject(root, "instance_norm", k->bilinear);
    int prev = 0, n_fmm = 0;
    for (int r = 4; r <= k->resolution; r *= 2) {
        int grid = r > k->input_grid ? r : k->input_grid, extra = 0;
        for (int e = 0; e < 4; e++)
            if (k->extra_res[e] == r) extra = k->extra_n[e];
        cJSON *b = cJSON_CreateObject();
        char name[16];
        snprintf(name, sizeof name, "b%d", r);
        cJSON_AddStringToObject(b, "name", name);
        cJSON_AddNumberToObject(b, "grid", grid);
        int ch = k->channel_base / r < k->channel_max ? k->channel_base / r : k->channel_max;
        cJSON_AddNumberToObject(b, "channels", ch);
        cJSON_AddNumberToObject(b, "extra_convs", extra);
        if (prev == 0 || grid == 2 * prev) {
            const ig__emb_opts *o = grid <= k->low_max_grid ? &k->low : &k->high;
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "log_freqs", (int)ceil(log2((double)grid)));
            cJSON_AddBoolToObject(e, "diagonal", o->diagonal);
            cJSON_AddNumberToObject(e, "random", o->random);
            cJSON_AddNumberToObject(e, "const", o->constant);
            cJSON_AddItemToObject(b, "embedding", e);
        }
        n_fmm += (prev == 0 ? 1 : 2) + extra;
        cJSON_AddItemToArray(blocks, b);
        prev = grid;
    }
    cJSON_AddNumberToObject(root, "num_ws", n_fmm + 1);
    cJSON_AddNumberToObject(root, "truncation_psi", k->psi);
    cJSON_AddItemToObject(root, "blocks", blocks);
    return ig__finish(root);
}

/* CIPS configs (python/inrgan/cips.py cips_config): cips256 is the released churches / ffhq256
 * architecture (CIPSskip, hidden 512, channels 512 x5, 256, 128), cips1024 the same on the
 * 1024 grid of ffhq1024, cips256-res the landscapes one (CIPSres), tiny-cips(-res) test models. */
static char *ig__cips_config(const char *arch, int size, int coords_size, int hidden, int style_dim, int n_mlp,
                             const int *channels, int n_pairs) {
    cJSON *root = cJSON_CreateObject(), *ch = cJSON_CreateArray();
    cJSON_AddNumberToObject(root, "format_version", 1);
    cJSON_AddStringToObject(root, "family", "cips");
    cJSON_AddStringToObject(root, "arch", arch);
    cJSON_AddNumberToObject(root, "size", size);
    cJSON_AddNumberToObject(root, "coords_size", coords_size);
    cJSON_AddNumberToObject(root, "hidden_size", hidden);
    cJSON_AddNumberToObject(root, "style_dim", style_dim);
    cJSON_AddNumberToObject(root, "n_mlp", n_mlp);
    cJSON_AddNumberToObject(root, "lr_mlp", 0.01);
    for (int i = 0; i < n_pairs; i++) cJSON_AddItemToArray(ch, cJSON_CreateNumber(channels[i]));
    cJSON_AddItemToObject(root, "channels", ch);
    cJSON_AddNumberToObject(root, "emb_size", size);
    cJSON_AddStringToObject(root, "coords", "linspace_y_down");
    cJSON_AddStringToObject(root, "emb_sampling", "bilinear_border_align_corners_false");
    cJSON_AddStringToObject(root, "noise", "random");
    cJSON_AddNumberToObject(root, "truncation_psi", 1.0);
    cJSON_AddBoolToObject(root, "has_w_avg", false);
    return ig__finish(root);
}

static const char *const ig__names =
    "ffhq256, bedrooms256, churches256, ffhq256-bil, bedrooms256-bil, churches256-bil, "
    "tiny-nearest, tiny-bil, tiny-churches, cips256, cips1024, cips256-res, tiny-cips, tiny-cips-res";

const char *ig_config_builtin_names(void) { return ig__names; }

char *ig_config_builtin(const char *name) {
    ig__make k = {0};
    char base[32];
    snprintf(base, sizeof base, "%s", name);
    size_t len = strlen(base);
    bool bil = len > 4 && strcmp(base + len - 4, "-bil") == 0;
    if (bil) base[len - 4] = 0;
    if (!strcmp(base, "ffhq256") || !strcmp(base, "bedrooms256") || !strcmp(base, "churches256")) {
        bool churches = !strcmp(base, "churches256"), bedrooms = !strcmp(base, "bedrooms256");
        k = (ig__make){256, 32, 32768, 512, 10, 512, 512, 2, bil, {0}, {0},
                       {true, 0, 128}, {false, 32, 64}, 64, 1.0};
        if (bil || !churches) {
            k.extra_res[0] = 128; k.extra_n[0] = 1;
            k.extra_res[1] = 256; k.extra_n[1] = 1;
        }
        if (bedrooms) k.psi = bil ? 0.95 : 0.9;
        return ig__make_config(&k);
    }
    if (!strcmp(name, "tiny-nearest") || !strcmp(name, "tiny-bil") || !strcmp(name, "tiny-churches")) {
        k = (ig__make){32, 8, 256, 16, 3, 32, 16, 2, !strcmp(name, "tiny-bil"), {0}, {0},
                       {true, 0, 8}, {false, 4, 4}, 8, 1.0};
        if (strcmp(name, "tiny-churches")) {
            k.extra_res[0] = 16; k.extra_n[0] = 1;
            k.extra_res[1] = 32; k.extra_n[1] = 2;
        }
        return ig__make_config(&k);
    }
    static const int cips_ch[7] = {512, 512, 512, 512, 512, 256, 128}, tiny_ch[3] = {32, 32, 16};
    if (!strcmp(name, "cips256") || !strcmp(name, "cips1024"))
        return ig__cips_config("CIPSskip", 256, !strcmp(name, "cips256") ? 256 : 1024, 512, 512, 8, cips_ch, 7);
    if (!strcmp(name, "cips256-res")) /* the landscapes architecture */
        return ig__cips_config("CIPSres", 256, 256, 512, 512, 8, cips_ch, 7);
    if (!strcmp(name, "tiny-cips") || !strcmp(name, "tiny-cips-res"))
        return ig__cips_config(strcmp(name, "tiny-cips") ? "CIPSres" : "CIPSskip", 16, 16, 32, 32, 2, tiny_ch, 3);
    return NULL;
}
