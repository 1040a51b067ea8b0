/* test_vk_tiles.c - the tile property on the Vulkan backend (lavapipe in CI): random tiles
 * (sizes and offsets, aligned to the coarsest grid and not) of the nearest and the bilinear+IN
 * test models equal the crops of the untiled Vulkan render bit for bit, at the native size, at
 * a size the levels do not divide and in a zoomed-out view. Validation layer on. */
#include "ig_test.h"
#include "vk_test.h"

#include <stdlib.h>
#include <string.h>

static float *vk_plan_render(ig_vk_context *ctx, const ig_model *m, const ig_plan_desc *pd, const float *z,
                             int *w, int *h) {
    ig_plan plan;
    ig_error err = {0};
    if (ig_plan_make(&plan, ig_model_config(m), pd, &err) != IG_OK) {
        CHECK_MSG(0, "plan: %s", err.msg);
        return NULL;
    }
    float *out = malloc((size_t)3 * plan.width * plan.height * sizeof *out);
    ig_render_desc d = {.model = m, .plan = &plan, .z = z, .count = 1, .psi = 0.8};
    CHECK_MSG(ig_vk_render(ctx, &d, out, &err) == IG_OK, "%s", err.msg);
    *w = plan.width;
    *h = plan.height;
    ig_plan_free(&plan);
    return out;
}

static void run(ig_vk_context *ctx, const char *file) {
    ig_model *m;
    ig_error err = {0};
    if (ig_model_load(vk_test_data(file), &m, &err) != IG_OK) {
        CHECK_MSG(0, "%s", err.msg);
        return;
    }
    const ig_config *cfg = ig_model_config(m);
    float z[4096];
    ig_latent_from_seed(21, z, cfg->z_dim);
    int R = cfg->resolution, step = 1 << (cfg->n_levels - 1);
    struct { ig_view v; int W, H; } cases[] = {
        {{-1, -1, 1, 1}, R, R}, {{-1, -1, 1, 1}, R + 5, R - 3}, {{-2.5, -2, 2, 2.5}, 2 * R, R + 6}};
    unsigned seed = 777;
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        ig_plan_desc pd = {.view = cases[k].v, .width = cases[k].W, .height = cases[k].H};
        int W, H;
        float *full = vk_plan_render(ctx, m, &pd, z, &W, &H);
        int same = 0, n = 6;
        for (int t = 0; t < n && full; t++) {
            seed = seed * 1103515245u + 12345u;
            int tw = 1 + (int)(seed >> 8) % W, th = 1 + (int)(seed >> 18) % H;
            seed = seed * 1103515245u + 12345u;
            int x0 = (int)(seed >> 8) % (W - tw + 1), y0 = (int)(seed >> 18) % (H - th + 1);
            if (t % 2 == 0) { x0 = x0 / step * step; y0 = y0 / step * step; }
            ig_plan_desc td = pd;
            td.tile_x = x0; td.tile_y = y0; td.tile_w = tw; td.tile_h = th;
            int w, h;
            float *tile = vk_plan_render(ctx, m, &td, z, &w, &h);
            bool ok = tile && w == tw && h == th;
            for (int c = 0; c < 3 && ok; c++)
                for (int i = 0; i < th && ok; i++)
                    ok = memcmp(full + ((size_t)c * H + y0 + i) * W + x0, tile + ((size_t)c * th + i) * tw,
                                (size_t)tw * sizeof(float)) == 0;
            CHECK_MSG(ok, "%s case %zu: tile %dx%d at (%d,%d) differs from the crop", file, k, tw, th, x0, y0);
            same += ok;
            free(tile);
        }
        printf("  %s case %zu (%dx%d): %d/%d tiles equal their crops bit for bit\n", file, k, W, H, same, n);
        free(full);
    }
    ig_model_free(m);
}

int main(void) {
    vk_test_init();
    ig_vk_desc vd = vk_test_desc();
    ig_vk_context *ctx;
    ig_error err = {0};
    if (ig_vk_context_create(&vd, &ctx, &err) != IG_OK) {
        fprintf(stderr, "no Vulkan device: %s\n", err.msg);
        return 77;
    }
    run(ctx, "golden_tiny.safetensors");
    run(ctx, "tiny_bil.safetensors");
    vk_test_ctx_ok(ctx);
    ig_vk_context_destroy(ctx);
    return TEST_EXIT();
}
