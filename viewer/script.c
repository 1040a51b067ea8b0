/* script.c - the --script language of inrgan-viewer (docs/viewer.md "Scripts"): one command
 * per line, '#' starts a comment. The whole file is parsed before the window opens, so a typo
 * is reported as FILE:LINE and nothing runs. */
#include "vw.h"

#define GLFW_INCLUDE_NONE
#include <GLFW/glfw3.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    int key;
} key_names[] = {
    {"SPACE", GLFW_KEY_SPACE},       {"ENTER", GLFW_KEY_ENTER},         {"RETURN", GLFW_KEY_ENTER},
    {"ESCAPE", GLFW_KEY_ESCAPE},     {"ESC", GLFW_KEY_ESCAPE},          {"BACKSPACE", GLFW_KEY_BACKSPACE},
    {"LEFT", GLFW_KEY_LEFT},         {"RIGHT", GLFW_KEY_RIGHT},         {"UP", GLFW_KEY_UP},
    {"DOWN", GLFW_KEY_DOWN},         {"PAGE_UP", GLFW_KEY_PAGE_UP},     {"PAGE_DOWN", GLFW_KEY_PAGE_DOWN},
    {"MINUS", GLFW_KEY_MINUS},       {"-", GLFW_KEY_MINUS},             {"EQUAL", GLFW_KEY_EQUAL},
    {"=", GLFW_KEY_EQUAL},           {"PLUS", GLFW_KEY_KP_ADD},         {"+", GLFW_KEY_KP_ADD},
    {"LEFT_BRACKET", GLFW_KEY_LEFT_BRACKET}, {"[", GLFW_KEY_LEFT_BRACKET},
    {"RIGHT_BRACKET", GLFW_KEY_RIGHT_BRACKET}, {"]", GLFW_KEY_RIGHT_BRACKET},
    {"COMMA", GLFW_KEY_COMMA},       {",", GLFW_KEY_COMMA},             {"PERIOD", GLFW_KEY_PERIOD},
    {".", GLFW_KEY_PERIOD},          {"TAB", GLFW_KEY_TAB},
};

static int key_code(const char *name) {
    size_t n = strlen(name);
    if (n == 1 && isalpha((unsigned char)name[0])) return GLFW_KEY_A + (toupper((unsigned char)name[0]) - 'A');
    if (n == 1 && isdigit((unsigned char)name[0])) return GLFW_KEY_0 + (name[0] - '0');
    for (size_t i = 0; i < sizeof key_names / sizeof key_names[0]; i++)
        if (strcasecmp(name, key_names[i].name) == 0) return key_names[i].key;
    return -1;
}

/* "a,b,..." with exactly n finite numbers. */
static bool parse_numbers(const char *s, double *v, int n) {
    const char *p = s;
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        v[i] = strtod(p, &end);
        if (end == p || errno || !isfinite(v[i])) return false;
        p = end;
        if (i + 1 < n) {
            if (*p != ',') return false;
            p++;
        }
    }
    return *p == 0;
}

static bool parse_size(const char *s, int *w, int *h) {
    char extra;
    return sscanf(s, "%dx%d%c", w, h, &extra) == 2 && *w >= 1 && *h >= 1 && *w <= 16384 && *h <= 16384;
}

static bool parse_space(const char *s, ig_space *space) {
    if (strcmp(s, "z") == 0) *space = IG_SPACE_Z;
    else if (strcmp(s, "w") == 0) *space = IG_SPACE_W;
    else if (strcmp(s, "params") == 0) *space = IG_SPACE_PARAMS;
    else return false;
    return true;
}

/* Splits line into at most max whitespace-separated words (in place). */
static int split(char *line, char **words, int max) {
    int n = 0;
    char *p = line;
    while (*p && n < max) {
        while (*p && isspace((unsigned char)*p)) p++;
        if (!*p) break;
        words[n++] = p;
        while (*p && !isspace((unsigned char)*p)) p++;
        if (*p) *p++ = 0;
    }
    while (*p && isspace((unsigned char)*p)) p++;
    return *p ? max + 1 : n; /* more words than allowed */
}

