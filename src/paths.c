/* paths.c - where the demo model is when no -m is given (ig_default_model_path).
 *
 * The candidates, in order; the first that is a regular file wins:
 *   installed binary   <dir of /proc/self/exe>/IG_DATA_FROM_BINDIR/demo.safetensors
 *                      (bin/../share/inrgan/: works wherever the installed prefix is moved)
 *                      IG_DATA_DIR/demo.safetensors (the prefix configured at build time)
 *                      IG_SOURCE_ASSETS/demo.safetensors (the source tree, a fallback only;
 *                      left out when configured with -DINRGAN_SOURCE_TREE_MODEL=OFF)
 *   build-tree binary  the same list with the source tree first, so that a program run from
 *                      its build folder (IG_BUILD_DIR) never picks up an older installed model.
 * The macros come from cmake/install.cmake. When no candidate exists, the first is returned and
 * ig__default_model_explain turns the loader's "No such file" into one line naming every place
 * looked in.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include "paths.h"

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef IG_DATA_FROM_BINDIR
#define IG_DATA_FROM_BINDIR "../share/inrgan"
#endif
#ifndef IG_DATA_DIR
#define IG_DATA_DIR "/usr/local/share/inrgan"
#endif
#define IG_DEMO_NAME "demo.safetensors"

enum { IG__MAX_CANDIDATES = 3 };

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static char g_candidates[IG__MAX_CANDIDATES][PATH_MAX + 64];
static int g_count;
static int g_found = -1; /* index into g_candidates, -1 = none exists */

static bool ig__is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void ig__add(const char *dir, const char *sub) {
    if (g_count >= IG__MAX_CANDIDATES) return;
    int n = snprintf(g_candidates[g_count], sizeof g_candidates[g_count], "%s%s%s/" IG_DEMO_NAME, dir,
                     sub ? "/" : "", sub ? sub : "");
    if (n > 0 && (size_t)n < sizeof g_candidates[g_count]) g_count++;
}

static void ig__lookup(void) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    bool have_exe = n > 0;
    if (have_exe) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0; /* the executable's directory */
        else have_exe = false;
    }
    bool in_build_tree = false;
#if defined(IG_SOURCE_ASSETS) && defined(IG_BUILD_DIR)
    char build[PATH_MAX]; /* canonical, as /proc/self/exe is */
    if (have_exe && realpath(IG_BUILD_DIR, build)) {
        size_t bl = strlen(build);
        in_build_tree = strncmp(exe, build, bl) == 0 && (exe[bl] == 0 || exe[bl] == '/');
    }
    if (in_build_tree) ig__add(IG_SOURCE_ASSETS, NULL);
#endif
    if (have_exe) { /* <exe dir>/../share/inrgan, the ".." steps taken in the text */
        char dir[PATH_MAX];
        memcpy(dir, exe, strlen(exe) + 1);
        const char *rel = IG_DATA_FROM_BINDIR;
        char *slash;
        while (strncmp(rel, "../", 3) == 0 && (slash = strrchr(dir, '/')) && slash != dir) {
            *slash = 0;
            rel += 3;
        }
        ig__add(dir, rel);
    }
    ig__add(IG_DATA_DIR, NULL);
#ifdef IG_SOURCE_ASSETS
    if (!in_build_tree) ig__add(IG_SOURCE_ASSETS, NULL);
#endif
    for (int i = 0; i < g_count && g_found < 0; i++)
        if (ig__is_file(g_candidates[i])) g_found = i;
}

const char *ig_default_model_path(void) {
    pthread_once(&g_once, ig__lookup);
    if (g_count == 0) return IG_DATA_DIR "/" IG_DEMO_NAME; /* only when every path overflowed */
    return g_candidates[g_found >= 0 ? g_found : 0];
}

ig_result ig__default_model_explain(const char *path, ig_result r, ig_error *err) {
    if (r != IG_ERR_MODEL_OPEN || !path) return r;
    pthread_once(&g_once, ig__lookup);
    if (g_found >= 0 || g_count == 0 || strcmp(path, g_candidates[0]) != 0) return r;
    char list[3 * (PATH_MAX + 64) + 8] = "";
    for (int i = 0; i < g_count; i++) {
        if (i) strcat(list, ", ");
        strcat(list, g_candidates[i]);
    }
    return ig_error_set(err, IG_ERR_MODEL_OPEN,
                        "demo model (the default without -m FILE) not found; looked for %s", list);
}
