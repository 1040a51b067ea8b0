/* model.c - loads a model file: safetensors container -> config -> checked fp32 tensors.
 * Nothing is used before everything is validated (docs/model-format.md, "Load-time checks"). */
#include "model.h"
#include "lower.h"
#include "safetensors.h"
#include "paths.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IG_CONFIG_KEY "inrgan"

/* ---- config ------------------------------------------------------------------------- */

static ig_result ig__get_int(const cJSON *obj, const char *path, const char *key, int lo, int hi,
                             int *out, ig_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v) || floor(v->valuedouble) != v->valuedouble)
        return ig_error_set(err, IG_ERR_MODEL_CONFIG_FIELD, "config: %s%s must be an integer", path, key);
    if (v->valuedouble < lo || v->valuedouble > hi)
        return ig_error_set(err, IG_ERR_MODEL_CONFIG_VALUE, "config: %s%s = %g is outside [%d, %d]",
                            path, key, v->valuedouble, lo, hi);
    *out = (int)v->valuedouble;
    return IG_OK;
}

static ig_result ig__get_bool(const cJSON *obj, const char *path, const char *key, bool *out,
                              ig_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsBool(v))
        return ig_error_set(err, IG_ERR_MODEL_CONFIG_FIELD, "config: %s%s must be true or false", path, key);
    *out = cJSON_IsTrue(v);
    return IG_OK;
}

static ig_result ig__get_number(const cJSON *obj, const char *path, const char *key, double *out,
                                ig_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v))
        return ig_error_set(err, IG_ERR_MODEL_CONFIG_FIELD, "config: %s%s must be a number", path, key);
    if (!isfinite(v->valuedouble))
        return ig_error_set(err, IG_ERR_MODEL_CONFIG_VALUE, "config: %s%s is not finite", path, key);
    *out = v->valuedouble;
    return IG_OK;
}

#define IG_TRY(expr) do { ig_result ig__r = (expr); if (ig__r != IG_OK) return ig__r; } while (0)

static ig_result ig__parse_embedding(const cJSON *e, const char *path, ig_embedding_spec *s,
                                     ig_error *err) {
    if (!cJSON_IsObject(e))
        return ig_error_set(err, IG_ERR_MODEL_CONFIG_FIELD, "config: %sembedding must be an object", path);
    char p[64];
    snprintf(p, sizeof p, "%sembedding.", path);
    IG_TRY(ig__get_int(e, p, "log_freqs", 0, 24, &s->log_freqs, err));
    IG_TRY(ig__get_bool(e, p, "diagonal", &s->diagonal, err));
    IG_TRY(ig__get_int(e, p, "random", 0, 4096, &s->random, err));
    IG_TRY(ig__get_int(e, p, "const", 0, 4096, &s->constant, err));
    s->n_log = s->log_freqs * (s->diagonal ? 4 : 2);
    s->channels = 2 * (s->n_log + s->random) + s->constant;
    if (s->channels == 0)
        return ig_error_set(err, IG_ERR_MODEL_CONFIG_VALUE, "config: %sembedding has no channels", path);
    return IG_OK;
}

static ig_result ig__get_string(const cJSON *obj, const char *key, const char *const *allowed, int n,
                                int *out, ig_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsString(v)) return ig_error_set(err, IG_ERR_MODEL_CONFIG_FIELD, "config: %s must be a string", key);
    for (int i = 0; i < n; i++)
        if (strcmp(v->valuestring, allowed[i]) == 0) {
            *out = i;
            return IG_OK;
        }
    return ig_error_set(err, IG_ERR_MODEL_CONFIG_VALUE, "config: %s '%.48s' is not supported (expected '%s'%s)", key,
                        v->valuestring, allowed[0], n > 1 ? " or another documented value" : "");
}

