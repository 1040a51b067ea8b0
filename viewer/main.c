/* main.c - inrgan-viewer: explore an INR-GAN generator live (docs/viewer.md).
 *
 * The main thread owns the window, the input and the state (view, render size, seeds, t,
 * interpolation space, psi). Each loop it decides which image it wants (the state at full
 * resolution, or a coarse preview of it while the view moves: progressive rendering), hands
 * that job to the render worker (worker.c, the same ig_render_image path and backend as
 * `inrgan render`) and shows the newest finished image through gpu.c, re-projected to the
 * current view so panning and zooming respond at once even while a render is in flight.
 * It never waits for a render, except where a script asks it to (wait-render, screenshot).
 */
#define GLFW_INCLUDE_NONE
#include <GLFW/glfw3.h>

#include "cli.h"
#include "ig_parse.h"
#include "vw.h"
#ifdef INRGAN_HAVE_VULKAN
#include "ig_vk.h"
#endif

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <dlfcn.h>

#ifndef INRGAN_DEFAULT_MODEL
#define INRGAN_DEFAULT_MODEL ig_default_model_path()
#endif

#define VW_SETTLE_S 0.25      /* the view counts as moving this long after a change */
#define VW_BUDGET_MS 40.0     /* a preview should render within this */
#define VW_REFINE_MS 300.0    /* full renders slower than this get a half-resolution step first */
#define VW_MAX_PIXELS (16 << 20)
#define VW_ZOOM_STEP 1.25     /* +/- keys */
#define VW_WHEEL_STEP 1.15    /* per wheel notch */
#define VW_PSI_STEP 0.05
#define VW_MAX_PSI 1e6       /* |truncation psi| */


typedef struct viewer {
    /* options */
    const char *model_path, *gpu_name, *out_dir, *backend, *precision;
    const char *kernel;       /* --kernel: the INR-GAN level kernel, NULL = auto */
    bool validate, trace;
    bool zero_copy_said;      /* "present: device (no host copy)" printed */
    int uploads_dev, uploads_host; /* new images presented from the device / from the host */
    bool shared_vk;           /* be.vk renders on the presenter's device (open_shared_backend) */
    cli_backend be;           /* who renders: the CPU backend or Vulkan (src/cli/backend.c) */
    int threads, exit_after;
    /* library */
    ig_model *model;
    const ig_config *cfg;
    GLFWwindow *window;
    vw_gpu *gpu;
    vw_worker *worker;
    /* state: what the user asked to see (scale is always 1) */
    vw_job state;
    uint32_t *walk;           /* --seeds: the seeds N/P and the animation walk through */
    int walk_n;
    bool playing;
    double speed;             /* seeds per second */
    double anim_t;
    bool hud;
    bool entering;            /* G pressed: typing a seed */
    char entry[16];
    bool dragging;
    double drag_x, drag_y;
    double last_change, settle_s;
    /* progressive rendering */
    /* the render cost model, ms = fixed * bands + per_px * pixels: every tile (band) repeats
     * the per-image work (mapping network, INR weights), which dominates small previews of a
     * full-size model. Running averages of previews (one band) and of full renders; 0 = none */
    double prev_px, prev_ms, full_px, full_ms, full_bands;
    vw_job submitted;
    bool have_submitted;
    vw_image shown;           /* the image on screen (in the content image) */
    bool have_shown, upload_pending;
    /* window */
    int fb_w, fb_h;
    int drawn_w, drawn_h;     /* extent of the last presented frame */
    vw_rect lb;               /* where the render goes in the window (letterbox) */
    bool dirty;
    double last_draw, hud_refresh;
    int presented;
    /* the display's frame rate: frames presented per second while something moves (the
     * viewer presents only on change, so idle time would say nothing about smoothness) */
    double last_present;      /* time of the last presented frame, 0 = none */
    int live_frames;
    double live_time, live_fps; /* live_fps: 0 = not measured yet */
    /* HUD */
    char hud_text[2048];
    int hud_scale;
    uint8_t *hud_rgb;
    int hud_w, hud_h;
    char message[512];
    double message_until;
    /* screenshots */
    bool shot_pending;        /* S pressed: write when the full render is shown */
    int shot_counter;
    const char *window_shot;  /* script window-screenshot: path of the next drawn frame */
    bool window_shot_done;
    /* script */
    vw_script script;
    bool scripted;
    int pc;
    bool cmd_started;
    double cmd_t0;
    int cmd_frames0;
    bool force_frames;
    /* exit */
    bool quit;
    int exit_code;
} viewer;

static viewer *g_viewer; /* for the GLFW callbacks */

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void say(viewer *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(viewer *v, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->message, sizeof v->message, fmt, ap);
    va_end(ap);
    v->message_until = now_s() + 4.0;
    v->dirty = true;
    fprintf(stderr, "inrgan-viewer: %s\n", v->message);
}

static void fail(viewer *v, ig_result r, const ig_error *err) {
    fprintf(stderr, "inrgan-viewer: error: %s [%s]\n", err && err->code == r ? err->msg : ig_result_description(r),
            ig_result_name(r));
    if (!v->exit_code) v->exit_code = ig_result_exit_code(r) ? ig_result_exit_code(r) : 1;
    v->quit = true;
}

/* ---- state changes ----------------------------------------------------------------------- */

static void changed(viewer *v) {
    v->last_change = now_s();
    v->dirty = true;
}

static uint32_t seed_next(const viewer *v, uint32_t s) {
    for (int i = 0; i < v->walk_n; i++)
        if (v->walk[i] == s) return v->walk[(i + 1) % v->walk_n];
    return s + 1;
}

static uint32_t seed_prev(const viewer *v, uint32_t s) {
    for (int i = 0; i < v->walk_n; i++)
        if (v->walk[i] == s) return v->walk[(i + v->walk_n - 1) % v->walk_n];
    return s - 1;
}

static void go_seed(viewer *v, uint32_t s) {
    v->state.seed_a = s;
    v->state.seed_b = seed_next(v, s);
    v->state.t = 0;
    changed(v);
}

/* Moves t by dt along the walk, crossing into the next (previous) segment at 1 (0). */
static void advance_t(viewer *v, double dt) {
    double t = (double)v->state.t + dt;
    while (t >= 1) {
        v->state.seed_a = v->state.seed_b;
        v->state.seed_b = seed_next(v, v->state.seed_a);
        t -= 1;
    }
    while (t < 0) {
        v->state.seed_b = v->state.seed_a;
        v->state.seed_a = seed_prev(v, v->state.seed_a);
        t += 1;
    }
    float tf = (float)t;
    if (tf >= 1.0f) { /* rounded up to the next seed */
        v->state.seed_a = v->state.seed_b;
        v->state.seed_b = seed_next(v, v->state.seed_a);
        tf = 0;
    }
    v->state.t = tf;
    changed(v);
}

/* A view with square pixels for the render size, showing the native square [-1,1]^2. */
static ig_view fit_view(double cx, double cy, double half, int w, int h) {
    double hx = w >= h ? half * w / h : half, hy = w >= h ? half : half * h / w;
    ig_view r = {cx - hx, cy - hy, cx + hx, cy + hy};
    return r;
}

static bool view_ok(ig_view r) {
    double w = r.x1 - r.x0, h = r.y1 - r.y0;
    double c = fmax(fabs(r.x0 + r.x1), fabs(r.y0 + r.y1)) / 2;
    return isfinite(w) && isfinite(h) && w > 1e-10 * (1 + c) && h > 1e-10 * (1 + c) && w < 1e6 && h < 1e6 &&
           c < 1e9;
}

static void set_view(viewer *v, ig_view r) {
    if (!view_ok(r)) {
        say(v, "view limit reached");
        return;
    }
    v->state.view = r;
    changed(v);
}

static void reset_view(viewer *v) { set_view(v, fit_view(0, 0, 1, v->state.width, v->state.height)); }

/* Zooms by f about the plane point (px, py), which stays where it is. */
static void zoom_about(viewer *v, double f, double px, double py) {
    ig_view r = v->state.view;
    ig_view n = {px + (r.x0 - px) / f, py + (r.y0 - py) / f, px + (r.x1 - px) / f, py + (r.y1 - py) / f};
    set_view(v, n);
}

