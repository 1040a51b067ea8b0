/* vk_choice.c - which INR-GAN level kernel renders, when ig_vk_desc.level_kernel is "auto":
 * chosen by measurement at the first render (or ig_vk_prepare) of a model shape on a device,
 * cached on disk beside the pipeline cache, read back by later contexts without timing.
 *
 * Order: INRGAN_VK_KERNEL (read at context creation, vk_ctx.c) > ig_vk_desc.level_kernel >
 * the context's choice for this shape > the cache file > a measurement. On a CPU-type device
 * (lavapipe) "auto" is "pixel" unmeasured unless INRGAN_VK_KERNEL_MEASURE=1 (tests).
 *
 * The candidates are ig__kernels[]: every kernel that can render the model on this context (a
 * cheap check first, then the kernel that really ran its warm-up render) is timed; a new
 * kernel (gemm tile sets, fp16, cooperative-matrix variants) is one more entry with its
 * applicability check and the ctx switch that selects it.
 *
 * Measurement (bounded): at the render's size (scaled down to 1 Mpixel of the native view when
 * larger), 2 images (1 when the render has one or above 256 Kpixel), latents from seeds 0..,
 * per kernel a warm-up then up to 3 timed renders, device time from timestamps (wall time
 * without); once the whole measurement has run IG__MEASURE_BUDGET_MS (2 s), each further kernel
 * gets its warm-up and one timed render only: at most 2 s + 2 renders per kernel. The fastest
 * median wins.
 *
 * Cache file <dir>/kernels-<deviceUUID>.json (dir: the pipeline cache's folder; none when that
 * cache is off), cJSON:
 *   {"format": 1, "entries": [{"key": "...", "device": NAME, "driver_version": N,
 *     "shaders": HEX, "shape": "...", "precision": "fp32", "kernel": "gemm", "width": W,
 *     "height": H, "batch": B, "times_ms": {"pixel": 1.5, "gemm": 0.9}}, ...]}
 * key = device UUID / driver version / FNV-1a of every embedded SPIR-V / model shape / precision.
 * A file that does not parse, or an entry that does not read, is ignored; the file is rewritten
 * whole (temporary file, fsync, rename) after a measurement, at most IG__MAX_ENTRIES entries
 * (the oldest dropped). Failing to read or write it never fails a render.
 */
#include "vk_inrgan.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lower.h"

#define IG__MEASURE_BUDGET_MS 2000.0
#define IG__MEASURE_REPS 3
#define IG__MEASURE_MAX_PX (1u << 20) /* pixels of one measurement render at most */
#define IG__MAX_ENTRIES 64
#define IG__CACHE_MAX_BYTES (1u << 20)

/* ---- the candidates --------------------------------------------------------------------------- */

typedef struct ig__kernel {
    const char *name;
    int id; /* ig_vk_level_kernel */
    /* whether it may render c on ctx at all (cheap; the warm-up render confirms) */
    bool (*applies)(const ig_vk_context *ctx, const ig_config *c);
    void (*select)(ig_vk_context *ctx); /* makes the next renders use it */
} ig__kernel;

static bool ig__pixel_applies(const ig_vk_context *ctx, const ig_config *c) {
    (void)ctx;
    (void)c;
    return true;
}
static void ig__pixel_select(ig_vk_context *ctx) {
    ctx->level_gemm = ctx->level_fused = ctx->level_fused16 = false;
}

static bool ig__gemm_applies(const ig_vk_context *ctx, const ig_config *c) {
    /* ig__vk_gemm_model's conditions that need no upload (fp32 or fp16 storage) */
    (void)c;
    return !ctx->fused_fmm && !ctx->coopmat;
}
/* the fused kernel: the gemm kernel's models with nearest up-sampling and no instance norm
 * (level_tile.comp) */
static bool ig__fused_applies(const ig_vk_context *ctx, const ig_config *c) {
    return ig__gemm_applies(ctx, c) && c->upsampling == IG_UP_NEAREST && !c->instance_norm;
}
static void ig__gemm_select(ig_vk_context *ctx) {
    ctx->level_gemm = true;
    ctx->level_fused = ctx->level_fused16 = false;
}
/* fused: the gemm kernel's models (a model with no level narrow enough runs "gemm" in its
 * warm-up render and is then no candidate) */
static void ig__fused_select(ig_vk_context *ctx) {
    ctx->level_gemm = ctx->level_fused = true;
    ctx->level_fused16 = false;
}
/* fused16 computes with fp16 activations: never chosen for a context asked for fp32 (listed
 * for its name when asked for explicitly) */
