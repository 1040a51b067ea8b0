/* test_vk_choice.c - the INR-GAN level-kernel choice (src/vk/vk_choice.c) and split submissions
 * (INRGAN_VK_SUBMIT_MS, src/vk/vk_disp.c), on lavapipe with validation:
 *   - forced measurement (INRGAN_VK_KERNEL_MEASURE=1): the first render measures the N_CAND
 *     kernels (pixel, gemm, fused; fused16 is never a candidate)
 *     and writes the cache file with each one's time; the output is bit-identical to a render
 *     with that kernel asked for explicitly; a second context reads the cache (no measurement);
 *     an edited cache entry is obeyed (proof that it is read); INRGAN_VK_KERNEL and
 *     ig_vk_desc.level_kernel win over the cache; a corrupt cache file is ignored and replaced
 *     by a valid one; an unwritable cache folder still renders;
 *   - without the switch lavapipe takes "pixel" unmeasured and writes no file; a model the gemm
 *     kernel cannot take (fused weights, IG_VK_FMM_FUSED) has one candidate ("only"); bilinear +
 *     instance norm has two (pixel, gemm: the fused kernel takes neither);
 *   - a render forced to split (INRGAN_VK_SUBMIT_MS=0.001) reports more than one submission and
 *     gives the same bytes as the unsplit render, profiled or not; a bad value is an error.
 * No timing is judged. */
#include "vk_test.h"

#include <cjson/cJSON.h>
#include <sys/stat.h>

#define N_CAND 3 /* kernels timed for the tiny nearest model: pixel, gemm, fused */

static int kernel_id(const char *name) {
    return strcmp(name, "gemm") == 0    ? IG_VK_KERNEL_GEMM
           : strcmp(name, "fused") == 0 ? IG_VK_KERNEL_FUSED
                                        : IG_VK_KERNEL_PIXEL;
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *s = malloc(n + 1);
    if (s) memcpy(s, buf, n + 1);
    return s;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    CHECK_MSG(f != NULL, "cannot write %s", path);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static ig_vk_context *make_ctx_fmm(const char *cache_dir, int kernel, int precision, int fmm) {
    ig_vk_desc d = vk_test_desc();
    if (fmm) d.fmm = fmm;
    d.cache_dir = cache_dir;
    d.level_kernel = kernel;
    d.precision = precision;
    ig_vk_context *ctx = NULL;
    ig_error err = {0};
    CHECK_MSG(ig_vk_context_create(&d, &ctx, &err) == IG_OK, "context: %s", err.msg);
    return ctx;
}
static ig_vk_context *make_ctx(const char *cache_dir, int kernel, int precision) {
    return make_ctx_fmm(cache_dir, kernel, precision, 0);
}

/* Renders `count` images; returns them (malloc'ed) or NULL. */
static float *render(ig_vk_context *ctx, const ig_model *m, const ig_plan *plan, const float *z,
                     int count, const char *label) {
    size_t n = (size_t)count * 3 * plan->width * plan->height;
    float *out = malloc(n * sizeof *out);
    ig_error err = {0};
    ig_render_desc rd = {.model = m, .plan = plan, .z = z, .count = count, .psi = 0.7};
    ig_result r = ig_vk_render(ctx, &rd, out, &err);
    CHECK_MSG(r == IG_OK, "%s: %s", label, err.msg);
    if (r != IG_OK) {
        free(out);
        return NULL;
    }
    return out;
}

typedef struct fixture {
    ig_model *m;
    ig_plan plan;
    float *z;
    size_t n; /* floats of a render of 2 images */
} fixture;

static int fixture_load(fixture *f, const char *up, int in, uint64_t seed) {
    vk_test_spec s = vk_test_spec_tiny(up, in, 1);
    char name[64];
    snprintf(name, sizeof name, "choice_%s%d.safetensors", up, in);
    const char *path = vk_test_path(name);
    if (vk_test_model_write(path, &s, seed) != 0 || vk_test_load(path, &f->m, &f->plan, 0) != 0) return -1;
    f->z = vk_test_latents(2, ig_model_config(f->m)->z_dim);
    f->n = (size_t)2 * 3 * f->plan.width * f->plan.height;
    return 0;
}

static void fixture_free(fixture *f) {
    free(f->z);
    ig_plan_free(&f->plan);
    ig_model_free(f->m);
}

/* The one entry of the cache file: its kernel and the number of timed kernels (-1: unreadable). */
static int cache_entry(const char *path, char *kernel, size_t len) {
    char *text = read_text(path);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    free(text);
    int n = -1;
    const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "entries"), 0);
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(e, "kernel");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "times_ms");
    if (cJSON_IsString(k) && cJSON_IsObject(t)) {
        snprintf(kernel, len, "%s", k->valuestring);
        n = cJSON_GetArraySize(t);
        const cJSON *v;
        cJSON_ArrayForEach(v, t) if (!cJSON_IsNumber(v) || v->valuedouble <= 0) n = -1;
    }
    cJSON_Delete(root);
    return n;
}

