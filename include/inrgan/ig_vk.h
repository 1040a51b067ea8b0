/* ig_vk.h - the Vulkan compute backend of libinrgan.
 *
 *   ig_vk_context_create(&desc) -> instance + one device + one compute queue, or the caller's
 *                                   (desc.external, see ig_vk_external)
 *   ig_vk_render(ctx, &render_desc, out) -> the same [N,3,H,W] floats as ig_cpu_render
 *   ig_vk_context_destroy(ctx)
 *
 * Device choice (docs/cli.md `-g`): desc.gpu NULL or "auto" takes the best discrete GPU, then
 * an integrated one, then a virtual one; a CPU-type device (lavapipe / llvmpipe) only when
 * desc.allow_cpu_device is set or when it is named. desc.gpu may be an index of
 * ig_vk_list_devices() or a case-insensitive substring of the device name ("llvmpipe", "h100").
 *
 * Environment switches (read at context creation):
 *   INRGAN_VALIDATE=1          Khronos validation layer + an error-counting messenger
 *   INRGAN_DISABLE_FP16=1      never use the fp16 storage path (precision auto/fp16 -> fp32)
 *   INRGAN_DISABLE_COOPMAT=1   never use cooperative matrices
 *   INRGAN_VK_KERNEL=auto|pixel|gemm|fused|fused16
 *                              the INR-GAN level kernel (overrides ig_vk_desc.level_kernel
 *                               and the kernel cache; src/vk/vk_choice.c)
 *   INRGAN_VK_KERNEL_MEASURE=1 level kernel "auto" measures on a CPU-type device too (tests;
 *                               without it lavapipe takes "pixel" unmeasured)
 *   INRGAN_VK_SUBMIT_MS=MS      target device time of one submission (default 100 on a GPU, 0 =
 *                               never split on a CPU-type device); a batch chunk whose estimated
 *                               time exceeds it is split into several submissions at dispatch
 *                               boundaries (read at each render); 0: one submission per chunk
 *   INRGAN_VK_GEMM_TILE=small|large|coop|auto  the gemm level kernel's tile set: 64 x 64 or
 *                               128 x 128 (outputs x pixels) on every level, or coop (the KHR
 *                               cooperative-matrix variant's 128 x 128 tile; fp16 storage);
 *                               auto (default): coop where it runs, else per level large where
 *                               the device allows it and the level has >= 1024 pixels and a layer
 *                               with >= 128 outputs, else small; another value fails the context
 *                               creation (IG_ERR_USAGE); a set the device or the precision cannot
 *                               run: the per-pixel kernel
 *   INRGAN_VK_COOP_EMU=1       test hook: the coop tile set runs as its scalar twin (fp16)
 *   INRGAN_VK_FENCE_TIMEOUT=S   seconds one submission may take (read at each submission; default
 *                               60, 600 on a CPU-type device); longer: IG_ERR_DEVICE_LOST, the
 *                               context is lost
 *   INRGAN_PIPELINE_CACHE=0    no on-disk pipeline cache (and no level-kernel cache)
 *   INRGAN_VK_TRACE=1          print every recorded dispatch (shader, groups, windows) to stderr
 *
 * Renders accept every plan of src/plan.c (views, padded sizes, tiles, strides, const modes),
 * instance-norm models (statistics from a native-size pass, as the CPU backend) and
 * interpolation in z, w or params space, and match ig_cpu_render within 1e-4 (fp32) or 2e-2
 * (fp16, coopmat) of max(1, max|ref|). On llvmpipe, whose shaders stop looping after 65535
 * iterations per invocation, renders of models too wide for that are refused
 * (IG_ERR_UNSUPPORTED) instead of being computed wrong; use the CPU backend there.
 *
 * Every failure returns an ig_result and fills ig_error with one line naming the Vulkan call
 * and the VkResult name, e.g.
 *   "vkAllocateMemory(67108864 bytes, memory type 0) failed: VK_ERROR_OUT_OF_DEVICE_MEMORY".
 * The library never exits and never prints to stdout (validation messages go to stderr).
 */
#ifndef IG_VK_H
#define IG_VK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inrgan.h"

