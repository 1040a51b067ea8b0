/* test_lower.c - the one lowering (src/lower.h): its counts equal the documented figures
 * (docs/cli.md "Counting conventions", docs/cips.md), its op list is internally consistent, and
 * it agrees with the tensors the loader expects (shapes, parameter count = tensor sizes). */
#include "ig_test.h"
#include "embed.h"
#include "lower.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static ig_lowering g_lw; /* large: static, not on the stack */

static bool load_builtin(const char *name, ig_config *c) {
    char *json = ig_config_builtin(name);
    ig_error err;
    bool ok = json && ig_config_from_json(json, c, &err) == IG_OK;
    free(json);
    return ok;
}

/* Documented figures: parameters (exact), model and executed GFLOP at the native size (to the
 * printed 0.1, and the exact counts behind them). */
static void test_documented_counts(void) {
    static const struct {
        const char *name;
        int64_t params;
        double model, executed;
    } want[] = {
        {"ffhq256", 72436573, 29704060928.0, 21650997248.0},   /* 29.7 / 21.7 GFLOP */
        {"churches256", 68414429, 25409093632.0, 17356029952.0},
        {"cips256", 44317092, 445820960768.0, 445820960768.0}, /* 445.8 GFLOP */
        {"cips256-res", 43027858, 466188500992.0, 466188500992.0}, /* 466.2 GFLOP */
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        ig_config c;
        CHECK_MSG(load_builtin(want[i].name, &c), "%s", want[i].name);
        ig_lower(&c, &g_lw);
        CHECK_MSG(g_lw.params == want[i].params, "%s: %lld", want[i].name, (long long)g_lw.params);
        CHECK(ig_config_param_count(&c) == want[i].params);
        double px[IG_MAX_BLOCKS];
        for (int l = 0; l < g_lw.n_levels; l++) px[l] = (double)g_lw.level_grid[l] * g_lw.level_grid[l];
        CHECK_MSG(ig_lower_flops(&g_lw, px, false) == want[i].model, "%s: %.0f", want[i].name,
                  ig_lower_flops(&g_lw, px, false));
        CHECK(ig_lower_flops(&g_lw, px, true) == want[i].executed);
        CHECK(ig_config_model_flops(&c) == want[i].model && ig_config_executed_flops(&c) == want[i].executed);
    }
    ig_config c;
    CHECK(load_builtin("ffhq256", &c));
    CHECK(fabs(ig_config_model_flops(&c) / 1e9 - 29.7) < 0.05 && fabs(ig_config_executed_flops(&c) / 1e9 - 21.7) < 0.05);
    CHECK(ig_cips_macs_per_pixel(&c) == 0); /* not CIPS */
    CHECK(load_builtin("cips256", &c));
    CHECK(ig_cips_macs_per_pixel(&c) == 3401344.0); /* python: cips.macs_per_pixel */
    CHECK(load_builtin("cips256-res", &c));
    CHECK(ig_cips_macs_per_pixel(&c) == 3556736.0);
}

/* Every built-in config: c_x + c_e = c_in, styles and instance-norm factors contiguous in op
 * order (CIPS: StyledConvs then ToRGBs), levels in order, coarse only on upsampling conv0s. */