/* family "cips" (docs/cips.md): CIPSskip; the generic fields are filled as ig_cips_config says. */
static ig_result ig__parse_cips(const cJSON *root, ig_config *c, ig_error *err) {
    ig_cips_config *k = &c->cips;
    static const char *const arch[] = {"CIPSskip", "CIPSres"}, *const coords[] = {"linspace_y_down"},
                             *const samp[] = {"bilinear_border_align_corners_false"},
                             *const noise[] = {"random", "zero"};
    int pick;
    IG_TRY(ig__get_string(root, "arch", arch, 2, &pick, err));
    k->res = pick == 1;
    IG_TRY(ig__get_int(root, "", "size", 4, 4096, &k->size, err));
    if (k->size & (k->size - 1))
        return ig_error_set(err, IG_ERR_MODEL_CONFIG_VALUE, "config: size %d is not a power of two", k->size);
    k->n_pairs = 0;
    for (int s = k->size; s > 2; s >>= 1) k->n_pairs++;
    if (k->n_pairs > IG_MAX_CIPS_PAIRS)
        return ig_error_set(err, IG_ERR_MODEL_CONFIG_VALUE, "config: size %d needs more than %d layer pairs", k->size,
                            IG_MAX_CIPS_PAIRS);
    IG_TRY(ig__get_int(root, "", "coords_size", 2, 16384, &k->coords_size, err));
    IG_TRY(ig__get_int(root, "", "hidden_size", 1, 8192, &k->hidden, err));
    IG_TRY(ig__get_int(root, "", "style_dim", 1, 8192, &c->z_dim, err));
    c->w_dim = c->z_dim;
    IG_TRY(ig__get_int(root, "", "n_mlp", 0, IG_MAX_MAPPING, &c->mapping_layers, err));
    IG_TRY(ig__get_number(root, "", "lr_mlp", &c->mapping_lr_multiplier, err));
    if (!(c->mapping_lr_multiplier > 0))
        return ig_error_set(err, IG_ERR_MODEL_CONFIG_VALUE, "config: lr_mlp must be > 0");
    int emb_size = 0;
    IG_TRY(ig__get_int(root, "", "emb_size", 1, 4096, &emb_size, err));
    if (emb_size != k->size)
        return ig_error_set(err, IG_ERR_MODEL_CONFIG_VALUE, "config: emb_size %d differs from size %d", emb_size,
                            k->size);
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(root, "channels");
    if (!cJSON_IsArray(ch) || cJSON_GetArraySize(ch) != k->n_pairs)
        return ig_error_set(err, IG_ERR_MODEL_CONFIG_FIELD, "config: channels must be an array of %d integers (size %d)",
                            k->n_pairs, k->size);
    for (int i = 0; i < k->n_pairs; i++) {
        const cJSON *v = cJSON_GetArrayItem(ch, i);
        if (!cJSON_IsNumber(v) || floor(v->valuedouble) != v->valuedouble || v->valuedouble < 1 ||
            v->valuedouble > 8192)
            return ig_error_set(err, IG_ERR_MODEL_CONFIG_VALUE, "config: channels[%d] must be an integer in [1, 8192]", i);
        k->channels[i] = (int)v->valuedouble;
    }
    IG_TRY(ig__get_string(root, "coords", coords, 1, &pick, err));
    IG_TRY(ig__get_string(root, "emb_sampling", samp, 1, &pick, err));
    IG_TRY(ig__get_string(root, "noise", noise, 2, &pick, err));
    k->noise_zero = pick == 1;
    IG_TRY(ig__get_number(root, "", "truncation_psi", &c->truncation_psi, err));
    IG_TRY(ig__get_bool(root, "", "has_w_avg", &k->has_w_avg, err));
    if (c->truncation_psi != 1.0 && !k->has_w_avg)
        return ig_error_set(err, IG_ERR_MODEL_CONFIG_VALUE,
                            "config: truncation_psi %g needs w_avg (has_w_avg is false)", c->truncation_psi);
    const cJSON *prov = cJSON_GetObjectItemCaseSensitive(root, "provenance");
    if (prov && !cJSON_IsObject(prov))
        return ig_error_set(err, IG_ERR_MODEL_CONFIG_FIELD, "config: provenance must be an object");
    c->resolution = k->coords_size;
    c->num_ws = 1;
    c->n_blocks = 0;
    c->n_levels = 1;
    c->level_grid[0] = k->coords_size;
    return IG_OK;
}

/* ---- the model families: one entry each (docs/architecture.md, "What a family must provide") ---- */

typedef struct ig__wants ig__wants;
static ig_result ig__parse_inrgan(const cJSON *root, ig_config *c, ig_error *err);
static bool ig__want_inrgan(ig__wants *w, ig_model *m, const ig_lowering *lw);
static bool ig__want_cips(ig__wants *w, ig_model *m, const ig_lowering *lw);
static void ig__init_inrgan(const ig_model *m, ig_tensor *t, uint64_t *state);
static void ig__init_cips(const ig_model *m, ig_tensor *t, uint64_t *state);

/* name: the config's "family"; parse: its fields after format_version and family; want: the
 * tensors a model of the config needs (names, shapes, the slots they fill); init: one tensor's
 * official random initialisation (ig_model_create_random; state is shared across tensors). */
static const struct ig__family {
    const char *name;
    ig_result (*parse)(const cJSON *root, ig_config *c, ig_error *err);
    bool (*want)(ig__wants *w, ig_model *m, const ig_lowering *lw);
    void (*init)(const ig_model *m, ig_tensor *t, uint64_t *state);
} ig__families[] = {
    [IG_FAMILY_INRGAN] = {"inrgan", ig__parse_inrgan, ig__want_inrgan, ig__init_inrgan},
    [IG_FAMILY_CIPS] = {"cips", ig__parse_cips, ig__want_cips, ig__init_cips},
};
enum { IG__N_FAMILIES = sizeof ig__families / sizeof ig__families[0] };

