/* server.h - `inrgan serve`: an HTTP tile server over libmicrohttpd (docs/serve.md). */
#ifndef IG_SERVE_SERVER_H
#define IG_SERVE_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "inrgan.h"

typedef struct ig_serve_opts {
    const ig_model *model;
    const char *model_path;     /* for the ETag (file hash) and the page's render command */
    ig_backend_fn backend;
    void *backend_ctx;
    const char *backend_label;  /* e.g. "the CPU backend" */
    const char *backend_id;     /* what the pixels depend on: "cpu", "vulkan:0:fp16", ... (ETag) */
    const char *bind;           /* numeric IPv4 or IPv6 address */
    int port;                   /* 0: any free port (printed) */
    int queue;                  /* bound of the render queue (tiles) */
    int max_batch;              /* tiles per backend call */
    bool merge_rows;            /* adjacent tiles of one row as one wider render (where exact) */
    size_t cache_bytes;         /* 0: no cache */
    int max_connections;
    int max_zoom;
    int timeout_s;              /* idle connections are closed after this */
    int threads;                /* CPU backend threads, 0 = all */
    const char *leaflet_dir;    /* Debian's libjs-leaflet */
    bool quiet;
} ig_serve_opts;

/* Serves until SIGINT or SIGTERM (IG_OK then), or fails to start. */
ig_result ig_serve_run(const ig_serve_opts *o, ig_error *err);

#endif
