/* cache.h - the tile server's in-memory LRU cache of encoded tiles, bounded in bytes.
 * Keys are the canonical tile keys (urlparse.h, ig_tile_key). Thread-safe. */
#ifndef IG_SERVE_CACHE_H
#define IG_SERVE_CACHE_H

#include "blob.h"

typedef struct ig_cache ig_cache;

/* max_bytes counts the PNG bytes plus the keys and bookkeeping of each entry; 0 = no caching. */
ig_cache *ig_cache_new(size_t max_bytes);
void ig_cache_free(ig_cache *c);
/* A new reference to the tile (caller unrefs), or NULL. Marks it most recently used. */
ig_blob *ig_cache_get(ig_cache *c, const char *key);
/* Stores a reference; evicts least recently used entries to stay within the bound. An entry
 * larger than the whole bound is not stored. */
void ig_cache_put(ig_cache *c, const char *key, ig_blob *b);
void ig_cache_stats(ig_cache *c, size_t *bytes, size_t *entries, uint64_t *evictions);

#endif