static ig_result parse_line(char *line, vw_cmd *c, const char *file, int lineno, ig_error *err) {
    char *rest = line;
    while (*rest && isspace((unsigned char)*rest)) rest++;
    char *cmd = rest;
    while (*rest && !isspace((unsigned char)*rest)) rest++;
    if (*rest) *rest++ = 0;
    while (*rest && isspace((unsigned char)*rest)) rest++;
    char *e = rest + strlen(rest);
    while (e > rest && isspace((unsigned char)e[-1])) *--e = 0;

    char *w[VW_MAX_KEYS + 2];
    memset(c, 0, sizeof *c);
    c->line = lineno;
#define BAD(...) ig_error_set(err, IG_ERR_INVALID_ARGUMENT, __VA_ARGS__)
    if (strcmp(cmd, "size") == 0 || strcmp(cmd, "resize") == 0) {
        c->op = cmd[0] == 's' ? VW_OP_SIZE : VW_OP_RESIZE;
        if (!parse_size(rest, &c->n[0], &c->n[1]))
            return BAD("%s:%d: '%s' wants WxH (1..16384), got '%s'", file, lineno, cmd, rest);
    } else if (strcmp(cmd, "seed") == 0) {
        c->op = VW_OP_SEED;
        char *end;
        errno = 0;
        unsigned long long s = strtoull(rest, &end, 10);
        if (!*rest || *end || errno || s > 0xffffffffull || rest[0] == '-')
            return BAD("%s:%d: 'seed' wants a seed 0..4294967295, got '%s'", file, lineno, rest);
        c->v[0] = (double)s;
    } else if (strcmp(cmd, "zoom") == 0 || strcmp(cmd, "scroll") == 0) {
        c->op = cmd[0] == 'z' ? VW_OP_ZOOM : VW_OP_SCROLL;
        int n = split(rest, w, 3);
        if (n == 3 && strcmp(w[1], "at") == 0 && parse_numbers(w[2], c->v + 1, 2)) c->at = true;
        else if (n != 1 || c->op == VW_OP_SCROLL) n = -1;
        if (n < 0 || !parse_numbers(w[0], c->v, 1) || (c->op == VW_OP_ZOOM && !(c->v[0] > 0)))
            return BAD(c->op == VW_OP_ZOOM ? "%s:%d: 'zoom' wants FACTOR [at X,Y] with FACTOR > 0"
                                           : "%s:%d: 'scroll' wants NOTCHES at PX,PY (window pixels)",
                       file, lineno);
    } else if (strcmp(cmd, "pan") == 0) {
        c->op = VW_OP_PAN;
        if (!parse_numbers(rest, c->v, 2)) return BAD("%s:%d: 'pan' wants DX,DY, got '%s'", file, lineno, rest);
    } else if (strcmp(cmd, "view") == 0) {
        c->op = VW_OP_VIEW;
        if (!parse_numbers(rest, c->v, 4) || !(c->v[2] > c->v[0]) || !(c->v[3] > c->v[1]))
            return BAD("%s:%d: 'view' wants X0,Y0,X1,Y1 with X0 < X1, Y0 < Y1, got '%s'", file, lineno, rest);
    } else if (strcmp(cmd, "drag") == 0) {
        c->op = VW_OP_DRAG;
        if (split(rest, w, 2) != 2 || !parse_numbers(w[0], c->v, 2) || !parse_numbers(w[1], c->v + 2, 2))
            return BAD("%s:%d: 'drag' wants PX0,PY0 PX1,PY1 (window pixels)", file, lineno);
    } else if (strcmp(cmd, "step") == 0 || strcmp(cmd, "t") == 0 || strcmp(cmd, "psi") == 0 ||
               strcmp(cmd, "speed") == 0 || strcmp(cmd, "sleep") == 0) {
        c->op = cmd[0] == 't' ? VW_OP_T : cmd[0] == 'p' ? VW_OP_PSI : cmd[1] == 't' ? VW_OP_STEP
              : cmd[1] == 'p' ? VW_OP_SPEED : VW_OP_SLEEP;
        if (!parse_numbers(rest, c->v, 1)) return BAD("%s:%d: '%s' wants a number, got '%s'", file, lineno, cmd, rest);
        if (c->op == VW_OP_T && !(c->v[0] >= 0 && c->v[0] < 1))
            return BAD("%s:%d: 't' wants 0 <= T < 1", file, lineno);
        if ((c->op == VW_OP_SLEEP || c->op == VW_OP_SPEED) && !(c->v[0] >= 0))
            return BAD("%s:%d: '%s' wants a number >= 0", file, lineno, cmd);
    } else if (strcmp(cmd, "space") == 0) {
        c->op = VW_OP_SPACE;
        if (!parse_space(rest, &c->space)) return BAD("%s:%d: 'space' wants z, w or params", file, lineno);
    } else if (strcmp(cmd, "hud") == 0) {
        c->op = VW_OP_HUD;
        if (strcmp(rest, "on") == 0) c->n[0] = 1;
        else if (strcmp(rest, "off") != 0) return BAD("%s:%d: 'hud' wants on or off", file, lineno);
    } else if (strcmp(cmd, "frames") == 0) {
        c->op = VW_OP_FRAMES;
        char extra;
        if (sscanf(rest, "%d%c", &c->n[0], &extra) != 1 || c->n[0] < 0)
            return BAD("%s:%d: 'frames' wants a count >= 0", file, lineno);
    } else if (strcmp(cmd, "screenshot") == 0 || strcmp(cmd, "window-screenshot") == 0 ||
               strcmp(cmd, "print-command") == 0) {
        c->op = cmd[0] == 's' ? VW_OP_SCREENSHOT : cmd[0] == 'w' ? VW_OP_WINDOW_SHOT : VW_OP_PRINT_COMMAND;
        if (!*rest && c->op != VW_OP_PRINT_COMMAND) return BAD("%s:%d: '%s' wants a file name", file, lineno, cmd);
        if (*rest && !(c->path = strdup(rest))) return ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "script");
    } else if (strcmp(cmd, "key") == 0) {
        c->op = VW_OP_KEY;
        int n = split(rest, w, VW_MAX_KEYS);
        if (n < 1 || n > VW_MAX_KEYS) return BAD("%s:%d: 'key' wants 1..%d key names", file, lineno, VW_MAX_KEYS);
        for (int i = 0; i < n; i++) {
            c->keys[i] = key_code(w[i]);
            if (c->keys[i] < 0) return BAD("%s:%d: unknown key '%s'", file, lineno, w[i]);
        }
        c->n_keys = n;
    } else if (strcmp(cmd, "reset") == 0 || strcmp(cmd, "wait-render") == 0 || strcmp(cmd, "play") == 0 ||
               strcmp(cmd, "pause") == 0 || strcmp(cmd, "device-lost") == 0 || strcmp(cmd, "quit") == 0) {
        c->op = cmd[0] == 'r' ? VW_OP_RESET : cmd[0] == 'w' ? VW_OP_WAIT_RENDER : cmd[1] == 'l' ? VW_OP_PLAY
              : cmd[0] == 'p' ? VW_OP_PAUSE : cmd[0] == 'd' ? VW_OP_DEVICE_LOST : VW_OP_QUIT;
        if (*rest) return BAD("%s:%d: '%s' takes no argument", file, lineno, cmd);
    } else {
        return BAD("%s:%d: unknown command '%s' (docs/viewer.md lists the script commands)", file, lineno, cmd);
    }