static bool ig__fused16_applies(const ig_vk_context *ctx, const ig_config *c) {
    (void)ctx;
    (void)c;
    return false;
}
static void ig__fused16_select(ig_vk_context *ctx) {
    ctx->level_gemm = ctx->level_fused = ctx->level_fused16 = true;
}

static const ig__kernel ig__kernels[] = {
    {"pixel", IG_VK_KERNEL_PIXEL, ig__pixel_applies, ig__pixel_select},
    {"gemm", IG_VK_KERNEL_GEMM, ig__gemm_applies, ig__gemm_select},
    {"fused", IG_VK_KERNEL_FUSED, ig__fused_applies, ig__fused_select},
    {"fused16", IG_VK_KERNEL_FUSED16, ig__fused16_applies, ig__fused16_select},
};
enum { IG__N_KERNELS = sizeof ig__kernels / sizeof ig__kernels[0] };
_Static_assert(IG__N_KERNELS <= IG_VK_MAX_KERNELS, "ig_vk_kernel_choice.times too small");

static const ig__kernel *ig__kernel_named(const char *name) {
    for (int i = 0; i < IG__N_KERNELS; i++)
        if (strcmp(ig__kernels[i].name, name) == 0) return &ig__kernels[i];
    return NULL;
}

static const ig__kernel *ig__kernel_id(int id) {
    for (int i = 0; i < IG__N_KERNELS; i++)
        if (ig__kernels[i].id == id) return &ig__kernels[i];
    return &ig__kernels[0];
}

/* ---- the key ----------------------------------------------------------------------------------- */

/* The compiled-in SPIR-V never changes while the process runs, and hashing all of it (~0.7 MB)
 * takes about a millisecond, while the key is made at every prepare and render: hashed once. */
static uint64_t ig__shaders_hash(void) {
    static _Atomic uint64_t memo; /* 0: not yet (a hash of 0 is only computed again) */
    uint64_t h = atomic_load_explicit(&memo, memory_order_relaxed);
    if (h) return h;
    h = 1469598103934665603ull;
    for (int i = 0; i < IG_SH_COUNT; i++) {
        const ig__vk_spirv *s = ig__vk_shader(i);
        if (s) h = ig__vk_fnv(h, s->code, s->bytes);
    }
    atomic_store_explicit(&memo, h, memory_order_relaxed);
    return h;
}

static const char *ig__precision(const ig_vk_context *ctx) {
    return ctx->coopmat ? "coopmat" : ctx->fp16 ? (ctx->fused_fmm ? "fp16-fused" : "fp16")
                                                : (ctx->fused_fmm ? "fp32-fused" : "fp32");
}

/* The model shape: family, resolution, mapping, levels and grids, every layer's widths. */
static void ig__shape(const ig_config *c, char *buf, size_t len) {
    ig_lowering *lw = malloc(sizeof *lw);
    size_t at = 0;
#define IG__PUT(...)                                                                         \
    do {                                                                                     \
        if (at < len) {                                                                      \
            int w_ = snprintf(buf + at, len - at, __VA_ARGS__);                              \
            at += w_ > 0 ? (size_t)w_ : 0;                                                   \
        }                                                                                    \
    } while (0)
    buf[0] = 0;
    IG__PUT("inrgan r%d z%d w%d map%d rank%d %s%s", c->resolution, c->z_dim, c->w_dim,
            c->mapping_layers, c->rank, c->upsampling == IG_UP_NEAREST ? "nearest" : "bilinear",
            c->instance_norm ? " in" : "");
    if (lw) {
        ig_lower(c, lw);
        IG__PUT(" grids");
        for (int l = 0; l < lw->n_levels; l++) IG__PUT("%s%d", l ? "," : " ", lw->level_grid[l]);
        IG__PUT(" ops");
        for (int q = 0; q < lw->n_ops; q++)
            IG__PUT(" %d:%d+%d>%d", lw->ops[q].level, lw->ops[q].c_x, lw->ops[q].c_e,
                    lw->ops[q].c_out);
        free(lw);
    }
#undef IG__PUT
}

typedef struct ig__key {
    char shape[2048];
    char text[2300]; /* uuid/driver/shaders/shape-hash/precision */
    char uuid[2 * VK_UUID_SIZE + 1];
    char shaders[17];
    uint64_t hash;
} ig__key;

