/* progress.h - progress of long work on stderr (src/cli/progress.c). */
#ifndef IG_CLI_PROGRESS_H
#define IG_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

/* Work counted in output pixels (all images). Nothing shows for the first second; then on a
 * terminal a bar redrawn at most 10 times a second, otherwise one line every 5 seconds (and a
 * last one at 100 %): done, %, rate, ETA. quiet: nothing at all. */
typedef struct cli_progress {
    const char *label;
    bool quiet, tty, shown, noted;
    double t0, last, total, done, drawn;
    int64_t tiles_done, tiles_total;
} cli_progress;

void cli_progress_init(cli_progress *p, const char *label, double total, bool quiet);
/* done: pixels finished so far (0..total); tiles: for the text only (may be 0). */
void cli_progress_update(cli_progress *p, double done, int64_t tiles_done, int64_t tiles_total);
/* A line of text (e.g. how a request is split) that does not break the bar; once per run when
 * once is set. */
void cli_progress_note(cli_progress *p, bool once, const char *fmt, ...);
/* Ends the bar's line (when one was drawn). */
void cli_progress_end(cli_progress *p);
double cli_now_s(void);

#endif