static ig_result ig__parse_config_tree(const cJSON *root, ig_config *c, ig_error *err) {
    memset(c, 0, sizeof *c);
    if (!cJSON_IsObject(root))
        return ig_error_set(err, IG_ERR_MODEL_CONFIG_JSON, "config is not a JSON object");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "format_version");
    if (!cJSON_IsNumber(ver))
        return ig_error_set(err, IG_ERR_MODEL_CONFIG_FIELD, "config: format_version must be an integer");
    if (ver->valuedouble != 1.0)
        return ig_error_set(err, IG_ERR_MODEL_VERSION,
                            "config: format_version %g is not supported (this engine reads 1)",
                            ver->valuedouble);
    c->format_version = 1;
    const cJSON *fam = cJSON_GetObjectItemCaseSensitive(root, "family");
    if (!cJSON_IsString(fam))
        return ig_error_set(err, IG_ERR_MODEL_CONFIG_FIELD, "config: family must be a string");
    for (int k = 0; k < IG__N_FAMILIES; k++)
        if (strcmp(fam->valuestring, ig__families[k].name) == 0) {
            snprintf(c->family, sizeof c->family, "%s", ig__families[k].name);
            c->kind = (ig_family)k;
            return ig__families[k].parse(root, c, err);
        }
    return ig_error_set(err, IG_ERR_MODEL_FAMILY,
                        "config: family '%.32s' is not supported (this engine runs 'inrgan' and 'cips')",
                        fam->valuestring);
}

/* The INR-GAN fields of a config (after format_version and family). */
static ig_result ig__parse_inrgan(const cJSON *root, ig_config *c, ig_error *err) {
    IG_TRY(ig__get_int(root, "", "resolution", 1, 65536, &c->resolution, err));
    IG_TRY(ig__get_int(root, "", "z_dim", 1, 8192, &c->z_dim, err));
    IG_TRY(ig__get_int(root, "", "w_dim", 1, 8192, &c->w_dim, err));
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "mapping");
    if (!cJSON_IsObject(map))
        return ig_error_set(err, IG_ERR_MODEL_CONFIG_FIELD, "config: mapping must be an object");
    IG_TRY(ig__get_int(map, "mapping.", "num_layers", 1, IG_MAX_MAPPING, &c->mapping_layers, err));
    IG_TRY(ig__get_number(map, "mapping.", "lr_multiplier", &c->mapping_lr_multiplier, err));
    if (!(c->mapping_lr_multiplier > 0))
        return ig_error_set(err, IG_ERR_MODEL_CONFIG_VALUE, "config: mapping.lr_multiplier must be > 0");
    IG_TRY(ig__get_int(root, "", "rank", 1, 1024, &c->rank, err));
    const cJSON *up = cJSON_GetObjectItemCaseSensitive(root, "upsampling");
    if (!cJSON_IsString(up))
        return ig_error_set(err, IG_ERR_MODEL_CONFIG_FIELD, "config: upsampling must be a string");
    if (strcmp(up->valuestring, "nearest") == 0) c->upsampling = IG_UP_NEAREST;
    else if (strcmp(up->valuestring, "bilinear") == 0) c->upsampling = IG_UP_BILINEAR;
    else
        return ig_error_set(err, IG_ERR_MODEL_CONFIG_VALUE,
                            "config: upsampling '%.32s' is not nearest or bilinear", up->valuestring);
    IG_TRY(ig__get_bool(root, "", "instance_norm", &c->instance_norm, err));
    IG_TRY(ig__get_int(root, "", "num_ws", 1, 1024, &c->num_ws, err));
    IG_TRY(ig__get_number(root, "", "truncation_psi", &c->truncation_psi, err));
    const cJSON *prov = cJSON_GetObjectItemCaseSensitive(root, "provenance");
    if (prov && !cJSON_IsObject(prov))
        return ig_error_set(err, IG_ERR_MODEL_CONFIG_FIELD, "config: provenance must be an object");

    const cJSON *blocks = cJSON_GetObjectItemCaseSensitive(root, "blocks");
    if (!cJSON_IsArray(blocks))
        return ig_error_set(err, IG_ERR_MODEL_CONFIG_FIELD, "config: blocks must be an array");
    int nb = cJSON_GetArraySize(blocks);
    if (nb < 1 || nb > IG_MAX_BLOCKS)
        return ig_error_set(err, IG_ERR_MODEL_CONFIG_VALUE, "config: %d blocks (1 to %d)", nb, IG_MAX_BLOCKS);
    c->n_blocks = nb;
    for (int i = 0; i < nb; i++) {
        const cJSON *b = cJSON_GetArrayItem(blocks, i);
        ig_block_config *bc = &c->blocks[i];
        char path[32];
        snprintf(path, sizeof path, "blocks[%d].", i);
        if (!cJSON_IsObject(b))
            return ig_error_set(err, IG_ERR_MODEL_CONFIG_FIELD, "config: %s must be an object", path);
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(b, "name");
        if (!cJSON_IsString(name))
            return ig_error_set(err, IG_ERR_MODEL_CONFIG_FIELD, "config: %sname must be a string", path);
        size_t len = strlen(name->valuestring);
        bool ok = len >= 2 && len <= 8 && name->valuestring[0] == 'b';
        for (size_t k = 1; ok && k < len; k++) ok = name->valuestring[k] >= '0' && name->valuestring[k] <= '9';
        if (!ok)
            return ig_error_set(err, IG_ERR_MODEL_CONFIG_VALUE,
                                "config: %sname '%.16s' is not 'b' followed by digits", path, name->valuestring);
        snprintf(bc->name, sizeof bc->name, "%s", name->valuestring);
        for (int k = 0; k < i; k++)
            if (strcmp(c->blocks[k].name, bc->name) == 0)
                return ig_error_set(err, IG_ERR_MODEL_STRUCTURE, "config: block name '%s' used twice", bc->name);
        IG_TRY(ig__get_int(b, path, "grid", 1, 65536, &bc->grid, err));
        IG_TRY(ig__get_int(b, path, "channels", 1, 8192, &bc->channels, err));
        IG_TRY(ig__get_int(b, path, "extra_convs", 0, IG_MAX_EXTRA, &bc->extra_convs, err));
        const cJSON *emb = cJSON_GetObjectItemCaseSensitive(b, "embedding");
        bc->has_embedding = emb != NULL && !cJSON_IsNull(emb);
        if (bc->has_embedding) IG_TRY(ig__parse_embedding(emb, path, &bc->emb, err));
        if (i == 0) {
            if (!bc->has_embedding)
                return ig_error_set(err, IG_ERR_MODEL_STRUCTURE, "config: the first block needs an embedding");
            if (bc->grid > 4096)
                return ig_error_set(err, IG_ERR_MODEL_CONFIG_VALUE, "config: first grid %d is larger than 4096", bc->grid);
            bc->level = 0;
            c->level_grid[0] = bc->grid;
            c->n_levels = 1;
        } else {
            int prev = c->blocks[i - 1].grid;
            if (bc->grid == prev) {
                if (bc->has_embedding)
                    return ig_error_set(err, IG_ERR_MODEL_STRUCTURE,
                                        "config: block %s stays on grid %d but has an embedding", bc->name, prev);
            } else if (bc->grid == 2 * prev) {
                if (!bc->has_embedding)
                    return ig_error_set(err, IG_ERR_MODEL_STRUCTURE,
                                        "config: block %s doubles the grid but has no embedding", bc->name);
                bc->upsamples = true;
                c->level_grid[c->n_levels++] = bc->grid;
            } else {
                return ig_error_set(err, IG_ERR_MODEL_STRUCTURE,
                                    "config: block %s grid %d is neither %d nor %d", bc->name,
                                    bc->grid, prev, 2 * prev);
            }
            bc->level = c->n_levels - 1;
        }
    }
    if (c->blocks[nb - 1].grid != c->resolution)
        return ig_error_set(err, IG_ERR_MODEL_STRUCTURE, "config: resolution %d differs from the last grid %d",
                            c->resolution, c->blocks[nb - 1].grid);
    return IG_OK;
}