typedef enum ig_vk_precision {
    IG_VK_PRECISION_FP32 = 0, /* default */
    IG_VK_PRECISION_FP16 = 1, /* fp16 storage of weights/activations, fp32 arithmetic */
    IG_VK_PRECISION_AUTO = 2  /* fp16 on GPUs that support 16-bit storage, fp32 elsewhere */
} ig_vk_precision;

/* How the per-image FMM weights rownorm(Ws * (1 + L.R/sqrt(r))) reach the level shader. */
typedef enum ig_vk_fmm_mode {
    IG_VK_FMM_DEFAULT = 0, /* = IG_VK_FMM_PASS */
    IG_VK_FMM_PASS = 1,    /* a weight-generation pass writes W per image, levels read it */
    IG_VK_FMM_FUSED = 2    /* only row norms are precomputed; levels rebuild W from L, R, Ws */
} ig_vk_fmm_mode;

/* The INR-GAN level kernel (fp32, weight-generation pass; not with coopmat). */
typedef enum ig_vk_level_kernel {
    IG_VK_KERNEL_DEFAULT = 0, /* = IG_VK_KERNEL_AUTO */
    IG_VK_KERNEL_PIXEL = 1,   /* level.comp: one invocation per pixel runs all the level's layers */
    IG_VK_KERNEL_GEMM = 2,    /* one tiled-GEMM dispatch per layer over the level's pixels for a
                                 group of images (nearest up-sampling without instance norm,
                                 fp32 or fp16 storage; other models and plans fall back to
                                 IG_VK_KERNEL_PIXEL: see ig_vk_level_kernel_used) */
    IG_VK_KERNEL_AUTO = 3,    /* chosen by measurement at the first render of a model shape on a
                                 GPU, cached on disk (ig_vk_last_kernel_choice); "pixel" on a
                                 CPU-type device unless INRGAN_VK_KERNEL_MEASURE=1; candidates:
                                 pixel, gemm, fused */
    IG_VK_KERNEL_FUSED = 4,   /* the gemm kernel, but each level whose widths fit shared memory
                                 (<= 256 channels, a suffix of the levels) in one dispatch that
                                 keeps its activations in shared memory (same models as gemm) */
    IG_VK_KERNEL_FUSED16 = 5  /* IG_VK_KERNEL_FUSED with those activations stored as fp16 (fp32
                                 arithmetic; fp16-storage accuracy, about 1e-3 relative; never
                                 chosen by auto) */
} ig_vk_level_kernel;

/* An existing Vulkan device the backend renders on instead of creating its own instance and
 * device (a viewer that presents with the same device). Handles are passed as void * so that
 * this header needs no Vulkan headers: VkInstance, VkPhysicalDevice, VkDevice, VkQueue.
 *
 * The caller's contract:
 *  - the instance was created with apiVersion >= 1.2 through the same Vulkan loader
 *    (libvulkan.so.1), and the device on physical_device with the extensions and features
 *    ig_vk_device_requirements() lists (they cannot be queried from a VkDevice afterwards: the
 *    backend trusts the list; the validation layer, if on, reports a violation);
 *  - queue is queue 0.. of queue_family, a family with VK_QUEUE_COMPUTE_BIT;
 *  - the queue is shared: when the caller submits from another thread, it passes
 *    queue_lock/queue_unlock (the backend holds them around each vkQueueSubmit and
 *    vkQueueWaitIdle, and never waits on a fence while holding them); NULL: no other thread
 *    uses the queue while a backend call runs;
 *  - the handles outlive the context. ig_vk_context_destroy waits for the queue and destroys
 *    only what the backend created (command pool, fence, pipelines, memory); never the device
 *    or the instance.
 * volk: if this process's volk global table has no instance loaded yet, the backend loads the
 * caller's instance (volkLoadInstanceOnly); otherwise it leaves the global table alone (the
 * instance-level functions it calls are loader trampolines that dispatch on the handle).
 * Device functions come from the context's own VolkDeviceTable. Validation messages go to the
 * caller's messenger: ig_vk_validation_errors() stays 0 on such a context. */