static void ig__make_key(const ig_vk_context *ctx, const ig_config *c, ig__key *k) {
    VkPhysicalDeviceIDProperties idp = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                      .pNext = &idp};
    vkGetPhysicalDeviceProperties2(ctx->phys, &p2);
    for (int i = 0; i < (int)VK_UUID_SIZE; i++) snprintf(k->uuid + 2 * i, 3, "%02x", idp.deviceUUID[i]);
    snprintf(k->shaders, sizeof k->shaders, "%016" PRIx64, ig__shaders_hash());
    ig__shape(c, k->shape, sizeof k->shape);
    uint64_t sh = ig__vk_fnv(1469598103934665603ull, k->shape, strlen(k->shape));
    snprintf(k->text, sizeof k->text, "%s/%08x/%s/%016" PRIx64 "/%s", k->uuid, ctx->driver_version,
             k->shaders, sh, ig__precision(ctx));
    k->hash = ig__vk_fnv(1469598103934665603ull, k->text, strlen(k->text));
    if (k->hash == 0) k->hash = 1;
}

/* ---- the cache file ---------------------------------------------------------------------------- */

/* <pipeline cache folder>/kernels-<uuid>.json, or "" when there is no on-disk cache. */
static void ig__cache_file(const ig_vk_context *ctx, const ig__key *k, char *buf, size_t len) {
    buf[0] = 0;
    const char *slash = strrchr(ctx->pipe_cache_path, '/');
    if (!ctx->pipe_cache_path[0] || !slash) return;
    int n = snprintf(buf, len, "%.*s/kernels-%s.json", (int)(slash - ctx->pipe_cache_path),
                     ctx->pipe_cache_path, k->uuid);
    if (n < 0 || (size_t)n >= len) buf[0] = 0;
}

/* The parsed file, or NULL when missing, unreadable, too large or not JSON. */
static cJSON *ig__cache_read(const char *path) {
    if (!path[0]) return NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *text = malloc(IG__CACHE_MAX_BYTES + 1);
    size_t n = text ? fread(text, 1, IG__CACHE_MAX_BYTES + 1, f) : 0;
    fclose(f);
    cJSON *root = NULL;
    if (text && n <= IG__CACHE_MAX_BYTES) {
        text[n] = 0;
        root = cJSON_ParseWithLength(text, n);
        if (root && !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root, "entries"))) {
            cJSON_Delete(root);
            root = NULL;
        }
    }
    free(text);
    return root;
}

/* Fills ch from the entry of `key` whose kernel is one of the candidates; false when none. */
static bool ig__cache_lookup(const cJSON *root, const ig__key *k, const bool *cand,
                             ig_vk_kernel_choice *ch) {
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(root, "entries")) {
        const cJSON *key = cJSON_GetObjectItemCaseSensitive(e, "key");
        const cJSON *kern = cJSON_GetObjectItemCaseSensitive(e, "kernel");
        if (!cJSON_IsString(key) || strcmp(key->valuestring, k->text) != 0 || !cJSON_IsString(kern))
            continue;
        const ig__kernel *kn = ig__kernel_named(kern->valuestring);
        if (!kn || !cand[kn - ig__kernels]) continue;
        snprintf(ch->kernel, sizeof ch->kernel, "%s", kn->name);
        ch->n_times = 0;
        const cJSON *t;
        cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(e, "times_ms")) {
            if (!cJSON_IsNumber(t) || !t->string || ch->n_times >= IG_VK_MAX_KERNELS) continue;
            snprintf(ch->times[ch->n_times].name, sizeof ch->times[0].name, "%s", t->string);
            ch->times[ch->n_times++].ms = t->valuedouble;
        }
        const cJSON *v;
        if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(e, "width"))) ch->width = v->valueint;
        if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(e, "height"))) ch->height = v->valueint;
        if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(e, "batch"))) ch->batch = v->valueint;
        return true;
    }
    return false;
}