static void zoom_center(viewer *v, double f) {
    ig_view r = v->state.view;
    zoom_about(v, f, (r.x0 + r.x1) / 2, (r.y0 + r.y1) / 2);
}

static void pan(viewer *v, double dx, double dy) {
    ig_view r = v->state.view;
    ig_view n = {r.x0 + dx, r.y0 + dy, r.x1 + dx, r.y1 + dy};
    set_view(v, n);
}

static void set_render_size(viewer *v, int w, int h) {
    if (w < 1 || h < 1 || w > 16384 || h > 16384 || (double)w * h > VW_MAX_PIXELS) {
        say(v, "render size %dx%d is outside 1..16384 per side and %d pixels", w, h, VW_MAX_PIXELS);
        return;
    }
    int ow = v->state.width, oh = v->state.height;
    v->state.width = w;
    v->state.height = h;
    if ((long long)w * oh != (long long)h * ow) {
        /* new aspect: keep the centre and the extent of the shorter side, square pixels */
        ig_view r = v->state.view;
        double half = fmin(r.x1 - r.x0, r.y1 - r.y0) / 2;
        v->state.view = fit_view((r.x0 + r.x1) / 2, (r.y0 + r.y1) / 2, half, w, h);
    }
    changed(v);
}

static void set_psi(viewer *v, double psi) {
    if (!isfinite(psi) || fabs(psi) > VW_MAX_PSI) return;
    v->state.psi = psi;
    changed(v);
}

/* ---- window geometry ---------------------------------------------------------------------- */

static vw_rect letterbox(int ww, int wh, int rw, int rh) {
    double s = fmin((double)ww / rw, (double)wh / rh);
    int w = (int)lround(rw * s), h = (int)lround(rh * s);
    if (w < 1) w = 1;
    if (h < 1) h = 1;
    if (w > ww) w = ww;
    if (h > wh) h = wh;
    vw_rect r = {(ww - w) / 2, (wh - h) / 2, (ww - w) / 2 + w, (wh - h) / 2 + h};
    return r;
}

static void update_geometry(viewer *v) {
    glfwGetFramebufferSize(v->window, &v->fb_w, &v->fb_h);
    /* iconified windows may keep their size, but presenting to them can block */
    if (glfwGetWindowAttrib(v->window, GLFW_ICONIFIED)) v->fb_w = v->fb_h = 0;
    if (v->fb_w > 0 && v->fb_h > 0) v->lb = letterbox(v->fb_w, v->fb_h, v->state.width, v->state.height);
}

/* Window position (framebuffer pixels) -> point of the generator's plane. */
static void window_to_plane(const viewer *v, double px, double py, double *x, double *y) {
    const ig_view *r = &v->state.view;
    double lw = v->lb.x1 - v->lb.x0, lh = v->lb.y1 - v->lb.y0;
    *x = r->x0 + (px - v->lb.x0) / (lw > 0 ? lw : 1) * (r->x1 - r->x0);
    *y = r->y1 - (py - v->lb.y0) / (lh > 0 ? lh : 1) * (r->y1 - r->y0);
}

/* Cursor (screen coordinates) -> framebuffer pixels (they differ on HiDPI screens). */
static void cursor_to_fb(const viewer *v, double cx, double cy, double *px, double *py) {
    int ww, wh;
    glfwGetWindowSize(v->window, &ww, &wh);
    *px = ww > 0 ? cx * v->fb_w / ww : cx;
    *py = wh > 0 ? cy * v->fb_h / wh : cy;
}

static void scroll_at(viewer *v, double notches, double px, double py) {
    update_geometry(v);
    double x, y;
    window_to_plane(v, px, py, &x, &y);
    zoom_about(v, pow(VW_WHEEL_STEP, notches), x, y);
}

/* Moves the content with the pointer: a drag by (dx, dy) framebuffer pixels. */
static void drag_by(viewer *v, double dx, double dy) {
    update_geometry(v);
    const ig_view *r = &v->state.view;
    double lw = v->lb.x1 - v->lb.x0, lh = v->lb.y1 - v->lb.y0;
    if (lw <= 0 || lh <= 0) return;
    pan(v, -dx / lw * (r->x1 - r->x0), dy / lh * (r->y1 - r->y0));
}

/* ---- the reproducing command ------------------------------------------------------------- */

static void shell_quote(const char *s, char *out, size_t n) {
    bool plain = *s != 0;
    for (const char *p = s; *p; p++)
        if (!(isalnum((unsigned char)*p) || strchr("_./+-=:,@%", *p))) plain = false;
    if (plain) {
        snprintf(out, n, "%s", s);
        return;
    }
    size_t o = 0;
    if (o + 1 < n) out[o++] = '\'';
    for (const char *p = s; *p && o + 5 < n; p++) {
        if (*p == '\'') {
            memcpy(out + o, "'\\''", 4);
            o += 4;
        } else {
            out[o++] = *p;
        }
    }
    if (o + 1 < n) out[o++] = '\'';
    out[o] = 0;
}

/* The `inrgan render` command that writes exactly the state's full-resolution image. */
static void format_command(const viewer *v, char *buf, size_t n) {
    const vw_job *j = &v->state;
    char model[4200];
    shell_quote(v->model_path, model, sizeof model);
    char be[512] = "--backend cpu";
    if (v->be.vk) { /* pin the device and the precision that rendered the frame */
        char g[300];
        shell_quote(v->gpu_name ? v->gpu_name : v->be.device, g, sizeof g);
        snprintf(be, sizeof be, "--backend vulkan -g %s --precision %s", g, v->be.precision);
    }
    int o = snprintf(buf, n, "inrgan render %s -m %s --size %dx%d --view %.17g,%.17g,%.17g,%.17g", be, model,
                     j->width, j->height, j->view.x0, j->view.y0, j->view.x1, j->view.y1);
    if (o < 0 || (size_t)o >= n) return;
    if (j->t == 0)
        o += snprintf(buf + o, n - o, " --seeds %u", (unsigned)j->seed_a);
    else
        o += snprintf(buf + o, n - o, " --interp %u,%u --t %.17g --space %s", (unsigned)j->seed_a,
                      (unsigned)j->seed_b, (double)j->t, ig_space_name(j->space));
    if (o < 0 || (size_t)o >= n) return;
    o += snprintf(buf + o, n - o, " --truncation %.17g", j->psi);
    if (o >= 0 && (size_t)o < n && j->const_mode == IG_CONST_ZERO) o += snprintf(buf + o, n - o, " --const-mode zero");
    if (o < 0 || (size_t)o >= n || j->noise == IG_NOISE_MODEL) return;
    if (j->noise_fixed) snprintf(buf + o, n - o, " --noise %u", (unsigned)j->noise_seed);
    else snprintf(buf + o, n - o, " --noise %s", j->noise == IG_NOISE_ZERO ? "zero" : "seeded");
}

static ig_result print_command(viewer *v, const char *path, ig_error *err) {
    char cmd[8192];
    format_command(v, cmd, sizeof cmd);
    if (!path) {
        printf("%s\n", cmd);
        fflush(stdout);
        return IG_OK;
    }
    FILE *fp = fopen(path, "w");
    if (!fp) return ig_error_set(err, IG_ERR_OUTPUT, "%s: %s", path, strerror(errno));
    fprintf(fp, "%s\n", cmd);
    if (fclose(fp) != 0) return ig_error_set(err, IG_ERR_OUTPUT, "%s: %s", path, strerror(errno));
    return IG_OK;
}

/* ---- screenshots ------------------------------------------------------------------------- */

static bool full_shown(const viewer *v) {
    vw_job full = v->state;
    full.scale = 1;
    return v->have_shown && vw_job_equal(&v->shown.job, &full);
}

