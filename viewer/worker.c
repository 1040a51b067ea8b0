/* worker.c - the viewer's render thread.
 *
 * The main thread never renders: it submits the job it wants to see, and the worker renders
 * the newest request through ig_render_image (the code path of `inrgan render`) with the given
 * backend function (the CPU backend or Vulkan, src/cli/backend.c), converts to RGB8 and publishes it.
 * Requests that arrive while a render runs replace each other (latest wins); a running render
 * that is far more expensive than the new request is abandoned between row bands, so a slow
 * full-resolution render never delays the coarse previews of a moving view.
 *
 * Zero copy (vw_worker_present_device: Vulkan renders on the presenting device): one render of
 * the whole image (a single tile: tiles are exact crops of it, so the pixels are the same) with
 * ig_vk_render_device, converted to the swapchain's pixels on the device (vw_gpu_convert) before
 * the next render may reuse the backend's buffer; the image carries that device image and no
 * RGB8. Renders that cannot stay on the device (IG_ERR_UNSUPPORTED: more than one batch or one
 * storage binding; IG_ERR_OUT_OF_DEVICE_MEMORY: the whole image at once does not fit) go the
 * host way (ig_render_image, tiled, RGB8). Such a render cannot be abandoned half-way.
 */
#include "vw.h"
#ifdef INRGAN_HAVE_VULKAN
#include "ig_vk.h"
#endif

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct vw_worker {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const ig_model *model;
    ig_backend_fn backend;
    void *backend_ctx;
    int threads;
    void (*notify)(void);
    vw_gpu *dev_gpu;          /* zero copy: the presenter and the Vulkan context, or NULL */
    void *dev_vk;

    bool quit;
    bool has_request;         /* a request waits */
    vw_job request;
    int request_tile;
    bool running;             /* a render is in progress */
    vw_job running_job;
    atomic_int cancel;        /* the running render should stop at its next row band */
    bool has_result;          /* an image waits for vw_worker_take */
    vw_image result;
};

bool vw_job_equal(const vw_job *a, const vw_job *b) {
    return a->view.x0 == b->view.x0 && a->view.y0 == b->view.y0 && a->view.x1 == b->view.x1 &&
           a->view.y1 == b->view.y1 && a->width == b->width && a->height == b->height && a->scale == b->scale &&
           a->seed_a == b->seed_a && a->t == b->t && (a->t == 0 || (a->seed_b == b->seed_b && a->space == b->space)) &&
           a->psi == b->psi && a->const_mode == b->const_mode && a->noise == b->noise &&
           a->noise_fixed == b->noise_fixed && (!a->noise_fixed || a->noise_seed == b->noise_seed);
}

void vw_job_size(const vw_job *j, int *width, int *height) {
    int k = j->scale > 1 ? j->scale : 1;
    int w = (j->width + k / 2) / k, h = (j->height + k / 2) / k;
    *width = w < 1 ? 1 : w;
    *height = h < 1 ? 1 : h;
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return 1e3 * (double)t.tv_sec + 1e-6 * (double)t.tv_nsec;
}

typedef struct sink {
    vw_worker *w;
    uint8_t *rgb;
    int width;
    bool cancelled;
} sink;

static ig_result sink_rows(void *user, int image, int y0, int rows, const uint8_t *rgb, ig_error *err) {
    sink *s = user;
    (void)image;
    memcpy(s->rgb + (size_t)y0 * s->width * 3, rgb, (size_t)rows * s->width * 3);
    if (atomic_load(&s->w->cancel)) {
        s->cancelled = true;
        return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "render abandoned for a newer view");
    }
    return IG_OK;
}

/* The zero-copy render of job (see the top): IG_OK with img->dev set, or an error. */
static ig_result render_device(vw_worker *w, const ig_image_job *ij, vw_image *img) {
#ifdef INRGAN_HAVE_VULKAN
    ig_render_layout lay;
    ig_result r = ig_render_layout_make(ij, &lay, &img->err);
    if (r != IG_OK) return r;
    ig_plan_desc td = ij->plan; /* one tile: the whole image, as ig_render_image's single tile */
    td.tile_x = 0;
    td.tile_y = 0;
    td.tile_w = lay.width;
    td.tile_h = lay.height;
    ig_plan plan;
    r = ig_plan_make(&plan, ig_model_config(w->model), &td, &img->err);
    if (r != IG_OK) return r;
    ig_render_desc d = {.model = ij->model, .plan = &plan, .z = ij->z, .count = 1, .psi = ij->psi,
                        .z_b = ij->z_b, .t = ij->t, .space = ij->space, .threads = ij->threads,
                        .noise = ij->noise, .noise_seed = ij->noise_seed};
    ig_vk_device_output out;
    r = ig_vk_render_device((ig_vk_context *)w->dev_vk, &d, &out, &img->err);
    ig_plan_free(&plan);
    if (r == IG_OK) r = vw_gpu_convert(w->dev_gpu, &out, &img->dev, &img->err);
    return r;
#else
    (void)w, (void)ij;
    return ig_error_set(&img->err, IG_ERR_UNSUPPORTED, "no Vulkan backend");
#endif
}

