/* test_vk_devices.c - device listing and choice, the summary line, the on-disk pipeline cache.
 * Expects lavapipe to be the only device (tests/vk_tests.cmake sets VK_DRIVER_FILES), unless
 * INRGAN_TEST_GPU names another device. */
#include "vk_test.h"

#include <cjson/cJSON.h>
#include <sys/stat.h>
#include <unistd.h>

static bool lavapipe_only(void) {
    const char *f = getenv("VK_DRIVER_FILES");
    return f && strstr(f, "lvp_icd") && strcmp(vk_test_gpu, "llvmpipe") == 0;
}

static void test_listing(void) {
    char buf[8192];
    ig_error err = {0};
    CHECK_MSG(ig_vk_list_devices(buf, sizeof buf, &err) == IG_OK, "%s", err.msg);
    printf("%s", buf);
    ig_vk_device_info infos[16];
    int n = 0;
    CHECK(ig_vk_enumerate(infos, 16, &n, &err) == IG_OK);
    CHECK(n >= 1);
    bool found = false;
    for (int i = 0; i < n && i < 16; i++) {
        CHECK(infos[i].index == i);
        CHECK(infos[i].name[0] != 0);
        CHECK(infos[i].subgroup_size >= 1);
        CHECK(infos[i].device_local_bytes > 0);
        if (strstr(infos[i].name, "llvmpipe")) {
            found = true;
            CHECK(strcmp(infos[i].type, "cpu") == 0);
            CHECK(strstr(buf, "llvmpipe") != NULL);
            CHECK(!infos[i].coopmat_nv); /* lavapipe 22.3 has no cooperative matrix */
        }
    }
    if (lavapipe_only()) {
        CHECK(found);
        CHECK(!ig_vk_gpu_available()); /* a CPU device is not a GPU for --backend auto */
    }
    /* a too small buffer is an error, not an overflow */
    char tiny[8];
    CHECK(ig_vk_list_devices(tiny, sizeof tiny, &err) == IG_ERR_INVALID_ARGUMENT);
}