typedef struct ig_vk_external {
    void *instance;            /* VkInstance */
    void *physical_device;     /* VkPhysicalDevice */
    void *device;              /* VkDevice */
    uint32_t queue_family;
    void *queue;               /* VkQueue */
    void (*queue_lock)(void *user);
    void (*queue_unlock)(void *user);
    void *queue_user;
} ig_vk_external;

/* What a device must be created with for ig_vk_external: Vulkan 1.2, these device extensions
 * and these features set to VK_TRUE (only those the device supports are listed, so enabling
 * them cannot fail; the INRGAN_DISABLE_FP16 / INRGAN_DISABLE_COOPMAT switches drop theirs). */
typedef struct ig_vk_device_reqs {
    uint32_t api_version;              /* VK_API_VERSION_1_2: instance apiVersion at least */
    const char *extensions[4];         /* static strings */
    uint32_t n_extensions;
    bool storage_buffer_16bit_access;  /* VkPhysicalDeviceVulkan11Features */
    bool shader_float16;               /* VkPhysicalDeviceVulkan12Features */
    bool vulkan_memory_model;          /* VkPhysicalDeviceVulkan12Features */
    bool cooperative_matrix_nv;        /* VkPhysicalDeviceCooperativeMatrixFeaturesNV */
} ig_vk_device_reqs;

/* Fills *out for physical_device of instance (VkInstance, VkPhysicalDevice). IG_ERR_UNSUPPORTED
 * when the device cannot run the backend (Vulkan < 1.2, no compute queue): then create the
 * device as you like and render with the CPU backend. */
ig_result ig_vk_device_requirements(void *instance, void *physical_device, ig_vk_device_reqs *out,
                                    ig_error *err);

/* VkInstances the library itself created in this process so far (contexts without
 * ig_vk_desc.external, device listings): diagnostics, e.g. the viewer's one-instance check. */
uint32_t ig_vk_instances_created(void);

typedef struct ig_vk_desc {
    const char *gpu;           /* NULL / "auto" / index / name substring */
    bool allow_cpu_device;     /* let "auto" pick a CPU-type device */
    bool validate;             /* Khronos validation (also INRGAN_VALIDATE=1) */
    int precision;             /* ig_vk_precision */
    bool coopmat;              /* allow the cooperative-matrix (tensor core) level kernel;
                                  implies fp16 storage and the weight-generation pass */
    int fmm;                   /* ig_vk_fmm_mode */
    int level_kernel;          /* ig_vk_level_kernel */
    const char *cache_dir;     /* pipeline and level-kernel cache folder; NULL = $XDG_CACHE_HOME/
                                  inrgan or ~/.cache/inrgan; "" = no on-disk cache */
    /* test hooks (0 = off) */
    uint64_t cap_heap_bytes;   /* pretend the device heap holds only this much */
    uint64_t cap_buffer_range; /* pretend maxStorageBufferRange is this small */
    int fail_alloc_at;         /* the k-th Vulkan allocation/creation (1-based) fails */
    bool coopmat_emulate;      /* run the coopmat level kernel with its matrix products as
                                  plain loops (devices without cooperative matrices) */
    /* not a test hook: */
    const ig_vk_external *external; /* NULL: own instance and device (gpu, allow_cpu_device,
                                       validate choose them); else render on that device
                                       (gpu and allow_cpu_device unused) */
} ig_vk_desc;

typedef struct ig_vk_context ig_vk_context;

/* One physical device as listed by `inrgan devices`. */
typedef struct ig_vk_device_info {
    int index;
    char name[256];
    const char *type;          /* "discrete", "integrated", "virtual", "cpu", "other" */
    uint32_t vendor_id, device_id;
    char driver[256];          /* driver name + info */
    uint32_t api_version;
    uint64_t device_local_bytes;
    uint32_t subgroup_size;
    bool fp16_storage;         /* storageBuffer16BitAccess */
    bool fp16_arith;           /* shaderFloat16 */
    bool coopmat_nv;           /* VK_NV_cooperative_matrix with an f16 x f16 -> f32 16x16x16 shape */
    bool coopmat_khr_ext;      /* VK_KHR_cooperative_matrix advertised (used by ig_vk_peak only) */
    uint64_t max_storage_buffer_range;
    uint32_t max_shared_memory;
} ig_vk_device_info;