/* Renders one job into a new RGB8 image (or a device image: zero copy). */
static void render_job(vw_worker *w, const vw_job *job, int tile, vw_image *img, bool *cancelled) {
    const ig_config *cfg = ig_model_config(w->model);
    memset(img, 0, sizeof *img);
    img->job = *job;
    vw_job_size(job, &img->width, &img->height);
    double t0 = now_ms();
    float *z = malloc(2 * (size_t)cfg->z_dim * sizeof *z);
    uint8_t *rgb = malloc((size_t)img->width * img->height * 3);
    ig_result r = IG_OK;
    if (!z || !rgb) r = ig_error_set(&img->err, IG_ERR_OUT_OF_MEMORY, "%dx%d image", img->width, img->height);
    sink s = {w, rgb, img->width, false};
    if (r == IG_OK) {
        float *za = z, *zb = z + cfg->z_dim;
        ig_latent_from_seed(job->seed_a, za, cfg->z_dim);
        ig_latent_from_seed(job->seed_b, zb, cfg->z_dim);
        float t = job->t;
        /* t == 0 is `--seeds A` (no interpolation), exactly like the CLI command we print */
        ig_image_job ij = {.model = w->model,
                           .plan = {.view = job->view, .width = img->width, .height = img->height,
                                    .const_mode = job->const_mode},
                           .z = za, .z_b = job->t != 0 ? zb : NULL, .t = job->t != 0 ? &t : NULL, .count = 1,
                           .psi = job->psi, .space = job->space, .tile = tile, .backend = w->backend,
                           .backend_ctx = w->backend_ctx, .threads = w->threads, .rows = sink_rows, .user = &s,
                           /* models with noise: seeded by seed A, as `inrgan render --seeds A` / `--interp A,B` */
                           .noise = job->noise, .noise_seed = job->noise_fixed ? &job->noise_seed : &job->seed_a};
        bool host = true;
        if (w->dev_gpu) {
            r = render_device(w, &ij, img);
            host = r == IG_ERR_UNSUPPORTED || r == IG_ERR_OUT_OF_DEVICE_MEMORY;
            if (host) r = IG_OK, img->err = (ig_error){0};
            else img->bands = 1;
        }
        if (host) {
            int side = tile > 0 ? tile : ig_render_auto_tile(w->model, &ij.plan, 0, 1);
            if (side < 1) side = 1;
            img->bands = ((img->width + side - 1) / side) * ((img->height + side - 1) / side);
            r = ig_render_image(&ij, &img->err);
        }
    }
    free(z);
    *cancelled = s.cancelled;
    img->result = r;
    img->ms = now_ms() - t0;
    if (r == IG_OK && img->dev) {
        free(rgb);
    } else if (r == IG_OK) {
        img->rgb = rgb;
    } else {
        free(rgb);
        if (img->err.code != r) ig_error_set(&img->err, r, "%s", ig_result_description(r));
    }
}

static void *worker_main(void *arg) {
    vw_worker *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->quit && !w->has_request) pthread_cond_wait(&w->cv, &w->mu);
        if (w->quit) break;
        vw_job job = w->request;
        int tile = w->request_tile;
        w->has_request = false;
        w->running = true;
        w->running_job = job;
        atomic_store(&w->cancel, 0);
        pthread_mutex_unlock(&w->mu);

        vw_image img;
        bool cancelled;
        render_job(w, &job, tile, &img, &cancelled);

        pthread_mutex_lock(&w->mu);
        w->running = false;
        if (cancelled) {
            free(img.rgb);
            if (img.dev) vw_gpu_devimg_free(w->dev_gpu, img.dev);
            continue;
        }
        if (w->has_result) {
            free(w->result.rgb);
            if (w->result.dev) vw_gpu_devimg_free(w->dev_gpu, w->result.dev);
        }
        w->result = img;
        w->has_result = true;
        pthread_mutex_unlock(&w->mu);
        if (w->notify) w->notify();
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

ig_result vw_worker_create(const ig_model *model, ig_backend_fn backend, void *backend_ctx, int threads,
                           void (*notify)(void), vw_worker **out, ig_error *err) {
    vw_worker *w = calloc(1, sizeof *w);
    if (!w) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "render worker");
    w->model = model;
    w->backend = backend;
    w->backend_ctx = backend_ctx;
    w->threads = threads;
    w->notify = notify;
    atomic_init(&w->cancel, 0);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "cannot start the render thread");
    }
    *out = w;
    return IG_OK;
}

void vw_worker_present_device(vw_worker *w, vw_gpu *gpu, void *vk_ctx) {
    pthread_mutex_lock(&w->mu);
    w->dev_gpu = gpu;
    w->dev_vk = vk_ctx;
    pthread_mutex_unlock(&w->mu);
}

void vw_worker_submit(vw_worker *w, const vw_job *job, int tile) {
    pthread_mutex_lock(&w->mu);
    w->request = *job;
    w->request_tile = tile;
    w->has_request = true;
    if (w->running) {
        int nw, nh, rw, rh;
        vw_job_size(job, &nw, &nh);
        vw_job_size(&w->running_job, &rw, &rh);
        /* abandon a render at least 4x as expensive as the one now wanted */
        if ((double)nw * nh * 4 <= (double)rw * rh) atomic_store(&w->cancel, 1);
    }
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

bool vw_worker_take(vw_worker *w, vw_image *out) {
    pthread_mutex_lock(&w->mu);
    bool got = w->has_result;
    if (got) {
        *out = w->result;
        w->has_result = false;
        memset(&w->result, 0, sizeof w->result);
    }
    pthread_mutex_unlock(&w->mu);
    return got;
}

bool vw_worker_idle(vw_worker *w) {
    pthread_mutex_lock(&w->mu);
    bool idle = !w->running && !w->has_request;
    pthread_mutex_unlock(&w->mu);
    return idle;
}

void vw_worker_destroy(vw_worker *w) {
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->quit = true;
    atomic_store(&w->cancel, 1);
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    if (w->has_result) {
        free(w->result.rgb);
        if (w->result.dev) vw_gpu_devimg_free(w->dev_gpu, w->result.dev);
    }
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
