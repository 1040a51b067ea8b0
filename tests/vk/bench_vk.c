/* bench_vk.c - throughput of the Vulkan backend, with an optional check against the CPU backend.
 *
 *   bench_vk [--config tiny|churches|ffhq|ffhq-bil|CIPS | --model FILE] [--size N] [--batch N]
 *            [--iters N] [--paths fp32,fp32-fused,gemm,gemm-f16,gemm-coop,fused,fused16,fp16,
 *            coopmat] [--gpu NAME] [--validate] [--check] [--require-coopmat]
 *
 * --config writes a random model of that architecture (reference section 1.9) into the test
 * scratch folder ($INRGAN_TEST_TMP) first; CIPS: a built-in CIPS config (cips256, cips256-res,
 * tiny-cips, tiny-cips-res, ...: src/builtin.c) as a random model in memory (seeded noise). On
 * a CIPS model, paths fp32 / gemm must run cips-gemm, fp16 / gemm-f16 cips-gemm-f16, gemm-coop
 * cips-gemm-coop-khr (else cips-gemm-f16: unavailable), gemm-coop-emulated cips-gemm-coop-emu
 * (the CIPS kernels on the gemm kernel's tile sets, src/vk/vk_cips.c). For each path: context, ig_vk_prepare (uploads,
 * pipelines), one warm-up render (its time is reported: it includes driver JIT), then --iters
 * timed renders of --batch images. Output, one line per path:
 *   bench path=fp16 device="..." config=ffhq size=256 batch=32 img/s=... ms/img=... TFLOP/s=...
 * Paths gemm / gemm-f16: the tiled-GEMM level kernel (IG_VK_KERNEL_GEMM), fp32 / fp16 storage;
 * the line says which level kernel really ran (kernel=...), and one that fell back fails.
 * Path gemm-coop: the gemm kernel's cooperative-matrix tile set (INRGAN_VK_GEMM_TILE=coop, fp16),
 * kernel gemm-coop-khr; gemm-coop-emulated: its scalar twin (INRGAN_VK_COOP_EMU=1).
 * Path fused: fp32 with the fused level kernel (IG_VK_KERNEL_FUSED: the gemm kernel, levels that
 * fit shared memory in one dispatch each); fails when neither it nor gemm ran (a model with no
 * level narrow enough runs gemm, which is what fused means for it). Path fused16: the same with
 * fp16 activations in shared memory (IG_VK_KERNEL_FUSED16; checked at 2e-2).
 * --require-coopmat: paths coopmat and gemm-coop fail when the device has no cooperative
 * matrices, and when the level kernel that ran was not the cooperative-matrix one
 * (ig_vk_level_kernel_used: coopmat, gemm-coop-khr; gemm-coop-emulated: gemm-coop-emu).
 * --check renders the batch's first image with ig_cpu_render and fails (exit 1) when the error
 * exceeds 1e-4 (fp32) or 2e-2 (fp16, coopmat) of max(1, max|ref|). Timings are wall clock around
 * ig_vk_render (upload of z, submission, wait, readback, layout change on the host).
 */
#include "vk_test.h"

#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static vk_test_spec spec_for(const char *name) {
    if (strcmp(name, "tiny") == 0) return vk_test_spec_tiny("nearest", 0, 1);
    bool bil = strcmp(name, "ffhq-bil") == 0, churches = strcmp(name, "churches") == 0;
    int extra = churches ? 0 : 1;
    vk_test_spec s = {.z_dim = 512, .w_dim = 512, .map_layers = 2, .rank = 10,
                      .upsampling = bil ? "bilinear" : "nearest", .instance_norm = bil,
                      .psi = 1.0, .n_blocks = 7};
    s.blocks[0] = (vk_test_block){"b4", 32, 512, 0, 5, 1, 0, 128};
    s.blocks[1] = (vk_test_block){"b8", 32, 512, 0, -1, 0, 0, 0};
    s.blocks[2] = (vk_test_block){"b16", 32, 512, 0, -1, 0, 0, 0};
    s.blocks[3] = (vk_test_block){"b32", 32, 512, 0, -1, 0, 0, 0};
    s.blocks[4] = (vk_test_block){"b64", 64, 512, 0, 6, 1, 0, 128};
    s.blocks[5] = (vk_test_block){"b128", 128, 256, extra, 7, 0, 32, 64};
    s.blocks[6] = (vk_test_block){"b256", 256, 128, extra, 8, 0, 32, 64};
    return s;
}