/* "discrete", "integrated", "virtual", "cpu" or "other" for a VkPhysicalDeviceType value. */
const char *ig_vk_device_type_name(int type);

/* Lists the Vulkan devices (deduplicated by UUID). *count may exceed max; only max are
 * written. Returns IG_ERR_NO_DEVICE when there is no Vulkan loader. */
ig_result ig_vk_enumerate(ig_vk_device_info *infos, int max, int *count, ig_error *err);
/* The same as text, one device per line, for `inrgan devices`. */
ig_result ig_vk_list_devices(char *buf, size_t len, ig_error *err);
/* `inrgan devices --json`: every device's limits, memory heaps and budget, subgroup sizes,
 * cooperative-matrix shapes (src/vk/vk_facts.c) as one JSON document in *out (free() it). */
ig_result ig_vk_devices_json(char **out, ig_error *err);
/* True when a discrete or integrated GPU is present (decides --backend auto). */
bool ig_vk_gpu_available(void);

/* What the last ig_vk_render did: the batch chunking and, with profiling on, the device time
 * of each phase (src/vk/vk_disp.c). Phases: "hypernetwork" (mapping + affine heads / styles,
 * fc.comp and lerp.comp), "weights" (weight generation), "levelN" (INR-GAN level N: its layer
 * dispatches, normalisation included), "layers" (CIPS), "torgb" (separate ToRGB dispatches;
 * the per-pixel level kernel fuses ToRGB into its levels), "other". */
#define IG_VK_MAX_PHASES 24
typedef struct ig_vk_phase {
    char name[24];
    double ms;              /* device time, summed over the render's submissions */
    uint32_t dispatches;
} ig_vk_phase;
typedef struct ig_vk_render_report {
    int chunk_images;        /* images per submission (the smallest chunk size used) */
    const char *chunk_limit; /* what shrank it below the batch: "" (nothing),
                              * "device memory budget", "maxMemoryAllocationSize", "submission
                              * time" (one level's dispatch of the batch would exceed
                              * INRGAN_VK_SUBMIT_MS) */
    int submissions;         /* dispatch-list submissions of the render (all chunks; more
                              * than the chunks when INRGAN_VK_SUBMIT_MS split them) */
    double submit_target_ms; /* the split target in force (0: no splitting) */
    double max_submission_ms;/* device time of the longest submission (-1: no timestamps) */
    bool profiled;           /* phases below were measured */
    int n_phases;
    ig_vk_phase phases[IG_VK_MAX_PHASES]; /* in order of first dispatch */
    double phases_ms;        /* their sum */
    const char *gemm_tiles;  /* gemm level kernel: its tile sets ("small", "large",
                              * "small+large", "coop"); CIPS: the layers' tile set; "" when it did not run */
} ig_vk_render_report;
/* Profiling: a timestamp after every dispatch of the following renders (slower: for a
 * separate, untimed render). Off by default; a no-op where the queue has no timestamps. */
void ig_vk_set_profiling(ig_vk_context *ctx, bool on);
void ig_vk_last_render_report(const ig_vk_context *ctx, ig_vk_render_report *report);

ig_result ig_vk_context_create(const ig_vk_desc *desc, ig_vk_context **out, ig_error *err);
void ig_vk_context_destroy(ig_vk_context *ctx);
/* One line: "[0 NVIDIA H100] discrete vendor=0x10de driver=... subgroup=32 fp16=... ". */
const char *ig_vk_context_summary(const ig_vk_context *ctx);
/* The precision the renders of this context use (after feature checks and env switches). */
ig_vk_precision ig_vk_context_precision(const ig_vk_context *ctx);
bool ig_vk_context_coopmat(const ig_vk_context *ctx);
/* What a render of `model` on this context computes with: "coopmat", "fp16" or "fp32" (CIPS
 * models: the context's storage precision, "fp16" or "fp32", never "coopmat"). */
