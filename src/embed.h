/* embed.h - a level's coordinate embedding E = [sin(Phi p), cos(Phi p), const] on the plan's
 * grid, computed on the host in double precision (arguments reach hundreds of radians). */
#ifndef IG_EMBED_H
#define IG_EMBED_H

#include "inrgan.h"

/* Channels of the embedding of `level` (the first block of the level owns it). */
int ig_embed_channels(const ig_model *model, int level);
/* out: [channels, height, width] of the level's grid in the plan. */
ig_result ig_embed_level(const ig_model *model, const ig_plan *plan, int level, float *out, ig_error *err);

#endif
