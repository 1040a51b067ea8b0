/* bench_gemm.c - `inrgan bench --gemm-sweep`: the INR-GAN gemm level kernel's layer GEMM timed
 * alone (ig_vk_gemm_time) at the FFHQ-256 layer shapes it executes, grouped over a batch of
 * images, for each tile set and storage precision the device runs, as GFLOP/s and % of the
 * device's own measured peak (ig_vk_peak), a table and optionally JSON.
 *
 * The six shapes (pixels, c_in -> c_out; docs/gpu-kernels.md section 1, with the exact coarse
 * trick the gemm kernel uses): the square layer of each level, 32^2 512 -> 512, 64^2 512 -> 512,
 * 128^2 256 -> 256, 256^2 128 -> 128, and the two heaviest embedding GEMMs of an up-sampling
 * conv0, 128^2 156 -> 256 and 256^2 160 -> 128. (Level 0's 168 -> 512 and the coarse products
 * 512 -> 256 at 64^2 and 256 -> 128 at 128^2 are smaller.) --sizes S scales the pixel counts
 * by (S / 256)^2 (lavapipe tests); channels stay.
 *
 * Rows: fp32 storage with tiles small and large, fp16 storage with small, large and coop (the
 * KHR cooperative-matrix variant, or its scalar twin with INRGAN_VK_COOP_EMU=1). A row that
 * cannot run on the device (no 16-bit storage, no cooperative matrices, a shape beyond a limit)
 * is still listed, with ran = false and why. GFLOP per layer = 2 pixels c_in c_out batch
 * (unpadded); % of peak against the fp32 FMA peak for fp32 and fp16 storage (their arithmetic
 * is fp32), the tensor-core peak for coop where measured. */
#include "cli.h"
#include "inrgan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ig_build.h" /* INRGAN_BUILD_ID */

#ifdef INRGAN_HAVE_VULKAN
#include <cjson/cJSON.h>

#include "ig_vk.h"

static const struct {
    int level, pixels, c_in, c_out;
} ig__sweep_shapes[] = {
    {0, 32 * 32, 512, 512},     {1, 64 * 64, 512, 512},     {2, 128 * 128, 256, 256},
    {3, 256 * 256, 128, 128},   {2, 128 * 128, 156, 256},   {3, 256 * 256, 160, 128},
};
#define IG__SWEEP_SHAPES (int)(sizeof ig__sweep_shapes / sizeof ig__sweep_shapes[0])

static const struct {
    const char *precision, *tile;
} ig__sweep_kinds[] = {
    {"fp32", "small"}, {"fp32", "large"}, {"fp16", "small"}, {"fp16", "large"}, {"fp16", "coop"},
};
#define IG__SWEEP_KINDS (int)(sizeof ig__sweep_kinds / sizeof ig__sweep_kinds[0])

