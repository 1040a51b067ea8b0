/* make_seed.c - writes a small valid model (random weights) for the loader's seed corpus.
 * usage: make_seed CONFIG.json OUT.safetensors [f16]
 * Built only in the fuzz configuration (tests/fuzz/fuzz.cmake); the seeds it made are
 * committed under tests/fuzz/corpus/model/, so the fuzzer starts from files that load. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inrgan.h"
#include "model.h"
#include "safetensors.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: make_seed CONFIG.json OUT.safetensors [f16]\n");
        return 2;
    }
    FILE *fp = fopen(argv[1], "rb");
    if (!fp) { perror(argv[1]); return 1; }
    static char json[1 << 16];
    size_t n = fread(json, 1, sizeof json - 1, fp);
    fclose(fp);
    json[n] = '\0';
    while (n > 0 && (json[n - 1] == '\n' || json[n - 1] == ' ')) json[--n] = '\0';
    ig_model *m = NULL;
    ig_error err = {0};
    if (ig_model_create_random(json, 1, &m, &err) != IG_OK) {
        fprintf(stderr, "make_seed: %s\n", err.msg);
        return 1;
    }
    bool f16 = argc > 3 && strcmp(argv[3], "f16") == 0;
    ig_st_write_entry *e = calloc((size_t)m->n_tensors, sizeof *e);
    for (int i = 0; i < m->n_tensors; i++)
        e[i] = (ig_st_write_entry){m->tensors[i].name, f16 ? IG_ST_F16 : IG_ST_F32, m->tensors[i].ndim,
                                   m->tensors[i].shape, m->tensors[i].data};
    const char *keys[1] = {"inrgan"}, *values[1] = {json};
    ig_result r = ig_st_write(argv[2], e, m->n_tensors, keys, values, 1, false, &err);
    if (r != IG_OK) fprintf(stderr, "make_seed: %s\n", err.msg);
    free(e);
    ig_model_free(m);
    return r == IG_OK ? 0 : 1;
}