const char *ig_vk_render_precision(const ig_vk_context *ctx, const ig_model *model);
/* The level kernel the last render of this context ran. CIPS: "cips-gemm" (fp32), "cips-gemm-f16"
 * (fp16 storage), "cips-gemm-coop-khr" / "cips-gemm-coop-emu" (the coop tile set). INR-GAN: "pixel", "gemm" (fp32),
 * "gemm-f16" (fp16 storage), "gemm-coop-khr" (KHR cooperative matrices), "gemm-coop-emu"
 * (their scalar twin, INRGAN_VK_COOP_EMU=1), "fused", "fused16" or "coopmat" ("" before the
 * first; a requested gemm or fused kernel that does not support the model or the plan falls
 * back to "pixel"; a fused one with no level narrow enough, or with fp16 storage, ran the gemm
 * kernel: "gemm" or "gemm-f16"). */
const char *ig_vk_level_kernel_used(const ig_vk_context *ctx);
/* How the INR-GAN level kernel of the last render was chosen (src/vk/vk_choice.c). With
 * IG_VK_KERNEL_AUTO the first render (or ig_vk_prepare) of a model shape on a GPU renders a
 * few images at the render's size with every kernel that can render it (a warm-up, then up to
 * 3 timed renders each, device time from timestamps, wall time without; at most 2 images of at
 * most 1 Mpixel, a larger render measured on its native view scaled down to that; no more timed
 * renders once the measurement has taken 2 s) and keeps the fastest median. The
 * result is cached in <cache folder>/kernels-<device UUID>.json, keyed by device UUID, driver
 * version, a hash of the embedded shaders, the model shape (family, layer widths, levels) and
 * the precision; later contexts read it without timing. A damaged or unreadable file is
 * ignored and replaced (written to a temporary file and renamed); an unwritable folder only
 * means no cache. */
#define IG_VK_MAX_KERNELS 8
typedef struct ig_vk_kernel_choice {
    char kernel[16];        /* the kernel asked of the render: "pixel", "gemm"; "" before any */
    const char *source;     /* "env" (INRGAN_VK_KERNEL), "option" (ig_vk_desc.level_kernel),
                               "measured", "cache", "default" (CPU-type device, not measured),
                               "only" (one kernel can render this model on this context) */
    int n_times;            /* kernels timed ("measured", "cache"); 0 otherwise */
    struct {
        char name[16];
        double ms;          /* median ms of one render of `batch` images at width x height */
    } times[IG_VK_MAX_KERNELS];
    int batch, width, height;
    double measure_ms;      /* wall time the measurement took in this process (0: none) */
    char cache_file[1024];  /* the cache file ("" when there is no on-disk cache) */
} ig_vk_kernel_choice;
void ig_vk_last_kernel_choice(const ig_vk_context *ctx, ig_vk_kernel_choice *choice);

/* Errors reported by the validation layer so far (0 without validation). */
uint32_t ig_vk_validation_errors(const ig_vk_context *ctx);
/* The first validation error message, or "" . */
const char *ig_vk_validation_message(const ig_vk_context *ctx);

/* out: [count, 3, height, width] floats (desc->plan's output size). desc->threads and
 * desc->on_block are ignored. Model tensors and coordinate embeddings are uploaded on the
 * first render and reused while the model and the plan stay the same. */
ig_result ig_vk_render(ig_vk_context *ctx, const ig_render_desc *desc, float *out,
                       ig_error *err);

/* Where ig_vk_render_device leaves a render's floats: one documented, strided layout for every
 * model family and level kernel. The value of image n (0..count-1), channel c (0 red, 1 green,
 * 2 blue), row y, column x (the plan's output size, height x width) is the float at index
 *   offset / 4 + n * image_stride + c * channel_stride + (y * width + x) * pixel_stride
 * of `buffer` (a VkBuffer created with VK_BUFFER_USAGE_STORAGE_BUFFER_BIT and
 * VK_BUFFER_USAGE_TRANSFER_SRC_BIT, size bytes from offset). Strides are in floats; the values
 * are exactly those ig_vk_render writes to out[n][c][y][x]. */