static ig_result write_shot(viewer *v, const char *path, ig_error *err) {
    uint8_t *dev_rgb = NULL; /* zero copy: the pixels the device converted, read back */
    ig_result r = v->shown.dev ? vw_gpu_devimg_read(v->gpu, v->shown.dev, &dev_rgb, err) : IG_OK;
    if (r == IG_OK) r = ig_png_write(path, dev_rgb ? dev_rgb : v->shown.rgb, v->shown.width, v->shown.height, err);
    free(dev_rgb);
    if (r == IG_OK) say(v, "wrote %s (%dx%d)", path, v->shown.width, v->shown.height);
    return r;
}

/* S: the next free inrgan-viewer-NNNN.png in -o DIR, once the full render is on screen. */
static void key_screenshot(viewer *v) {
    if (v->playing) {
        v->playing = false;
        changed(v);
    }
    v->shot_pending = true;
}

static void poll_screenshot(viewer *v) {
    if (!v->shot_pending || !full_shown(v)) return;
    v->shot_pending = false;
    char path[4096];
    for (int tries = 0; tries < 100000; tries++) {
        snprintf(path, sizeof path, "%s/inrgan-viewer-%04d.png", v->out_dir, v->shot_counter++);
        if (access(path, F_OK) != 0) break;
    }
    ig_error err = {0};
    ig_result r = write_shot(v, path, &err);
    if (r != IG_OK) say(v, "screenshot failed: %s", err.msg);
}

/* ---- input ------------------------------------------------------------------------------- */

static void cycle_space(viewer *v) {
    v->state.space = (ig_space)((v->state.space + 1) % 3);
    changed(v);
}

static void on_key_event(viewer *v, int key, int action, int mods) {
    if (action != GLFW_PRESS && action != GLFW_REPEAT) return;
    if (v->entering) {
        if (key == GLFW_KEY_ENTER || key == GLFW_KEY_KP_ENTER) {
            v->entering = false;
            if (v->entry[0]) {
                int64_t s;
                ig_error e = {0};
                if (ig_parse_int64("seed", v->entry, 0, 0xffffffffll, &s, &e) == IG_OK) go_seed(v, (uint32_t)s);
                else say(v, "%s", e.msg);
            }
        } else if (key == GLFW_KEY_ESCAPE) {
            v->entering = false;
        } else if (key == GLFW_KEY_BACKSPACE) {
            size_t n = strlen(v->entry);
            if (n) v->entry[n - 1] = 0;
        }
        v->dirty = true;
        return;
    }
    const ig_view *r = &v->state.view;
    switch (key) {
    case GLFW_KEY_ESCAPE:
    case GLFW_KEY_Q: v->quit = true; break;
    case GLFW_KEY_H: v->hud = !v->hud; v->dirty = true; break;
    case GLFW_KEY_R:
    case GLFW_KEY_0:
    case GLFW_KEY_KP_0: reset_view(v); break;
    case GLFW_KEY_EQUAL:
    case GLFW_KEY_KP_ADD: zoom_center(v, VW_ZOOM_STEP); break;
    case GLFW_KEY_MINUS:
    case GLFW_KEY_KP_SUBTRACT: zoom_center(v, 1 / VW_ZOOM_STEP); break;
    case GLFW_KEY_LEFT: pan(v, -0.1 * (r->x1 - r->x0), 0); break;
    case GLFW_KEY_RIGHT: pan(v, 0.1 * (r->x1 - r->x0), 0); break;
    case GLFW_KEY_UP: pan(v, 0, 0.1 * (r->y1 - r->y0)); break;
    case GLFW_KEY_DOWN: pan(v, 0, -0.1 * (r->y1 - r->y0)); break;
    case GLFW_KEY_SPACE:
        v->playing = !v->playing;
        v->anim_t = now_s();
        changed(v);
        break;
    case GLFW_KEY_LEFT_BRACKET: v->speed = fmax(v->speed / 2, 1.0 / 1024); v->dirty = true; break;
    case GLFW_KEY_RIGHT_BRACKET: v->speed = fmin(v->speed * 2, 64); v->dirty = true; break;
    case GLFW_KEY_N: go_seed(v, v->state.seed_b); break;
    case GLFW_KEY_P: go_seed(v, v->state.t > 0 ? v->state.seed_a : seed_prev(v, v->state.seed_a)); break;
    case GLFW_KEY_G:
        v->entering = true;
        v->entry[0] = 0;
        v->dirty = true;
        break;
    case GLFW_KEY_I: cycle_space(v); break;
    case GLFW_KEY_COMMA: set_psi(v, round((v->state.psi - VW_PSI_STEP) * 100) / 100); break;
    case GLFW_KEY_PERIOD: set_psi(v, round((v->state.psi + VW_PSI_STEP) * 100) / 100); break;
    case GLFW_KEY_PAGE_UP: set_render_size(v, v->state.width * 2, v->state.height * 2); break;
    case GLFW_KEY_PAGE_DOWN:
        if (v->state.width >= 16 && v->state.height >= 16) set_render_size(v, v->state.width / 2, v->state.height / 2);
        break;
    case GLFW_KEY_F:
        update_geometry(v);
        if (v->fb_w > 0 && v->fb_h > 0) set_render_size(v, v->fb_w, v->fb_h);
        break;
    case GLFW_KEY_S: key_screenshot(v); break;
    case GLFW_KEY_C: {
        ig_error err = {0};
        print_command(v, NULL, &err);
        say(v, "printed the inrgan render command on stdout");
        break;
    }
    default: break;
    }
    (void)mods;
}

static void on_char_event(viewer *v, unsigned int cp) {
    if (!v->entering || cp < '0' || cp > '9') return;
    size_t n = strlen(v->entry);
    if (n + 1 < sizeof v->entry && n < 10) {
        v->entry[n] = (char)cp;
        v->entry[n + 1] = 0;
    }
    v->dirty = true;
}

static void cb_key(GLFWwindow *w, int key, int scancode, int action, int mods) {
    (void)w;
    (void)scancode;
    on_key_event(g_viewer, key, action, mods);
}

static void cb_char(GLFWwindow *w, unsigned int cp) {
    (void)w;
    on_char_event(g_viewer, cp);
}

static void cb_scroll(GLFWwindow *w, double dx, double dy) {
    (void)dx;
    double cx, cy, px, py;
    glfwGetCursorPos(w, &cx, &cy);
    update_geometry(g_viewer);
    cursor_to_fb(g_viewer, cx, cy, &px, &py);
    scroll_at(g_viewer, dy, px, py);
}

static void cb_button(GLFWwindow *w, int button, int action, int mods) {
    (void)mods;
    if (button != GLFW_MOUSE_BUTTON_LEFT) return;
    g_viewer->dragging = action == GLFW_PRESS;
    glfwGetCursorPos(w, &g_viewer->drag_x, &g_viewer->drag_y);
    if (!g_viewer->dragging) changed(g_viewer); /* refine after the drag */
}

static void cb_cursor(GLFWwindow *w, double x, double y) {
    (void)w;
    viewer *v = g_viewer;
    if (!v->dragging) return;
    double ax, ay, bx, by;
    update_geometry(v);
    cursor_to_fb(v, v->drag_x, v->drag_y, &ax, &ay);
    cursor_to_fb(v, x, y, &bx, &by);
    v->drag_x = x;
    v->drag_y = y;
    drag_by(v, bx - ax, by - ay);
}

static void cb_framebuffer(GLFWwindow *w, int width, int height) {
    (void)w;
    (void)width;
    (void)height;
    if (g_viewer->gpu) vw_gpu_resized(g_viewer->gpu);
    g_viewer->dirty = true;
}

static void cb_close(GLFWwindow *w) {
    (void)w;
    g_viewer->quit = true;
}

static void cb_glfw_error(int code, const char *msg) { fprintf(stderr, "inrgan-viewer: GLFW error 0x%x: %s\n", code, msg); }

static void wake_main(void) { glfwPostEmptyEvent(); }

/* A key as the keyboard would send it: the key event, then the character for digits. */
static void simulate_key(viewer *v, int key) {
    on_key_event(v, key, GLFW_PRESS, 0);
    if (key >= GLFW_KEY_0 && key <= GLFW_KEY_9) on_char_event(v, (unsigned)('0' + key - GLFW_KEY_0));
    on_key_event(v, key, GLFW_RELEASE, 0);
}

