/* inrgan.h - the public API of libinrgan.
 *
 * Data flows one way:
 *   model file --ig_model_load--> ig_model (validated tensors + config)
 *   (model, view, size) --ig_plan_init--> ig_plan (levels, grids, coordinates; backend-free)
 *   seeds / z files --ig_latents_*--> z rows
 *   (model, plan, z, psi) --backend (cpu | vulkan)--> float image [N,3,H,W]
 *   float image --ig_image_*--> RGB8 / PNG
 *
 * Every call that can fail returns an ig_result and fills an optional ig_error with one line
 * naming the problem. The library never exits and never prints to stdout.
 */
#ifndef INRGAN_H
#define INRGAN_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "ig_result.h"

#define IG_MAX_BLOCKS 32
#define IG_MAX_EXTRA 16
#define IG_MAX_MAPPING 32
#define IG_MAX_CIPS_PAIRS 12

/* ---- architecture config (docs/model-format.md) ------------------------------------ */
typedef enum ig_upsampling { IG_UP_NEAREST = 0, IG_UP_BILINEAR = 1 } ig_upsampling;

typedef struct ig_embedding_spec {
    int log_freqs; /* K */
    bool diagonal;
    int n_log;     /* K * (diagonal ? 4 : 2) */
    int random;
    int constant;  /* channels of the learned per-pixel constant */
    int channels;  /* 2 * (n_log + random) + constant */
} ig_embedding_spec;

typedef struct ig_block_config {
    char name[16];          /* official name, e.g. "b64" */
    int grid;               /* side of the block's square grid */
    int channels;           /* C_out of its FMM layers */
    int extra_convs;
    bool has_embedding;
    bool upsamples;         /* grid == 2 * previous grid */
    ig_embedding_spec emb;
    int level;              /* index of the level (distinct grid) it belongs to */
} ig_block_config;

/* Model families (docs/model-format.md, docs/cips.md). */
typedef enum ig_family { IG_FAMILY_INRGAN = 0, IG_FAMILY_CIPS = 1 } ig_family;

/* CIPSskip (reference section 5): one full-resolution level; the generic fields of ig_config
 * carry z_dim = w_dim = style_dim, mapping_layers = n_mlp, mapping_lr_multiplier = lr_mlp,
 * resolution = coords_size, n_levels = 1, level_grid[0] = coords_size, n_blocks = 0. */
typedef struct ig_cips_config {
    int size;          /* training resolution = side of emb.input */
    int coords_size;   /* native output grid (linspace of this many points) */
    int hidden;        /* LFF width = embedding channels; conv1 reads 2 * hidden */
    bool res;          /* arch "CIPSres" (residual blocks, one final ToRGB), else "CIPSskip" */
    int n_pairs;       /* log2(size) - 1 pairs of ModFC layers (CIPSskip: a ToRGB after each;
                        * CIPSres: residual blocks) */
    int channels[IG_MAX_CIPS_PAIRS];
    bool noise_zero;   /* config "noise": "zero" (else "random": seeded noise by default) */
    bool has_w_avg;
} ig_cips_config;

typedef struct ig_config {
    int format_version;
    char family[16];
    ig_family kind;
    int resolution;
    int z_dim, w_dim;
    int mapping_layers;
    double mapping_lr_multiplier;
    int rank;
    ig_upsampling upsampling;
    bool instance_norm;
    int num_ws;
    double truncation_psi;
    int n_blocks;
    ig_block_config blocks[IG_MAX_BLOCKS];
    int n_levels;
    int level_grid[IG_MAX_BLOCKS]; /* native grid side of each level */
    ig_cips_config cips;           /* kind == IG_FAMILY_CIPS */
} ig_config;

/* ---- model --------------------------------------------------------------------------- */
typedef struct ig_model ig_model;

/* A tensor of the model, converted to fp32 and contiguous. */
typedef struct ig_tensor {
    const char *name;
    int ndim;
    int64_t shape[8];
    int64_t numel;
    const float *data;
} ig_tensor;

ig_result ig_model_load(const char *path, ig_model **out, ig_error *err);
/* The demo model that -m defaults to (README "Installing"): for an installed program
 * <its bin/>../share/inrgan/demo.safetensors, else the configured install prefix's, else the
 * source tree's assets/ (build trees look there first). The first existing path; when none
 * exists, the first candidate, and ig_model_load of it fails with IG_ERR_MODEL_OPEN naming every
 * place looked in. Static storage; thread-safe. */