/* A config is a few KB; cJSON needs ~40x the text, so longer text is refused before parsing. */
#define IG_CONFIG_MAX_BYTES (1u << 20)

ig_result ig_config_parse(const char *json, ig_config *cfg, ig_error *err) {
    size_t len = strlen(json);
    if (len > IG_CONFIG_MAX_BYTES)
        return ig_error_set(err, IG_ERR_LIMIT, "config is %zu bytes (at most %u)", len, IG_CONFIG_MAX_BYTES);
    cJSON *root = cJSON_Parse(json);
    if (!root) return ig_error_set(err, IG_ERR_MODEL_CONFIG_JSON, "config is not valid JSON");
    ig_result r = ig__parse_config_tree(root, cfg, err);
    cJSON_Delete(root);
    return r;
}

ig_result ig_config_from_json(const char *json, ig_config *cfg, ig_error *err) {
    return ig_config_parse(json, cfg, err);
}

/* ---- tensors -------------------------------------------------------------------------- */

typedef struct ig__want {
    char name[96];
    int ndim;
    int64_t shape[5];
    const ig_tensor **slot;
} ig__want;

typedef struct ig__wants {
    ig__want *v;
    int n, cap;
} ig__wants;

static bool ig__want_add(ig__wants *w, const ig_tensor **slot, int ndim, int64_t d0, int64_t d1,
                         int64_t d2, int64_t d3, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

static bool ig__want_add(ig__wants *w, const ig_tensor **slot, int ndim, int64_t d0, int64_t d1,
                         int64_t d2, int64_t d3, const char *fmt, ...) {
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 64;
        ig__want *v = realloc(w->v, (size_t)cap * sizeof *v);
        if (!v) return false;
        w->v = v;
        w->cap = cap;
    }
    ig__want *x = &w->v[w->n++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->name, sizeof x->name, fmt, ap);
    va_end(ap);
    x->ndim = ndim;
    x->shape[0] = d0; x->shape[1] = d1; x->shape[2] = d2; x->shape[3] = d3;
    x->slot = slot;
    return true;
}

/* A [1, cout, cin, 1, 1] modulated-conv weight (CIPS). */
static bool ig__want_add5(ig__wants *w, const ig_tensor **slot, int64_t cout, int64_t cin, const char *fmt,
                          const char *prefix) {
    if (!ig__want_add(w, slot, 5, 1, cout, cin, 1, fmt, prefix)) return false;
    w->v[w->n - 1].shape[4] = 1;
    return true;
}