/* ---- progressive rendering ---------------------------------------------------------------- */

/* The cost model's two terms from the averages (false: nothing measured yet). */
static bool cost_model(const viewer *v, double *fixed, double *per_px) {
    *fixed = 0;
    if (v->prev_px > 0 && v->full_px > 0) {
        double den = v->full_px - v->prev_px * v->full_bands;
        *per_px = den > 0 ? (v->full_ms - v->prev_ms * v->full_bands) / den : 0;
        if (*per_px <= 0) *per_px = v->full_ms / v->full_px; /* noise: all of it per pixel */
        *fixed = v->prev_ms - *per_px * v->prev_px;
        if (*fixed < 0) *fixed = 0;
        return true;
    }
    if (v->prev_px > 0) *per_px = v->prev_ms / v->prev_px;
    else if (v->full_px > 0) *per_px = v->full_ms / v->full_px;
    else return false;
    return true;
}

/* The preview divisor for a moving view: the largest preview that renders within the budget,
 * or, when the per-image work alone takes longer, within twice that work (a coarser preview
 * would hardly be faster, only uglier). 1 when the full size fits. */
static int fast_scale(const viewer *v) {
    static const int ks[] = {1, 2, 3, 4, 6, 8, 12, 16, 24, 32};
    double px = (double)v->state.width * v->state.height, fixed, per_px;
    bool known = cost_model(v, &fixed, &per_px);
    double target = fmax(VW_BUDGET_MS, 2 * fixed);
    int best = 1;
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        int k = ks[i];
        if (v->state.width / k < 16 || v->state.height / k < 16) break;
        best = k;
        double kpx = px / ((double)k * k);
        if (known ? fixed + per_px * kpx <= target : kpx <= 64 * 64) break; /* unknown: about 64x64 */
    }
    return best;
}

static void schedule(viewer *v, double now) {
    vw_job want = v->state;
    bool moving = v->playing || v->dragging || now - v->last_change < v->settle_s;
    int kf = fast_scale(v);
    want.scale = 1;
    if (moving) {
        want.scale = kf;
    } else if (kf > 1) {
        /* still: full resolution, but show a quick preview first if nothing of this state is up */
        vw_job shown_state = v->shown.job;
        shown_state.scale = 1;
        if (!(v->have_shown && vw_job_equal(&shown_state, &want))) want.scale = kf;
        /* refine in two steps when the full render is slow (a full-size model on the CPU):
         * the coarse preview, then half resolution (a quarter of the cost), then full */
        else if (v->shown.job.scale > 2 && v->full_px > 0 && v->full_ms > VW_REFINE_MS)
            want.scale = 2;
    }
    if (v->have_submitted && vw_job_equal(&v->submitted, &want)) return;
    int tile = 0; /* auto: one tile per image unless it is large */
    int ww, wh;
    vw_job_size(&want, &ww, &wh);
    double fixed, per_px;
    if (!v->cfg->instance_norm && cost_model(v, &fixed, &per_px)) {
        /* square tiles of about 100 ms, so a superseded render can be abandoned quickly, but
         * at least 3x the per-image work each, which every tile repeats; instance norm models
         * keep whole images (every tile would redo the statistics pass) */
        double side = sqrt(fmax(100.0, 3 * fixed) / per_px);
        int step = 1 << (v->cfg->n_levels - 1);
        int t = side < 16384 ? (int)side / step * step : 16384;
        if (t < 4 * step) t = 4 * step;
        if (t < 64) t = 64;
        if (t < (ww > wh ? ww : wh)) tile = t;
    }
    vw_worker_submit(v->worker, &want, tile);
    v->submitted = want;
    v->have_submitted = true;
}

static void take_result(viewer *v) {
    vw_image img;
    if (!vw_worker_take(v->worker, &img)) return;
    if (img.result != IG_OK) {
        say(v, "render failed: %s [%s]", img.err.msg, ig_result_name(img.result));
        if (v->scripted) fail(v, img.result, &img.err);
        return;
    }
    if (v->trace)
        fprintf(stderr, "inrgan-viewer: render %dx%d (1/%d, %d band%s) seed %u t %.3f in %.1f ms\n", img.width,
                img.height, img.job.scale, img.bands, img.bands == 1 ? "" : "s", (unsigned)img.job.seed_a,
                (double)img.job.t, img.ms);
    double px = (double)img.width * img.height;
    if (img.job.scale > 1) { /* a preview: one band */
        bool first = !(v->prev_px > 0);
        v->prev_px = first ? px : 0.7 * v->prev_px + 0.3 * px;
        v->prev_ms = first ? img.ms : 0.7 * v->prev_ms + 0.3 * img.ms;
    } else {
        bool first = !(v->full_px > 0);
        v->full_px = first ? px : 0.7 * v->full_px + 0.3 * px;
        v->full_ms = first ? img.ms : 0.7 * v->full_ms + 0.3 * img.ms;
        v->full_bands = first ? img.bands : 0.7 * v->full_bands + 0.3 * img.bands;
    }
    free(v->shown.rgb);
    vw_gpu_devimg_free(v->gpu, v->shown.dev);
    v->shown = img;
    v->have_shown = true;
    v->upload_pending = true;
    v->dirty = true;
}

/* ---- drawing ----------------------------------------------------------------------------- */

/* Where the shown image lands for the current view: the part of it inside the view, in its
 * pixels (src) and in window pixels (dst). False when nothing of it is visible. */
static bool reproject(const viewer *v, vw_rect *src, vw_rect *dst) {
    const ig_view S = v->shown.job.view, V = v->state.view;
    double ix0 = fmax(V.x0, S.x0), ix1 = fmin(V.x1, S.x1), iy0 = fmax(V.y0, S.y0), iy1 = fmin(V.y1, S.y1);
    if (!(ix1 > ix0 && iy1 > iy0)) return false;
    double sw = v->shown.width, sh = v->shown.height;
    double lw = v->lb.x1 - v->lb.x0, lh = v->lb.y1 - v->lb.y0;
    src->x0 = (int)lround((ix0 - S.x0) / (S.x1 - S.x0) * sw);
    src->x1 = (int)lround((ix1 - S.x0) / (S.x1 - S.x0) * sw);
    src->y0 = (int)lround((S.y1 - iy1) / (S.y1 - S.y0) * sh);
    src->y1 = (int)lround((S.y1 - iy0) / (S.y1 - S.y0) * sh);
    dst->x0 = v->lb.x0 + (int)lround((ix0 - V.x0) / (V.x1 - V.x0) * lw);
    dst->x1 = v->lb.x0 + (int)lround((ix1 - V.x0) / (V.x1 - V.x0) * lw);
    dst->y0 = v->lb.y0 + (int)lround((V.y1 - iy1) / (V.y1 - V.y0) * lh);
    dst->y1 = v->lb.y0 + (int)lround((V.y1 - iy0) / (V.y1 - V.y0) * lh);
    if (src->x0 < 0) src->x0 = 0;
    if (src->y0 < 0) src->y0 = 0;
    if (src->x1 > v->shown.width) src->x1 = v->shown.width;
    if (src->y1 > v->shown.height) src->y1 = v->shown.height;
    return src->x1 > src->x0 && src->y1 > src->y0 && dst->x1 > dst->x0 && dst->y1 > dst->y0;
}

/* Something moves, so frames are presented continuously (the frame rate means something). */
static bool animating(const viewer *v, double now) {
    return v->playing || v->dragging || v->force_frames || v->exit_after || now - v->last_change < VW_SETTLE_S;
}