const char *ig_default_model_path(void);
/* A model of the given config JSON with the official random initialisation (benchmarks). */
ig_result ig_model_create_random(const char *config_json, uint64_t seed, ig_model **out, ig_error *err);
/* JSON config of a built-in configuration: ffhq256, bedrooms256, churches256 (+ "-bil"),
 * tiny-nearest, tiny-bil, tiny-churches (src/builtin.c). NULL if unknown; free() the result. */
char *ig_config_builtin(const char *name);
/* Parses and checks a config JSON (docs/model-format.md) without any tensors. */
ig_result ig_config_from_json(const char *json, ig_config *cfg, ig_error *err);
/* Comma-separated names of the built-in configurations. */
const char *ig_config_builtin_names(void);
void ig_model_free(ig_model *model);
const ig_config *ig_model_config(const ig_model *model);
/* NULL when absent. */
const ig_tensor *ig_model_tensor(const ig_model *model, const char *name);
/* The config JSON exactly as stored in the file. */
const char *ig_model_config_json(const ig_model *model);
/* Whether truncation psi can be applied: psi == 1, or the model holds w_avg (INR-GAN always;
 * CIPS files converted with --w-avg-samples). Fills err naming the problem when not. */
ig_result ig_model_check_psi(const ig_model *model, double psi, ig_error *err);

/* The architecture as lines of text (`inrgan info`): family, resolution, latents and the
 * family's layer structure. Returns the length it needed (truncated to len - 1 in buf). */
size_t ig_config_describe(const ig_config *cfg, char *buf, size_t len);

/* Counting conventions of docs/cli.md. */
int64_t ig_config_param_count(const ig_config *cfg);
/* 2 x nominal multiply-adds (FMM layers + ToRGB) for the native render at out x out. */
double ig_config_model_flops(const ig_config *cfg);
/* What the CPU/Vulkan kernels execute (coarse trick on upsampling conv0). */
double ig_config_executed_flops(const ig_config *cfg);
/* CIPS: multiply-adds per output pixel (LFF, conv1, ModFC pairs, ToRGBs; docs/cips.md). */
double ig_cips_macs_per_pixel(const ig_config *cfg);

/* ---- latents (src/latent.c, docs/cli.md "Latents") ---------------------------------- */
/* z for one seed: splitmix64 + Box-Muller, documented in docs/cli.md. */
void ig_latent_from_seed(uint32_t seed, float *z, int z_dim);
/* Parses "0-7,12" into a newly allocated array. */
ig_result ig_seeds_parse(const char *text, uint32_t **seeds, int *count, ig_error *err);
/* Reads any float32/float64 C-order .npy as floats (malloc'd). */
ig_result ig_npy_read(const char *path, int *ndim, int64_t shape[8], float **data, ig_error *err);
/* Reads a float32/float64 .npy of shape [N, z_dim] (or [z_dim]); returns float rows. */
ig_result ig_latents_load_npy(const char *path, int z_dim, float **z, int *count, ig_error *err);

/* ---- plan (src/plan.c, docs/coordinates.md) ----------------------------------------- */
typedef struct ig_view {
    double x0, y0, x1, y1; /* rectangle of the generator's coordinate plane, y up */
} ig_view;

typedef enum ig_const_mode {
    IG_CONST_BORDER = 0,   /* learned constants outside their grid: clamp to the border */
    IG_CONST_ZERO = 1      /* ... or zero */
} ig_const_mode;

typedef struct ig_plan_desc {
    ig_view view;          /* all zero = the native view (-1,-1,1,1) */
    int width, height;     /* the whole image; 0 = the model's native size */
    int stride;            /* 0/1: every pixel; s > 1: every s-th pixel (exact strided low-res) */
    int tile_x, tile_y, tile_w, tile_h; /* part of the output to compute; tile_w = 0: all */
    ig_const_mode const_mode;
} ig_plan_desc;

/* One level: which points of its full grid are computed, where they are, and how they come
 * from the previous level. Level grids of the whole image are 2x refinements of each other. */
typedef struct ig_level_plan {
    int width, height;           /* columns and rows computed at this level */
    int full_width, full_height; /* the level's grid for the whole image */
    int *cols, *rows;            /* indices of the computed columns/rows in the full grid */
    double *xs, *ys;             /* their coordinates (x right, y up) */
    /* levels > 0: value(i, j) = bilinear mix of the previous level's computed grid at rows
     * (r0[i], r1[i], rw[i]) and columns (c0[j], c1[j], cw[j]); nearest: r1 = r0, rw = 0 */
    int *c0, *c1, *r0, *r1;
    float *cw, *rw;
} ig_level_plan;