/* An INR-GAN op's tensors: W_s, bias and its affine head (s_len rows, lower.h). */
static bool ig__want_layer(ig__wants *w, const ig_config *c, ig_layer *L, const ig_lop *op, const char *prefix) {
    int cin = op->c_in, cout = op->c_out;
    L->c_in = cin;
    L->c_out = cout;
    return ig__want_add(w, &L->weight, 4, cout, cin, 1, 1, "%s.weight", prefix) &&
           ig__want_add(w, &L->bias, 1, cout, 0, 0, 0, "%s.bias", prefix) &&
           ig__want_add(w, &L->affine_w, 2, op->s_len, c->w_dim, 0, 0, "%s.affine.weight", prefix) &&
           ig__want_add(w, &L->affine_b, 1, op->s_len, 0, 0, 0, "%s.affine.bias", prefix);
}

/* A CIPS op's tensors: weight, modulation head (s_len = c_in rows), noise weight and bias. */
static bool ig__want_cips_layer(ig__wants *w, const ig_config *c, ig_cips_layer *L, const ig_lop *op,
                                const char *prefix) {
    bool rgb = op->kind == IG_LOP_TORGB;
    int cin = op->c_in, cout = op->c_out;
    L->c_in = cin;
    L->c_out = cout;
    bool ok = true;
    if (rgb) ok = ig__want_add(w, &L->bias, 4, 1, 3, 1, 1, "%s.bias", prefix);
    ok = ok && ig__want_add5(w, &L->weight, cout, cin, "%s.conv.weight", prefix) &&
         ig__want_add(w, &L->mod_w, 2, op->s_len, c->w_dim, 0, 0, "%s.conv.modulation.weight", prefix) &&
         ig__want_add(w, &L->mod_b, 1, op->s_len, 0, 0, 0, "%s.conv.modulation.bias", prefix);
    if (!rgb)
        ok = ok && ig__want_add(w, &L->noise_w, 1, 1, 0, 0, 0, "%s.noise.weight", prefix) &&
             ig__want_add(w, &L->bias, 1, cout, 0, 0, 0, "%s.activate.bias", prefix);
    return ok;
}

/* The mapping network's tensors (lower.h): fmt names layer l's weight and bias. */
static bool ig__want_mapping(ig__wants *w, ig_model *m, const ig_lowering *lw, const char *wfmt, const char *bfmt,
                             int first) {
    for (int l = 0; l < lw->n_map; l++)
        if (!ig__want_add(w, &m->map_w[l], 2, lw->map_out, lw->map_in[l], 0, 0, wfmt, l + first) ||
            !ig__want_add(w, &m->map_b[l], 1, lw->map_out, 0, 0, 0, bfmt, l + first))
            return false;
    return true;
}

/* CIPS tensors in the released state-dict order (python/inrgan/cips.py expected_shapes): LFF,
 * embedding, the StyledConvs (each CIPSres skip after its block's conv1), the ToRGBs, the
 * mapping. */
static bool ig__want_cips(ig__wants *w, ig_model *m, const ig_lowering *lw) {
    const ig_config *c = &m->cfg;
    const ig_cips_config *k = &c->cips;
    ig_cips_tensors *t = &m->cips;
    int H = k->hidden;
    if (!ig__want_add(w, &t->lff_w, 4, H, 2, 1, 1, "lff.ffm.conv.weight") ||
        !ig__want_add(w, &t->lff_b, 1, H, 0, 0, 0, "lff.ffm.conv.bias") ||
        !ig__want_add(w, &t->emb, 4, 1, H, k->size, k->size, "emb.input"))
        return false;
    char p[48];
    t->n_convs = t->n_rgb = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int q = 0; q < lw->n_ops; q++) {
            const ig_lop *op = &lw->ops[q];
            int i = op->block;
            if (pass == 0 && op->kind == IG_LOP_MODFC) {
                if (k->res && i > 0) snprintf(p, sizeof p, "linears.%d.conv%d", (i + 1) / 2, 2 - i % 2);
                else if (k->res || i > 0) snprintf(p, sizeof p, "linears.%d", k->res ? 0 : i - 1);
                else snprintf(p, sizeof p, "conv1");
                if (!ig__want_cips_layer(w, c, &t->conv[i], op, p)) return false;
                t->n_convs++;
            } else if (pass == 0 && op->kind == IG_LOP_SKIP) {
                if (!ig__want_add(w, &t->skip[i], 4, op->c_out, op->c_in, 1, 1, "linears.%d.skip.0.weight", i + 1))
                    return false;
            } else if (pass == 1 && op->kind == IG_LOP_TORGB) {
                if (k->res) snprintf(p, sizeof p, "to_rgb_last");
                else snprintf(p, sizeof p, "to_rgbs.%d", i);
                if (!ig__want_cips_layer(w, c, &t->rgb[i], op, p)) return false;
                t->n_rgb++;
            }
        }
    if (!ig__want_mapping(w, m, lw, "style.%d.weight", "style.%d.bias", 1)) return false;
    return !k->has_w_avg || ig__want_add(w, &m->w_avg, 1, c->w_dim, 0, 0, 0, "w_avg");
}