static void test_choice(void) {
    ig_error err = {0};
    ig_vk_context *ctx = NULL;
    ig_vk_desc d = vk_test_desc();

    if (lavapipe_only()) {
        /* auto never takes a CPU device unless allowed */
        d.gpu = NULL;
        CHECK(ig_vk_context_create(&d, &ctx, &err) == IG_ERR_NO_DEVICE);
        CHECK_MSG(strstr(err.msg, "-g") != NULL, "%s", err.msg);
        CHECK(ctx == NULL);
        d.allow_cpu_device = true;
        CHECK_MSG(ig_vk_context_create(&d, &ctx, &err) == IG_OK, "%s", err.msg);
        if (ctx) {
            CHECK(strstr(ig_vk_context_summary(ctx), "llvmpipe") != NULL);
            ig_vk_context_destroy(ctx);
            ctx = NULL;
        }
        d.allow_cpu_device = false;
        /* by index */
        d.gpu = "0";
        CHECK_MSG(ig_vk_context_create(&d, &ctx, &err) == IG_OK, "%s", err.msg);
        ig_vk_context_destroy(ctx);
        ctx = NULL;
        /* by name, case-insensitive */
        d.gpu = "LLVMpipe";
        CHECK_MSG(ig_vk_context_create(&d, &ctx, &err) == IG_OK, "%s", err.msg);
        ig_vk_context_destroy(ctx);
        ctx = NULL;
    }
    d.gpu = "no-such-gpu-xyz";
    CHECK(ig_vk_context_create(&d, &ctx, &err) == IG_ERR_NO_DEVICE);
    CHECK_MSG(strstr(err.msg, "no-such-gpu-xyz") != NULL, "%s", err.msg);
    d.gpu = "99";
    CHECK(ig_vk_context_create(&d, &ctx, &err) == IG_ERR_NO_DEVICE);
    CHECK(ctx == NULL);

    d = vk_test_desc();
    CHECK_MSG(ig_vk_context_create(&d, &ctx, &err) == IG_OK, "%s", err.msg);
    if (!ctx) return;
    const char *s = ig_vk_context_summary(ctx);
    printf("summary: %s\n", s);
    CHECK(strchr(s, '\n') == NULL);
    CHECK(strstr(s, "subgroup=") != NULL);
    CHECK(strstr(s, "precision=fp32") != NULL);
    CHECK(strstr(s, "validation=on") != NULL);
    CHECK(ig_vk_context_precision(ctx) == IG_VK_PRECISION_FP32);
    vk_test_ctx_ok(ctx);
    ig_vk_context_destroy(ctx);

    /* fp16 requested: used when the device has 16-bit storage, unless disabled by env */
    d.precision = IG_VK_PRECISION_FP16;
    setenv("INRGAN_DISABLE_FP16", "1", 1);
    CHECK_MSG(ig_vk_context_create(&d, &ctx, &err) == IG_OK, "%s", err.msg);
    if (ctx) {
        CHECK(ig_vk_context_precision(ctx) == IG_VK_PRECISION_FP32);
        ig_vk_context_destroy(ctx);
    }
    unsetenv("INRGAN_DISABLE_FP16");
    /* coopmat is off by default and never on where unsupported */
    d.coopmat = true;
    CHECK_MSG(ig_vk_context_create(&d, &ctx, &err) == IG_OK, "%s", err.msg);
    if (ctx) {
        if (lavapipe_only()) CHECK(!ig_vk_context_coopmat(ctx));
        vk_test_ctx_ok(ctx);
        ig_vk_context_destroy(ctx);
    }
    /* validation through the environment */
    d = vk_test_desc();
    d.validate = false;
    setenv("INRGAN_VALIDATE", "1", 1);
    CHECK_MSG(ig_vk_context_create(&d, &ctx, &err) == IG_OK, "%s", err.msg);
    if (ctx) {
        CHECK(strstr(ig_vk_context_summary(ctx), "validation=on") != NULL);
        ig_vk_context_destroy(ctx);
    }
    unsetenv("INRGAN_VALIDATE");
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* The single cache file in dir (the name depends on the device). */
static int cache_file(const char *dir, char *path, size_t len) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s/pipelines-*.bin 2>/dev/null", dir);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    int ok = fgets(path, (int)len, p) != NULL;
    pclose(p);
    if (!ok) return -1;
    path[strcspn(path, "\n")] = 0;
    return 0;
}

static void prepare_once(const char *dir, const char *model_path) {
    ig_vk_desc d = vk_test_desc();
    d.cache_dir = dir;
    ig_vk_context *ctx = NULL;
    ig_error err = {0};
    CHECK_MSG(ig_vk_context_create(&d, &ctx, &err) == IG_OK, "%s", err.msg);
    if (!ctx) return;
    ig_model *m = NULL;
    ig_plan plan;
    if (vk_test_load(model_path, &m, &plan, 0) == 0) {
        ig_render_desc rd = {.model = m, .plan = &plan};
        CHECK_MSG(ig_vk_prepare(ctx, &rd, &err) == IG_OK, "%s", err.msg);
        ig_plan_free(&plan);
        ig_model_free(m);
    }
    vk_test_ctx_ok(ctx);
    ig_vk_context_destroy(ctx);
}