typedef struct ig_plan {
    ig_plan_desc desc;           /* as given, defaults filled */
    int width, height;           /* output of this plan = the top level's computed grid */
    int image_width, image_height; /* the whole (strided) output image this plan is part of */
    bool whole;                  /* every pixel of the whole image, no stride: a plan that can
                                  * compute its own instance-norm statistics */
    ig_const_mode const_mode;
    int n_levels;
    ig_level_plan levels[IG_MAX_BLOCKS];
} ig_plan;

ig_view ig_view_native(void); /* (-1,-1,1,1) */
/* The view of a center and zoom: zoom 1 = the native view, 2 = half as wide. */
ig_view ig_view_center_zoom(double cx, double cy, double zoom);
/* Frame i of n (0-based) of a continuous zoom from zoom0 to zoom1 about (cx, cy): the zoom
 * factor changes geometrically, so the motion looks uniform. Used by `inrgan zoom` and the viewer. */
ig_view ig_view_zoom_frame(double cx, double cy, double zoom0, double zoom1, int i, int n);
ig_result ig_plan_make(ig_plan *plan, const ig_config *cfg, const ig_plan_desc *desc, ig_error *err);
/* Shorthand: the whole image of `view` at width x height. */
ig_result ig_plan_init(ig_plan *plan, const ig_config *cfg, ig_view view, int width,
                       int height, ig_error *err);
void ig_plan_free(ig_plan *plan);
/* Points computed per level, summed (cost model of the plan, used by info/bench). */
double ig_plan_executed_flops(const ig_plan *plan, const ig_config *cfg);

/* ---- rendering ----------------------------------------------------------------------- */
/* Optional per-block inspection: called after every block with its features [C,H,W]
 * and the running RGB [3,H,W] of image `index`. Used by the parity tests. */
typedef void (*ig_block_fn)(void *user, int index, const char *block, int channels,
                            int height, int width, const float *x, const float *rgb);

typedef enum ig_space {
    IG_SPACE_Z = 0,        /* slerp of z */
    IG_SPACE_W = 1,        /* lerp of the (truncated) w */
    IG_SPACE_PARAMS = 2    /* lerp of the generated per-layer INR weights */
} ig_space;

/* Per-pixel noise of models that inject it (CIPS; INR-GAN has none). Seeded noise is a pure
 * function of (seed, layer, global pixel position): tiles, strides and backends agree
 * (src/noise.h, docs/cips.md). */
typedef enum ig_noise {
    IG_NOISE_MODEL = 0,    /* the model's default: "random" -> seeded, "zero" -> zero */
    IG_NOISE_ZERO = 1,
    IG_NOISE_SEEDED = 2
} ig_noise;

typedef struct ig_render_desc {
    const ig_model *model;
    const ig_plan *plan;
    const float *z;        /* [count, z_dim] */
    int count;
    double psi;            /* truncation */
    /* interpolation (optional): image n is the point t[n] between z[n] and z_b[n] in `space`;
     * t = 0 and t = 1 give the endpoint images exactly */
    const float *z_b;      /* [count, z_dim] or NULL */
    const float *t;        /* [count] */
    ig_space space;
    int threads;           /* 0 = all cores */
    ig_block_fn on_block;  /* optional */
    void *user;
    double *gpu_ms;        /* optional out: device time of the render (GPU backends) */
    ig_noise noise;
    const uint32_t *noise_seed; /* [count] noise seed of each image; NULL = 0 for all */
} ig_render_desc;

/* Whether a render with `noise` injects seeded noise into `model`. */
bool ig_noise_active(const ig_config *cfg, ig_noise noise);
/* The option value of --noise (docs/cli.md): "zero", "seeded" or a seed 0..2^31-1, which also
 * sets *seed and *fixed (every image uses that seed). Returns 0, or -1 when malformed. */
int ig_noise_parse(const char *text, ig_noise *mode, uint32_t *seed, bool *fixed);

/* The one spelling of the option values (docs/cli.md): "z", "w", "params" and "border",
 * "zero". The parsers return -1 for an unknown name. */
const char *ig_space_name(ig_space space);
int ig_space_parse(const char *name);
const char *ig_const_mode_name(ig_const_mode mode);
int ig_const_mode_parse(const char *name);

/* slerp of two latents (exact endpoints); out may alias neither input. */
void ig_latent_slerp(const float *a, const float *b, double t, float *out, int n);

/* CPU reference backend. out: [count, 3, height, width] floats. */
ig_result ig_cpu_render(const ig_render_desc *desc, float *out, ig_error *err);
/* Measured fp32 FMA peak of this CPU over `threads` threads (0 = all), GFLOP/s. */
double ig_cpu_peak_gflops(int threads);
/* Nominal FLOPs of a plan (2 x multiply-adds without the coarse trick, ToRGB included). */
double ig_plan_model_flops(const ig_plan *plan, const ig_config *cfg);