/* INR-GAN tensors: per block its embedding's, then its ops' (lower.h), then the mapping. */
static bool ig__want_inrgan(ig__wants *w, ig_model *m, const ig_lowering *lw) {
    const ig_config *c = &m->cfg;
    char p[96];
    for (int q = 0; q < lw->n_ops; q++) {
        const ig_lop *op = &lw->ops[q];
        int i = op->block;
        const ig_block_config *b = &c->blocks[i];
        ig_block_tensors *t = &m->blocks[i];
        if ((q == 0 || lw->ops[q - 1].block != i) && b->has_embedding) { /* the block's first op */
            if (i == 0) snprintf(p, sizeof p, "synthesis.%s.input.input.coord_fuser", b->name);
            else snprintf(p, sizeof p, "synthesis.%s.coord_fuser", b->name);
            if (b->emb.constant > 0 &&
                !ig__want_add(w, &t->const_embs, 4, 1, b->emb.constant, b->grid, b->grid, "%s.const_embs", p))
                return false;
            if (b->emb.n_log > 0 && !ig__want_add(w, &t->log_basis, 2, b->emb.n_log, 2, 0, 0, "%s.log_basis", p))
                return false;
            if (b->emb.random > 0 &&
                !ig__want_add(w, &t->random_basis, 2, b->emb.random, 2, 0, 0, "%s.random_basis", p))
                return false;
        }
        ig_layer *L;
        switch (op->kind) {
        case IG_LOP_CONV0:
            t->has_conv0 = true;
            snprintf(p, sizeof p, "synthesis.%s.conv0", b->name);
            L = &t->conv0;
            break;
        case IG_LOP_CONV1: snprintf(p, sizeof p, "synthesis.%s.conv1", b->name); L = &t->conv1; break;
        case IG_LOP_EXTRA:
            snprintf(p, sizeof p, "synthesis.%s.extra_convs.%d", b->name, op->index);
            L = &t->extra[op->index];
            break;
        default: snprintf(p, sizeof p, "synthesis.%s.torgb", b->name); L = &t->torgb; break;
        }
        if (!ig__want_layer(w, c, L, op, p)) return false;
    }
    if (!ig__want_mapping(w, m, lw, "mapping.fc%d.weight", "mapping.fc%d.bias", 0)) return false;
    return ig__want_add(w, &m->w_avg, 1, c->w_dim, 0, 0, 0, "mapping.w_avg");
}

static bool ig__want_all(ig__wants *w, ig_model *m) {
    ig_lowering *lw = malloc(sizeof *lw);
    if (!lw) return false;
    ig_lower(&m->cfg, lw);
    bool ok = ig__families[m->cfg.kind].want(w, m, lw);
    free(lw);
    return ok;
}

/* Official resample_filter buffers ([4,4], unused by FMM layers) are tolerated and ignored. */
static bool ig__is_resample_filter(const ig_config *c, const ig_st_entry *e) {
    static const char suffix[] = "resample_filter";
    size_t len = strlen(e->name), sl = sizeof suffix - 1;
    if (len <= sl || strcmp(e->name + len - sl, suffix) != 0) return false;
    if (e->ndim != 2 || e->shape[0] != 4 || e->shape[1] != 4) return false;
    for (int i = 0; i < c->n_blocks; i++) {
        char p[64];
        int n = snprintf(p, sizeof p, "synthesis.%s.", c->blocks[i].name);
        if (strncmp(e->name, p, (size_t)n) != 0) continue;
        const char *rest = e->name + n;
        if (strcmp(rest, suffix) == 0 || strcmp(rest, "conv0.resample_filter") == 0 ||
            strcmp(rest, "conv1.resample_filter") == 0)
            return true;
        if (strncmp(rest, "extra_convs.", 12) == 0) {
            char *end;
            long k = strtol(rest + 12, &end, 10);
            if (end != rest + 12 && k >= 0 && k < c->blocks[i].extra_convs &&
                strcmp(end, ".resample_filter") == 0)
                return true;
        }
    }
    return false;
}

static void ig__format_shape(char *buf, size_t len, int ndim, const int64_t *shape) {
    size_t o = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < ndim && o < len; d++)
        o += (size_t)snprintf(buf + o, len - o, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (o < len) snprintf(buf + o, len - o, "]");
}