typedef struct ig_vk_device_output {
    void *buffer;              /* VkBuffer */
    uint64_t offset, size;     /* bytes; offset is a multiple of 4 */
    int count, height, width;
    uint64_t image_stride, channel_stride, pixel_stride;
} ig_vk_device_output;

/* ig_vk_render, but the result stays on the device: no read-back, no host copy (*out says where).
 * Completion: the call returns after the render's submission completed (a fence wait, as every
 * ig_vk_render; on an external device the queue lock is held only around vkQueueSubmit). The
 * caller reads the buffer in its own command buffer on the context's queue after a memory
 * barrier srcStage COMPUTE_SHADER / srcAccess SHADER_WRITE (the render's writes are not made
 * visible by the library). Lifetime: the buffer region is the context's work memory, valid
 * until the next ig_vk_render, ig_vk_render_device, ig_vk_prepare or ig_vk_context_destroy on
 * this context. Only renders that run as one batch (every image of desc fits the device's work
 * memory at once; one image does whenever it fits at all) can stay on the device: others
 * return IG_ERR_UNSUPPORTED when the second batch would start (use ig_vk_render then). */
ig_result ig_vk_render_device(ig_vk_context *ctx, const ig_render_desc *desc, ig_vk_device_output *out,
                              ig_error *err);

/* Uploads the model and the plan's embeddings and creates every pipeline the render of
 * desc->model needs, so that the first ig_vk_render does no set-up (desc->z, count unused). */
ig_result ig_vk_prepare(ig_vk_context *ctx, const ig_render_desc *desc, ig_error *err);

/* One grouped layer GEMM of the gemm level kernel timed alone (inrgan bench --gemm-sweep):
 * `batch` images of `pixels` pixels (padded to the tile's width), c_in -> c_out with per-image
 * weights and the level epilogue (bias, lrelu), in the context's storage precision, with tile
 * set "small", "large" or "coop" (fp16 contexts: the KHR cooperative-matrix variant, or with
 * INRGAN_VK_COOP_EMU=1 its scalar twin). One warm-up repetition, then `reps` in one
 * submission: *ms = device time of one repetition (wall time where the queue has no
 * timestamps), *kernel = the kernel that ran ("gemm", "gemm-f16", "gemm-coop-khr",
 * "gemm-coop-emu"). IG_ERR_UNSUPPORTED: the tile set or the shape does not run here. Images
 * beyond what one descriptor window or a quarter of the memory budget holds reuse the same
 * buffers (the work is the same). */
ig_result ig_vk_gemm_time(ig_vk_context *ctx, int pixels, int c_in, int c_out, int batch,
                          const char *tile, int reps, double *ms, const char **kernel,
                          ig_error *err);

/* The device's own arithmetic peaks in GFLOP/s, measured vkpeak-style (src/vk/vk_peak.c,
 * shaders/peak.comp): independent FMA chains on registers, or cooperative-matrix products,
 * timed with timestamp queries (submit-to-fence wall time where the queue has none). The work
 * grows from tiny until one dispatch takes >= ~20 ms; the best of a few runs is reported.
 * About 0.1-0.5 s per figure (lavapipe included; loops stay far below its loop limit).
 *   fp32_gflops     vec4 fp32 FMA
 *   fp16_gflops     f16vec4 FMA; -1 where the context has no shaderFloat16 enabled (today:
 *                   only contexts created with coopmat or coopmat_emulate enable it)
 *   coopmat_gflops  GL_NV_cooperative_matrix 16x16x16 f16 x f16 + f32 -> f32 (or the same
 *                   through GL_KHR_cooperative_matrix on a device without the NV extension,
 *                   when the build has that shader variant: docs/building.md); -1 where the
 *                   device (own, not external, for KHR) has neither
 * A NULL output skips that figure. On failure all outputs are -1. Does not touch the render
 * caches. */
ig_result ig_vk_peak(ig_vk_context *ctx, double *fp32_gflops, double *fp16_gflops,
                     double *coopmat_gflops, ig_error *err);

/* The test hooks (allocation counting and failure injection, memory statistics, trimming)
 * are not public: src/ig_vk_test.h. */

#endif