#undef BAD
    return IG_OK;
}

ig_result vw_script_load(const char *path, vw_script *s, ig_error *err) {
    memset(s, 0, sizeof *s);
    FILE *fp = fopen(path, "r");
    if (!fp) return ig_error_set(err, IG_ERR_IO, "--script %s: %s", path, strerror(errno));
    char line[4096];
    int lineno = 0, cap = 0;
    ig_result r = IG_OK;
    while (r == IG_OK && fgets(line, sizeof line, fp)) {
        lineno++;
        size_t n = strlen(line);
        if (n == sizeof line - 1 && line[n - 1] != '\n') {
            r = ig_error_set(err, IG_ERR_INVALID_ARGUMENT, "%s:%d: line too long", path, lineno);
            break;
        }
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char *p = line;
        while (*p && isspace((unsigned char)*p)) p++;
        if (!*p) continue;
        if (s->count == cap) {
            cap = cap ? 2 * cap : 32;
            vw_cmd *grown = realloc(s->cmds, (size_t)cap * sizeof *grown);
            if (!grown) {
                r = ig_error_set(err, IG_ERR_OUT_OF_MEMORY, "script");
                break;
            }
            s->cmds = grown;
        }
        r = parse_line(p, &s->cmds[s->count], path, lineno, err);
        if (r == IG_OK) s->count++;
    }
    if (r == IG_OK && ferror(fp)) r = ig_error_set(err, IG_ERR_IO, "--script %s: read error", path);
    fclose(fp);
    if (r != IG_OK) vw_script_free(s);
    return r;
}

void vw_script_free(vw_script *s) {
    for (int i = 0; i < s->count; i++) free(s->cmds[i].path);
    free(s->cmds);
    memset(s, 0, sizeof *s);
}