/* Allocates fp32 storage for the wanted tensors (names copied) and points the slots at it. */
static ig_result ig__model_alloc(ig_model *m, const ig__wants *w, ig_error *err) {
    int64_t total = 0;
    size_t names = 0;
    for (int i = 0; i < w->n; i++) {
        int64_t n = 1;
        for (int d = 0; d < w->v[i].ndim; d++) n *= w->v[i].shape[d];
        total += n;
        names += strlen(w->v[i].name) + 1;
    }
    m->storage = malloc((size_t)(total > 0 ? total : 1) * sizeof(float));
    m->tensors = calloc((size_t)(w->n > 0 ? w->n : 1), sizeof *m->tensors);
    char *nb = malloc(names + 1);
    if (!m->storage || !m->tensors || !nb) {
        free(nb);
        return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "%lld model parameters", (long long)total);
    }
    float *dst = m->storage;
    for (int i = 0; i < w->n; i++) {
        ig_tensor *t = &m->tensors[i];
        size_t l = strlen(w->v[i].name) + 1;
        memcpy(nb, w->v[i].name, l);
        t->name = nb;
        nb += l;
        t->ndim = w->v[i].ndim;
        t->numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            t->shape[d] = w->v[i].shape[d];
            t->numel *= t->shape[d];
        }
        t->data = dst;
        dst += t->numel;
        *w->v[i].slot = t;
    }
    m->n_tensors = w->n;
    return IG_OK;
}

static ig_result ig__model_begin(ig_model **out, const char *json, ig__wants *w, ig_error *err) {
    ig_model *m = calloc(1, sizeof *m);
    *out = m;
    if (!m) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "model struct");
    m->config_json = strdup(json);
    if (!m->config_json) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "config");
    ig_result r = ig_config_parse(json, &m->cfg, err);
    if (r != IG_OK) return r;
    if (!ig__want_all(w, m)) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "tensor list");
    return IG_OK;
}

ig_result ig_model_load(const char *path, ig_model **out, ig_error *err) {
    *out = NULL;
    ig_st_file f;
    ig_result r = ig_st_open(path, &f, err);
    if (r != IG_OK) return ig__default_model_explain(path, r, err);
    ig__wants w = {0};
    ig_model *m = NULL;
    unsigned char *used = NULL; /* entries matched by a wanted tensor */
    const char *json = ig_st_metadata(&f, IG_CONFIG_KEY);
    if (!json) {
        r = ig_error_set(err, IG_ERR_MODEL_NO_CONFIG, "%s: no '%s' key in __metadata__", path, IG_CONFIG_KEY);
        goto fail;
    }
    r = ig__model_begin(&m, json, &w, err);
    if (r != IG_OK) goto fail;
    used = calloc((size_t)(f.count > 0 ? f.count : 1), 1);
    if (!used) {
        r = ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "%s: %d tensor marks", path, f.count);
        goto fail;
    }
    /* every expected tensor present with its shape (ig_st_find: sorted index, O(log n)) */
    for (int i = 0; i < w.n; i++) {
        const ig_st_entry *e = ig_st_find(&f, w.v[i].name);
        if (e) used[e - f.entries] = 1;
        if (!e) {
            r = ig_error_set(err, IG_ERR_MODEL_MISSING_TENSOR, "tensor '%s' is missing", w.v[i].name);
            goto fail;
        }
        bool same = e->ndim == w.v[i].ndim;
        for (int d = 0; same && d < e->ndim; d++) same = e->shape[d] == w.v[i].shape[d];
        if (!same) {
            char got[96], want[96];
            ig__format_shape(got, sizeof got, e->ndim, e->shape);
            ig__format_shape(want, sizeof want, w.v[i].ndim, w.v[i].shape);
            r = ig_error_set(err, IG_ERR_MODEL_WRONG_SHAPE, "tensor '%s' has shape %s, the config needs %s",
                             w.v[i].name, got, want);
            goto fail;
        }
    }
    /* and nothing else */
    for (int i = 0; i < f.count; i++) {
        const ig_st_entry *e = &f.entries[i];
        if (!used[i] && !ig__is_resample_filter(&m->cfg, e)) {
            r = ig_error_set(err, IG_ERR_MODEL_UNEXPECTED_TENSOR,
                             "tensor '%s' is not part of this architecture", e->name);
            goto fail;
        }
    }
    r = ig__model_alloc(m, &w, err);
    if (r != IG_OK) goto fail;
    for (int i = 0; i < m->n_tensors; i++) {
        ig_tensor *t = &m->tensors[i];
        float *dst = (float *)t->data;
        ig_st_read_f32(&f, ig_st_find(&f, t->name), dst);
        for (int64_t k = 0; k < t->numel; k++)
            if (!isfinite(dst[k])) {
                r = ig_error_set(err, IG_ERR_MODEL_NONFINITE, "tensor '%s' holds %s at element %lld", t->name,
                                 isnan(dst[k]) ? "NaN" : "Inf", (long long)k);
                goto fail;
            }
    }
    free(used);
    free(w.v);
    ig_st_close(&f);
    *out = m;
    return IG_OK;
fail:
    free(used);
    free(w.v);
    ig_st_close(&f);
    ig_model_free(m);
    return r;
}

/* ---- random weights (benchmarks without a checkpoint) ------------------------------------ */

static uint64_t ig__sm64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void ig__randn(float *x, int64_t n, double scale, uint64_t *state) {
    for (int64_t k = 0; k < n; k += 2) {
        double u1 = (double)(ig__sm64(state) >> 11) * 0x1.0p-53, u2 = (double)(ig__sm64(state) >> 11) * 0x1.0p-53;
        double r = sqrt(-2.0 * log(1.0 - u1)) * scale;
        x[k] = (float)(r * cos(6.283185307179586 * u2));
        if (k + 1 < n) x[k + 1] = (float)(r * sin(6.283185307179586 * u2));
    }
}