static void test_measure_cache_override(void) {
    fixture f;
    if (fixture_load(&f, "nearest", 0, 71) != 0) {
        CHECK_MSG(0, "model");
        return;
    }
    char dir[1024]; /* vk_test_path's ring is reused by vk_test_desc */
    snprintf(dir, sizeof dir, "%s", vk_test_path("choice-cache"));
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    setenv("INRGAN_VK_KERNEL_MEASURE", "1", 1);

    /* 1. first use: measured, cached with every candidate's time */
    ig_vk_context *ctx = make_ctx(dir, IG_VK_KERNEL_AUTO, IG_VK_PRECISION_FP32);
    if (!ctx) goto out;
    float *a = render(ctx, f.m, &f.plan, f.z, 2, "auto (measuring)");
    ig_vk_kernel_choice ch;
    ig_vk_last_kernel_choice(ctx, &ch);
    printf("  first use: %s (%s), %d kernels timed in %.0f ms, cache %s\n", ch.kernel, ch.source, ch.n_times,
           ch.measure_ms, ch.cache_file);
    CHECK_MSG(strcmp(ch.source, "measured") == 0, "first use: source %s", ch.source);
    CHECK_MSG(ch.n_times == N_CAND && ch.measure_ms > 0, "first use: %d kernels timed", ch.n_times);
    for (int i = 0; i < ch.n_times; i++) printf("    %s %.3f ms\n", ch.times[i].name, ch.times[i].ms);
    CHECK_MSG(strcmp(ig_vk_level_kernel_used(ctx), ch.kernel) == 0, "ran %s, chose %s",
              ig_vk_level_kernel_used(ctx), ch.kernel);
    char chosen[16], other[16], kern[16] = "";
    snprintf(chosen, sizeof chosen, "%s", ch.kernel);
    snprintf(other, sizeof other, "%s", strcmp(chosen, "gemm") ? "gemm" : "pixel");
    char cache_file[1024];
    snprintf(cache_file, sizeof cache_file, "%s", ch.cache_file);
    CHECK_MSG(strstr(cache_file, dir) == cache_file, "cache file %s not in %s", cache_file, dir);
    CHECK_MSG(cache_entry(cache_file, kern, sizeof kern) == N_CAND && strcmp(kern, chosen) == 0,
              "cache file: entry kernel '%s' with %d times", kern, N_CAND);
    vk_test_ctx_ok(ctx);
    ig_vk_context_destroy(ctx);

    /* 2. the chosen kernel asked for explicitly: the same bytes */
    ctx = make_ctx(dir, kernel_id(chosen), IG_VK_PRECISION_FP32);
    float *b = ctx ? render(ctx, f.m, &f.plan, f.z, 2, "explicit") : NULL;
    if (ctx) {
        ig_vk_last_kernel_choice(ctx, &ch);
        CHECK_MSG(strcmp(ch.source, "option") == 0 && strcmp(ch.kernel, chosen) == 0, "explicit: %s (%s)",
                  ch.kernel, ch.source);
    }
    CHECK_MSG(a && b && memcmp(a, b, f.n * sizeof *a) == 0, "auto and explicit %s renders differ", chosen);
    free(b);
    vk_test_ctx_ok(ctx);
    ig_vk_context_destroy(ctx);

    /* 3. a new context reads the cache: no measurement */
    ctx = make_ctx(dir, IG_VK_KERNEL_AUTO, IG_VK_PRECISION_FP32);
    b = ctx ? render(ctx, f.m, &f.plan, f.z, 2, "auto (cached)") : NULL;
    if (ctx) {
        ig_vk_last_kernel_choice(ctx, &ch);
        printf("  second use: %s (%s), measured for %.0f ms\n", ch.kernel, ch.source, ch.measure_ms);
        CHECK_MSG(strcmp(ch.source, "cache") == 0 && ch.measure_ms == 0 && strcmp(ch.kernel, chosen) == 0,
                  "second use: %s (%s, %.0f ms measuring)", ch.kernel, ch.source, ch.measure_ms);
        CHECK_MSG(ch.n_times == N_CAND, "second use: the cached times (%d)", ch.n_times);
    }
    CHECK_MSG(a && b && memcmp(a, b, f.n * sizeof *a) == 0, "cached choice renders differently");
    free(b);
    vk_test_ctx_ok(ctx);
    ig_vk_context_destroy(ctx);

    /* 4. an edited entry is obeyed (the cache is really read) */
    char *text = read_text(cache_file);
    if (text) {
        char from[64], to[64];
        snprintf(from, sizeof from, "\"kernel\":\t\"%s\"", chosen);
        snprintf(to, sizeof to, "\"kernel\":\t\"%s\"", other);
        char *p = strstr(text, from);
        CHECK_MSG(p != NULL, "cache text has no %s", from);
        if (p) {
            size_t pre = (size_t)(p - text);
            char *edited = malloc(strlen(text) + 16);
            memcpy(edited, text, pre);
            strcpy(edited + pre, to);
            strcat(edited, p + strlen(from));
            write_text(cache_file, edited);
            free(edited);
        }
        free(text);
    }
    ctx = make_ctx(dir, IG_VK_KERNEL_AUTO, IG_VK_PRECISION_FP32);
    b = ctx ? render(ctx, f.m, &f.plan, f.z, 2, "edited cache") : NULL;
    if (ctx) {
        ig_vk_last_kernel_choice(ctx, &ch);
        CHECK_MSG(strcmp(ch.source, "cache") == 0 && strcmp(ch.kernel, other) == 0 &&
                      strcmp(ig_vk_level_kernel_used(ctx), other) == 0,
                  "edited cache: %s (%s), ran %s", ch.kernel, ch.source, ig_vk_level_kernel_used(ctx));
    }
    free(b);
    vk_test_ctx_ok(ctx);
    ig_vk_context_destroy(ctx);

    /* 5. overrides win over the cache (which now says `other`) */
    setenv("INRGAN_VK_KERNEL", chosen, 1);
    ctx = make_ctx(dir, IG_VK_KERNEL_AUTO, IG_VK_PRECISION_FP32);
    unsetenv("INRGAN_VK_KERNEL");
    b = ctx ? render(ctx, f.m, &f.plan, f.z, 2, "env override") : NULL;
    if (ctx) {
        ig_vk_last_kernel_choice(ctx, &ch);
        CHECK_MSG(strcmp(ch.source, "env") == 0 && strcmp(ig_vk_level_kernel_used(ctx), chosen) == 0,
                  "env override: %s (%s), ran %s", ch.kernel, ch.source, ig_vk_level_kernel_used(ctx));
    }
    CHECK_MSG(a && b && memcmp(a, b, f.n * sizeof *a) == 0, "env override renders differently");
    free(b);
    vk_test_ctx_ok(ctx);
    ig_vk_context_destroy(ctx);
    ctx = make_ctx(dir, kernel_id(chosen), IG_VK_PRECISION_FP32);
    b = ctx ? render(ctx, f.m, &f.plan, f.z, 2, "option override") : NULL;
    if (ctx)
        CHECK_MSG(strcmp(ig_vk_level_kernel_used(ctx), chosen) == 0, "option override ran %s",
                  ig_vk_level_kernel_used(ctx));
    free(b);
    ig_vk_context_destroy(ctx);
    setenv("INRGAN_VK_KERNEL", "fast", 1); /* not a kernel: refused at context creation */
    ig_vk_desc d = vk_test_desc();
    ig_vk_context *bad = NULL;
    ig_error err = {0};
    ig_result r = ig_vk_context_create(&d, &bad, &err);
    unsetenv("INRGAN_VK_KERNEL");
    CHECK_MSG(r == IG_ERR_INVALID_ARGUMENT && !bad, "INRGAN_VK_KERNEL=fast: %s", ig_result_name(r));
    printf("  INRGAN_VK_KERNEL=fast: %s\n", err.msg);
    ig_vk_context_destroy(bad);

    /* 6. a corrupt file: ignored, measured again, replaced by a valid one */
    write_text(cache_file, "{\"entries\": [ {\"key\": 12, \"kernel\": [}\n\x01\x02 not json");
    ctx = make_ctx(dir, IG_VK_KERNEL_AUTO, IG_VK_PRECISION_FP32);
    b = ctx ? render(ctx, f.m, &f.plan, f.z, 2, "corrupt cache") : NULL;
    if (ctx) {
        ig_vk_last_kernel_choice(ctx, &ch);
        CHECK_MSG(strcmp(ch.source, "measured") == 0, "corrupt cache: %s (%s)", ch.kernel, ch.source);
        CHECK_MSG(cache_entry(cache_file, kern, sizeof kern) == N_CAND && strcmp(kern, ch.kernel) == 0,
                  "corrupt cache not replaced by a valid file (%s)", kern);
        CHECK_MSG(a && b && (strcmp(ch.kernel, chosen) != 0 || memcmp(a, b, f.n * sizeof *a) == 0),
                  "re-measured render differs");
    }
    free(b);
    vk_test_ctx_ok(ctx);
    ig_vk_context_destroy(ctx);
    /* no temporary files left beside it */
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -q tmp", dir);
    CHECK_MSG(system(cmd) != 0, "temporary files left in %s", dir);

    /* 7. a cache folder that cannot be made (below a regular file): renders, measured */
    char blocked[1100];
    snprintf(blocked, sizeof blocked, "%s/sub", cache_file);
    ctx = make_ctx(blocked, IG_VK_KERNEL_AUTO, IG_VK_PRECISION_FP32);
    b = ctx ? render(ctx, f.m, &f.plan, f.z, 2, "unwritable cache folder") : NULL;
    if (ctx) {
        ig_vk_last_kernel_choice(ctx, &ch);
        CHECK_MSG(strcmp(ch.source, "measured") == 0 && b, "unwritable folder: %s (%s)", ch.kernel, ch.source);
    }
    free(b);
    vk_test_ctx_ok(ctx);
    ig_vk_context_destroy(ctx);
    free(a);
out:
    unsetenv("INRGAN_VK_KERNEL_MEASURE");
    fixture_free(&f);
}

