/* hud.c - the heads-up display: stb_easy_font turns text into axis-aligned quads (in font
 * pixels, y down); each quad is filled into an RGB8 panel at an integer scale. */
#include "vw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-braces"
#endif
#include <stb_easy_font.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#define VW_HUD_PAD 4          /* font pixels of margin around the text */

/* One vertex of stb_easy_font's output: x, y, z floats and an RGBA colour. */
typedef struct quad_vertex {
    float x, y, z;
    uint8_t color[4];
} quad_vertex;

bool vw_hud_render(const char *text, int scale, uint8_t **rgb, int *width, int *height) {
    *rgb = NULL;
    if (scale < 1) scale = 1;
    /* the font covers printable ASCII only */
    size_t len = strlen(text);
    char *clean = malloc(len + 1);
    if (!clean) return false;
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = (unsigned char)text[i];
        clean[i] = c == 0 || c == '\n' || (c >= 32 && c < 127) ? (char)c : '?';
    }
    int tw = stb_easy_font_width(clean), th = stb_easy_font_height(clean);
    int w = (tw + 2 * VW_HUD_PAD) * scale, h = (th + 2 * VW_HUD_PAD) * scale;
    size_t vbytes = (len + 1) * 300; /* the header's estimate is ~270 bytes per character */
    quad_vertex *v = malloc(vbytes);
    uint8_t *img = malloc((size_t)w * h * 3);
    if (!v || !img) {
        free(clean);
        free(v);
        free(img);
        return false;
    }
    for (size_t i = 0; i < (size_t)w * h; i++) {
        img[3 * i + 0] = 16;
        img[3 * i + 1] = 18;
        img[3 * i + 2] = 24;
    }
    unsigned char color[4] = {235, 235, 225, 255};
    int quads = stb_easy_font_print(VW_HUD_PAD, VW_HUD_PAD, clean, color, v, (int)vbytes);
    for (int q = 0; q < quads; q++) {
        const quad_vertex *a = &v[4 * q], *c = &v[4 * q + 2]; /* opposite corners */
        int x0 = (int)lroundf(fminf(a->x, c->x) * scale), x1 = (int)lroundf(fmaxf(a->x, c->x) * scale);
        int y0 = (int)lroundf(fminf(a->y, c->y) * scale), y1 = (int)lroundf(fmaxf(a->y, c->y) * scale);
        if (x0 < 0) x0 = 0;
        if (y0 < 0) y0 = 0;
        if (x1 > w) x1 = w;
        if (y1 > h) y1 = h;
        for (int y = y0; y < y1; y++)
            for (int x = x0; x < x1; x++) memcpy(img + ((size_t)y * w + x) * 3, a->color, 3);
    }
    free(v);
    free(clean);
    *rgb = img;
    *width = w;
    *height = h;
    return true;
}
