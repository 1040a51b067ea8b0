/* vw.h - inrgan-viewer internals: the image a frame shows (vw_job), the render worker, the
 * Vulkan presenter, the HUD rasterizer and the script parser.
 *
 *   main.c    options, window, input, state, progressive scheduling, script execution
 *   worker.c  a render thread: vw_job -> ig_render_image (the CLI's code path) -> RGB8
 *   gpu.c     Vulkan instance/device/swapchain (shared with the Vulkan backend); uploads RGB8
 *             into an image, blits it letterboxed into the swapchain image, copies the HUD on
 *             top, presents
 *   hud.c     stb_easy_font quads rasterized into an RGB8 panel
 *   script.c  the --script language (docs/viewer.md)
 */
#ifndef VW_H
#define VW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "inrgan.h"

/* ---- the image of one frame: everything `inrgan render` needs to reproduce it ---------- */
typedef struct vw_job {
    ig_view view;
    int width, height;        /* render size at full resolution */
    int scale;                /* progressive preview: 1 = full resolution, k = (width/k) x (height/k) */
    uint32_t seed_a, seed_b;
    float t;                  /* 0: seed_a alone; else the point t from seed_a to seed_b */
    ig_space space;
    double psi;
    ig_const_mode const_mode;
    ig_noise noise;           /* models with noise (CIPS): --noise; seeded by seed_a unless fixed */
    bool noise_fixed;
    uint32_t noise_seed;      /* noise_fixed: every image uses this seed */
} vw_job;

bool vw_job_equal(const vw_job *a, const vw_job *b);
/* The size a job renders at (its preview size when scale > 1). */
void vw_job_size(const vw_job *j, int *width, int *height);

/* ---- worker.c: one render thread, latest request wins ------------------------------------ */
typedef struct vw_worker vw_worker;

typedef struct vw_devimg vw_devimg; /* a render converted on the device (vw_gpu_convert) */
typedef struct vw_gpu vw_gpu;

typedef struct vw_image {
    vw_job job;
    int width, height;
    uint8_t *rgb;             /* width * height * 3, top row first; owned by the taker */
    struct vw_devimg *dev;    /* zero copy: the pixels on the device instead (rgb NULL); owned
                                 by the taker (vw_gpu_devimg_free) */
    double ms;                /* wall time of the render */
    int bands;                /* tiles it was rendered in (each repeats the per-image work) */
    ig_result result;         /* != IG_OK: rgb is NULL and err says why */
    ig_error err;
} vw_image;

/* backend: the function that renders one plan (the CPU backend's or the Vulkan backend's,
 * chosen in main.c: Vulkan on the presenter's device, or through src/cli/backend.c). notify is called from the worker thread after each result. */
ig_result vw_worker_create(const ig_model *model, ig_backend_fn backend, void *backend_ctx, int threads,
                           void (*notify)(void), vw_worker **out, ig_error *err);
/* Replaces any pending request. A running render is abandoned (between row bands) when the
 * new job is much cheaper: the view moved on and a coarse preview is wanted now. tile: the
 * tile side for ig_render_image (0 = auto); it never changes the pixels. */
/* Zero copy: renders go through ig_vk_render_device on vk_ctx (an ig_vk_context on gpu's device
 * and queue) and vw_gpu_convert (see worker.c). Call before the first submit. */
void vw_worker_present_device(vw_worker *w, vw_gpu *gpu, void *vk_ctx);
void vw_worker_submit(vw_worker *w, const vw_job *job, int tile);
/* The newest finished image, if one arrived since the last call. */
bool vw_worker_take(vw_worker *w, vw_image *out);
bool vw_worker_idle(vw_worker *w);
void vw_worker_destroy(vw_worker *w);

/* ---- gpu.c: presenting through a Vulkan swapchain ---------------------------------------- */
struct GLFWwindow;

typedef struct vw_gpu_desc {
    struct GLFWwindow *window;
    const char *gpu;          /* NULL/"auto" (the best GPU that can present, else a CPU device
                               * such as lavapipe), an index, or a case-insensitive name substring */
    bool validate;            /* VK_LAYER_KHRONOS_validation + an error-counting messenger */
    int compute;              /* create the device with what the Vulkan backend needs
                               * (ig_vk_device_requirements): 0 no, 1 unless it is a CPU device,
                               * 2 always */
} vw_gpu_desc;

typedef struct vw_rect {
    int x0, y0, x1, y1;
} vw_rect;

typedef struct vw_draw {
    const uint8_t *upload;    /* new content, RGB8 upload_w x upload_h, or NULL */
    vw_devimg *upload_dev;    /* or new content already on the device (zero copy), or NULL */
    int upload_w, upload_h;
    bool blit;                /* blit src (content pixels) to dst (window pixels) */
    vw_rect src, dst;
    const uint8_t *hud;       /* RGB8 panel copied at (hud_x, hud_y), or NULL */
    int hud_w, hud_h, hud_x, hud_y;
    bool readback;            /* read the finished window image back (RGB8, malloc'd) */
    uint8_t **readback_rgb;
    int *readback_w, *readback_h;
} vw_draw;

