/* vk_internal.h - shared by the files of src/vk/ only.
 *
 *   vk_util.c    VkResult names, the check macro, allocation-failure injection, env switches
 *   vk_ctx.c     instance, messenger, physical-device listing and choice, device, queue
 *   vk_mem.c     device memory: blocks sub-allocated by arenas, descriptor windows
 *   vk_pipe.c    embedded SPIR-V, pipelines, the on-disk pipeline cache
 *   vk_shaders.def  the shader variants, one line each (the IG_SH_* ids below, vk.cmake, vk_pipe.c)
 *   vk_disp.c    dispatch lists: records, descriptor windows and sets, recording, submission;
 *                the fc.comp and lerp.comp dispatches both families plan
 *   vk_backend.c the entry: ig_vk_prepare / ig_vk_render / trim through the per-family table
 *   vk_choice.c  the INR-GAN level kernel for "auto": measured at first use, cached on disk
 *   vk_inrgan.c  the INR-GAN family: model/plan uploads, the dispatch list (planning), readback
 *   vk_cips.c    the CIPS family (own model cache and dispatch list)
 * Dependencies go one way: vk_backend.c -> vk_choice.c -> families -> vk_disp.c, vk_pipe.c, vk_mem.c ->
 * vk_ctx.c, vk_util.c (tests/include_cycles.py). vk_ctx.c reaches the caches only through
 * ctx->release_cached.
 */
#ifndef IG_VK_INTERNAL_H
#define IG_VK_INTERNAL_H

#ifndef VK_NO_PROTOTYPES
#define VK_NO_PROTOTYPES
#endif
#include <volk.h>

#include <string.h>

#include "ig_vk.h"
#include "ig_vk_test.h"

/* ---- errors ---------------------------------------------------------------------------- */
const char *ig__vk_result_name(VkResult r);
ig_result ig__vk_result_code(VkResult r);
/* Fills err with "<call> failed: <VK_...>" (plus a hint for memory errors). */
ig_result ig__vk_fail(ig_error *err, VkResult r, const char *call, const char *file, int line);
/* ig__vk_fail, adding " (injected)" when the failure was injected. */
ig_result ig__vk_fail_alloc(ig_vk_context *ctx, ig_error *err, VkResult r, const char *call,
                            const char *file, int line);

/* Evaluates a Vulkan call that returns VkResult; on failure fills err and jumps to `fail`
 * with `res` set. The expression text is the message, so it names the call. */
