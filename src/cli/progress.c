/* progress.c - progress of long work on stderr: a bar on a terminal, lines otherwise. */
#include "progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define IG_PROGRESS_DELAY 1.0      /* seconds of silence before anything shows */
#define IG_PROGRESS_TTY_EVERY 0.1
#define IG_PROGRESS_LINE_EVERY 5.0

double cli_now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void cli_progress_init(cli_progress *p, const char *label, double total, bool quiet) {
    memset(p, 0, sizeof *p);
    p->label = label;
    p->quiet = quiet;
    p->tty = isatty(2);
    p->total = total > 0 ? total : 1;
    p->t0 = p->last = cli_now_s();
}

static void fmt_time(double s, char *buf, size_t len) {
    if (!(s >= 0) || s > 1e7) { snprintf(buf, len, "?"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

static void fmt_px(double v, char *buf, size_t len) {
    if (v >= 1e9) snprintf(buf, len, "%.2f Gpx", v / 1e9);
    else if (v >= 1e6) snprintf(buf, len, "%.1f Mpx", v / 1e6);
    else snprintf(buf, len, "%.0f kpx", v / 1e3);
}

static void draw(cli_progress *p, double now) {
    double el = now - p->t0, frac = p->done / p->total;
    if (frac > 1) frac = 1;
    double rate = el > 0 ? p->done / el : 0;
    char eta[32], done[32], total[32], rs[32], tiles[64] = "";
    fmt_time(rate > 0 ? (p->total - p->done) / rate : -1, eta, sizeof eta);
    fmt_px(p->done, done, sizeof done);
    fmt_px(p->total, total, sizeof total);
    fmt_px(rate, rs, sizeof rs);
    if (p->tiles_total > 1) snprintf(tiles, sizeof tiles, ", tile %lld/%lld", (long long)p->tiles_done, (long long)p->tiles_total);
    if (p->tty) {
        int w = 24, f = (int)(w * frac);
        fprintf(stderr, "\r%s [%.*s%*s] %3.0f%% %s/%s%s, %s/s, ETA %s\033[K", p->label, f,
                "========================", w - f, "", 100 * frac, done, total, tiles, rs, eta);
    } else {
        fprintf(stderr, "%s: %3.0f%% %s/%s%s, %s/s, ETA %s\n", p->label, 100 * frac, done, total, tiles, rs, eta);
    }
    fflush(stderr);
    p->shown = true;
    p->last = now;
    p->drawn = p->done;
}

void cli_progress_update(cli_progress *p, double done, int64_t tiles_done, int64_t tiles_total) {
    if (p->quiet) return;
    p->done = done;
    p->tiles_done = tiles_done;
    p->tiles_total = tiles_total;
    double now = cli_now_s();
    if (now - p->t0 < IG_PROGRESS_DELAY) return;
    bool final = done >= p->total;
    double every = p->tty ? IG_PROGRESS_TTY_EVERY : IG_PROGRESS_LINE_EVERY;
    if (!p->shown || now - p->last >= every || (final && p->shown && p->drawn < p->total)) draw(p, now);
}

void cli_progress_note(cli_progress *p, bool once, const char *fmt, ...) {
    if (p->quiet || (once && p->noted)) return;
    p->noted = true;
    if (p->tty && p->shown) fputs("\r\033[K", stderr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (p->tty && p->shown) draw(p, cli_now_s());
}

void cli_progress_end(cli_progress *p) {
    if (p->quiet || !p->shown) return;
    if (p->drawn < p->done) draw(p, cli_now_s());
    if (p->tty) fputc('\n', stderr);
    fflush(stderr);
    p->shown = false;
}
