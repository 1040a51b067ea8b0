/* shard.h - `--shard K/N|auto|auto/N` of render, interp and zoom (src/cli/shard.c), the band
 * files of one image split over shards, and `inrgan stitch` (src/cli/stitch.c).
 * docs/scale-out.md describes the partition and the band file format. */
#ifndef IG_CLI_SHARD_H
#define IG_CLI_SHARD_H

#include "inrgan.h"
#include "output.h"
#include <stdio.h>

typedef struct cli_shard {
    bool on;       /* --shard given */
    bool is_auto;  /* --shard auto or auto/N: from the scheduler's variables */
    int k, n;      /* this shard (0-based) of n; n = 0 with plain "auto" until resolved */
} cli_shard;

/* Parses "K/N" (0 <= K < N <= 1000000), "auto" or "auto/N". IG_ERR_USAGE with a message. */
ig_result cli_shard_parse(const char *text, cli_shard *s, ig_error *err);
/* --shard auto: K and N from Slurm (SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_COUNT, or
 * SLURM_ARRAY_TASK_MIN/MAX [/STEP]) or Kubernetes (JOB_COMPLETION_INDEX, N from auto/N);
 * says in one stderr line (unless quiet) which it used. No-op for K/N. */
ig_result cli_shard_resolve(cli_shard *s, bool quiet, ig_error *err);
/* Items [*begin, *end) of `total` for this shard: contiguous balanced ranges,
 * begin = floor(K * total / N). Shards of an off shard: everything. */
void cli_shard_range(const cli_shard *s, int64_t total, int64_t *begin, int64_t *end);

/* One image as a band of rows: dir/NAME.bandKofN.png with the tEXt metadata stitch checks. */
typedef struct cli_band_job {
    ig_image_job *job;            /* one image (count 1); band fields are set here */
    const char *dir, *name;       /* output directory, image name (no extension) */
    const char *model_path;
    const char *request;          /* what else must agree between bands (options, latent) */
    int depth;                    /* 8 or 16 */
    size_t budget;
    bool quiet;
    const char *model_id;         /* optional: the model's "fnv1a64=... bytes=..." (else hashed here) */
} cli_band_job;
ig_result cli_band_render(const cli_band_job *b, const cli_shard *s, int step, char *written, size_t wlen,
                          ig_error *err);
/* One image over several devices (-g LIST, src/cli/multi.c): bands of rows in one queue, each
 * written as a temporary band file in dir, then stitched into dir/NAME.png and removed. */
struct cli_multi;
ig_result cli_band_multi(struct cli_multi *m, const cli_band_job *b, int step, bool quiet, ig_error *err);
/* A 64-bit FNV-1a of n bytes, continued from h (start: CLI_FNV0), and of a file's contents. */
#define CLI_FNV0 0xcbf29ce484222325ull
uint64_t cli_fnv(uint64_t h, const void *p, size_t n);
ig_result cli_file_hash(const char *path, uint64_t *hash, int64_t *size, ig_error *err);

/* Stitches band files (any order) into out_path; nothing is written on failure. */
ig_result cli_stitch_files(const char *out_path, const char *const *paths, int nb, bool quiet, ig_error *err);
int cmd_stitch(int argc, char **argv);   /* src/cli/stitch.c */
void cli_stitch_help(FILE *f);

#endif