#define IG_VK_CHECK(expr)                                                                   \
    do {                                                                                    \
        VkResult ig__r = (expr);                                                            \
        if (ig__r != VK_SUCCESS) {                                                          \
            res = ig__vk_fail(err, ig__r, #expr, __FILE__, __LINE__);                       \
            goto fail;                                                                      \
        }                                                                                   \
    } while (0)

/* The same for calls that create or allocate something: counted, and failed on purpose when
 * the injection counter says so (ig_vk_desc.fail_alloc_at). An injected failure does not
 * call the function, so its output handle stays VK_NULL_HANDLE. */
#define IG_VK_ALLOC(ctx, expr)                                                              \
    do {                                                                                    \
        VkResult ig__r = ig__vk_inject(ctx) ? VK_ERROR_OUT_OF_DEVICE_MEMORY : (expr);       \
        if (ig__r != VK_SUCCESS) {                                                          \
            res = ig__vk_fail_alloc(ctx, err, ig__r, #expr, __FILE__, __LINE__);            \
            goto fail;                                                                      \
        }                                                                                   \
    } while (0)

/* Always-on invariant check (programmer errors only). */
#define IG_VK_ASSERT(x)                                                                     \
    do {                                                                                    \
        if (!(x)) ig__vk_assert_fail(#x, __FILE__, __LINE__);                               \
    } while (0)
void ig__vk_assert_fail(const char *what, const char *file, int line);

bool ig__env_flag(const char *name); /* "1", "true", "yes", "on" */

/* ---- memory ---------------------------------------------------------------------------- */
typedef struct ig__vk_block {
    VkDeviceMemory mem;
    VkBuffer buf;
    VkDeviceSize size, used; /* of the buffer */
    VkDeviceSize mem_size;   /* of the memory (counted in the budget) */
    uint8_t *map; /* NULL when not host visible */
    bool device;  /* from the device memory type (else the host/staging type) */
    struct ig__vk_block *next;
} ig__vk_block;

/* A bump allocator over blocks; everything in it is freed at once. */
typedef struct ig_vk_arena {
    ig__vk_block *head;
    bool device;
    VkDeviceSize block_size;
} ig_vk_arena;

/* A sub-allocation: a byte range of one block's VkBuffer. */
typedef struct ig_vk_buf {
    VkBuffer buf;
    VkDeviceSize off, size;
    uint8_t *map; /* host pointer of byte 0, or NULL */
} ig_vk_buf;

ig_result ig__vk_arena_alloc(ig_vk_context *ctx, ig_vk_arena *arena, VkDeviceSize size,
                             ig_vk_buf *out, ig_error *err);
void ig__vk_arena_free(ig_vk_context *ctx, ig_vk_arena *arena);
/* Makes sure the arena's current block has `size` free bytes (one block for a known total). */
ig_result ig__vk_arena_reserve(ig_vk_context *ctx, ig_vk_arena *arena, VkDeviceSize size,
                               ig_error *err);
/* Device bytes still allowed by the budget (heap size or the cap_heap_bytes test hook). */
VkDeviceSize ig__vk_heap_left(const ig_vk_context *ctx);
/* Makes ctx->work (the per-batch buffers, kept between renders) one empty block of at least
 * `total` bytes, replacing a smaller or split one; sets ctx->work_size. */
ig_result ig__vk_work_reserve(ig_vk_context *ctx, VkDeviceSize total, ig_error *err);

/* A descriptor window: [off, off+range) of a buffer, off aligned down to the storage offset
 * alignment; *base is the element index of byte `byte_off` inside the window. */
typedef struct ig__vk_window {
    VkBuffer buf;
    VkDeviceSize off, range;
} ig__vk_window;
ig__vk_window ig__vk_window_of(ig_vk_context *ctx, const ig_vk_buf *b, VkDeviceSize byte_off,
                               VkDeviceSize byte_len, uint32_t elem_size, uint32_t *base);

/* ---- VK_KHR_cooperative_matrix (extension 507) ------------------------------------------
 * Debian 12's Vulkan headers (1.3.239) predate it; its few structures are ABI-fixed by the
 * specification, so they are declared here when the headers lack them. */
#ifndef VK_KHR_cooperative_matrix
#define IG__STYPE_COOPMAT_FEATURES_KHR ((VkStructureType)1000506000)
#define IG__STYPE_COOPMAT_PROPS_KHR ((VkStructureType)1000506001)
typedef struct ig__coopmat_features_khr {
    VkStructureType sType;
    void *pNext;
    VkBool32 cooperativeMatrix, cooperativeMatrixRobustBufferAccess;
} ig__coopmat_features_khr;
typedef struct ig__coopmat_props_khr {
    VkStructureType sType;
    void *pNext;
    uint32_t MSize, NSize, KSize;
    int32_t AType, BType, CType, ResultType; /* VkComponentTypeKHR: the NV values */
    VkBool32 saturatingAccumulation;
    int32_t scope;                            /* VkScopeKHR: the NV values */
} ig__coopmat_props_khr;
#define IG__KHR_COOPMAT_DECL "declared by inrgan (headers predate it)"
#else
#define IG__STYPE_COOPMAT_FEATURES_KHR VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR
#define IG__STYPE_COOPMAT_PROPS_KHR VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_KHR
typedef VkPhysicalDeviceCooperativeMatrixFeaturesKHR ig__coopmat_features_khr;
typedef VkCooperativeMatrixPropertiesKHR ig__coopmat_props_khr;
#define IG__KHR_COOPMAT_DECL "system headers"
#endif
typedef VkResult(VKAPI_PTR *ig__pfn_coop_khr)(VkPhysicalDevice, uint32_t *, ig__coopmat_props_khr *);

/* ---- pipelines ------------------------------------------------------------------------- */
enum { /* IG_SH_FC, IG_SH_WGEN, ...: the variants of vk_shaders.def, in its order */
#define IG_SHADER(id, name, source, defines) IG_SH_##id,
#include "vk_shaders.def"
#undef IG_SHADER
    IG_SH_COUNT
};
#define IG_VK_BINDINGS 12
#define IG_VK_MAX_SPEC 8

typedef struct ig__vk_pipeline {
    int shader;
    uint32_t spec[IG_VK_MAX_SPEC];
    VkPipeline pipe;
} ig__vk_pipeline;

/* The SPIR-V of one shader variant (generated, embedded at build time). A variant of an
 * IG_SHADER_REQ line whose extension the build's shader compiler lacked is compiled out:
 * bytes == 0 (vk.cmake printed a configure line naming it). */
typedef struct ig__vk_spirv {
    const char *name;     /* "ig_spv_<name>" */
    const uint32_t *code;
    size_t bytes;         /* 0: compiled out */
    const char *requires; /* IG_SHADER_REQ: the GLSL extension it needs ("GL_KHR_..."); else NULL */
} ig__vk_spirv;
const ig__vk_spirv *ig__vk_shader(int id);
/* Whether shader `id` is in this build (false: compiled out, or no such id). Ask before
 * planning a kernel that needs an IG_SHADER_REQ variant. */
bool ig__vk_shader_built(int id);
/* The shader compiler the SPIR-V was built with ("glslang 15.2.0"). */
const char *ig__vk_shader_compiler(void);

ig_result ig__vk_pipe_init(ig_vk_context *ctx, const char *cache_dir, ig_error *err);
void ig__vk_pipe_destroy(ig_vk_context *ctx);
/* Returns (creating once) the pipeline of shader `id` with specialization constants
 * spec[0..n) bound to constant_id 0..n-1. */
/* A compute pipeline of shader `id` with specialization constants spec[0..n) (ids 0..n-1),
 * through `cache` (VK_NULL_HANDLE: none); the caller owns it. */
ig_result ig__vk_pipeline_create(ig_vk_context *ctx, int id, const uint32_t *spec, int n,
                                 VkPipelineCache cache, VkPipeline *out, ig_error *err);
ig_result ig__vk_pipeline_get(ig_vk_context *ctx, int id, const uint32_t *spec, int n,
                              VkPipeline *out, ig_error *err);

/* ---- the context ----------------------------------------------------------------------- */
typedef struct ig__vk_model ig__vk_model; /* vk_inrgan.c */
typedef struct ig__vk_plan ig__vk_plan;
typedef struct ig__vk_cips ig__vk_cips;   /* vk_cips.c */

struct ig_vk_context {
    bool external;              /* instance and device are the caller's (ig_vk_external) */
    void (*queue_lock)(void *user), (*queue_unlock)(void *user); /* external: the shared queue */
    void *queue_user;
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    PFN_vkDestroyDebugUtilsMessengerEXT destroy_messenger; /* this instance's own */
    VkPhysicalDevice phys;
    VkDevice device;
    struct VolkDeviceTable vk;
    VkQueue queue;
    uint32_t queue_family;
    VkCommandPool cmd_pool;
    VkCommandBuffer cmd;
    VkFence fence;
    /* GPU time of renders (timestamp queries; NULL pool when the queue has no timestamps) */
    VkQueryPool ts_pool;
    uint32_t ts_valid_bits;
    double gpu_ms;              /* accumulated by the render submissions of one ig_vk_render */

    ig_vk_device_info info;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties mem_props;
    uint8_t pipeline_cache_uuid[VK_UUID_SIZE];
    uint32_t driver_version;

    /* memory */
    uint32_t device_type, host_type;
    bool uma;                   /* device memory is host visible + coherent: no staging */
    VkDeviceSize range;         /* usable descriptor range (cap, minus alignment) */
    VkDeviceSize align;         /* storage offset alignment (and atom size) */
    VkDeviceSize max_alloc;     /* one VkDeviceMemory at most */
    VkDeviceSize heap_budget;   /* bytes we allow ourselves in the device heap */
    VkDeviceSize heap_used, heap_peak;
    uint32_t blocks;

    /* allocation-failure injection */
    uint32_t alloc_count;
    uint32_t fail_at;           /* absolute alloc_count that fails; 0 = never */
    bool injected;

    /* validation */
    bool validation;
    uint32_t validation_errors;
    char validation_msg[1024];

    /* features in use */
    bool fp16;                  /* fp16 storage path selected */
    bool fp16_ok, coopmat_ok;   /* supported and not disabled */
    bool coopmat_khr_ok;        /* VK_KHR_cooperative_matrix enabled (own device without NV
                                   coopmat: f16 x f16 -> f32 16x16x16 subgroup shape,
                                   shaderFloat16, memory model, shader variant built); used by
                                   ig_vk_peak, and by the gemm kernel's KHR variant (then also
                                   next to NV coopmat: vk_ctx.c) */
    bool fp16_arith;            /* shaderFloat16 enabled on the device (supported, fp16 not disabled) */
    bool coopmat;               /* coopmat level kernel allowed */
    bool coop_emu;              /* ... with emulated matrix products (test hook) */
    bool fused_fmm;
    bool level_gemm;            /* INR-GAN levels on the tiled-GEMM kernels where supported */
    bool level_fused;           /* ... and the levels that fit on the fused kernel (level_gemm too) */
    bool level_fused16;         /* ... with fp16 activations in shared memory (level_fused too) */
    int gemm_tile;              /* INRGAN_VK_GEMM_TILE: -1 auto, else its tile set (vk_inrgan.h) */
    bool gemm_coop_khr;         /* the gemm kernel's KHR cooperative-matrix variant can run */
    bool gemm_coop_emu;         /* INRGAN_VK_COOP_EMU=1: its scalar twin instead (test hook) */
    const char *kernel_used;    /* level kernel of the last INR-GAN render ("pixel", "gemm",
                                   "gemm-f16", "gemm-coop-khr", "gemm-coop-emu", "fused",
                                   "fused16", "coopmat";
                                   "" before any) */
    /* the level-kernel choice (vk_choice.c): what was asked after INRGAN_VK_KERNEL and the desc
     * (IG_VK_KERNEL_AUTO, _PIXEL or _GEMM) and by whom ("env", "option"; NULL for auto), the
     * model shape the current choice was made for (0: none) and the choice itself */
    int kernel_req;
    const char *kernel_req_src;
    uint64_t choice_key;
    bool choosing;              /* measurement renders in progress */
    ig_vk_kernel_choice choice;
    /* submission splitting (vk_disp.c): FLOPs per ms observed in the last long submission */
    double flop_rate;
    ig_vk_precision precision;

    /* pipelines */
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout pipe_layout;
    VkPipelineCache pipe_cache;
    char pipe_cache_path[1024];
    size_t pipe_cache_loaded;   /* bytes of cache data read from disk (0 = none) */
    int pipe_cache_new;         /* pipelines created since load */
    ig__vk_pipeline *pipes;
    int n_pipes, cap_pipes;

    /* Frees every family's cached uploads and the work and staging memory (set by the entry,
     * vk_backend.c, before a family runs; NULL while nothing was rendered). Through this
     * pointer vk_ctx.c and the families reach the entry without depending on it. */
    void (*release_cached)(ig_vk_context *ctx);
    /* caches of vk_inrgan.c */
    ig__vk_model *model;
    ig__vk_plan *plan;          /* the render's plan */
    ig__vk_plan *plan_stats;    /* the instance-norm statistics plan (native size), or NULL */
    ig__vk_cips *cips;          /* the uploaded CIPS model (vk_cips.c), or NULL */
    ig_vk_arena work;
    ig_vk_arena stage;
    VkDeviceSize work_size;     /* bytes reserved in `work` by the last render */

    /* llvmpipe ends every loop of a shader invocation after 65535 iterations in total (all
     * loops together, gallivm LP_MAX_TGSI_LOOP_ITERATIONS) and carries on with wrong values:
     * renders whose kernels would loop more are refused there. 0 = no such limit. */
    uint64_t loop_limit;

    /* ig_vk_render_device (vk_disp.c): the result stays in work memory, described in dev_out */
    bool dev_want;
    int dev_batches;            /* submissions of results so far in this render */
    ig_vk_device_output dev_out;

    bool lost;
    bool profile;               /* ig_vk_set_profiling: a timestamp after every dispatch */
    ig_vk_render_report report; /* of the last render (vk_disp.c) */
    VkDescriptorPool lost_pool; /* a render's pool still in use after a fence timeout (vk_disp.c) */
    ig_vk_mem_stats stats;
    char summary[768];
};

/* True when the next counted allocation must fail (and counts it). */
bool ig__vk_inject(ig_vk_context *ctx);

/* ---- the level-kernel choice (vk_choice.c) ------------------------------------------------
 * Before an INR-GAN render or prepare (vk_backend.c): resolves ig_vk_desc.level_kernel "auto"
 * for desc's model shape (override, cache or measurement; ig_vk_last_kernel_choice) and sets
 * ctx->level_gemm. Measurement renders run through the family directly (ctx->choosing). */
ig_result ig__vk_kernel_choose(ig_vk_context *ctx, const ig_render_desc *desc, ig_error *err);
/* mkdir -p (vk_pipe.c): 0, or -1 when a folder cannot be made. */
int ig__vk_mkdirs(const char *path);
bool ig__vk_write_atomic(const char *path, const void *data, size_t n);

/* ---- the families: the entries of vk_backend.c's table ---------------------------------------
 * prepare: uploads the model and plan and creates the pipelines a render of desc will use;
 * render: out [count, 3, H, W] (checks its arguments; ig_vk_render's messages); release: frees
 * the family's cached uploads (not the shared work and staging arenas). storage_only: the
 * family follows the context's storage precision (fp32 or fp16) but has no path of the
 * context's NV cooperative-matrix kernel (ig_vk_render_precision: "fp16", never "coopmat"). */
typedef struct ig__vk_family {
    const char *name;
    ig_result (*prepare)(ig_vk_context *ctx, const ig_render_desc *desc, ig_error *err);
    ig_result (*render)(ig_vk_context *ctx, const ig_render_desc *desc, float *out, ig_error *err);
    void (*release)(ig_vk_context *ctx);
    bool storage_only;
} ig__vk_family;

/* vk_inrgan.c */
ig_result ig__vk_inrgan_prepare(ig_vk_context *ctx, const ig_render_desc *desc, ig_error *err);
ig_result ig__vk_inrgan_render(ig_vk_context *ctx, const ig_render_desc *desc, float *out, ig_error *err);
void ig__vk_inrgan_release(ig_vk_context *ctx);
/* vk_cips.c */
ig_result ig__vk_cips_prepare(ig_vk_context *ctx, const ig_render_desc *desc, ig_error *err);
ig_result ig__vk_cips_render(ig_vk_context *ctx, const ig_render_desc *desc, float *out, ig_error *err);
void ig__vk_cips_release(ig_vk_context *ctx);

/* Waits until the device (own device) or the context's queue (external device, under the
 * caller's queue lock) is idle. */
void ig__vk_wait_idle(ig_vk_context *ctx);
/* Frees all cached uploads (every family's) and the work and staging memory: what a family
 * does before uploading another model. */
static inline void ig__vk_release_cached(ig_vk_context *ctx) {
    if (ctx->release_cached) ctx->release_cached(ctx);
}

/* A physical device's extensions (calloc'd; *n = 0 and NULL on failure), and whether a list has one. */
VkExtensionProperties *ig__vk_device_extensions(VkPhysicalDevice pd, uint32_t *n);
bool ig__vk_has_ext(const VkExtensionProperties *e, uint32_t n, const char *name);

/* The caller's lock around the shared queue (ig_vk_external), if it gave one. */
static inline void ig__vk_queue_lock(ig_vk_context *ctx) {
    if (ctx->queue_lock) ctx->queue_lock(ctx->queue_user);
}
static inline void ig__vk_queue_unlock(ig_vk_context *ctx) {
    if (ctx->queue_unlock) ctx->queue_unlock(ctx->queue_user);
}

/* One submission of ctx->cmd, waiting on ctx->fence. */
/* Submits ctx->cmd and waits for it, at most INRGAN_VK_FENCE_TIMEOUT seconds (default 60, 600 on
 * a CPU-type device); a timeout is IG_ERR_DEVICE_LOST and marks the context lost (vk_disp.c). */
ig_result ig__vk_submit_wait(ig_vk_context *ctx, ig_error *err);
/* After vkDeviceWaitIdle in ig_vk_context_destroy: what a timed-out submission still used. */
void ig__vk_disp_release(ig_vk_context *ctx);
/* A render's batch chunk: `images` per submission; limit names what shrank it below the batch
 * ("" none, "device memory budget", "maxMemoryAllocationSize", "submission time"). Keeps the
 * smallest. */
void ig__vk_note_chunk(ig_vk_context *ctx, int images, const char *limit);


/* ---- one-time uploads and submissions (vk_mem.c), shared by vk_inrgan.c and vk_cips.c ------ */
typedef struct ig_vk_upload {
    ig_vk_buf dst;
    VkDeviceSize off;
    ig_vk_buf src; /* staging */
} ig_vk_upload;

typedef struct ig_vk_uploads {
    ig_vk_upload *u;
    int n, cap;
} ig_vk_uploads;

/* FNV-1a over bytes (model / plan fingerprints). */
uint64_t ig__vk_fnv(uint64_t h, const void *p, size_t n);
/* A model's fingerprint, continuing h: config JSON, tensor names and sizes, a sample of every
 * tensor's values (the key of the uploaded-model caches). */
uint64_t ig__vk_model_fp(uint64_t h, const ig_model *m);
/* A host pointer where `bytes` for dst + off must be written: dst's mapping, or staging memory
 * whose copy ig__vk_record_uploads records. */
ig_result ig__vk_upload_ptr(ig_vk_context *ctx, ig_vk_uploads *ups, const ig_vk_buf *dst, VkDeviceSize off,
                            VkDeviceSize bytes, void **ptr, ig_error *err);
void ig__vk_record_uploads(ig_vk_context *ctx, const ig_vk_uploads *ups);
ig_result ig__vk_begin(ig_vk_context *ctx, ig_error *err);      /* reset + begin ctx->cmd */
ig_result ig__vk_end_submit(ig_vk_context *ctx, ig_error *err); /* end, submit, wait */
/* Submits the pending staging copies and frees the staging memory. */
ig_result ig__vk_flush_uploads(ig_vk_context *ctx, ig_vk_uploads *ups, ig_error *err);
/* The end of a cached upload (model, plan): res IG_OK submits the pending copies; either way
 * the staging memory and the upload list are freed. Returns res or the submission's error: on
 * IG_OK the caller keeps what it uploaded, else frees it. */
ig_result ig__vk_uploads_end(ig_vk_context *ctx, ig_vk_uploads *ups, ig_result res, ig_error *err);


/* ---- dispatch lists (vk_disp.c), shared by vk_inrgan.c and vk_cips.c -------------------------
 * A family plans a batch as a list of dispatches, each with its records in the list's meta
 * words and descriptor windows of its bindings. It plans twice: a dry run (no buffers yet; it
 * binds nothing) whose meta size decides the work allocation, then the real run over the
 * allocated buffers; then ig__vk_disp_sets, ig__vk_disp_upload_meta, ig__vk_disp_submit and
 * ig__vk_builder_free. A kernel's record layout is shaders/records/<kernel>.h: planners write
 * m[IGR_<K>_<field>] into IGR_<K>_WORDS words (static asserts keep the list dense). */

#define IG_VK_WG 64u /* workgroup size of the kernels that take it as spec[0] (the default) */

/* One dispatch. Binding 0 is its own meta words [meta_start, meta_start + meta_len); the push
 * constant is the index of its record `rec` inside that window. */
typedef struct ig__vk_disp {
    int shader;
    uint32_t spec[IG_VK_MAX_SPEC];  /* specialization constants 0..n_spec-1 */
    int n_spec;
    VkPipeline pipe;
    uint32_t rec;                   /* its record: meta word index */
    uint32_t meta_start, meta_len;  /* the meta words it reads, bound at binding 0 */
    uint32_t gx, gy, gz;
    uint32_t used;                  /* bitmask of bindings */
    ig__vk_window win[IG_VK_BINDINGS];
    int level_tag;                  /* the builder's level_tag when it was made */
    double flop;                    /* estimated FLOPs (ig__vk_disp_spread_flop; 0 unknown):
                                       where INRGAN_VK_SUBMIT_MS splits the submission */
} ig__vk_disp;

/* The growing dispatch list and its meta words, then its descriptor sets. */
typedef struct ig__vk_builder {
    ig_vk_context *ctx;
    ig__vk_disp *d;
    int n, cap;
    uint32_t *meta;
    uint32_t n_meta, cap_meta;
    bool oom;                   /* a host allocation failed: the list is incomplete */
    bool dry;                   /* the dry run: counts records and dispatches, binds nothing */
    const ig_vk_buf *meta_buf;  /* real run: where the meta words go (aligned, see meta_rel) */
    const ig_vk_buf *dummy;     /* real run: bound where a shader's binding is not used */
    VkDescriptorPool pool;      /* ig__vk_disp_sets: one set per dispatch */
    VkDescriptorSet *sets;
    int level_tag;              /* level + 1 of the dispatches planned now (0: not a level);
                                 * names their phase in ig_vk_render_report */
} ig__vk_builder;

/* A dispatch of `shader` (spec {IG_VK_WG}, groups 1x1x1) whose zeroed record of `words` is its
 * whole meta window; returns the record, valid until the next call (NULL and b->oom when out
 * of memory). */
uint32_t *ig__vk_disp_new(ig__vk_builder *b, int shader, uint32_t words, ig__vk_disp **out);
/* Binds [byte_off, byte_off + len) of buf at `binding`; returns the element base (es bytes). */
uint32_t ig__vk_bind(ig__vk_builder *b, ig__vk_disp *d, uint32_t binding, const ig_vk_buf *buf,
                     VkDeviceSize byte_off, VkDeviceSize len, uint32_t es);
void ig__vk_bind_dummy(ig__vk_builder *b, ig__vk_disp *d, uint32_t binding);
/* IG_OK, or the out-of-memory error of an incomplete list. */
ig_result ig__vk_builder_status(const ig__vk_builder *b, ig_error *err);
/* After the real run (whose meta words must be the dry run's meta_bytes): the pipelines, the
 * descriptor pool, one set per dispatch, written; INRGAN_VK_TRACE prints the list, each line
 * "inrgan vk: <label>dispatch ...", and with INRGAN_VK_TRACE_WORDS=1 too each dispatch's meta
 * words in hex ("inrgan vk: <label>words <i>: ..."; to compare record layouts across changes). */
ig_result ig__vk_disp_sets(ig__vk_builder *b, uint64_t meta_bytes, const char *label,
                           ig_error *err);
/* Writes the meta words into b->meta_buf (directly or through staging). */
ig_result ig__vk_disp_upload_meta(ig__vk_builder *b, ig_vk_uploads *ups, ig_error *err);
/* One submission: the staged uploads, `zero` filled with zeros (or NULL), every dispatch with a
 * barrier between each two (between timestamps: ctx->gpu_ms), then `bytes` of `result` made
 * readable by the host (copied to staging when not mapped); waits. *host: where they are;
 * NULL for a device-output render (ctx->dev_want): the result stays where it is. */
ig_result ig__vk_disp_submit(ig__vk_builder *b, const ig_vk_uploads *ups, const ig_vk_buf *zero,
                             const ig_vk_buf *result, VkDeviceSize bytes, const void **host,
                             ig_error *err);
/* Device-output renders: the family states the layout of the batch's result (strides in
 * floats) after ig__vk_disp_submit returned host == NULL, then skips its host copy. */
void ig__vk_dev_layout(ig_vk_context *ctx, int height, int width, uint64_t image_stride,
                       uint64_t channel_stride, uint64_t pixel_stride);
/* Spreads `flop` estimated FLOPs over the dispatches of level_tag `tag` (0: those outside the
 * levels) in proportion to their workgroup counts; the estimate that splits a submission when
 * its time (FLOPs / the observed rate, or an assumed 250 GFLOP/s on a GPU, 20 on a CPU-type
 * device) exceeds INRGAN_VK_SUBMIT_MS. */
void ig__vk_disp_spread_flop(ig__vk_builder *b, int tag, double flop);
/* The split target in ms (INRGAN_VK_SUBMIT_MS, else 100 on a GPU, 0 = none on a CPU-type
 * device) and the FLOPs per ms a submission's time is estimated with (observed in the last
 * submission of >= 0.5 ms, else 250 GFLOP/s on a GPU, 20 on a CPU-type device). An
 * unparsable INRGAN_VK_SUBMIT_MS is an error. */
ig_result ig__vk_submit_budget(const ig_vk_context *ctx, double *target_ms, double *flop_per_ms,
                               ig_error *err);
/* Frees the list, its meta words and its descriptor pool and sets; b is empty after. */
void ig__vk_builder_free(ig__vk_builder *b);

/* The largest k <= kmax with (k - 1) stride + len <= cap (all in elements); at least 1: how
 * many vectors `stride` apart one window of cap elements holds (image groups). */
uint32_t ig__vk_kfit(uint64_t cap, uint64_t stride, uint64_t len, uint64_t kmax);

/* One fully connected layer (fc.comp) for n vectors, both families' mapping layers, the INR-GAN
 * affine heads and the CIPS styles: y[v][o] = post(W[o] . x[v] * wgain * xscale + bias[o] *
 * bgain). Offsets and strides in floats. */
typedef struct ig__vk_fc {
    uint32_t in_dim, rows, n;    /* input length, output rows (W rows), vectors */
    uint32_t flags;              /* fc.comp: 1 normalise x (z), 2 lrelu * sqrt 2, 4 truncation */
    float wgain, bgain, psi;
    const ig_vk_buf *w, *bias;   /* W [rows][in_dim] from w_off, bias [rows] from b_off */
    uint64_t w_off, b_off;
    /* input vector v from x_off + v x_stride; its outputs from y_off + v y_stride */
    const ig_vk_buf *x, *y;
    uint64_t x_off, y_off;
    uint32_t x_stride, y_stride;
    const ig_vk_buf *avg;        /* w_avg [rows] from avg_off (binding 5); NULL: a dummy there */
    uint64_t avg_off;
    uint32_t group;              /* vectors per dispatch at most; 0: as many as fit the windows */
} ig__vk_fc;
/* Plans the layer: dispatches over chunks of rows whose W fits a window, each over groups of
 * vectors (fc->group, or the most whose x and y windows fit; gy within the device's limit). */
void ig__vk_plan_fc(ig__vk_builder *b, const ig__vk_fc *fc);

/* The mapping network of either family (vk_disp.c): fc.comp per layer (src/lower.h's n_map),
 * z normalisation fused into the first, the truncation w_avg + psi (w - w_avg) (w_avg at avg_off
 * in map) into the last when `trunc`. z from `z`, the layers ping-pong through h[0] and h[1];
 * returns the index of the h that holds w (0 without layers). */
int ig__vk_plan_mapping(ig__vk_builder *b, const ig_config *c, const ig_vk_buf *map, const uint32_t *map_w,
                        const uint32_t *map_b, uint32_t avg_off, bool trunc, const ig_vk_buf *z, ig_vk_buf *h,
                        uint32_t n, double psi, uint32_t group);

/* a[v] = lerp(a[v], b[v], t[v]) (lerp.comp) for n vectors of `len` elements of es bytes (4, or
 * 2: fp16), `stride` apart in buf: a from element 0, b from element b0. Image groups while a
 * vector fits one window, else element chunks of one image. */
void ig__vk_plan_lerp(ig__vk_builder *b, const ig_vk_buf *buf, uint64_t b0, uint32_t len,
                      uint32_t stride, uint32_t es, uint32_t n, const float *t);

/* Around the batches of one render: statistics and device time reset before the first; after
 * the last, *desc->gpu_ms on success, or after a failure a clean context (work and staging
 * memory dropped unless the device is lost). Returns res. */
void ig__vk_render_begin(ig_vk_context *ctx);
ig_result ig__vk_render_end(ig_vk_context *ctx, const ig_render_desc *desc, ig_result res);

/* Index of meta word x inside the binding-0 window that starts at word `start` (the meta
 * buffer itself is aligned, so the window's alignment slack is known while planning). */
static inline uint32_t ig__vk_meta_rel(const ig__vk_builder *b, uint32_t start, uint32_t x) {
    return x - start + (uint32_t)((start * 4ull) % b->ctx->align) / 4;
}

static inline uint32_t ig__vk_fbits(float f) { /* a float's bits, for records */
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline uint32_t ig__vk_min32(uint64_t a, uint64_t b) { return (uint32_t)(a < b ? a : b); }
static inline uint32_t ig__vk_groups(uint64_t n, uint32_t wg) { /* workgroups for n items */
    return (uint32_t)((n + wg - 1) / wg);
}

/* Device time between the two timestamps (queries 0 and 1) of ctx->ts_pool, in ms (vk_disp.c). */
VkResult ig__vk_timestamps_ms(ig_vk_context *ctx, double *ms);

#endif