/* The old entries (those that read as objects, other keys) plus this one, rewritten whole. */
static void ig__cache_store(const ig_vk_context *ctx, const char *path, const cJSON *old,
                            const ig__key *k, const ig_vk_kernel_choice *ch) {
    if (!path[0]) return;
    cJSON *root = cJSON_CreateObject();
    cJSON *entries = cJSON_AddArrayToObject(root, "entries");
    cJSON_AddNumberToObject(root, "format", 1);
    int n_old = 0;
    const cJSON *e;
    if (old) cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(old, "entries")) n_old++;
    int skip = n_old - (IG__MAX_ENTRIES - 1); /* the oldest go first */
    if (old) {
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(old, "entries")) {
            const cJSON *key = cJSON_GetObjectItemCaseSensitive(e, "key");
            if (skip-- > 0 || !cJSON_IsObject(e) || !cJSON_IsString(key) ||
                strcmp(key->valuestring, k->text) == 0)
                continue;
            cJSON_AddItemToArray(entries, cJSON_Duplicate(e, true));
        }
    }
    cJSON *ne = cJSON_CreateObject();
    cJSON_AddStringToObject(ne, "key", k->text);
    cJSON_AddStringToObject(ne, "device", ctx->info.name);
    cJSON_AddNumberToObject(ne, "driver_version", ctx->driver_version);
    cJSON_AddStringToObject(ne, "shaders", k->shaders);
    cJSON_AddStringToObject(ne, "shape", k->shape);
    cJSON_AddStringToObject(ne, "precision", ig__precision(ctx));
    cJSON_AddStringToObject(ne, "kernel", ch->kernel);
    cJSON_AddNumberToObject(ne, "width", ch->width);
    cJSON_AddNumberToObject(ne, "height", ch->height);
    cJSON_AddNumberToObject(ne, "batch", ch->batch);
    cJSON *times = cJSON_AddObjectToObject(ne, "times_ms");
    for (int i = 0; i < ch->n_times; i++) cJSON_AddNumberToObject(times, ch->times[i].name, ch->times[i].ms);
    cJSON_AddItemToArray(entries, ne);
    char *text = cJSON_Print(root);
    if (text) ig__vk_write_atomic(path, text, strlen(text)); /* no cache is no failure */
    free(text);
    cJSON_Delete(root);
}

/* ---- measuring ----------------------------------------------------------------------------------- */

static double ig__now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static int ig__cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Times every candidate (cand[i]; cleared for a kernel that did not really run or failed);
 * fills ch->times and ch->kernel. An error only when no candidate could render (or the device
 * was lost). */
static ig_result ig__measure(ig_vk_context *ctx, const ig_render_desc *desc, bool *cand,
                             ig_vk_kernel_choice *ch, ig_error *err) {
    const ig_config *c = &desc->model->cfg;
    const ig_plan *plan = desc->plan;
    ig_plan small; /* a render larger than IG__MEASURE_MAX_PX: the native view, scaled down */
    bool own_plan = false;
    uint64_t px = (uint64_t)plan->width * plan->height;
    if (px > IG__MEASURE_MAX_PX) {
        double s = sqrt((double)IG__MEASURE_MAX_PX / (double)px);
        int w = (int)(plan->width * s), h = (int)(plan->height * s);
        ig_result pr = ig_plan_init(&small, c, ig_view_native(), w > 0 ? w : 1, h > 0 ? h : 1, err);
        if (pr != IG_OK) return pr;
        plan = &small;
        own_plan = true;
        px = (uint64_t)plan->width * plan->height;
    }
    int B = desc->count == 1 || px > IG__MEASURE_MAX_PX / 4 ? 1 : 2;
    float *z = malloc((size_t)B * (size_t)c->z_dim * sizeof *z);
    float *out = malloc((size_t)B * 3 * px * sizeof *out);
    if (!z || !out) {
        free(z);
        free(out);
        if (own_plan) ig_plan_free(&small);
        return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "level-kernel measurement");
    }
    for (int i = 0; i < B; i++) ig_latent_from_seed((uint32_t)i, z + (size_t)i * c->z_dim, c->z_dim);
    double gms = -1;
    ig_render_desc md = {.model = desc->model, .plan = plan, .z = z, .count = B,
                         .psi = desc->psi, .gpu_ms = &gms};
    bool dev_want = ctx->dev_want; /* measurement renders go to host memory */
    int dev_batches = ctx->dev_batches;
    ctx->dev_want = false;
    ctx->choosing = true;
    double t_start = ig__now_ms(), best = -1;
    ig_result res = IG_OK, last = IG_OK;
    ch->n_times = 0;
    ch->batch = B;
    ch->width = plan->width;
    ch->height = plan->height;
    for (int k = 0; k < IG__N_KERNELS && !ctx->lost; k++) {
        if (!cand[k]) continue;
        ig__kernels[k].select(ctx);
        double t[IG__MEASURE_REPS];
        int n = 0;
        ig_error e2 = {0};
        ig_result r = ig__vk_inrgan_render(ctx, &md, out, &e2); /* warm-up */
        /* the gemm family reports its variant ("gemm-f16", "gemm-coop-khr", ...) */
        size_t nl = strlen(ig__kernels[k].name);
        if (r == IG_OK && (strncmp(ctx->kernel_used, ig__kernels[k].name, nl) != 0 ||
                           (ctx->kernel_used[nl] != 0 && ctx->kernel_used[nl] != '-'))) {
            cand[k] = false; /* it fell back to another kernel: not a candidate here */
            continue;
        }
        for (int rep = 0; rep < IG__MEASURE_REPS && r == IG_OK; rep++) {
            if (rep > 0 && ig__now_ms() - t_start > IG__MEASURE_BUDGET_MS) break;
            double t0 = ig__now_ms();
            r = ig__vk_inrgan_render(ctx, &md, out, &e2);
            t[n++] = gms >= 0 ? gms : ig__now_ms() - t0;
        }
        if (r != IG_OK) {
            cand[k] = false;
            last = r;
            if (err) *err = e2;
            continue;
        }
        qsort(t, (size_t)n, sizeof t[0], ig__cmp);
        double med = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
        snprintf(ch->times[ch->n_times].name, sizeof ch->times[0].name, "%s", ig__kernels[k].name);
        ch->times[ch->n_times++].ms = med;
        if (best < 0 || med < best) {
            best = med;
            snprintf(ch->kernel, sizeof ch->kernel, "%s", ig__kernels[k].name);
        }
    }
    ch->measure_ms = ig__now_ms() - t_start;
    ctx->choosing = false;
    ctx->dev_want = dev_want;
    ctx->dev_batches = dev_batches;
    if (ctx->lost) res = last != IG_OK ? last : IG_ERR_DEVICE_LOST;
    else if (ch->n_times == 0) res = last != IG_OK ? last : IG_ERR_UNSUPPORTED;
    if (res == IG_ERR_UNSUPPORTED && last == IG_OK)
        ig_error_set(err, res, "no level kernel could render the model on %s", ctx->info.name);
    free(z);
    free(out);
    if (own_plan) ig_plan_free(&small);
    return res;
}