/* ---- whole images in tiles (src/render.c) --------------------------------------------- */
typedef ig_result (*ig_backend_fn)(void *backend, const ig_render_desc *desc, float *out, ig_error *err);
/* Receives finished rows [y0, y0 + rows) of image `image` (0..count-1) as interleaved RGB8,
 * width * rows * 3 bytes, top to bottom (the tiler quantises with ig_image_to_rgb8). */
typedef ig_result (*ig_rows_fn)(void *user, int image, int y0, int rows, const uint8_t *rgb, ig_error *err);

/* Where the finished rows of a tiled render go, as floats: quantisation (8-bit, 16-bit, none)
 * is the writer's business. The tiler opens an image before its first rows and closes it after
 * its last ones; at most `max_open` images are open at once (the batch is rendered in chunks). */
typedef struct ig_image_sink {
    /* optional: image `image` (0..count-1) of width x height is about to receive rows */
    ig_result (*open)(void *user, int image, int width, int height, ig_error *err);
    /* rows [y0, y0 + rows), top to bottom, interleaved float RGB: width * rows * 3 floats in
     * the generator's range (about -1..1, not clamped) */
    ig_result (*rows)(void *user, int image, int y0, int rows, const float *rgb, ig_error *err);
    /* optional: after the last rows (commit = true), or to discard the image (commit = false,
     * also after a failure, err may be NULL then) */
    ig_result (*close)(void *user, int image, bool commit, ig_error *err);
    void *user;
    size_t bytes_per_image;  /* memory the sink holds for one open image: counted in the budget */
    int max_open;            /* most images open at once; 0 = no limit */
} ig_image_sink;

/* How a tiled render is split (ig_render_layout): tiles of tile_w x tile_h output pixels, the
 * batch rendered `chunk` images at a time, and the peak bytes this costs by the tiler's count
 * (tiles, band of finished rows, the sink's bytes per open image). */
typedef struct ig_render_layout {
    int width, height;       /* the whole (strided) output image */
    int tile_w, tile_h;
    int tiles_x, tiles_y;    /* tiles per image */
    int count, chunk;        /* images; images rendered and open at once */
    int64_t tiles_total;     /* tile renders over all chunks */
    size_t budget, bytes;    /* the budget and the estimated peak of this layout */
    bool over_budget;        /* even 1 image and 1-row tiles exceed the budget (-t given, or a
                              * budget below one row): rendered anyway, bytes says how much */
} ig_render_layout;

/* Progress of ig_render_image: called once before the first tile (tiles_done = 0) and after
 * every tile. Pixels count output pixels of all images. */
typedef struct ig_progress {
    const ig_render_layout *layout;
    int64_t tiles_done, tiles_total;
    double pixels_done, pixels_total;
    int images_done;         /* images fully written */
} ig_progress;
typedef void (*ig_progress_fn)(void *user, const ig_progress *p);

typedef struct ig_image_job {
    const ig_model *model;
    ig_noise noise;
    const uint32_t *noise_seed; /* [count] or NULL */
    ig_plan_desc plan;       /* the whole image; its tile fields are ignored */
    const float *z, *z_b, *t;
    int count;
    double psi;
    ig_space space;
    int tile;                /* tile side in output pixels; 0 = from the memory budget */
    size_t memory_budget;    /* bytes for tiles, finished rows and the sink's open images; 0 = 1 GiB */
    ig_backend_fn backend;   /* NULL = the CPU backend */
    void *backend_ctx;
    int threads;
    /* where rows go: `sink` (floats) when set, else `rows` (RGB8) with `user` */
    const ig_image_sink *sink;
    ig_rows_fn rows;
    void *user;
    ig_progress_fn progress; /* optional */
    void *progress_user;
    /* optional band (`inrgan render --shard`): only rows [band_y0, band_y0 + band_h) of the whole
     * image; the sink sees an image band_h rows high (y0 counted from band_y0). band_h = 0: all */
    int band_y0, band_h;
} ig_image_job;

/* Renders count images tile by tile, streaming each band of rows to the sink: peak memory stays
 * within the budget (docs/coordinates.md "Tiles and memory") whatever the image size and batch.
 * Tiles are exact crops of the untiled render. */
ig_result ig_render_image(const ig_image_job *job, ig_error *err);
/* The split ig_render_image will use for this job. */
ig_result ig_render_layout_make(const ig_image_job *job, ig_render_layout *out, ig_error *err);
/* The square tile side the budget allows for `count` images with no other cost (used by the
 * layout; kept for callers that ask for a tile side). */