static void test_op_list(void) {
    char names[512];
    snprintf(names, sizeof names, "%s", ig_config_builtin_names());
    int n_configs = 0;
    for (char *t = strtok(names, ", "); t; t = strtok(NULL, ", ")) {
        ig_config c;
        CHECK_MSG(load_builtin(t, &c), "%s", t);
        n_configs++;
        ig_lower(&c, &g_lw);
        int64_t s = 0, inv = 0, params = 0;
        int level = 0;
        bool cips = c.kind == IG_FAMILY_CIPS;
        for (int pass = 0; pass < (cips ? 2 : 1); pass++)
            for (int k = 0; k < g_lw.n_ops; k++) {
                const ig_lop *op = &g_lw.ops[k];
                if (cips && (op->kind == IG_LOP_TORGB) != (pass == 1)) continue;
                if (op->s_len == 0) continue;
                CHECK_MSG(op->s_off == s, "%s op %d: styles at %lld, expected %lld", t, k, (long long)op->s_off,
                          (long long)s);
                s += op->s_len;
            }
        CHECK_MSG(s == g_lw.s_stride, "%s", t);
        for (int k = 0; k < g_lw.n_ops; k++) {
            const ig_lop *op = &g_lw.ops[k];
            CHECK(op->c_x + op->c_e == op->c_in && op->c_in > 0 && op->c_out > 0);
            CHECK(op->level >= level && op->level < g_lw.n_levels);
            level = op->level;
            CHECK(!op->coarse || (op->kind == IG_LOP_CONV0 && c.blocks[op->block].upsamples && op->level > 0));
            if (op->kind == IG_LOP_CONV0) CHECK(op->coarse == c.blocks[op->block].upsamples);
            CHECK(op->in_norm == (c.instance_norm && (op->kind == IG_LOP_EXTRA ||
                                                      (op->kind == IG_LOP_CONV1 && op->block > 0))));
            if (op->in_norm) {
                CHECK(op->inv_off == inv);
                inv += op->c_x;
            }
            if (op->kind == IG_LOP_TORGB) CHECK(op->c_out == 3 && op->s_len == op->c_in);
            params += op->params;
        }
        CHECK(inv == g_lw.inv_len);
        for (int l = 0; l < g_lw.n_levels; l++) { /* per level: widest block, widest activation */
            int ch = 3, act = 3, emb = 0;
            for (int i = 0; i < c.n_blocks; i++) {
                if (c.blocks[i].level != l) continue;
                if (c.blocks[i].channels > ch) ch = c.blocks[i].channels;
                int a = i > 0 && c.blocks[i - 1].channels > c.blocks[i].channels ? c.blocks[i - 1].channels
                                                                                   : c.blocks[i].channels;
                if (a > act) act = a;
                if (c.blocks[i].has_embedding) emb = c.blocks[i].emb.channels;
            }
            CHECK_MSG(g_lw.level_channels[l] == ch && g_lw.level_act[l] == act && g_lw.level_emb[l] == emb,
                      "%s level %d", t, l);
        }
        CHECK(params <= g_lw.params);
        if (!cips) {
            int want = 0;
            for (int i = 0; i < c.n_blocks; i++) want += (i > 0) + 1 + c.blocks[i].extra_convs + 1;
            CHECK_MSG(g_lw.n_ops == want, "%s: %d ops, %d expected", t, g_lw.n_ops, want);
        } else {
            int skips = 0;
            for (int i = 0; c.cips.res && i < c.cips.n_pairs; i++)
                skips += c.cips.channels[i] != c.cips.channels[i > 0 ? i - 1 : 0];
            CHECK(g_lw.n_ops == 1 + 1 + 2 * c.cips.n_pairs + skips + (c.cips.res ? 1 : c.cips.n_pairs));
        }
        /* the plan costs equal the config's at the native size */
        ig_plan p;
        ig_error err;
        if (ig_plan_init(&p, &c, ig_view_native(), c.resolution, c.resolution, &err) != IG_OK) { CHECK_MSG(false, "%s: plan", t); continue; }
        CHECK(ig_plan_executed_flops(&p, &c) == ig_config_executed_flops(&c));
        CHECK(ig_plan_model_flops(&p, &c) == ig_config_model_flops(&c));
        ig_plan_free(&p);
    }
    CHECK(n_configs >= 14);
}

static int64_t numel(const ig_tensor *t) { return t ? t->numel : 0; }

static bool shape_is(const ig_tensor *t, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3, int64_t d4) {
    int64_t d[5] = {d0, d1, d2, d3, d4};
    if (!t || t->ndim != ndim) return false;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != d[i]) return false;
    return true;
}

/* The lowering and the loaded model agree: every op's tensors have the op's shapes, the mapping
 * the lowering's, and the parameter count is the sum of the parameter tensors' sizes. */