static void test_unmeasured(void) {
    fixture f;
    if (fixture_load(&f, "nearest", 0, 72) != 0) {
        CHECK_MSG(0, "model");
        return;
    }
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", vk_test_path("choice-cache-default"));
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    unsetenv("INRGAN_VK_KERNEL_MEASURE");
    ig_vk_context *ctx = make_ctx(dir, IG_VK_KERNEL_AUTO, IG_VK_PRECISION_FP32);
    float *a = ctx ? render(ctx, f.m, &f.plan, f.z, 2, "lavapipe default") : NULL;
    bool cpu_device = ctx && strstr(ig_vk_context_summary(ctx), "] cpu ") != NULL;
    if (ctx && !cpu_device) printf("  not a CPU-type device: the unmeasured default is not checked\n");
    if (ctx && cpu_device) {
        ig_vk_kernel_choice ch;
        ig_vk_last_kernel_choice(ctx, &ch);
        printf("  lavapipe without INRGAN_VK_KERNEL_MEASURE: %s (%s)\n", ch.kernel, ch.source);
        CHECK_MSG(strcmp(ch.kernel, "pixel") == 0 && strcmp(ch.source, "default") == 0 && ch.n_times == 0 &&
                      ch.measure_ms == 0,
                  "default: %s (%s), %d timed", ch.kernel, ch.source, ch.n_times);
        struct stat st;
        CHECK_MSG(stat(ch.cache_file, &st) != 0, "default choice wrote %s", ch.cache_file);
    }
    free(a);
    vk_test_ctx_ok(ctx);
    ig_vk_context_destroy(ctx);
    fixture_free(&f);

    /* bilinear + instance norm: two candidates, pixel and gemm (the fused kernel takes neither) */
    if (fixture_load(&f, "bilinear", 1, 73) != 0) {
        CHECK_MSG(0, "model");
        return;
    }
    setenv("INRGAN_VK_KERNEL_MEASURE", "1", 1);
    ctx = make_ctx(dir, IG_VK_KERNEL_AUTO, IG_VK_PRECISION_FP32);
    a = ctx ? render(ctx, f.m, &f.plan, f.z, 2, "bilinear+IN") : NULL;
    if (ctx) {
        ig_vk_kernel_choice ch;
        ig_vk_last_kernel_choice(ctx, &ch);
        printf("  bilinear+IN: %s (%s), %d kernels timed\n", ch.kernel, ch.source, ch.n_times);
        CHECK_MSG(strcmp(ch.source, "measured") == 0 && ch.n_times == 2 &&
                      strcmp(ch.times[0].name, "pixel") == 0 && strcmp(ch.times[1].name, "gemm") == 0,
                  "bilinear+IN: %s (%s), %d timed", ch.kernel, ch.source, ch.n_times);
    }
    free(a);
    vk_test_ctx_ok(ctx);
    ig_vk_context_destroy(ctx);
    /* one candidate: fused weights (IG_VK_FMM_FUSED; the gemm kernels need generated ones) */
    ctx = make_ctx_fmm(dir, IG_VK_KERNEL_AUTO, IG_VK_PRECISION_FP32, IG_VK_FMM_FUSED);
    a = ctx ? render(ctx, f.m, &f.plan, f.z, 2, "one candidate") : NULL;
    if (ctx) {
        ig_vk_kernel_choice ch;
        ig_vk_last_kernel_choice(ctx, &ch);
        CHECK_MSG(strcmp(ch.kernel, "pixel") == 0 && strcmp(ch.source, "only") == 0 && ch.n_times == 0,
                  "one candidate: %s (%s)", ch.kernel, ch.source);
    }
    unsetenv("INRGAN_VK_KERNEL_MEASURE");
    free(a);
    vk_test_ctx_ok(ctx);
    ig_vk_context_destroy(ctx);
    fixture_free(&f);
}