static void test_pipeline_cache(void) {
    const char *dir = vk_test_path("pcache-test/sub");
    const char *model = vk_test_path("devices_model.safetensors");
    vk_test_spec s = vk_test_spec_tiny("bilinear", 1, 1);
    CHECK(vk_test_model_write(model, &s, 5) == 0);
    char path[512];
    if (cache_file(dir, path, sizeof path) == 0) unlink(path);

    prepare_once(dir, model);
    CHECK(cache_file(dir, path, sizeof path) == 0);
    long n = file_size(path);
    CHECK_MSG(n > 24, "cache file %s: %ld bytes", path, n);
    FILE *f = fopen(path, "rb");
    char magic[4] = {0};
    if (f) {
        CHECK(fread(magic, 1, 4, f) == 4);
        fclose(f);
    }
    CHECK(memcmp(magic, "IGPC", 4) == 0);

    /* garbage: ignored, then replaced by a valid file */
    f = fopen(path, "wb");
    if (f) {
        fputs("not a pipeline cache at all, just text of some length........", f);
        fclose(f);
    }
    prepare_once(dir, model);
    CHECK(file_size(path) == n || file_size(path) > 24);
    f = fopen(path, "rb");
    if (f) {
        CHECK(fread(magic, 1, 4, f) == 4);
        fclose(f);
    }
    CHECK(memcmp(magic, "IGPC", 4) == 0);

    /* a truncated file: ignored too */
    CHECK(truncate(path, 40) == 0);
    prepare_once(dir, model);
    CHECK(file_size(path) > 40);

    /* a flipped byte in the data: the checksum catches it */
    f = fopen(path, "r+b");
    if (f) {
        fseek(f, 60, SEEK_SET);
        int c = fgetc(f);
        fseek(f, 60, SEEK_SET);
        fputc(c ^ 0x55, f);
        fclose(f);
    }
    prepare_once(dir, model);
    CHECK(file_size(path) > 40);
    /* no temporary files left behind */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s | grep -c tmp", dir);
    FILE *p = popen(cmd, "r");
    char out[16] = "0";
    if (p) {
        if (!fgets(out, sizeof out, p)) out[0] = '0';
        pclose(p);
    }
    CHECK(atoi(out) == 0);
}

/* ig_vk_devices_json (inrgan devices --json): parses, has every documented field, values plausible
 * (against the limits Vulkan requires and against ig_vk_enumerate's view of the same devices). */