static void check_model(const char *what, const ig_model *m) {
    const ig_config *c = ig_model_config(m);
    ig_lower(c, &g_lw);
    int64_t buffers = numel(m->w_avg); /* not parameters (docs/cli.md) */
    for (int i = 0; i < c->n_blocks; i++) buffers += numel(m->blocks[i].log_basis) + numel(m->blocks[i].random_basis);
    int64_t total = 0;
    for (int i = 0; i < m->n_tensors; i++) total += m->tensors[i].numel;
    CHECK_MSG(total - buffers == g_lw.params, "%s: tensors hold %lld parameters, the lowering counts %lld", what,
              (long long)(total - buffers), (long long)g_lw.params);
    for (int l = 0; l < g_lw.n_levels && c->kind != IG_FAMILY_CIPS; l++)
        CHECK_MSG(g_lw.level_emb[l] == ig_embed_channels(m, l), "%s level %d", what, l);
    for (int l = 0; l < g_lw.n_map; l++)
        CHECK(shape_is(m->map_w[l], 2, g_lw.map_out, g_lw.map_in[l], 0, 0, 0) &&
              shape_is(m->map_b[l], 1, g_lw.map_out, 0, 0, 0, 0));
    for (int k = 0; k < g_lw.n_ops; k++) {
        const ig_lop *op = &g_lw.ops[k];
        if (c->kind != IG_FAMILY_CIPS) {
            const ig_layer *L = ig_lower_layer(m, op);
            CHECK_MSG(L && L->c_in == op->c_in && L->c_out == op->c_out, "%s op %d", what, k);
            CHECK_MSG(shape_is(L->weight, 4, op->c_out, op->c_in, 1, 1, 0) && shape_is(L->bias, 1, op->c_out, 0, 0, 0, 0) &&
                          shape_is(L->affine_w, 2, op->s_len, c->w_dim, 0, 0, 0) &&
                          shape_is(L->affine_b, 1, op->s_len, 0, 0, 0, 0),
                      "%s op %d: tensor shapes", what, k);
            int64_t n = numel(L->weight) + numel(L->bias) + numel(L->affine_w) + numel(L->affine_b);
            CHECK_MSG(n == op->params, "%s op %d: %lld parameters, lowering %lld", what, k, (long long)n,
                      (long long)op->params);
            if (op->kind == IG_LOP_CONV0) CHECK(m->blocks[op->block].has_conv0);
            continue;
        }
        const ig_cips_tensors *t = &m->cips;
        switch (op->kind) {
        case IG_LOP_LFF:
            CHECK(shape_is(t->lff_w, 4, op->c_out, 2, 1, 1, 0) && numel(t->lff_w) + numel(t->lff_b) == op->params);
            CHECK(shape_is(t->emb, 4, 1, op->c_out, c->cips.size, c->cips.size, 0));
            break;
        case IG_LOP_SKIP:
            CHECK_MSG(shape_is(t->skip[op->block], 4, op->c_out, op->c_in, 1, 1, 0), "%s skip %d", what, op->block);
            break;
        case IG_LOP_MODFC:
        case IG_LOP_TORGB: {
            const ig_cips_layer *L = ig_lower_cips_layer(m, op);
            CHECK_MSG(L && L->c_in == op->c_in && L->c_out == op->c_out &&
                          shape_is(L->weight, 5, 1, op->c_out, op->c_in, 1, 1) &&
                          shape_is(L->mod_w, 2, op->s_len, c->w_dim, 0, 0, 0),
                      "%s op %d: tensor shapes", what, k);
            int64_t n = numel(L->weight) + numel(L->mod_w) + numel(L->mod_b) + numel(L->noise_w) + numel(L->bias);
            CHECK_MSG(n == op->params, "%s op %d: %lld parameters, lowering %lld", what, k, (long long)n,
                      (long long)op->params);
            break;
        }
        default: CHECK_MSG(false, "%s op %d: kind %d in a CIPS lowering", what, k, (int)op->kind);
        }
    }
    if (c->kind == IG_FAMILY_CIPS) {
        int convs = 0, rgbs = 0;
        for (int k = 0; k < g_lw.n_ops; k++) {
            convs += g_lw.ops[k].kind == IG_LOP_MODFC;
            rgbs += g_lw.ops[k].kind == IG_LOP_TORGB;
        }
        CHECK(convs == m->cips.n_convs && rgbs == m->cips.n_rgb);
    }
}

static void test_against_models(void) {
    static const char *const builtins[] = {"tiny-nearest", "tiny-bil", "tiny-churches", "tiny-cips", "tiny-cips-res"};
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
        char *json = ig_config_builtin(builtins[i]);
        ig_model *m = NULL;
        ig_error err;
        CHECK_MSG(json && ig_model_create_random(json, 7, &m, &err) == IG_OK, "%s", builtins[i]);
        if (m) check_model(builtins[i], m);
        ig_model_free(m);
        free(json);
    }
    static const char *const files[] = {"golden_tiny.safetensors", "tiny_bil.safetensors", "tiny_cips.safetensors"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", IG_TEST_DATA, files[i]);
        ig_model *m = NULL;
        ig_error err;
        CHECK_MSG(ig_model_load(path, &m, &err) == IG_OK, "%s", path);
        if (m) check_model(files[i], m);
        ig_model_free(m);
    }
}

/* The one instance-norm policy: a statistics pass for every plan but the whole native image of
 * an instance-norm model, over the native plan of its view. */
static void test_stats_policy(void) {
    ig_config bil, near;
    CHECK(load_builtin("tiny-bil", &bil) && load_builtin("tiny-nearest", &near));
    ig_plan p;
    ig_error err;
    ig_plan_desc sd;
    CHECK(ig_plan_init(&p, &bil, ig_view_native(), bil.resolution, bil.resolution, &err) == IG_OK);
    CHECK(!ig_lower_stats_pass(&bil, &p, &sd));
    ig_plan_free(&p);
    ig_view v = ig_view_center_zoom(0.1, 0.2, 2.0);
    CHECK(ig_plan_init(&p, &bil, v, bil.resolution * 2, bil.resolution, &err) == IG_OK);
    memset(&sd, 0, sizeof sd);
    CHECK(ig_lower_stats_pass(&bil, &p, &sd));
    CHECK(sd.width == bil.resolution && sd.height == bil.resolution && sd.view.x0 == v.x0 && sd.view.y1 == v.y1 &&
          sd.stride == 0 && sd.tile_w == 0);
    CHECK(ig_lower_stats_pass(&bil, &p, NULL));
    CHECK(!ig_lower_stats_pass(&near, &p, NULL));
    ig_plan_free(&p);
    ig_plan_desc tile = {.width = bil.resolution, .height = bil.resolution, .tile_w = 8, .tile_h = 8};
    CHECK(ig_plan_make(&p, &bil, &tile, &err) == IG_OK);
    CHECK(ig_lower_stats_pass(&bil, &p, NULL));
    ig_plan_free(&p);
}

int main(void) {
    RUN(test_documented_counts);
    RUN(test_op_list);
    RUN(test_against_models);
    RUN(test_stats_policy);
    return TEST_EXIT();
}