static void test_split(void) {
    for (int k = 0; k < 2; k++) { /* the pixel kernel, then gemm */
        fixture f;
        if (fixture_load(&f, "nearest", 0, 74) != 0) {
            CHECK_MSG(0, "model");
            return;
        }
        const char *kname = k ? "gemm" : "pixel";
        ig_vk_context *ctx = make_ctx("", k ? IG_VK_KERNEL_GEMM : IG_VK_KERNEL_PIXEL, IG_VK_PRECISION_FP32);
        if (!ctx) {
            fixture_free(&f);
            return;
        }
        setenv("INRGAN_VK_SUBMIT_MS", "0", 1); /* never split (the default on a GPU is 100 ms) */
        float *a = render(ctx, f.m, &f.plan, f.z, 2, "unsplit");
        ig_vk_render_report rep;
        ig_vk_last_render_report(ctx, &rep);
        CHECK_MSG(rep.submissions == 1 && rep.submit_target_ms == 0 && rep.chunk_images == 2 && !rep.chunk_limit[0],
                  "%s unsplit: %d submissions, target %g, chunks of %d", kname, rep.submissions, rep.submit_target_ms,
                  rep.chunk_images);
        setenv("INRGAN_VK_SUBMIT_MS", "0.001", 1);
        for (int prof = 0; prof < 2; prof++) {
            ig_vk_set_profiling(ctx, prof);
            float *b = render(ctx, f.m, &f.plan, f.z, 2, "split");
            ig_vk_last_render_report(ctx, &rep);
            printf("  %s%s, INRGAN_VK_SUBMIT_MS=0.001: %d submissions (longest %.3f ms), %d phases\n", kname,
                   prof ? " profiled" : "", rep.submissions, rep.max_submission_ms, rep.n_phases);
            CHECK_MSG(rep.submissions > 1 && rep.submit_target_ms == 0.001, "%s split: %d submissions", kname,
                      rep.submissions);
            /* one level's dispatch alone exceeds the target: one image per chunk */
            CHECK_MSG(rep.chunk_images == 1 && strcmp(rep.chunk_limit, "submission time") == 0,
                      "%s split: chunks of %d (%s)", kname, rep.chunk_images, rep.chunk_limit);
            CHECK_MSG(strcmp(ig_vk_level_kernel_used(ctx), kname) == 0, "split ran %s", ig_vk_level_kernel_used(ctx));
            CHECK_MSG(!prof || (rep.profiled && rep.n_phases >= 3), "%s split profiled: %d phases", kname,
                      rep.n_phases);
            CHECK_MSG(a && b && memcmp(a, b, f.n * sizeof *a) == 0, "%s: split render differs", kname);
            free(b);
        }
        ig_vk_set_profiling(ctx, false);
        setenv("INRGAN_VK_SUBMIT_MS", "soon", 1);
        ig_error err = {0};
        ig_render_desc rd = {.model = f.m, .plan = &f.plan, .z = f.z, .count = 2, .psi = 0.7};
        ig_result r = ig_vk_render(ctx, &rd, a, &err);
        CHECK_MSG(r != IG_OK && strstr(err.msg, "INRGAN_VK_SUBMIT_MS"), "INRGAN_VK_SUBMIT_MS=soon: %s",
                  ig_result_name(r));
        unsetenv("INRGAN_VK_SUBMIT_MS");
        float *c = render(ctx, f.m, &f.plan, f.z, 2, "after a refused render");
        CHECK_MSG(a && c && memcmp(a, c, f.n * sizeof *a) == 0, "render after the refused one differs");
        free(c);
        free(a);
        vk_test_ctx_ok(ctx);
        ig_vk_context_destroy(ctx);
        fixture_free(&f);
    }
}

int main(void) {
    vk_test_init();
    RUN(test_measure_cache_override);
    RUN(test_unmeasured);
    RUN(test_split);
    return TEST_EXIT();
}