/* Instance without a window: prints the physical devices (--list-devices). */
ig_result vw_gpu_list(FILE *fp, bool validate, ig_error *err);
/* Must be called after glfwInit and before any window exists (loads Vulkan through volk). */
ig_result vw_gpu_init_loader(ig_error *err);
ig_result vw_gpu_create(const vw_gpu_desc *desc, vw_gpu **out, ig_error *err);
const char *vw_gpu_device_name(const vw_gpu *g);
/* The presenting device is a CPU Vulkan device (lavapipe): taken when no GPU can present. */
bool vw_gpu_is_cpu(const vw_gpu *g);
/* The instance, device and queue for ig_vk_desc.external (the queue lock included); false when
 * the device was not created for the Vulkan backend (desc.compute, Vulkan < 1.2). */
struct ig_vk_external;
bool vw_gpu_external(vw_gpu *g, struct ig_vk_external *out);
/* A discrete or integrated Vulkan 1.2 GPU exists (on the presenter's own instance). */
bool vw_gpu_has_compute_gpu(vw_gpu *g);
/* VkInstances the presenter created (the window's, --list-devices'). */
int vw_gpu_instances_created(void);
/* Acquires the next swapchain image. *ready = false: no frame now (minimised, or the
 * swapchain was out of date and has been / will be recreated); call again later. */
ig_result vw_gpu_begin(vw_gpu *g, int *width, int *height, bool *ready, ig_error *err);
ig_result vw_gpu_end(vw_gpu *g, const vw_draw *draw, ig_error *err);
void vw_gpu_resized(vw_gpu *g);
/* Test hook: the next frame reports VK_ERROR_DEVICE_LOST (the device itself stays fine). */
void vw_gpu_inject_device_lost(vw_gpu *g);
void vw_gpu_destroy(vw_gpu *g);
/* Zero-copy presentation (Vulkan renders on the presenting device): converts image 0 of a
 * render left on the device (ig_vk_render_device) into a new device image of 4-byte pixels with
 * viewer/to_rgba8.comp (ig_quantize8's conversion) in the presenter's own command buffer, on the
 * shared queue; returns when it has finished (the render's buffer may be reused after).
 * IG_ERR_UNSUPPORTED: too large for one storage binding (render through the host then). Called
 * from the render worker. */
struct ig_vk_device_output;
ig_result vw_gpu_convert(vw_gpu *g, const struct ig_vk_device_output *o, vw_devimg **out, ig_error *err);
/* The device image's pixels as RGB8 (malloc'd): screenshots of a zero-copy render. */
ig_result vw_gpu_devimg_read(vw_gpu *g, const vw_devimg *d, uint8_t **rgb, ig_error *err);
/* Releases a device image; destroyed once no frame in flight copies from it. */
void vw_gpu_devimg_free(vw_gpu *g, vw_devimg *d);
/* Messages the validation layer reported so far (errors, warnings). */
int vw_gpu_validation_errors(void);
int vw_gpu_validation_warnings(void);

/* ---- hud.c ------------------------------------------------------------------------------- */
/* Rasterizes `text` (ASCII, '\n' separated lines) with stb_easy_font at an integer scale into
 * a malloc'd RGB8 panel with a dark background. Returns false when out of memory. */
bool vw_hud_render(const char *text, int scale, uint8_t **rgb, int *width, int *height);

/* ---- script.c ---------------------------------------------------------------------------- */
typedef enum vw_op {
    VW_OP_SIZE, VW_OP_SEED, VW_OP_ZOOM, VW_OP_PAN, VW_OP_VIEW, VW_OP_RESET, VW_OP_STEP, VW_OP_T,
    VW_OP_SPACE, VW_OP_PSI, VW_OP_RESIZE, VW_OP_WAIT_RENDER, VW_OP_SCREENSHOT, VW_OP_WINDOW_SHOT,
    VW_OP_PRINT_COMMAND, VW_OP_HUD, VW_OP_PLAY, VW_OP_PAUSE, VW_OP_SPEED, VW_OP_FRAMES, VW_OP_SLEEP,
    VW_OP_KEY, VW_OP_SCROLL, VW_OP_DRAG, VW_OP_DEVICE_LOST, VW_OP_QUIT
} vw_op;

#define VW_MAX_KEYS 32

typedef struct vw_cmd {
    vw_op op;
    int line;
    double v[4];              /* numbers of the command */
    int n[2];                 /* sizes, counts */
    bool at;                  /* zoom ... at X,Y / scroll ... at PX,PY given */
    ig_space space;
    char *path;               /* screenshot / print-command file (NULL: stdout) */
    int keys[VW_MAX_KEYS];    /* key: GLFW key codes; chars (seed digits) as -codepoint */
    int n_keys;
} vw_cmd;

typedef struct vw_script {
    vw_cmd *cmds;
    int count;
} vw_script;

/* Parses the whole file up front; a bad line is an error naming FILE:LINE. */
ig_result vw_script_load(const char *path, vw_script *s, ig_error *err);
void vw_script_free(vw_script *s);

#endif