static void add_num(cJSON *o, const char *k, double v, bool valid) {
    if (valid) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

ig_result cli_bench_gemm_sweep(const cli_gemm_sweep *s, ig_error *err) {
    ig_result r = IG_OK;
    cli_backend b[2];
    bool open[2] = {false, false};
    cJSON *root = cJSON_CreateObject(), *sw = root ? cJSON_AddObjectToObject(root, "gemm_sweep") : NULL;
    cJSON *rows = sw ? cJSON_AddArrayToObject(sw, "rows") : NULL;
    if (!rows) {
        cJSON_Delete(root);
        return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "--json document");
    }
    /* one context per storage precision (the kernel variant follows the context's) */
    static const char *prec[2] = {"fp32", "fp16"};
    for (int i = 0; i < 2 && r == IG_OK; i++) {
        cli_backend_opts o = {.backend = "vulkan", .gpu = s->gpu, .precision = prec[i],
                              .validate = s->validate};
        r = cli_backend_open(&b[i], &o, s->quiet, err);
        open[i] = r == IG_OK;
    }
    double fp32 = -1, fp16 = -1, coop = -1;
    if (r == IG_OK) r = ig_vk_peak(b[0].vk, &fp32, &fp16, &coop, err);
    const char *summary = r == IG_OK ? ig_vk_context_summary(b[0].vk) : "";
    bool have_f16 = r == IG_OK && ig_vk_context_precision(b[1].vk) == IG_VK_PRECISION_FP16;
    double scale = (double)s->size / 256.0;
    scale *= scale;
    if (r == IG_OK) {
        cJSON_AddStringToObject(sw, "build", INRGAN_BUILD_ID);
        cJSON_AddStringToObject(sw, "device", summary);
        cJSON_AddNumberToObject(sw, "batch", s->batch);
        cJSON_AddNumberToObject(sw, "size", s->size);
        cJSON_AddNumberToObject(sw, "reps", s->reps);
        cJSON *pk = cJSON_AddObjectToObject(sw, "peaks");
        if (pk) {
            add_num(pk, "fp32_gflops", fp32, fp32 >= 0);
            add_num(pk, "fp16_gflops", fp16, fp16 >= 0);
            add_num(pk, "coopmat_gflops", coop, coop >= 0);
        }
    }
    if (r == IG_OK && !s->quiet) {
        fprintf(s->out, "%s\ngemm sweep on %s\nbatch %d, FFHQ-256 layer shapes at size %d; measured peaks "
                        "GFLOP/s: fp32 %.1f, fp16 %.1f, coopmat %.1f (-1: not measured)\n",
                INRGAN_BUILD_ID, summary, s->batch, s->size, fp32, fp16, coop);
        fprintf(s->out, "%5s %7s %5s %5s  %-4s %-5s %-14s %10s %10s %7s\n", "level", "pixels", "c_in",
                "c_out", "prec", "tile", "kernel", "ms/layer", "GFLOP/s", "%peak");
    }
    for (int i = 0; i < IG__SWEEP_SHAPES && r == IG_OK; i++) {
        int px = (int)(ig__sweep_shapes[i].pixels * scale + 0.5);
        if (px < 1) px = 1;
        int cin = ig__sweep_shapes[i].c_in, cout = ig__sweep_shapes[i].c_out;
        double gflop = 2.0 * px * cin * cout * s->batch / 1e9;
        for (int k = 0; k < IG__SWEEP_KINDS && r == IG_OK; k++) {
            bool f16 = strcmp(ig__sweep_kinds[k].precision, "fp16") == 0;
            const char *tile = ig__sweep_kinds[k].tile, *kernel = "";
            double ms = -1;
            char why[600] = "";
            if (f16 && !have_f16) {
                snprintf(why, sizeof why, "no 16-bit storage");
            } else {
                ig_error e = {0};
                ig_result tr = ig_vk_gemm_time(b[f16].vk, px, cin, cout, s->batch, tile, s->reps,
                                               &ms, &kernel, &e);
                if (tr == IG_ERR_UNSUPPORTED) {
                    snprintf(why, sizeof why, "%s", e.msg);
                } else if (tr != IG_OK) {
                    *err = e;
                    r = tr;
                    break;
                }
            }
            bool ran = ms > 0;
            double gfs = ran ? gflop / (ms / 1e3) : -1;
            double peak = strcmp(tile, "coop") == 0 ? coop : fp32;
            double pct = ran && peak > 0 ? 100.0 * gfs / peak : -1;
            cJSON *row = cJSON_CreateObject();
            if (!row || !cJSON_AddItemToArray(rows, row)) {
                cJSON_Delete(row);
                r = ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "--json document");
                break;
            }
            cJSON_AddNumberToObject(row, "level", ig__sweep_shapes[i].level);
            cJSON_AddNumberToObject(row, "pixels", px);
            cJSON_AddNumberToObject(row, "c_in", cin);
            cJSON_AddNumberToObject(row, "c_out", cout);
            cJSON_AddNumberToObject(row, "batch", s->batch);
            cJSON_AddStringToObject(row, "precision", ig__sweep_kinds[k].precision);
            cJSON_AddStringToObject(row, "tile", tile);
            cJSON_AddBoolToObject(row, "ran", ran);
            if (ran) cJSON_AddStringToObject(row, "kernel", kernel);
            else cJSON_AddNullToObject(row, "kernel");
            cJSON_AddNumberToObject(row, "gflop", gflop);
            add_num(row, "ms", ms, ran);
            add_num(row, "gflops", gfs, ran);
            add_num(row, "peak_gflops", peak, ran && peak > 0);
            add_num(row, "percent_of_peak", pct, pct >= 0);
            if (!ran) cJSON_AddStringToObject(row, "why", why);
            if (!s->quiet) {
                char pc[16] = "-";
                if (pct >= 0) snprintf(pc, sizeof pc, "%.1f", pct);
                if (ran)
                    fprintf(s->out, "%5d %7d %5d %5d  %-4s %-5s %-14s %10.3f %10.1f %7s\n",
                            ig__sweep_shapes[i].level, px, cin, cout, ig__sweep_kinds[k].precision, tile,
                            kernel, ms, gfs, pc);
                else
                    fprintf(s->out, "%5d %7d %5d %5d  %-4s %-5s not run: %s\n", ig__sweep_shapes[i].level, px,
                            cin, cout, ig__sweep_kinds[k].precision, tile, why);
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (open[i]) {
            if (r == IG_OK) r = cli_backend_check(&b[i], err);
            cli_backend_close(&b[i]);
        }
    if (r == IG_OK && s->json_path) {
        char *text = cJSON_Print(root);
        if (!text) r = ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "--json document");
        else r = cli_write_text(s->json_path, text, err); /* "-": stdout */
        free(text);
    }
    cJSON_Delete(root);
    return r;
}
#else
ig_result cli_bench_gemm_sweep(const cli_gemm_sweep *s, ig_error *err) {
    (void)s;
    return ig_error_set(err, IG_ERR_NO_DEVICE, "--gemm-sweep: this build has no Vulkan backend");
}
#endif
