/* test_vk_hyper.c - the hypernetwork kernels (fc.comp: mapping layers, INR-GAN affine heads,
 * CIPS styles; wgen.comp: INR-GAN weight generation) at the edges of their blocks, through
 * whole Vulkan renders against the CPU backend (ig_cpu_render), under the validation layer.
 *
 * fc.comp computes 64 rows x 32 images per workgroup in K slices of 32; wgen.comp 32 rows of one
 * image per workgroup, L staged when rank <= 32 and R in slices of WG_RS / rank columns (WG_RS:
 * 6,080 floats on lavapipe). Batches
 * 1, 31, 32, 33 straddle the image block; truncation is on (psi 0.7 toward a random w_avg).
 * Models:
 *   INR-GAN A: z_dim 40, w_dim 72 (K tails, two row blocks of the mapping), rank 3, channels 40
 *              (two wgen row blocks, the second partial; heads of 240 rows: a partial fc block);
 *   INR-GAN B: rank 200 (> 32: L read from s; R in slices of 30 columns on lavapipe, rows up
 *              to 52 wide);
 *   CIPS:      style_dim 72, hidden 40, channels 72,20, w_avg (the fc.comp styles and mapping).
 * Paths: fp32 with the weight pass, fp32 with FMM fused (wgen.comp's row norms only; not for
 * B, whose fused level kernel passes lavapipe's loop limit), fp16 storage (weights written as
 * fp16); INR-GAN A also with a storage range of 32,000 bytes (fc row chunks of 111 rows and
 * image groups of a few images: smaller than a block).
 * Tolerance: max |vk - cpu| <= 1e-4 * max(1, max |cpu|) for fp32, 2e-2 for fp16 (as
 * test_vk_parity.c).
 */
#include "model.h"
#include "vk_test.h"

static const int counts[4] = {1, 31, 32, 33};
#define NMAX 33

/* Renders rd (count set per batch) on a context made from d, against ref; "skip" when the
 * context lacks fp16 storage. */
static void batches(const char *label, const char *path_name, ig_vk_desc d, ig_render_desc rd,
                    const float *ref, size_t img, double tol) {
    ig_error err = {0};
    ig_vk_context *ctx = NULL;
    ig_result r = ig_vk_context_create(&d, &ctx, &err);
    CHECK_MSG(r == IG_OK, "%s %s: context: %s", label, path_name, err.msg);
    if (r != IG_OK) return;
    if (d.precision == IG_VK_PRECISION_FP16 && ig_vk_context_precision(ctx) != IG_VK_PRECISION_FP16) {
        printf("  %s %s: skipped (no 16-bit storage)\n", label, path_name);
        ig_vk_context_destroy(ctx);
        return;
    }
    float *got = malloc((size_t)NMAX * img * sizeof *got);
    for (int k = 0; k < 4 && got; k++) {
        rd.count = counts[k];
        memset(got, 0xff, (size_t)counts[k] * img * sizeof *got);
        r = ig_vk_render(ctx, &rd, got, &err);
        CHECK_MSG(r == IG_OK, "%s %s batch %d: %s", label, path_name, counts[k], err.msg);
        if (r != IG_OK) continue;
        double e = vk_test_compare(got, ref, img * (size_t)counts[k]);
        printf("  %s %s batch %d: max rel error %.3g\n", label, path_name, counts[k], e);
        CHECK_MSG(e <= tol, "%s %s batch %d: error %.3g > %.3g", label, path_name, counts[k], e, tol);
    }
    vk_test_ctx_ok(ctx);
    ig_vk_context_destroy(ctx);
    free(got);
}

/* The CPU reference of NMAX images (each image depends on its own latent only, so the first k
 * are the reference of a batch of k), then every path. */
static void run_model(const char *label, ig_model *m, bool inrgan, bool fused) {
    const ig_config *c = ig_model_config(m);
    ig_plan plan;
    ig_error err = {0};
    ig_result r = ig_plan_init(&plan, c, ig_view_native(), c->resolution, c->resolution, &err);
    CHECK_MSG(r == IG_OK, "%s: plan: %s", label, err.msg);
    if (r != IG_OK) return;
    float *z = vk_test_latents(NMAX, c->z_dim);
    size_t img = (size_t)3 * plan.width * plan.height;
    float *ref = malloc((size_t)NMAX * img * sizeof *ref);
    ig_render_desc rd = {.model = m, .plan = &plan, .z = z, .count = NMAX, .psi = 0.7, .threads = 2};
    r = ig_cpu_render(&rd, ref, &err);
    CHECK_MSG(r == IG_OK, "%s: cpu: %s", label, err.msg);
    if (r == IG_OK) {
        ig_vk_desc d = vk_test_desc();
        d.precision = IG_VK_PRECISION_FP32;
        d.fmm = IG_VK_FMM_PASS;
        batches(label, "fp32", d, rd, ref, img, 1e-4);
        if (inrgan) {
            if (fused) {
                d.fmm = IG_VK_FMM_FUSED;
                batches(label, "fp32-fused", d, rd, ref, img, 1e-4);
                d.fmm = IG_VK_FMM_PASS;
            }
            d.precision = IG_VK_PRECISION_FP16;
            batches(label, "fp16", d, rd, ref, img, 2e-2);
        }
    }
    free(z);
    free(ref);
    ig_plan_free(&plan);
}