/* ---- the choice ---------------------------------------------------------------------------------- */

ig_result ig__vk_kernel_choose(ig_vk_context *ctx, const ig_render_desc *desc, ig_error *err) {
    if (!ctx || ctx->choosing || ctx->lost || !desc || !desc->model || !desc->plan) return IG_OK;
    if (ctx->kernel_req != IG_VK_KERNEL_AUTO) { /* told: no choice to make */
        if (!ctx->choice.kernel[0]) {
            snprintf(ctx->choice.kernel, sizeof ctx->choice.kernel, "%s", ig__kernel_id(ctx->kernel_req)->name);
            ctx->choice.source = ctx->kernel_req_src;
        }
        return IG_OK;
    }
    const ig_config *c = &desc->model->cfg;
    ig__key *k = malloc(sizeof *k);
    if (!k) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "level-kernel choice");
    ig__make_key(ctx, c, k);
    if (ctx->choice_key == k->hash) { /* chosen before for this shape */
        const ig__kernel *kn = ig__kernel_named(ctx->choice.kernel);
        if (kn) kn->select(ctx);
        free(k);
        return IG_OK;
    }
    ig_vk_kernel_choice ch;
    memset(&ch, 0, sizeof ch);
    bool cand[IG__N_KERNELS];
    int n_cand = 0;
    for (int i = 0; i < IG__N_KERNELS; i++) n_cand += (cand[i] = ig__kernels[i].applies(ctx, c));
    ig__cache_file(ctx, k, ch.cache_file, sizeof ch.cache_file);
    ig_result res = IG_OK;
    bool cpu = ctx->info.type && strcmp(ctx->info.type, "cpu") == 0;
    if (n_cand <= 1 || (cpu && !ig__env_flag("INRGAN_VK_KERNEL_MEASURE"))) {
        snprintf(ch.kernel, sizeof ch.kernel, "%s", ig__kernels[0].name);
        ch.source = n_cand <= 1 ? "only" : "default";
    } else {
        cJSON *old = ig__cache_read(ch.cache_file);
        if (old && ig__cache_lookup(old, k, cand, &ch)) {
            ch.source = "cache";
        } else {
            res = ig__measure(ctx, desc, cand, &ch, err);
            ch.source = "measured";
            if (res == IG_OK) ig__cache_store(ctx, ch.cache_file, old, k, &ch);
        }
        cJSON_Delete(old);
    }
    if (res == IG_OK) {
        ig__kernel_named(ch.kernel)->select(ctx);
        ctx->choice = ch;
        ctx->choice_key = k->hash;
    }
    free(k);
    return res;
}

void ig_vk_last_kernel_choice(const ig_vk_context *ctx, ig_vk_kernel_choice *choice) {
    if (!choice) return;
    memset(choice, 0, sizeof *choice);
    choice->source = "";
    if (!ctx) return;
    *choice = ctx->choice;
    if (!choice->source) choice->source = "";
}
