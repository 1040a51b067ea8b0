/* multi.c - one work queue over several devices (src/cli/multi.h, docs/scale-out.md). */
#include "multi.h"
#include "progress.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef INRGAN_HAVE_VULKAN
#include "ig_vk.h"
#endif

bool cli_multi_wanted(const char *gpu) { return gpu && (strchr(gpu, ',') || strcmp(gpu, "all") == 0); }

static ig_result add_worker(cli_multi *m, const cli_backend_opts *base, const char *dev, bool quiet, ig_error *err) {
    if (m->n >= CLI_MULTI_MAX) return ig_error_set(err, IG_ERR_USAGE, "-g: more than %d devices", CLI_MULTI_MAX);
    cli_backend_opts o = *base;
    bool cpu = strcmp(dev, "cpu") == 0;
    o.backend = cpu ? "cpu" : "vulkan";
    o.gpu = cpu ? NULL : dev;
    if (cpu) o.precision = NULL;
    ig_result r = cli_backend_open(&m->be[m->n], &o, quiet, err);
    if (r != IG_OK) return r;
    if (cpu) {
        snprintf(m->label[m->n], sizeof m->label[0], "cpu");
    } else {
        char dev_index[sizeof m->be[0].device];
        memcpy(dev_index, m->be[m->n].device, sizeof dev_index);
        snprintf(m->label[m->n], sizeof m->label[0], "vulkan:%.80s", dev_index);
        for (int i = 0; i < m->n; i++)
            if (strcmp(m->label[i], m->label[m->n]) == 0) {
                cli_backend_close(&m->be[m->n]);
                return ig_error_set(err, IG_ERR_USAGE, "-g: '%s' names device %s a second time", dev,
                                    m->label[i] + 7);
            }
    }
    m->n++;
    return IG_OK;
}

ig_result cli_multi_open(cli_multi *m, const cli_backend_opts *base, const char *spec, bool quiet, ig_error *err) {
    memset(m, 0, sizeof *m);
    if (strcmp(base->backend, "cpu") == 0)
        return ig_error_set(err, IG_ERR_USAGE, "-g %s lists devices: give --backend auto or vulkan ('cpu' in the "
                            "list adds the CPU backend)", spec);
    char buf[1024];
    if (strlen(spec) >= sizeof buf) return ig_error_set(err, IG_ERR_USAGE, "-g: list too long");
    snprintf(buf, sizeof buf, "%s", spec);
    size_t len = strlen(buf);
    if (!len || buf[0] == ',' || buf[len - 1] == ',' || strstr(buf, ",,"))
        return ig_error_set(err, IG_ERR_USAGE, "-g '%s': an empty entry in the list", spec);
    ig_result r = IG_OK;
    bool have_cpu = false;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok && r == IG_OK; tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "cpu") == 0) {
            if (have_cpu) r = ig_error_set(err, IG_ERR_USAGE, "-g %s: 'cpu' twice", spec);
            else r = add_worker(m, base, "cpu", quiet, err);
            have_cpu = true;
        } else if (strcmp(tok, "all") == 0) {
#ifdef INRGAN_HAVE_VULKAN
            ig_vk_device_info info[CLI_MULTI_MAX];
            int count = 0, added = 0;
            ig_error e = {0};
            if (ig_vk_enumerate(info, CLI_MULTI_MAX, &count, &e) == IG_OK) {
                for (int i = 0; i < count && i < CLI_MULTI_MAX && r == IG_OK; i++) {
                    if (strcmp(info[i].type, "cpu") == 0) continue; /* lavapipe only when named */
                    char idx[16];
                    snprintf(idx, sizeof idx, "%d", info[i].index);
                    r = add_worker(m, base, idx, quiet, err);
                    added++;
                }
            }
            if (r == IG_OK && !added && !quiet)
                fprintf(stderr, "inrgan: -g all: no discrete, integrated or virtual GPU (lavapipe only when named: "
                                "-g llvmpipe)\n");
#endif
        } else if (!*tok) {
            r = ig_error_set(err, IG_ERR_USAGE, "-g %s: empty entry", spec);
        } else {
            r = add_worker(m, base, tok, quiet, err);
        }
    }
    if (r == IG_OK && m->n == 0)
        r = ig_error_set(err, IG_ERR_NO_DEVICE, "-g %s: no device to render on", spec);
    if (r != IG_OK) cli_multi_close(m);
    return r;
}

ig_result cli_multi_check(cli_multi *m, ig_error *err) {
    for (int i = 0; i < m->n; i++) {
        ig_result r = cli_backend_check(&m->be[i], err);
        if (r != IG_OK) return r;
    }
    return IG_OK;
}

void cli_multi_close(cli_multi *m) {
    for (int i = 0; i < m->n; i++) cli_backend_close(&m->be[i]);
    m->n = 0;
}

typedef struct queue {
    cli_multi *m;
    int count;
    atomic_int next;
    atomic_bool stop;
    cli_multi_fn fn;
    void *user;
    const char *(*name)(void *, int);
    bool quiet;
    pthread_mutex_t lock; /* the first error, the lines on stderr */
    ig_result r;
    ig_error err;
} queue;

typedef struct worker {
    queue *q;
    int dev;
} worker;

static void *work(void *arg) {
    worker *w = arg;
    queue *q = w->q;
    while (!atomic_load(&q->stop)) {
        int item = atomic_fetch_add(&q->next, 1);
        if (item >= q->count) break;
        ig_error e = {0};
        double t0 = cli_now_s();
        ig_result r = q->fn(q->user, &q->m->be[w->dev], item, &e);
        q->m->seconds[w->dev] += cli_now_s() - t0;
        pthread_mutex_lock(&q->lock);
        if (r != IG_OK) {
            if (q->r == IG_OK) {
                q->r = r;
                q->err = e;
            }
            atomic_store(&q->stop, true);
        } else {
            q->m->done[w->dev]++;
            if (!q->quiet) fprintf(stderr, "inrgan: %s rendered on %s\n", q->name(q->user, item), q->m->label[w->dev]);
        }
        pthread_mutex_unlock(&q->lock);
    }
    return NULL;
}

ig_result cli_multi_run(cli_multi *m, int count, cli_multi_fn fn, void *user, const char *(*name)(void *, int),
                        bool quiet, ig_error *err) {
    queue q = {.m = m, .count = count, .fn = fn, .user = user, .name = name, .quiet = quiet, .r = IG_OK};
    atomic_init(&q.next, 0);
    atomic_init(&q.stop, false);
    pthread_mutex_init(&q.lock, NULL);
    worker w[CLI_MULTI_MAX];
    pthread_t th[CLI_MULTI_MAX];
    bool started[CLI_MULTI_MAX] = {0};
    for (int i = 0; i < m->n; i++) {
        m->done[i] = 0;
        m->seconds[i] = 0;
        w[i] = (worker){&q, i};
        started[i] = pthread_create(&th[i], NULL, work, &w[i]) == 0;
    }
    bool any = false;
    for (int i = 0; i < m->n; i++) any = any || started[i];
    if (!any) work(&w[0]); /* no thread could start: the first device does it all */
    for (int i = 0; i < m->n; i++)
        if (started[i]) pthread_join(th[i], NULL);
    pthread_mutex_destroy(&q.lock);
    if (q.r != IG_OK) {
        if (err) *err = q.err;
        return q.r;
    }
    if (!quiet)
        for (int i = 0; i < m->n; i++)
            fprintf(stderr, "inrgan: %s: %d of %d in %.2f s\n", m->label[i], m->done[i], count, m->seconds[i]);
    return IG_OK;
}