static ig_model *inrgan_model(const char *file, int z_dim, int w_dim, int rank, uint64_t seed) {
    vk_test_spec s = {.z_dim = z_dim, .w_dim = w_dim, .map_layers = 2, .rank = rank,
                      .upsampling = "nearest", .instance_norm = 0, .psi = 0.7, .n_blocks = 4};
    s.blocks[0] = (vk_test_block){"b4", 4, 40, 0, 2, 1, 0, 4};
    s.blocks[1] = (vk_test_block){"b8", 4, 40, 0, -1, 0, 0, 0};
    s.blocks[2] = (vk_test_block){"b16", 8, 36, 1, 3, 0, 4, 2};
    s.blocks[3] = (vk_test_block){"b32", 16, 8, 0, 4, 0, 4, 2};
    const char *path = vk_test_path(file);
    CHECK(vk_test_model_write(path, &s, seed) == 0);
    ig_model *m = NULL;
    ig_error err = {0};
    CHECK_MSG(ig_model_load(path, &m, &err) == IG_OK, "%s: %s", file, err.msg);
    return m;
}

static void test_inrgan_blocks(void) {
    ig_model *m = inrgan_model("hyper_a.safetensors", 40, 72, 3, 5);
    if (!m) return;
    run_model("inrgan z40 w72 rank 3", m, true, true);
    ig_model_free(m);
}

static void test_inrgan_rank200(void) {
    ig_model *m = inrgan_model("hyper_b.safetensors", 16, 16, 200, 6);
    if (!m) return;
    run_model("inrgan rank 200", m, true, false);
    ig_model_free(m);
}

/* fc.comp's row chunks and image groups smaller than its blocks: a 32,000-byte storage range */
static void test_inrgan_small_range(void) {
    ig_model *m = inrgan_model("hyper_a.safetensors", 40, 72, 3, 5);
    if (!m) return;
    const ig_config *c = ig_model_config(m);
    ig_plan plan;
    ig_error err = {0};
    ig_result r = ig_plan_init(&plan, c, ig_view_native(), c->resolution, c->resolution, &err);
    CHECK_MSG(r == IG_OK, "plan: %s", err.msg);
    if (r == IG_OK) {
        float *z = vk_test_latents(NMAX, c->z_dim);
        size_t img = (size_t)3 * plan.width * plan.height;
        float *ref = malloc((size_t)NMAX * img * sizeof *ref);
        ig_render_desc rd = {.model = m, .plan = &plan, .z = z, .count = NMAX, .psi = 0.7, .threads = 2};
        CHECK_MSG(ig_cpu_render(&rd, ref, &err) == IG_OK, "cpu: %s", err.msg);
        ig_vk_desc d = vk_test_desc();
        d.cap_buffer_range = 32000;
        batches("inrgan z40 w72, range 32000", "fp32", d, rd, ref, img, 1e-4);
        free(z);
        free(ref);
        ig_plan_free(&plan);
    }
    ig_model_free(m);
}

static bool ends_with(const char *s, const char *tail) {
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

static void test_cips_blocks(void) {
    static const char *cfg =
        "{\"format_version\":1,\"family\":\"cips\",\"arch\":\"CIPSskip\",\"size\":8,\"coords_size\":8,"
        "\"hidden_size\":40,\"style_dim\":72,\"n_mlp\":2,\"lr_mlp\":0.01,\"channels\":[72,20],\"emb_size\":8,"
        "\"coords\":\"linspace_y_down\",\"emb_sampling\":\"bilinear_border_align_corners_false\","
        "\"noise\":\"zero\",\"truncation_psi\":0.7,\"has_w_avg\":true}";
    ig_model *m = NULL;
    ig_error err = {0};
    ig_result r = ig_model_create_random(cfg, 9, &m, &err);
    CHECK_MSG(r == IG_OK, "cips model: %s", err.msg);
    if (r != IG_OK) return;
    /* w_avg and the biases are zero-initialised: random values, so that their offsets matter */
    uint64_t s = 9 * 31 + 5;
    for (int i = 0; i < m->n_tensors; i++) {
        ig_tensor *t = &m->tensors[i];
        float *x = (float *)t->data;
        double scale = 0;
        if (strcmp(t->name, "w_avg") == 0) scale = 0.5;
        else if (strncmp(t->name, "style.", 6) == 0 && ends_with(t->name, "bias")) scale = 30; /* x lr 0.01 */
        else if (ends_with(t->name, "modulation.bias")) scale = 0.2;
        for (int64_t k = 0; k < t->numel && scale > 0; k++) x[k] += (float)(vk_test_randn(&s) * scale);
    }
    run_model("cips style 72 hidden 40", m, false, false);
    ig_model_free(m);
}

int main(void) {
    vk_test_init();
    RUN(test_inrgan_blocks);
    RUN(test_inrgan_rank200);
    RUN(test_inrgan_small_range);
    RUN(test_cips_blocks);
    return TEST_EXIT();
}