static void build_hud(viewer *v, char *t, size_t n, double now) {
    const vw_job *j = &v->state;
    int o = 0;
#define ADD(...) o += snprintf(t + o, (size_t)o < n ? n - o : 0, __VA_ARGS__)
    /* two rates, labelled: how often the window is redrawn, and how long one image takes */
    if (animating(v, now) && v->live_fps > 0) ADD("display: %.1f fps presented", v->live_fps);
    else if (v->live_fps > 0) ADD("display: %.1f fps presented while animating; idle now (redraws on change)", v->live_fps);
    else ADD("display: idle, redraws on change");
    if (v->have_shown) {
        ADD("\nrender: %.1f ms per image (%dx%d", v->shown.ms, v->shown.width, v->shown.height);
        if (v->shown.job.scale > 1) ADD(" preview, 1/%d", v->shown.job.scale);
        ADD(")");
    } else {
        ADD("\nrender: -");
    }
    if (v->be.vk) ADD(" with Vulkan %s", v->be.precision);
    else ADD(" on the CPU, %d thread%s", v->threads, v->threads == 1 ? "" : "s");
    if (!vw_worker_idle(v->worker)) ADD("   rendering...");
    ADD("\npresenting on: %s\n", vw_gpu_device_name(v->gpu));
    ADD("render size %dx%d   window %dx%d\n", j->width, j->height, v->fb_w, v->fb_h);
    ADD("view %.6g, %.6g, %.6g, %.6g   zoom %.4g\n", j->view.x0, j->view.y0, j->view.x1, j->view.y1,
        2.0 / fmin(j->view.x1 - j->view.x0, j->view.y1 - j->view.y0));
    ADD("seeds %u -> %u   t %.3f   space %s   psi %.3g\n", (unsigned)j->seed_a, (unsigned)j->seed_b, (double)j->t,
        ig_space_name(j->space), j->psi);
    ADD("%s at %.3g seeds/s   keys: see --help", v->playing ? "playing" : "paused", v->speed);
    if (v->entering) ADD("\ngo to seed: %s_   (Enter / Esc)", v->entry);
    if (now < v->message_until) ADD("\n%s", v->message);
#undef ADD
}

static void draw(viewer *v, double now) {
    update_geometry(v);
    if (v->fb_w <= 0 || v->fb_h <= 0) return; /* minimised */
    ig_error err = {0};
    int ew, eh;
    bool ready;
    ig_result r = vw_gpu_begin(v->gpu, &ew, &eh, &ready, &err);
    if (r != IG_OK) {
        fail(v, r, &err);
        return;
    }
    if (!ready) return;
    v->fb_w = v->drawn_w = ew;
    v->fb_h = v->drawn_h = eh;
    v->lb = letterbox(ew, eh, v->state.width, v->state.height);

    vw_draw d = {0};
    if (v->have_shown && v->upload_pending) {
        d.upload = v->shown.rgb;
        d.upload_dev = v->shown.dev;
        d.upload_w = v->shown.width;
        d.upload_h = v->shown.height;
        if (d.upload_dev) v->uploads_dev++;
        else v->uploads_host++;
        if (d.upload_dev && !v->zero_copy_said && (v->validate || v->trace)) {
            fprintf(stderr, "inrgan-viewer: present: device (no host copy)\n");
            v->zero_copy_said = true;
        }
    }
    d.blit = v->have_shown && reproject(v, &d.src, &d.dst);
    if (v->hud) {
        char text[sizeof v->hud_text];
        build_hud(v, text, sizeof text, now);
        int scale = ew >= 1000 ? 2 : 1;
        if (!v->hud_rgb || strcmp(text, v->hud_text) != 0 || scale != v->hud_scale) {
            free(v->hud_rgb);
            v->hud_rgb = NULL;
            if (vw_hud_render(text, scale, &v->hud_rgb, &v->hud_w, &v->hud_h)) {
                snprintf(v->hud_text, sizeof v->hud_text, "%s", text);
                v->hud_scale = scale;
            }
        }
        d.hud = v->hud_rgb;
        d.hud_w = v->hud_w;
        d.hud_h = v->hud_h;
        d.hud_x = d.hud_y = 8;
    }
    uint8_t *shot = NULL;
    int shot_w = 0, shot_h = 0;
    if (v->window_shot && !v->window_shot_done && full_shown(v)) {
        d.readback = true;
        d.readback_rgb = &shot;
        d.readback_w = &shot_w;
        d.readback_h = &shot_h;
    }
    r = vw_gpu_end(v->gpu, &d, &err);
    if (r != IG_OK) {
        fail(v, r, &err);
        return;
    }
    v->upload_pending = false;
    v->dirty = false;
    v->last_draw = now;
    v->presented++;
    double dt = now - v->last_present;
    if (v->last_present > 0 && dt < 0.5 && animating(v, now)) {
        v->live_frames++;
        v->live_time += dt;
        if (v->live_time >= 0.5) { /* a rate over about half a second of frames */
            v->live_fps = v->live_frames / v->live_time;
            v->live_frames = 0;
            v->live_time = 0;
        }
    }
    v->last_present = now;
    if (shot) {
        r = ig_png_write(v->window_shot, shot, shot_w, shot_h, &err);
        free(shot);
        if (r != IG_OK) fail(v, r, &err);
        else say(v, "wrote %s (window, %dx%d)", v->window_shot, shot_w, shot_h);
        v->window_shot_done = true;
    }
}

/* ---- scripts ----------------------------------------------------------------------------- */

/* Starts (and for most commands, finishes) the current command; false while it waits. */
static bool script_step(viewer *v, const vw_cmd *c, double now) {
    ig_error err = {0};
    ig_result r;
    bool first = !v->cmd_started;
    if (first) {
        v->cmd_started = true;
        v->cmd_t0 = now;
        v->cmd_frames0 = v->presented;
    }
    switch (c->op) {
    case VW_OP_SIZE: set_render_size(v, c->n[0], c->n[1]); return true;
    case VW_OP_SEED: go_seed(v, (uint32_t)c->v[0]); return true;
    case VW_OP_ZOOM: {
        const ig_view *q = &v->state.view;
        zoom_about(v, c->v[0], c->at ? c->v[1] : (q->x0 + q->x1) / 2, c->at ? c->v[2] : (q->y0 + q->y1) / 2);
        return true;
    }
    case VW_OP_PAN: pan(v, c->v[0], c->v[1]); return true;
    case VW_OP_VIEW: set_view(v, (ig_view){c->v[0], c->v[1], c->v[2], c->v[3]}); return true;
    case VW_OP_RESET: reset_view(v); return true;
    case VW_OP_STEP: advance_t(v, c->v[0]); return true;
    case VW_OP_T: v->state.t = (float)c->v[0]; changed(v); return true;
    case VW_OP_SPACE: v->state.space = c->space; changed(v); return true;
    case VW_OP_PSI: set_psi(v, c->v[0]); return true;
    case VW_OP_HUD: v->hud = c->n[0] != 0; v->dirty = true; return true;
    case VW_OP_PLAY: v->playing = true; v->anim_t = now; changed(v); return true;
    case VW_OP_PAUSE: v->playing = false; changed(v); return true;
    case VW_OP_SPEED: v->speed = c->v[0]; return true;
    case VW_OP_KEY:
        for (int i = 0; i < c->n_keys; i++) simulate_key(v, c->keys[i]);
        return true;
    case VW_OP_SCROLL: scroll_at(v, c->v[0], c->v[1], c->v[2]); return true;
    case VW_OP_DRAG: drag_by(v, c->v[2] - c->v[0], c->v[3] - c->v[1]); changed(v); return true;
    case VW_OP_DEVICE_LOST: vw_gpu_inject_device_lost(v->gpu); v->dirty = true; return true;
    case VW_OP_QUIT: v->quit = true; return true;
    case VW_OP_PRINT_COMMAND:
        r = print_command(v, c->path, &err);
        if (r != IG_OK) fail(v, r, &err);
        return true;
    case VW_OP_RESIZE: {
        if (first) glfwSetWindowSize(v->window, c->n[0], c->n[1]);
        update_geometry(v);
        if (v->drawn_w == c->n[0] && v->drawn_h == c->n[1] && v->presented > v->cmd_frames0) return true;
        if (now - v->cmd_t0 > 5.0) {
            fprintf(stderr, "inrgan-viewer: script line %d: the window is %dx%d, not %dx%d, after 5 s; going on\n",
                    c->line, v->fb_w, v->fb_h, c->n[0], c->n[1]);
            return true;
        }
        v->dirty = true;
        return false;
    }
    case VW_OP_WAIT_RENDER: return full_shown(v);
    case VW_OP_SCREENSHOT:
        if (!full_shown(v)) return false;
        r = write_shot(v, c->path, &err);
        if (r != IG_OK) fail(v, r, &err);
        return true;
    case VW_OP_WINDOW_SHOT:
        if (first) {
            v->window_shot = c->path;
            v->window_shot_done = false;
        }
        if (!v->window_shot_done) {
            v->dirty = true;
            return false;
        }
        v->window_shot = NULL;
        return true;
    case VW_OP_FRAMES:
        v->force_frames = v->presented < v->cmd_frames0 + c->n[0];
        return !v->force_frames;
    case VW_OP_SLEEP: return now - v->cmd_t0 >= c->v[0];
    }
    return true;
}