static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    CHECK_MSG(cJSON_IsNumber(v), "field %s missing or not a number", k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}
static const cJSON *obj(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    CHECK_MSG(v != NULL, "field %s missing", k);
    return v;
}
static void test_facts_json(void) {
    char *text = NULL;
    ig_error err = {0};
    CHECK_MSG(ig_vk_devices_json(&text, &err) == IG_OK, "%s", err.msg);
    if (!text) return;
    CHECK(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
    cJSON *root = cJSON_Parse(text);
    CHECK_MSG(root != NULL, "not JSON: %.200s", text);
    free(text);
    if (!root) return;
    const cJSON *devs = obj(root, "devices");
    ig_vk_device_info infos[16];
    int n = 0;
    CHECK(ig_vk_enumerate(infos, 16, &n, &err) == IG_OK);
    CHECK_MSG(cJSON_GetArraySize(devs) == n, "%d devices in JSON, %d enumerated",
              cJSON_GetArraySize(devs), n);
    CHECK(num(root, "header_version") >= 200);
    for (int i = 0; i < cJSON_GetArraySize(devs) && i < 16; i++) {
        const cJSON *d = cJSON_GetArrayItem(devs, i);
        CHECK(num(d, "index") == i);
        CHECK(strcmp(cJSON_GetStringValue(obj(d, "name")), infos[i].name) == 0);
        CHECK(strcmp(cJSON_GetStringValue(obj(d, "type")), infos[i].type) == 0);
        CHECK(num(d, "vendor_id") == infos[i].vendor_id);
        CHECK(num(d, "device_id") == infos[i].device_id);
        CHECK(cJSON_IsString(obj(d, "driver_version")) && cJSON_IsString(obj(d, "api_version")));
        CHECK(strncmp(cJSON_GetStringValue(obj(d, "api_version")), "1.", 2) == 0);
        CHECK(cJSON_IsString(obj(d, "driver_name")));
        const cJSON *L = obj(d, "limits");
        /* the minimums the Vulkan specification requires of every device */
        CHECK(num(L, "maxComputeSharedMemorySize") >= 16384);
        CHECK(num(L, "maxComputeSharedMemorySize") == infos[i].max_shared_memory);
        CHECK(num(L, "maxComputeWorkGroupInvocations") >= 128);
        CHECK(num(L, "maxStorageBufferRange") >= 134217728.0);
        CHECK(num(L, "maxStorageBufferRange") == infos[i].max_storage_buffer_range);
        CHECK(num(L, "maxMemoryAllocationSize") >= 1073741824.0); /* 2^30 (maintenance3) */
        const cJSON *wg = obj(L, "maxComputeWorkGroupSize");
        CHECK(cJSON_GetArraySize(wg) == 3);
        CHECK(cJSON_GetArrayItem(wg, 0) && cJSON_GetArrayItem(wg, 0)->valuedouble >= 128);
        const cJSON *heaps = obj(d, "memory_heaps");
        CHECK(cJSON_GetArraySize(heaps) >= 1);
        bool budget = cJSON_IsTrue(obj(d, "memory_budget_ext"));
        double local = 0;
        for (int h = 0; h < cJSON_GetArraySize(heaps); h++) {
            const cJSON *hp = cJSON_GetArrayItem(heaps, h);
            CHECK(num(hp, "size") > 0);
            if (cJSON_IsTrue(obj(hp, "device_local"))) local += num(hp, "size");
            CHECK(budget ? cJSON_IsNumber(obj(hp, "budget")) : cJSON_IsNull(obj(hp, "budget")));
            if (budget) CHECK(num(hp, "budget") <= num(hp, "size"));
        }
        CHECK(local > 0);
        const cJSON *sg = obj(d, "subgroup");
        double sz = num(sg, "size");
        CHECK_MSG(sz >= 1 && sz <= 128 && sz == infos[i].subgroup_size, "subgroup %g", sz);
        if (cJSON_IsTrue(obj(sg, "size_control")))
            CHECK(num(sg, "min_size") <= sz && sz <= num(sg, "max_size"));
        const char *coop[] = {"coopmat_khr", "coopmat_nv", "coopmat2_nv", "coopvec_nv"};
        for (int c = 0; c < 4; c++) CHECK(cJSON_IsBool(obj(obj(d, coop[c]), "present")));
        for (int c = 0; c < 2; c++) {
            const cJSON *shapes = obj(obj(d, coop[c]), "shapes");
            CHECK(cJSON_IsArray(shapes));
            /* shapes only where the extension is */
            if (!cJSON_IsTrue(obj(obj(d, coop[c]), "present"))) CHECK(cJSON_GetArraySize(shapes) == 0);
            const cJSON *sh;
            cJSON_ArrayForEach(sh, shapes) {
                CHECK(num(sh, "M") >= 1 && num(sh, "N") >= 1 && num(sh, "K") >= 1);
                CHECK(cJSON_IsString(obj(sh, "A")) && cJSON_IsString(obj(sh, "scope")));
            }
        }
        CHECK(infos[i].coopmat_khr_ext == cJSON_IsTrue(obj(obj(d, "coopmat_khr"), "present")));
        if (strstr(infos[i].name, "llvmpipe")) {
            CHECK(strcmp(cJSON_GetStringValue(obj(d, "type")), "cpu") == 0);
            CHECK(!cJSON_IsTrue(obj(obj(d, "coopmat_nv"), "present")));
        }
        printf("  facts %d: %s, shared %g, alloc max %g MiB, subgroup %g, %d heaps, budget %s, "
               "khr shapes %d, nv shapes %d\n", i, infos[i].name,
               num(L, "maxComputeSharedMemorySize"), num(L, "maxMemoryAllocationSize") / 1048576,
               sz, cJSON_GetArraySize(heaps), budget ? "yes" : "no",
               cJSON_GetArraySize(obj(obj(d, "coopmat_khr"), "shapes")),
               cJSON_GetArraySize(obj(obj(d, "coopmat_nv"), "shapes")));
    }
    cJSON_Delete(root);
    CHECK(ig_vk_devices_json(NULL, &err) == IG_ERR_INVALID_ARGUMENT);
}

int main(void) {
    vk_test_init();
    RUN(test_listing);
    RUN(test_facts_json);
    RUN(test_choice);
    RUN(test_pipeline_cache);
    return TEST_EXIT();
}
