/* script.c - the --script language of inrgan-viewer (docs/viewer.md "Scripts"): one command
 * per line, '#' starts a comment. The whole file is parsed before the window opens, so a typo
 * is reported as FILE:LINE and nothing runs. */
#include "ig_parse.h"
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

/* Numbers, sizes and seeds go through the one parser (src/ig_parse.h); a refused value is
 * reported as FILE:LINE: and the parser's message. */
static ig_result line_error(ig_result r, const ig_error *e, const char *file, int lineno, ig_error *err) {
    return ig_error_set(err, r, "%s:%d: %s", file, lineno, e->msg);
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
    char *end = rest + strlen(rest);
    while (end > rest && isspace((unsigned char)end[-1])) *--end = 0;

    char *w[VW_MAX_KEYS + 2];
    memset(c, 0, sizeof *c);
    c->line = lineno;
    ig_error e = {0};
    ig_result r;
#define BAD(...) ig_error_set(err, IG_ERR_INVALID_ARGUMENT, __VA_ARGS__)
#define PBAD() line_error(r, &e, file, lineno, err)
    if (strcmp(cmd, "size") == 0 || strcmp(cmd, "resize") == 0) {
        c->op = cmd[0] == 's' ? VW_OP_SIZE : VW_OP_RESIZE;
        if ((r = ig_parse_size(c->op == VW_OP_SIZE ? "'size'" : "'resize'", rest, 16384, &c->n[0], &c->n[1], &e)))
            return PBAD();
    } else if (strcmp(cmd, "seed") == 0) {
        c->op = VW_OP_SEED;
        int64_t seed;
        if ((r = ig_parse_int64("'seed'", rest, 0, 0xffffffffll, &seed, &e))) return PBAD();
        c->v[0] = (double)seed;
    } else if (strcmp(cmd, "zoom") == 0 || strcmp(cmd, "scroll") == 0) {
        c->op = cmd[0] == 'z' ? VW_OP_ZOOM : VW_OP_SCROLL;
        int n = split(rest, w, 3);
        if (n == 3 && strcmp(w[1], "at") == 0 && ig_parse_doubles(cmd, w[2], c->v + 1, 2, &e) == IG_OK) c->at = true;
        else if (n != 1 || c->op == VW_OP_SCROLL) n = -1;
        if (n < 0 || (c->op == VW_OP_ZOOM ? ig_parse_double(cmd, w[0], 1e-9, 1e9, c->v, &e)
                                          : ig_parse_double(cmd, w[0], -1e6, 1e6, c->v, &e)) != IG_OK)
            return BAD(c->op == VW_OP_ZOOM ? "%s:%d: 'zoom' wants FACTOR [at X,Y] with FACTOR > 0"
                                           : "%s:%d: 'scroll' wants NOTCHES at PX,PY (window pixels)",
                       file, lineno);
    } else if (strcmp(cmd, "pan") == 0) {
        c->op = VW_OP_PAN;
        if ((r = ig_parse_doubles("'pan'", rest, c->v, 2, &e))) return PBAD();
    } else if (strcmp(cmd, "view") == 0) {
        c->op = VW_OP_VIEW;
        ig_view q;
        if ((r = ig_parse_view("'view'", rest, &q, &e))) return PBAD();
        c->v[0] = q.x0;
        c->v[1] = q.y0;
        c->v[2] = q.x1;
        c->v[3] = q.y1;
    } else if (strcmp(cmd, "drag") == 0) {
        c->op = VW_OP_DRAG;
        if (split(rest, w, 2) != 2 || ig_parse_doubles(cmd, w[0], c->v, 2, &e) != IG_OK ||
            ig_parse_doubles(cmd, w[1], c->v + 2, 2, &e) != IG_OK)
            return BAD("%s:%d: 'drag' wants PX0,PY0 PX1,PY1 (window pixels)", file, lineno);
    } else if (strcmp(cmd, "step") == 0 || strcmp(cmd, "t") == 0 || strcmp(cmd, "psi") == 0 ||
               strcmp(cmd, "speed") == 0 || strcmp(cmd, "sleep") == 0) {
        c->op = cmd[0] == 't' ? VW_OP_T : cmd[0] == 'p' ? VW_OP_PSI : cmd[1] == 't' ? VW_OP_STEP
              : cmd[1] == 'p' ? VW_OP_SPEED : VW_OP_SLEEP;
        /* ranges: t in [0, 1); psi and step within 1e6; speed as --speed; sleep up to a day */
        double lo = c->op == VW_OP_T || c->op == VW_OP_SPEED || c->op == VW_OP_SLEEP ? 0 : -1e6;
        double hi = c->op == VW_OP_T ? 1 : c->op == VW_OP_SPEED ? 64 : c->op == VW_OP_SLEEP ? 86400 : 1e6;
        char what[16];
        snprintf(what, sizeof what, "'%s'", cmd);
        if ((r = ig_parse_double(what, rest, lo, hi, c->v, &e))) return PBAD();
        if (c->op == VW_OP_T && !(c->v[0] < 1)) return BAD("%s:%d: 't' wants 0 <= T < 1", file, lineno);
    } else if (strcmp(cmd, "space") == 0) {
        c->op = VW_OP_SPACE;
        if (!parse_space(rest, &c->space)) return BAD("%s:%d: 'space' wants z, w or params", file, lineno);
    } else if (strcmp(cmd, "hud") == 0) {
        c->op = VW_OP_HUD;
        if (strcmp(rest, "on") == 0) c->n[0] = 1;
        else if (strcmp(rest, "off") != 0) return BAD("%s:%d: 'hud' wants on or off", file, lineno);
    } else if (strcmp(cmd, "frames") == 0) {
        c->op = VW_OP_FRAMES;
        if ((r = ig_parse_int("'frames'", rest, 0, 1000000000, &c->n[0], &e))) return PBAD();
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
#undef PBAD
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
