/* worker.c - the viewer's render thread.
 *
 * The main thread never renders: it submits the job it wants to see, and the worker renders
 * the newest request through ig_render_image (the code path of `inrgan render`) with the given
 * backend function (the CPU backend or Vulkan, src/cli/backend.c), converts to RGB8 and publishes it.
 * Requests that arrive while a render runs replace each other (latest wins); a running render
 * that is far more expensive than the new request is abandoned between row bands, so a slow
 * full-resolution render never delays the coarse previews of a moving view.
 */
#include "vw.h"

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

/* Renders one job into a new RGB8 image. */
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
        int side = tile > 0 ? tile : ig_render_auto_tile(w->model, &ij.plan, 0, 1);
        if (side < 1) side = 1;
        img->bands = ((img->width + side - 1) / side) * ((img->height + side - 1) / side);
        r = ig_render_image(&ij, &img->err);
    }
    free(z);
    *cancelled = s.cancelled;
    img->result = r;
    img->ms = now_ms() - t0;
    if (r == IG_OK) {
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
            continue;
        }
        if (w->has_result) free(w->result.rgb);
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
    if (w->has_result) free(w->result.rgb);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