static bool ig__ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* CIPSskip's initialisation (python/inrgan/cips.py): N(0,1) weights and embedding, mapping
 * N(0, 1/lr^2), modulation biases 1, other biases and noise weights 0, LFF U(+-sqrt(9/2)). The
 * noise weights get 0.1 instead of 0 so that benchmarks and tests exercise the noise path. */
static void ig__init_cips(const ig_model *m, ig_tensor *t, uint64_t *state) {
    float *x = (float *)t->data;
    const char *n = t->name;
    if (ig__ends_with(n, "modulation.bias")) {
        for (int64_t k = 0; k < t->numel; k++) x[k] = 1.0f;
    } else if (ig__ends_with(n, "noise.weight")) {
        x[0] = 0.1f;
    } else if (ig__ends_with(n, "bias") || strcmp(n, "w_avg") == 0) {
        memset(x, 0, (size_t)t->numel * sizeof *x);
    } else if (strcmp(n, "lff.ffm.conv.weight") == 0) {
        double a = sqrt(9.0 / 2.0);
        for (int64_t k = 0; k < t->numel; k++)
            x[k] = (float)(a * (2.0 * (double)(ig__sm64(state) >> 11) * 0x1.0p-53 - 1.0));
    } else if (strncmp(n, "style.", 6) == 0 && ig__ends_with(n, "weight")) {
        ig__randn(x, t->numel, 1.0 / m->cfg.mapping_lr_multiplier, state);
    } else {
        ig__randn(x, t->numel, 1.0, state);
    }
}

static void ig__init_inrgan(const ig_model *m, ig_tensor *t, uint64_t *state) {
    float *x = (float *)t->data;
    const char *n = t->name;
    if (ig__ends_with(n, "torgb.affine.bias")) {
        for (int64_t k = 0; k < t->numel; k++) x[k] = 1.0f;
    } else if (ig__ends_with(n, "bias") || ig__ends_with(n, "w_avg")) {
        memset(x, 0, (size_t)t->numel * sizeof *x);
    } else if (ig__ends_with(n, "log_basis")) {
        int rows = (int)t->shape[0];
        bool diag = false;
        for (int b = 0; b < m->cfg.n_blocks; b++)
            if (m->blocks[b].log_basis == t) diag = m->cfg.blocks[b].emb.diagonal;
        int K = rows / (diag ? 4 : 2);
        for (int k = 0; k < K; k++) {
            float f = (float)(1.5707963267948966 * ldexp(1.0, k)), g = f / 2;
            x[2 * k] = 0; x[2 * k + 1] = f;                       /* horizontal: multiplies y */
            x[2 * (K + k)] = f; x[2 * (K + k) + 1] = 0;           /* vertical: multiplies x */
            if (diag) {
                x[2 * (2 * K + k)] = -g; x[2 * (2 * K + k) + 1] = g;
                x[2 * (3 * K + k)] = g; x[2 * (3 * K + k) + 1] = g;
            }
        }
    } else if (ig__ends_with(n, "random_basis")) {
        ig__randn(x, t->numel, sqrt(10.0), state);
    } else if (strncmp(n, "mapping.fc", 10) == 0) {
        ig__randn(x, t->numel, 1.0 / m->cfg.mapping_lr_multiplier, state);
    } else {
        ig__randn(x, t->numel, 1.0, state);
    }
}

ig_result ig_model_create_random(const char *config_json, uint64_t seed, ig_model **out, ig_error *err) {
    *out = NULL;
    ig__wants w = {0};
    ig_model *m = NULL;
    ig_result r = ig__model_begin(&m, config_json, &w, err);
    if (r == IG_OK) r = ig__model_alloc(m, &w, err);
    free(w.v);
    if (r != IG_OK) {
        ig_model_free(m);
        return r;
    }
    /* the official initialisation (reference section 3.4), per family */
    uint64_t state = seed;
    for (int i = 0; i < m->n_tensors; i++) ig__families[m->cfg.kind].init(m, &m->tensors[i], &state);
    *out = m;
    return IG_OK;
}

void ig_model_free(ig_model *m) {
    if (!m) return;
    if (m->tensors && m->n_tensors > 0) free((void *)m->tensors[0].name); /* one block of names */
    free(m->tensors);
    free(m->storage);
    free(m->config_json);
    free(m);
}

const ig_config *ig_model_config(const ig_model *m) { return &m->cfg; }
const char *ig_model_config_json(const ig_model *m) { return m->config_json; }

ig_result ig_model_check_psi(const ig_model *m, double psi, ig_error *err) {
    if (!isfinite(psi)) return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "truncation %g is not finite", psi);
    if (psi != 1.0 && !m->w_avg)
        return ig_error_set(err, IG_ERR_INVALID_ARGUMENT,
                            "truncation %g needs w_avg, which this model file lacks (convert with --w-avg-samples)", psi);
    return IG_OK;
}

const ig_tensor *ig_model_tensor(const ig_model *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}
