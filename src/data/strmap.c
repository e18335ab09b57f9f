/*
 * strmap.c - strings to dense indices in insertion order (strmap.h): open addressing on XXH64,
 * shared by the feature columns (vocabularies, value counts) and the table (duplicate header
 * names).
 */
#include "data/strmap.h"

#include <string.h>
#include <xxhash.h>

uint64_t clann__hash_text(const char *s, size_t len)
{
    return (uint64_t)XXH64(s, len, 0);
}

void clann__strmap_free(struct clann__strmap *m)
{
    for (size_t i = 0; i < m->n; i++)
        clann__free(m->keys[i]);
    clann__free(m->keys);
    clann__free(m->counts);
    clann__free(m->slots);
    memset(m, 0, sizeof *m);
}

size_t clann__strmap_find(const struct clann__strmap *m, const char *s, size_t len)
{
    if (!m->cap)
        return SIZE_MAX;
    for (size_t h = (size_t)clann__hash_text(s, len) & (m->cap - 1);; h = (h + 1) & (m->cap - 1)) {
        size_t e = m->slots[h];
        if (e == 0)
            return SIZE_MAX;
        if (strncmp(m->keys[e - 1], s, len) == 0 && m->keys[e - 1][len] == '\0')
            return e - 1;
    }
}

static bool map_rehash(struct clann__strmap *m, size_t cap)
{
    size_t *slots = clann__calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    for (size_t i = 0; i < m->n; i++) {
        size_t h = (size_t)clann__hash_text(m->keys[i], strlen(m->keys[i])) & (cap - 1);
        while (slots[h])
            h = (h + 1) & (cap - 1);
        slots[h] = i + 1;
    }
    clann__free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return true;
}

bool clann__strmap_add(struct clann__strmap *m, const char *s, size_t len)
{
    if (2 * (m->n + 1) > m->cap && !map_rehash(m, m->cap ? 2 * m->cap : 64))
        return false;
    if (m->n == m->kcap) {
        size_t kcap = m->kcap ? 2 * m->kcap : 64;
        char **keys = clann__realloc(m->keys, kcap * sizeof *keys);
        size_t *counts = keys ? clann__realloc(m->counts, kcap * sizeof *counts) : NULL;
        if (keys)
            m->keys = keys;
        if (!counts)
            return false;
        m->counts = counts;
        m->kcap = kcap;
    }
    char *k = clann__malloc(len + 1);
    if (!k)
        return false;
    memcpy(k, s, len);
    k[len] = '\0';
    size_t h = (size_t)clann__hash_text(s, len) & (m->cap - 1);
    while (m->slots[h])
        h = (h + 1) & (m->cap - 1);
    m->keys[m->n] = k;
    m->counts[m->n] = 0;
    m->slots[h] = ++m->n;
    return true;
}