int ig_render_auto_tile(const ig_model *model, const ig_plan_desc *plan, size_t budget, int count);

/* ---- images (src/image.c) ----------------------------------------------------------- */
/* uint8 = clamp(x * 127.5 + 128, 0, 255) truncated, planar float -> interleaved RGB8. */
void ig_image_to_rgb8(const float *chw, int width, int height, uint8_t *rgb);
/* Writes a PNG atomically (temporary file + rename): never a half-written file. */
ig_result ig_png_write(const char *path, const uint8_t *rgb, int width, int height,
                       ig_error *err);
/* Streamed PNG for images too large for one buffer (libpng): rows are appended in order;
 * the file appears under its name only after ig_png_stream_close succeeds. */
typedef struct ig_png_stream ig_png_stream;
ig_result ig_png_stream_open(ig_png_stream **out, const char *path, int width, int height, ig_error *err);
ig_result ig_png_stream_rows(ig_png_stream *s, const uint8_t *rgb, int rows, ig_error *err);
/* commit = false discards the partial file. */
ig_result ig_png_stream_close(ig_png_stream *s, bool commit, ig_error *err);
/* The same with 8 or 16 bits per sample (16: rows of big-endian samples, 6 bytes a pixel). */
ig_result ig_png_stream_open16(ig_png_stream **out, const char *path, int width, int height, int depth,
                               ig_error *err);
/* The same with tEXt chunks before the pixels: text = {key, value, key, value, ..., NULL}
 * (at most 16 pairs; NULL = none). Used for the band files of `inrgan render --shard`. */
ig_result ig_png_stream_open_text(ig_png_stream **out, const char *path, int width, int height, int depth,
                                  const char *const *text, ig_error *err);

/* Quantisation of one generator value x (about -1..1), docs/cli.md "Output formats":
 * 8 bits:  v = clamp(127.5 x + 128, 0, 255), q8 = floor(v)  (the official conversion);
 * 16 bits: q16 = clamp(257 q8 + floor(257 (v - q8)) - 128, 0, 65535), so that
 *          (q16 + 128) / 257 (integer division: round to nearest) == q8 exactly. */
uint8_t ig_quantize8(float x);
uint16_t ig_quantize16(float x);
/* n values quantised into one PNG row: depth 8 one byte each, depth 16 two (big-endian, as PNG
 * stores them) each. */
void ig_quantize_png_row(const float *x, size_t n, int depth, uint8_t *out);

/* Writers of float rows (interleaved RGB, top to bottom), each to a temporary file renamed when
 * complete: 8/16-bit PNG (quantised as above), .npy float32 [3, H, W] (the values as rendered),
 * float32 RGB TIFF (0.5 x + 0.5, so 0..1 is the displayable range; BigTIFF above 3.5 GB). */
typedef enum ig_format { IG_FORMAT_PNG8 = 0, IG_FORMAT_PNG16, IG_FORMAT_NPY, IG_FORMAT_TIFF } ig_format;
typedef struct ig_image_writer ig_image_writer;
const char *ig_format_ext(ig_format format); /* "png", "npy", "tif" */
/* Memory one open writer of a width-pixel image holds (for ig_image_sink.bytes_per_image). */
size_t ig_image_writer_bytes(ig_format format, int width);
ig_result ig_image_writer_open(ig_image_writer **out, const char *path, ig_format format, int width,
                               int height, ig_error *err);
ig_result ig_image_writer_rows(ig_image_writer *w, const float *rgb, int rows, ig_error *err);
/* commit = false (or fewer rows than the height) removes the temporary file. */
ig_result ig_image_writer_close(ig_image_writer *w, bool commit, ig_error *err);

/* Temporary files "PATH.tmpPID" of the writers still open: removed by this call, which is
 * async-signal-safe (for a SIGINT/SIGTERM handler that then exits). */
void ig_temp_files_remove(void);
/* Removes regular files of ours in dir named "NAME.{png,npy,tif,tiff,json}.tmpPID" whose
 * process no longer exists (left by a killed run); *removed counts them. */
ig_result ig_temp_files_remove_stale(const char *dir, int *removed, ig_error *err);

/* Reads an 8-bit PNG (stb_image) as interleaved RGB8; *rgb is malloc'd. */
ig_result ig_png_read(const char *path, uint8_t **rgb, int *width, int *height, ig_error *err);
/* Writes a float32 .npy atomically. */
ig_result ig_npy_write(const char *path, const float *data, int ndim, const int64_t *shape,
                       ig_error *err);

#endif