static void run_script(viewer *v, double now) {
    while (!v->quit && v->pc < v->script.count) {
        if (!script_step(v, &v->script.cmds[v->pc], now)) return;
        v->pc++;
        v->cmd_started = false;
    }
    if (v->pc >= v->script.count) v->quit = true; /* the script's end ends the session */
}

/* ---- options ----------------------------------------------------------------------------- */

static void print_help(void) {
    printf(
        "inrgan-viewer - explore an INR-GAN generator live: zoom, pan, walk through latents\n"
        "\n"
        "usage: inrgan-viewer [-m MODEL] [options]\n"
        "\n"
        "options:\n"
        "  -m, --model FILE        model file (default: %s)\n"
        "      --seeds LIST        seeds to walk through, e.g. 3,17,42 or 0-9 (default: 0, 1, 2, ...)\n"
        "      --truncation PSI    truncation psi (default: from the model file)\n"
        "      --space S           interpolation space: z (slerp, default) | w | params\n"
        "      --render-size WxH   render resolution (default: the model's, at least 256 wide)\n"
        "      --window WxH        window size (default 768x768)\n"
        "      --view X0,Y0,X1,Y1  initial view of the coordinate plane (native: -1,-1,1,1; y up)\n"
        "      --center X,Y        initial view centre (with --zoom)\n"
        "      --zoom S            initial zoom: 1 = native, 2 = closer, 0.5 = zoomed out\n"
        "      --const-mode M      learned constants outside their grid: border (default) | zero\n"
        "      --noise N           CIPS models: zero | seeded (default: by the seed) | a fixed seed\n"
        "      --threads N         CPU render threads (default: all cores)\n"
        "      --backend B         who renders: auto (default: a GPU through Vulkan, else the CPU\n"
        "                          backend) | cpu | vulkan (on the -g device, lavapipe included)\n"
        "      --precision P       Vulkan rendering: fp32 (default) | fp16 | auto\n"
        "      --kernel K          Vulkan INR-GAN level kernel: auto (default: measured once per\n"
        "                          model shape and device, cached) | pixel | gemm\n"
        "  -g, --gpu INDEX|NAME    presenting Vulkan device: index or name substring (default: the\n"
        "                          best GPU; without one, a CPU device such as llvmpipe)\n"
        "      --list-devices      list the Vulkan devices and exit\n"
        "      --validate          Vulkan validation layer on (also INRGAN_VALIDATE=1); any\n"
        "                          validation error makes the exit code 1\n"
        "  -o, --output DIR        folder for S screenshots (default: .)\n"
        "      --play              start with the animation running\n"
        "      --speed S           animation speed in seeds per second (default 0.5)\n"
        "      --no-hud            start with the HUD hidden\n"
        "      --script FILE       run the commands of FILE (docs/viewer.md), exit at its end\n"
        "      --exit-after N      exit after N presented frames\n"
        "  -h, --help              this text\n"
        "\n"
        "keys:\n"
        "  mouse wheel             zoom about the cursor (zoom out to see the generator extrapolate)\n"
        "  left drag               pan\n"
        "  + / -                   zoom in / out about the centre\n"
        "  arrows                  pan by a tenth of the view\n"
        "  R or 0                  reset the view\n"
        "  space                   play / pause the walk through the seeds\n"
        "  [ / ]                   half / double the walk speed\n"
        "  N / P                   next / previous seed\n"
        "  G, digits, Enter        go to a seed (Esc cancels)\n"
        "  I                       cycle the interpolation space: z slerp, w lerp, params lerp\n"
        "  , / .                   truncation psi down / up by 0.05\n"
        "  Page Up / Page Down     double / halve the render resolution\n"
        "  F                       render resolution = window size\n"
        "  H                       show / hide the HUD\n"
        "  S                       screenshot: PNG of the full-resolution render (no HUD) in -o DIR\n"
        "  C                       print the `inrgan render` command reproducing the image\n"
        "  Q or Esc                quit\n"
        "\n"
        "exit codes: 0 success, 1 runtime failure (device lost, validation errors), 2 bad usage or input\n",
        INRGAN_DEFAULT_MODEL);
}

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "inrgan-viewer: error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " [%s] (see inrgan-viewer --help)\n", ig_result_name(IG_ERR_USAGE));
    return 2;
}

/* An option value refused by the one parser (src/ig_parse.h): its message, its tag. */
static int parse_error(ig_result r, const ig_error *err) {
    fprintf(stderr, "inrgan-viewer: error: %s [%s] (see inrgan-viewer --help)\n", err->msg, ig_result_name(r));
    return ig_result_exit_code(r) ? ig_result_exit_code(r) : 2;
}

enum {
    O_SEEDS = 256, O_TRUNC, O_SPACE, O_RENDER_SIZE, O_WINDOW, O_VIEW, O_CENTER, O_ZOOM, O_CONST, O_THREADS,
    O_LIST, O_VALIDATE, O_PLAY, O_SPEED, O_NO_HUD, O_SCRIPT, O_EXIT_AFTER, O_BACKEND, O_PREC, O_NOISE, O_KERNEL
};

typedef struct options {
    const char *seeds, *script;
    bool have_psi, have_view, have_center, have_zoom, play, no_hud, list;
    double psi, center[2], zoom, speed;
    ig_view view;
    ig_space space;
    ig_const_mode const_mode;
    ig_noise noise;
    bool noise_fixed;
    uint32_t noise_seed;
    int rw, rh, ww, wh;
} options;

