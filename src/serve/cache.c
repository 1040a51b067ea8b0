/* cache.c - LRU cache: a chained hash table (FNV-1a of the key) plus a doubly linked recency
 * list; one mutex. */
#include "cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    struct entry *hnext;       /* hash chain */
    struct entry *prev, *next; /* recency: head = most recent */
    ig_blob *blob;
    size_t cost;
    uint64_t hash;
    char key[];
} entry;

struct ig_cache {
    pthread_mutex_t mu;
    size_t max_bytes, bytes, count;
    uint64_t evictions;
    entry **table;
    size_t nbuckets;
    entry *head, *tail;
};

static uint64_t fnv(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

ig_cache *ig_cache_new(size_t max_bytes) {
    ig_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->max_bytes = max_bytes;
    c->nbuckets = 4096;
    c->table = calloc(c->nbuckets, sizeof *c->table);
    if (!c->table) {
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

static void unlink_lru(ig_cache *c, entry *e) {
    if (e->prev) e->prev->next = e->next;
    else c->head = e->next;
    if (e->next) e->next->prev = e->prev;
    else c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void push_front(ig_cache *c, entry *e) {
    e->prev = NULL;
    e->next = c->head;
    if (c->head) c->head->prev = e;
    c->head = e;
    if (!c->tail) c->tail = e;
}

static entry **find(ig_cache *c, const char *key, uint64_t h) {
    entry **pp = &c->table[h % c->nbuckets];
    while (*pp && ((*pp)->hash != h || strcmp((*pp)->key, key) != 0)) pp = &(*pp)->hnext;
    return pp;
}

static void drop(ig_cache *c, entry *e) {
    entry **pp = find(c, e->key, e->hash);
    if (*pp == e) *pp = e->hnext;
    unlink_lru(c, e);
    c->bytes -= e->cost;
    c->count--;
    ig_blob_unref(e->blob);
    free(e);
}

void ig_cache_free(ig_cache *c) {
    if (!c) return;
    while (c->head) drop(c, c->head);
    pthread_mutex_destroy(&c->mu);
    free(c->table);
    free(c);
}

ig_blob *ig_cache_get(ig_cache *c, const char *key) {
    uint64_t h = fnv(key);
    pthread_mutex_lock(&c->mu);
    entry *e = *find(c, key, h);
    ig_blob *b = NULL;
    if (e) {
        unlink_lru(c, e);
        push_front(c, e);
        b = ig_blob_ref(e->blob);
    }
    pthread_mutex_unlock(&c->mu);
    return b;
}

void ig_cache_put(ig_cache *c, const char *key, ig_blob *b) {
    size_t kl = strlen(key);
    size_t cost = b->size + sizeof(ig_blob) + sizeof(entry) + kl + 1;
    if (cost > c->max_bytes) return;
    uint64_t h = fnv(key);
    pthread_mutex_lock(&c->mu);
    entry **pp = find(c, key, h);
    if (*pp) { /* already there (two renders of one key): keep the first */
        pthread_mutex_unlock(&c->mu);
        return;
    }
    entry *e = malloc(sizeof *e + kl + 1);
    if (e) {
        memcpy(e->key, key, kl + 1);
        e->hash = h;
        e->cost = cost;
        e->blob = ig_blob_ref(b);
        e->hnext = c->table[h % c->nbuckets];
        c->table[h % c->nbuckets] = e;
        push_front(c, e);
        c->bytes += cost;
        c->count++;
        while (c->bytes > c->max_bytes && c->tail) {
            drop(c, c->tail);
            c->evictions++;
        }
    }
    pthread_mutex_unlock(&c->mu);
}

void ig_cache_stats(ig_cache *c, size_t *bytes, size_t *entries, uint64_t *evictions) {
    pthread_mutex_lock(&c->mu);
    *bytes = c->bytes;
    *entries = c->count;
    *evictions = c->evictions;
    pthread_mutex_unlock(&c->mu);
}
