/* output.h - image files of `inrgan render|interp|zoom` (src/cli/output.c): the sink of the
 * tiled renderer (PNG 8/16-bit, float TIFF, .npy), the open-file limit, and signals. */
#ifndef IG_CLI_OUTPUT_H
#define IG_CLI_OUTPUT_H

#include "inrgan.h"
#include "progress.h"

/* Longest output name (without its extension) the CLI makes. */
#define CLI_NAME_LEN 192

typedef struct cli_outputs {
    int depth;           /* PNG bits per sample: 8 or 16; 0 = no PNG */
    bool npy, tiff;      /* also NAME.npy (float32 [3,H,W]) / NAME.tif (float32 RGB) */
    size_t budget;       /* bytes for tiles, rows and open files; 0 = the library's 1 GiB */
    bool quiet;
    cli_progress *progress; /* optional: advanced by the rendered pixels */
} cli_outputs;

/* Renders job->count images (job's sink, budget and progress fields are filled here) to
 * dir/names[i].{png,npy,tif}, tile by tile, a chunk of images at a time: the number of files
 * open at once stays below the open-file limit (RLIMIT_NOFILE) and memory within the budget.
 * Stale temporary files of killed runs in dir are removed on the first call. */
ig_result cli_output_render(ig_image_job *job, char (*names)[CLI_NAME_LEN], const char *dir, const cli_outputs *o,
                            ig_error *err);
/* The output size of a plan description (validated). */
ig_result cli_output_size(const ig_model *model, const ig_plan_desc *pd, int *width, int *height, ig_error *err);
/* Images that may be open at once with files_per_image files each under RLIMIT_NOFILE. */
int cli_output_max_open(int files_per_image);
/* SIGINT, SIGTERM, SIGHUP: remove this run's temporary files, print the error line, exit 130. */
void cli_signals_install(void);

#endif