/* -1: go on; else an exit code. */
static int parse_options(int argc, char **argv, viewer *v, options *o) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},       {"seeds", required_argument, 0, O_SEEDS},
        {"truncation", required_argument, 0, O_TRUNC}, {"space", required_argument, 0, O_SPACE},
        {"render-size", required_argument, 0, O_RENDER_SIZE}, {"window", required_argument, 0, O_WINDOW},
        {"view", required_argument, 0, O_VIEW},     {"center", required_argument, 0, O_CENTER},
        {"zoom", required_argument, 0, O_ZOOM},     {"const-mode", required_argument, 0, O_CONST},
        {"threads", required_argument, 0, O_THREADS}, {"gpu", required_argument, 0, 'g'},
        {"list-devices", no_argument, 0, O_LIST},   {"validate", no_argument, 0, O_VALIDATE},
        {"output", required_argument, 0, 'o'},      {"play", no_argument, 0, O_PLAY},
        {"speed", required_argument, 0, O_SPEED},   {"no-hud", no_argument, 0, O_NO_HUD},
        {"script", required_argument, 0, O_SCRIPT}, {"exit-after", required_argument, 0, O_EXIT_AFTER},
        {"backend", required_argument, 0, O_BACKEND}, {"precision", required_argument, 0, O_PREC},
        {"noise", required_argument, 0, O_NOISE},   {"kernel", required_argument, 0, O_KERNEL},
        {"help", no_argument, 0, 'h'},              {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->speed = 0.5;
    int c;
    ig_error e = {0};
    ig_result r = IG_OK;
    while ((c = getopt_long(argc, argv, "m:g:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': v->model_path = optarg; break;
        case 'g': v->gpu_name = optarg; break;
        case 'o': v->out_dir = optarg; break;
        case O_SEEDS: o->seeds = optarg; break;
        case O_TRUNC:
            r = ig_parse_double("--truncation", optarg, -VW_MAX_PSI, VW_MAX_PSI, &o->psi, &e);
            o->have_psi = true;
            break;
        case O_SPACE:
            if (ig_space_parse(optarg) < 0) return usage_error("--space '%s' is not z, w or params", optarg);
            o->space = (ig_space)ig_space_parse(optarg);
            break;
        case O_RENDER_SIZE:
            r = ig_parse_size("--render-size", optarg, 16384, &o->rw, &o->rh, &e);
            if (r == IG_OK && (double)o->rw * o->rh > VW_MAX_PIXELS)
                r = ig_error_set(&e, IG_ERR_SIZE, "--render-size '%s' has more than %d pixels", optarg, VW_MAX_PIXELS);
            break;
        case O_WINDOW: r = ig_parse_size("--window", optarg, 16384, &o->ww, &o->wh, &e); break;
        case O_VIEW:
            r = ig_parse_view("--view", optarg, &o->view, &e);
            if (r == IG_OK && !view_ok(o->view))
                r = ig_error_set(&e, IG_ERR_VIEW, "--view '%s' is too small, too large or too far out", optarg);
            o->have_view = true;
            break;
        case O_CENTER:
            r = ig_parse_doubles("--center", optarg, o->center, 2, &e);
            o->have_center = true;
            break;
        case O_ZOOM:
            r = ig_parse_double("--zoom", optarg, 1e-6, 1e9, &o->zoom, &e);
            o->have_zoom = true;
            break;
        case O_CONST:
            if (ig_const_mode_parse(optarg) < 0) return usage_error("--const-mode '%s' is not border or zero", optarg);
            o->const_mode = (ig_const_mode)ig_const_mode_parse(optarg);
            break;
        case O_NOISE:
            if (ig_noise_parse(optarg, &o->noise, &o->noise_seed, &o->noise_fixed) < 0)
                return usage_error("--noise '%s' is not zero, seeded or a seed 0..2147483647", optarg);
            break;
        case O_THREADS: r = ig_parse_int("--threads", optarg, 1, 1024, &v->threads, &e); break;
        case O_LIST: o->list = true; break;
        case O_BACKEND:
            if (strcmp(optarg, "auto") && strcmp(optarg, "cpu") && strcmp(optarg, "vulkan"))
                return usage_error("--backend '%s' is not auto, cpu or vulkan", optarg);
            v->backend = optarg;
            break;
        case O_PREC:
            if (strcmp(optarg, "fp32") && strcmp(optarg, "fp16") && strcmp(optarg, "auto"))
                return usage_error("--precision '%s' is not fp32, fp16 or auto", optarg);
            v->precision = optarg;
            break;
        case O_KERNEL:
            if (strcmp(optarg, "auto") && strcmp(optarg, "pixel") && strcmp(optarg, "gemm"))
                return usage_error("--kernel '%s' is not auto, pixel or gemm", optarg);
            v->kernel = optarg;
            break;
        case O_VALIDATE: v->validate = true; break;
        case O_PLAY: o->play = true; break;
        case O_SPEED: r = ig_parse_double("--speed", optarg, 0, 64, &o->speed, &e); break;
        case O_NO_HUD: o->no_hud = true; break;
        case O_SCRIPT: o->script = optarg; break;
        case O_EXIT_AFTER: r = ig_parse_int("--exit-after", optarg, 1, 1000000000, &v->exit_after, &e); break;
        case 'h': print_help(); return 0;
        default: return 2;
        }
        if (r != IG_OK) return parse_error(r, &e);
    }
    if (optind < argc) return usage_error("unexpected argument '%s'", argv[optind]);
    if (o->have_view && (o->have_center || o->have_zoom))
        return usage_error("%s", "give --view or --center/--zoom, not both");
    return -1;
}

/* ---- main -------------------------------------------------------------------------------- */

#ifdef INRGAN_HAVE_VULKAN
static ig_result render_vk(void *ctx, const ig_render_desc *d, float *out, ig_error *err) {
    return ig_vk_render((ig_vk_context *)ctx, d, out, err);
}
#endif

/* The Vulkan backend on the presenter's instance, device and queue (no second instance). */
static ig_result open_shared_backend(viewer *v, ig_error *err) {
    memset(&v->be, 0, sizeof v->be);
#ifdef INRGAN_HAVE_VULKAN
    if (v->precision && strcmp(v->precision, "fp32") && strcmp(v->precision, "fp16") && strcmp(v->precision, "auto"))
        return ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "--precision %s: fp32, fp16 or auto", v->precision);
    ig_vk_external ext;
    if (!vw_gpu_external(v->gpu, &ext))
        return ig_error_set(err, IG_ERR_NO_DEVICE, "--backend vulkan: %s cannot run the Vulkan backend (Vulkan 1.2 needed)",
                            vw_gpu_device_name(v->gpu));
    ig_vk_desc vd = {.validate = v->validate, .external = &ext};
    vd.precision = !v->precision || !strcmp(v->precision, "fp32") ? IG_VK_PRECISION_FP32
                   : !strcmp(v->precision, "fp16")                 ? IG_VK_PRECISION_FP16
                                                                   : IG_VK_PRECISION_AUTO;
    vd.level_kernel = !v->kernel || !strcmp(v->kernel, "auto") ? IG_VK_KERNEL_AUTO
                      : !strcmp(v->kernel, "pixel")            ? IG_VK_KERNEL_PIXEL
                                                               : IG_VK_KERNEL_GEMM;
    ig_vk_context *ctx;
    ig_result r = ig_vk_context_create(&vd, &ctx, err);
    if (r != IG_OK) return r;
    v->be.vk = ctx;
    v->be.fn = render_vk;
    v->shared_vk = true;
    snprintf(v->be.label, sizeof v->be.label, "Vulkan");
    const char *sum = ig_vk_context_summary(ctx); /* "[INDEX NAME] ..." */
    snprintf(v->be.device, sizeof v->be.device, "%d", sum[0] == '[' ? atoi(sum + 1) : 0);
    snprintf(v->be.precision, sizeof v->be.precision, "%s",
             ig_vk_context_precision(ctx) == IG_VK_PRECISION_FP16 ? "fp16" : "fp32");
    return IG_OK;
#else
    (void)v;
    return ig_error_set(err, IG_ERR_NO_DEVICE, "--backend vulkan: this build has no Vulkan backend");
#endif
}