int main(int argc, char **argv) {
    const char *config = "tiny", *model_path = NULL, *paths = "fp32,fp16", *gpu = NULL;
    int size = 0, batch = 4, iters = 3;
    bool check = false, validate = false, require_coop = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--config") == 0 && v) config = v, i++;
        else if (strcmp(a, "--model") == 0 && v) model_path = v, i++;
        else if (strcmp(a, "--size") == 0 && v) size = atoi(v), i++;
        else if (strcmp(a, "--batch") == 0 && v) batch = atoi(v), i++;
        else if (strcmp(a, "--iters") == 0 && v) iters = atoi(v), i++;
        else if (strcmp(a, "--paths") == 0 && v) paths = v, i++;
        else if (strcmp(a, "--gpu") == 0 && v) gpu = v, i++;
        else if (strcmp(a, "--check") == 0) check = true;
        else if (strcmp(a, "--validate") == 0) validate = true;
        else if (strcmp(a, "--require-coopmat") == 0) require_coop = true;
        else {
            fprintf(stderr, "bench_vk: unknown argument %s (see the comment at the top of "
                            "tests/vk/bench_vk.c)\n", a);
            return 2;
        }
    }
    vk_test_init();
    if (!gpu) gpu = vk_test_gpu;
    if (batch < 1) batch = 1;
    if (iters < 1) iters = 1;
    char path[512];
    ig_model *m = NULL;
    ig_plan plan;
    bool cips = !model_path && (strncmp(config, "cips", 4) == 0 || strncmp(config, "tiny-cips", 9) == 0);
    static const uint32_t seeds[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    if (cips) { /* a built-in CIPS config, random weights, in memory */
        char *json = ig_config_builtin(config);
        ig_error e0 = {0};
        if (!json || ig_model_create_random(json, 1234, &m, &e0) != IG_OK) {
            fprintf(stderr, "bench_vk: CIPS config %s: %s\n", config, json ? e0.msg : "unknown");
            free(json);
            return 1;
        }
        free(json);
        int s = size ? size : ig_model_config(m)->resolution;
        if (ig_plan_init(&plan, ig_model_config(m), ig_view_native(), s, s, &e0) != IG_OK) {
            fprintf(stderr, "bench_vk: plan: %s\n", e0.msg);
            ig_model_free(m);
            return 1;
        }
        snprintf(path, sizeof path, "%s", config);
        model_path = path;
    }
    if (!model_path) {
        char name[96];
        snprintf(name, sizeof name, "bench_%s.safetensors", config);
        snprintf(path, sizeof path, "%s", vk_test_path(name));
        vk_test_spec s = spec_for(config);
        double t0 = now();
        if (vk_test_model_write(path, &s, 1234) != 0) {
            fprintf(stderr, "bench_vk: cannot write %s\n", path);
            return 1;
        }
        fprintf(stderr, "bench_vk: wrote %s in %.1f s\n", path, now() - t0);
        model_path = path;
    }
    if (!cips && vk_test_load(model_path, &m, &plan, size) != 0) return 1;
    cips = ig_model_config(m)->kind == IG_FAMILY_CIPS;
    const ig_config *c = ig_model_config(m);
    float *z = vk_test_latents(batch, c->z_dim);
    size_t img = (size_t)3 * plan.width * plan.height;
    float *out = malloc((size_t)batch * img * sizeof *out), *ref = NULL;
    double flops = ig_config_model_flops(c) * ((double)plan.width * plan.height) /
                   ((double)c->resolution * c->resolution);
    ig_render_desc rd = {.model = m, .plan = &plan, .z = z, .count = batch,
                         .psi = c->truncation_psi};
    uint32_t *nseed = NULL; /* CIPS: seeded noise, one seed per image */
    if (cips) {
        nseed = malloc((size_t)batch * sizeof *nseed);
        for (int i = 0; i < batch; i++) nseed[i] = seeds[i % 8] + 8u * (uint32_t)(i / 8);
        rd.noise = IG_NOISE_SEEDED;
        rd.noise_seed = nseed;
    }
    ig_error err = {0};
    int failures = 0;
    if (check) {
        ref = malloc(img * sizeof *ref);
        ig_render_desc one = rd;
        one.count = 1;
        double t0 = now();
        if (ig_cpu_render(&one, ref, &err) != IG_OK) {
            fprintf(stderr, "bench_vk: cpu: %s\n", err.msg);
            return 1;
        }
        printf("cpu reference: 1 image in %.2f s\n", now() - t0);
    }
    char list[256];
    snprintf(list, sizeof list, "%s", paths);
    char *save = NULL;
    for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        ig_vk_desc d = {.gpu = gpu, .allow_cpu_device = true, .validate = validate,
                        .cache_dir = NULL};
        double tol = 1e-4;
        if (strcmp(tok, "fp32") == 0) {
        } else if (strcmp(tok, "fp32-fused") == 0) {
            d.fmm = IG_VK_FMM_FUSED;
        } else if (strcmp(tok, "gemm") == 0) {
            d.level_kernel = IG_VK_KERNEL_GEMM;
        } else if (strcmp(tok, "fused") == 0) {
            d.level_kernel = IG_VK_KERNEL_FUSED;
        } else if (strcmp(tok, "fused16") == 0) {
            d.level_kernel = IG_VK_KERNEL_FUSED16, tol = 2e-2;
        } else if (strcmp(tok, "gemm-f16") == 0) {
            d.level_kernel = IG_VK_KERNEL_GEMM;
            d.precision = IG_VK_PRECISION_FP16, tol = 2e-2;
        } else if (strcmp(tok, "gemm-coop") == 0 || strcmp(tok, "gemm-coop-emulated") == 0) {
            d.level_kernel = IG_VK_KERNEL_GEMM;
            d.precision = IG_VK_PRECISION_FP16, tol = 2e-2;
        } else if (strcmp(tok, "fp16") == 0) {
            d.precision = IG_VK_PRECISION_FP16, tol = 2e-2;
        } else if (strcmp(tok, "coopmat") == 0) {
            d.precision = IG_VK_PRECISION_FP16, d.coopmat = true, tol = 2e-2;
        } else if (strcmp(tok, "coopmat-emulated") == 0) {
            d.precision = IG_VK_PRECISION_FP16, d.coopmat_emulate = true, tol = 2e-2;
        } else {
            fprintf(stderr, "bench_vk: unknown path %s\n", tok);
            failures++;
            continue;
        }
        /* the gemm kernel's cooperative-matrix tile set (emulated: its scalar twin) */
        bool gcoop = strncmp(tok, "gemm-coop", 9) == 0;
        const char *want = strcmp(tok, "gemm-coop") == 0            ? "gemm-coop-khr"
                           : strcmp(tok, "gemm-coop-emulated") == 0 ? "gemm-coop-emu"
                                                                     : tok;
        char cwant[32]; /* CIPS: the cips-gemm kernel of the path's precision and tile set */
        if (cips) {
            snprintf(cwant, sizeof cwant, "cips-%s",
                     gcoop ? want : d.precision == IG_VK_PRECISION_FP16 ? "gemm-f16" : "gemm");
            want = cwant;
        }
        if (gcoop) setenv("INRGAN_VK_GEMM_TILE", "coop", 1);
        if (strcmp(tok, "gemm-coop-emulated") == 0) setenv("INRGAN_VK_COOP_EMU", "1", 1);
        ig_vk_context *ctx = NULL;
        ig_result cr = ig_vk_context_create(&d, &ctx, &err);
        if (gcoop) unsetenv("INRGAN_VK_GEMM_TILE");
        unsetenv("INRGAN_VK_COOP_EMU");
        if (cr != IG_OK) {
            printf("bench path=%s: context: %s\n", tok, err.msg);
            failures++;
            continue;
        }
        const char *summary = ig_vk_context_summary(ctx);
        if (strcmp(tok, "coopmat") == 0 && !ig_vk_context_coopmat(ctx)) {
            printf("bench path=coopmat: cooperative matrices unavailable: %s\n", summary);
            if (require_coop) failures++;
            ig_vk_context_destroy(ctx);
            continue;
        }
        double t0 = now();
        ig_result r = ig_vk_prepare(ctx, &rd, &err);
        double t_prep = now() - t0;
        t0 = now();
        if (r == IG_OK) r = ig_vk_render(ctx, &rd, out, &err);
        double t_first = now() - t0;
        double best = 1e30, total = 0;
        for (int it = 0; it < iters && r == IG_OK; it++) {
            t0 = now();
            r = ig_vk_render(ctx, &rd, out, &err);
            double dt = now() - t0;
            total += dt;
            if (dt < best) best = dt;
        }
        if (r != IG_OK) {
            printf("bench path=%s: %s [%s]\n", tok, err.msg, ig_result_name(r));
            failures++;
        } else if (cips) {
            double ips = batch / best;
            const char *ran = ig_vk_level_kernel_used(ctx);
            ig_vk_render_report rep;
            ig_vk_last_render_report(ctx, &rep);
            printf("bench path=%s device=\"%s\" config=%s size=%dx%d batch=%d img/s=%.2f ms/img=%.3f "
                   "TFLOP/s=%.3f (%.2f GFLOP/img; best %.3f s of %d; prepare %.2f s, first render %.2f s) "
                   "kernel=%s tiles=%s\n",
                   tok, summary, config, plan.width, plan.height, batch, ips, 1000.0 / ips, ips * flops / 1e12,
                   flops / 1e9, best, iters, t_prep, t_first, ran, rep.gemm_tiles);
            if (strcmp(tok, "gemm-coop") == 0 && strcmp(ran, want) != 0 && strcmp(ran, "cips-gemm-f16") == 0) {
                printf("bench path=gemm-coop: cooperative matrices unavailable (the %s kernel ran)\n", ran);
                if (require_coop) failures++;
            } else if (strcmp(ran, want) != 0) {
                printf("bench path=%s: the %s kernel did not run (%s)\n", tok, want, ran);
                failures++;
            }
            if (check) {
                double e = vk_test_compare(out, ref, img);
                bool ok = e <= tol;
                printf("check path=%s: max rel error %.3g (tolerance %.0e) %s\n", tok, e, tol, ok ? "ok" : "FAIL");
                if (!ok) failures++;
            }
        } else {
            ig_vk_mem_stats st;
            ig_vk_memory_stats(ctx, &st);
            double ips = batch / best;
            printf("bench path=%s device=\"%s\" config=%s size=%dx%d batch=%d img/s=%.2f "
                   "ms/img=%.3f TFLOP/s=%.3f (%.2f GFLOP/img; mean %.3f s, best %.3f s of %d; "
                   "prepare %.2f s, first render %.2f s; %u dispatches, %u submissions, "
                   "peak %.1f MiB) kernel=%s\n",
                   tok, summary, model_path == path ? config : model_path, plan.width,
                   plan.height, batch, ips, 1000.0 / ips, ips * flops / 1e12, flops / 1e9,
                   total / iters, best, iters, t_prep, t_first, st.dispatches, st.submissions,
                   (double)st.peak_device_bytes / (1 << 20), ig_vk_level_kernel_used(ctx));
            /* --require-coopmat: the cooperative-matrix level kernel must really have run (a
             * model too wide for its shared-memory tiles falls back to the per-pixel kernel) */
            if (require_coop && (strncmp(tok, "coopmat", 7) == 0 || gcoop) &&
                strcmp(ig_vk_level_kernel_used(ctx), gcoop ? want : "coopmat") != 0) {
                printf("bench path=%s: --require-coopmat: the cooperative-matrix kernel did not "
                       "run, the %s kernel did [IG_ERR_UNSUPPORTED]\n", tok,
                       ig_vk_level_kernel_used(ctx));
                failures++;
            }
            ig_vk_render_report rep;
            ig_vk_last_render_report(ctx, &rep);
            if (rep.chunk_images > 0 && rep.chunk_images < batch)
                printf("bench path=%s: the batch ran in chunks of %d image(s): %s\n", tok,
                       rep.chunk_images, rep.chunk_limit);
            if (strcmp(tok, "gemm-coop") == 0 && strcmp(ig_vk_level_kernel_used(ctx), want) != 0) {
                /* no KHR cooperative matrices (or no variant in this build): a failure only
                 * with --require-coopmat (above) */
                printf("bench path=gemm-coop: cooperative matrices unavailable (the %s kernel "
                       "ran)\n", ig_vk_level_kernel_used(ctx));
            } else if (strncmp(tok, "gemm", 4) == 0 && strcmp(ig_vk_level_kernel_used(ctx), want) != 0) {
                printf("bench path=%s: the %s level kernel did not run (%s)\n", tok, want,
                       ig_vk_level_kernel_used(ctx));
                failures++;
            }
            if (strncmp(tok, "fused", 5) == 0 && strcmp(ig_vk_level_kernel_used(ctx), tok) != 0 &&
                strcmp(ig_vk_level_kernel_used(ctx), "gemm") != 0) {
                printf("bench path=%s: the fused level kernel did not run (%s)\n", tok,
                       ig_vk_level_kernel_used(ctx));
                failures++;
            }
            if (check) {
                double e = vk_test_compare(out, ref, img);
                bool ok = e <= tol;
                printf("check path=%s: max rel error %.3g (tolerance %.0e) %s\n", tok, e, tol,
                       ok ? "ok" : "FAIL");
                if (!ok) failures++;
            }
        }
        if (ig_vk_validation_errors(ctx)) {
            printf("bench path=%s: %u validation errors: %s\n", tok,
                   ig_vk_validation_errors(ctx), ig_vk_validation_message(ctx));
            failures++;
        }
        ig_vk_context_destroy(ctx);
    }
    free(z);
    free(nseed);
    free(out);
    free(ref);
    ig_plan_free(&plan);
    ig_model_free(m);
    return failures ? 1 : 0;
}