static ig_result setup(viewer *v, const options *o, ig_error *err) {
    ig_result r = ig_model_load(v->model_path, &v->model, err);
    if (r != IG_OK) return r;
    v->cfg = ig_model_config(v->model);
    if (o->seeds) {
        r = ig_seeds_parse(o->seeds, &v->walk, &v->walk_n, err);
        if (r != IG_OK) return r;
    }
    /* state */
    int res = v->cfg->resolution, rw = o->rw, rh = o->rh;
    if (!rw) {
        rw = res;
        while (rw < 256 && rw * 2 <= 16384) rw *= 2;
        rh = rw;
    }
    v->state.width = rw;
    v->state.height = rh;
    v->state.scale = 1;
    v->state.space = o->space;
    v->state.psi = o->have_psi ? o->psi : v->cfg->truncation_psi;
    v->state.const_mode = o->const_mode;
    v->state.noise = o->noise;
    v->state.noise_fixed = o->noise_fixed;
    v->state.noise_seed = o->noise_seed;
    if (o->have_view) v->state.view = o->view;
    else if (o->have_center || o->have_zoom)
        v->state.view = fit_view(o->have_center ? o->center[0] : 0, o->have_center ? o->center[1] : 0,
                                 1 / (o->have_zoom ? o->zoom : 1), rw, rh);
    else v->state.view = fit_view(0, 0, 1, rw, rh);
    if (!view_ok(v->state.view))
        return ig_error_set(err, IG_ERR_VIEW, "--center/--zoom: the view is too small, too large or too far out");
    go_seed(v, v->walk_n ? v->walk[0] : 0);
    v->playing = o->play;
    v->speed = o->speed;
    v->hud = !o->no_hud;

    if (o->script) {
        r = vw_script_load(o->script, &v->script, err);
        if (r != IG_OK) return r;
        v->scripted = true;
    }
    v->settle_s = v->scripted ? 0 : VW_SETTLE_S;

    /* window and presenter */
    glfwSetErrorCallback(cb_glfw_error);
    if (!glfwInit())
        return ig_error_set(err, IG_ERR_NO_DEVICE, "cannot open a window (no display? run under xvfb-run -a)");
    if ((r = vw_gpu_init_loader(err)) != IG_OK) return r;
    if (!glfwVulkanSupported()) return ig_error_set(err, IG_ERR_NO_DEVICE, "GLFW finds no Vulkan loader");
    glfwWindowHint(GLFW_CLIENT_API, GLFW_NO_API);
    char title[512];
    snprintf(title, sizeof title, "inrgan-viewer - %s", v->model_path);
    v->window = glfwCreateWindow(o->ww ? o->ww : 768, o->wh ? o->wh : 768, title, NULL, NULL);
    if (!v->window) return ig_error_set(err, IG_ERR_NO_DEVICE, "cannot create the window");
    glfwSetKeyCallback(v->window, cb_key);
    glfwSetCharCallback(v->window, cb_char);
    glfwSetScrollCallback(v->window, cb_scroll);
    glfwSetMouseButtonCallback(v->window, cb_button);
    glfwSetCursorPosCallback(v->window, cb_cursor);
    glfwSetFramebufferSizeCallback(v->window, cb_framebuffer);
    glfwSetWindowCloseCallback(v->window, cb_close);
    /* rendering. -g names the presenting device; with --backend vulkan it renders too.
     * --backend auto: a GPU that presents renders through Vulkan; when the presenting device is
     * a CPU device (lavapipe), the CPU backend renders (several times faster than lavapipe and
     * no shader loop limit, so full-size models work) unless -g was not given and a GPU that
     * cannot present exists (then it renders there, as `inrgan render` would pick it).
     * --backend cpu: always the CPU. Vulkan on the presenting device shares the presenter's
     * instance, device and queue (ig_vk_desc.external): one VkInstance in the process. */
    const char *backend = v->backend ? v->backend : "auto";
    bool is_auto = strcmp(backend, "auto") == 0, is_vulkan = strcmp(backend, "vulkan") == 0;
    vw_gpu_desc gd = {.window = v->window, .gpu = v->gpu_name, .validate = v->validate,
                      .compute = is_vulkan ? 2 : is_auto ? 1 : 0};
    if ((r = vw_gpu_create(&gd, &v->gpu, err)) != IG_OK) return r;
    bool present_cpu = vw_gpu_is_cpu(v->gpu);
    cli_backend_opts bo = {backend, v->gpu_name, v->precision, v->validate, false, v->kernel};
    if (is_vulkan || (is_auto && !present_cpu)) {
        r = open_shared_backend(v, err); /* on the presenting device */
    } else if (is_auto && !v->gpu_name && vw_gpu_has_compute_gpu(v->gpu)) {
        bo.backend = "vulkan"; /* a GPU that cannot present: its own instance and device */
        r = cli_backend_open(&v->be, &bo, true, err);
    } else {
        bo.backend = "cpu";
        bo.gpu = NULL;
        r = cli_backend_open(&v->be, &bo, true, err);
    }
    if (r != IG_OK) return r;
    const char *how = present_cpu ? (v->gpu_name ? " (a CPU Vulkan device)" : " (a CPU Vulkan device: no GPU can present)") : "";
    if (v->be.vk)
        fprintf(stderr, "inrgan-viewer: presenting on %s%s; rendering with Vulkan on device %s (%s)%s\n",
                vw_gpu_device_name(v->gpu), how, v->be.device, v->be.precision, v->validate ? "; validation on" : "");
    else
        fprintf(stderr, "inrgan-viewer: presenting on %s%s; rendering with the CPU backend (%d thread%s)%s\n",
                vw_gpu_device_name(v->gpu), how, v->threads, v->threads == 1 ? "" : "s",
                v->validate ? "; validation on" : "");
    /* the shared-device path renders with its own ig_vk_context (render_vk), no ig_backend */
    r = vw_worker_create(v->model, v->be.fn, v->be.obj ? (void *)v->be.obj : v->be.vk, v->threads, wake_main,
                         &v->worker, err);
    /* Vulkan on the presenting device: renders stay on the device (zero copy, worker.c) */
    if (r == IG_OK && v->be.vk && v->shared_vk) vw_worker_present_device(v->worker, v->gpu, v->be.vk);
    return r;
}

static void teardown(viewer *v) {
    vw_worker_destroy(v->worker); /* first: it may post events to GLFW */
    cli_backend_close(&v->be);
    if (v->gpu) vw_gpu_devimg_free(v->gpu, v->shown.dev);
    v->shown.dev = NULL;
    vw_gpu_destroy(v->gpu);
    if (v->window) glfwDestroyWindow(v->window);
    glfwTerminate();
    free(v->shown.rgb);
    free(v->hud_rgb);
    free(v->walk);
    vw_script_free(&v->script);
    ig_model_free(v->model);
}

int main(int argc, char **argv) {
    viewer v_ = {0}, *v = &v_;
    cli_pin_vulkan_libs(); /* sanitizer runs: see src/cli/backend.c */
    g_viewer = v;
    v->model_path = INRGAN_DEFAULT_MODEL;
    v->out_dir = ".";
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    v->threads = cores > 1 ? (int)(cores < 1024 ? cores : 1024) : 1;
    const char *env = getenv("INRGAN_VALIDATE");
    v->validate = env && *env && strcmp(env, "0") != 0;
    env = getenv("INRGAN_VIEWER_TRACE"); /* one line per finished render on stderr */
    v->trace = env && *env && strcmp(env, "0") != 0;
    options o;
    int rc = parse_options(argc, argv, v, &o);
    if (rc >= 0) return rc;
    ig_error err = {0};
    if (o.list) {
        ig_result r = vw_gpu_list(stdout, v->validate, &err);
        if (r != IG_OK) fail(v, r, &err);
        return v->exit_code;
    }

    ig_result r = setup(v, &o, &err);
    if (r != IG_OK) fail(v, r, &err);
    double now = now_s();
    v->anim_t = now;
    while (!v->quit) {
        now = now_s();
        if (v->scripted) run_script(v, now);
        if (glfwWindowShouldClose(v->window)) v->quit = true;
        if (v->quit) break;
        if (v->playing) {
            double dt = now - v->anim_t;
            if (dt > 0.25) dt = 0.25; /* after a stall, do not jump */
            advance_t(v, v->speed * dt);
        }
        v->anim_t = now;
        schedule(v, now);
        take_result(v);
        poll_screenshot(v);
        if (v->quit) break;

        bool hud_due = v->hud && now - v->last_draw >= 0.5;
        if (v->dirty || v->upload_pending || hud_due || v->force_frames || v->exit_after) draw(v, now);
        if (v->exit_after && v->presented >= v->exit_after) v->quit = true;
        if (v->quit) break;

        bool busy = v->playing || v->dragging || v->scripted || v->force_frames || v->exit_after || v->dirty;
        update_geometry(v);
        if (v->fb_w <= 0 || v->fb_h <= 0) glfwWaitEventsTimeout(0.1); /* minimised: nothing to draw */
        else glfwWaitEventsTimeout(busy ? 1.0 / 120 : 0.5);
    }

    teardown(v);
    if (v->validate) {
        /* the presenter's and the library's own (0 unless a GPU that cannot present renders) */
        unsigned n = (unsigned)vw_gpu_instances_created();
#ifdef INRGAN_HAVE_VULKAN
        n += ig_vk_instances_created();
#endif
        fprintf(stderr, "inrgan-viewer: vulkan instances created: %u\n", n);
        fprintf(stderr, "inrgan-viewer: images presented: %d from the device, %d from the host\n", v->uploads_dev,
                v->uploads_host);
        int e = vw_gpu_validation_errors(), w = vw_gpu_validation_warnings();
        fprintf(stderr, "inrgan-viewer: validation: %d error%s, %d warning%s\n", e, e == 1 ? "" : "s", w,
                w == 1 ? "" : "s");
        if (e && !v->exit_code) v->exit_code = 1;
    }
    return v->exit_code;
}
