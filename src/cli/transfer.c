/*
 * transfer.c - `clann train --init-from MODEL[:LAYERS] --freeze LAYERS`: transfer learning
 * through clann_model_load_layers() and clann_model_set_trainable(). LAYERS is a list of layer
 * indices as `clann info` numbers them ("0,1"), "all" (every layer with parameters) or
 * "all-but-last" (all of those but the last, the usual new head).
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whether text is a layer list's syntax (checked before the model exists). */
static bool is_layer_list(const char *text)
{
    if (strcmp(text, "all") == 0 || strcmp(text, "all-but-last") == 0)
        return true;
    if (!*text)
        return false;
    for (const char *p = text; *p; p++)
        if ((*p < '0' || *p > '9') && *p != ',')
            return false;
    return true;
}

/* --init-from's MODEL and LAYERS: the text after the last ':' when it is a layer list (a path
 * may hold ':' too), else "all". */
static void split_init_from(const char *text, char *path, size_t size, const char **layers)
{
    const char *colon = strrchr(text, ':');
    if (colon && is_layer_list(colon + 1)) {
        snprintf(path, size, "%.*s", (int)(colon - text), text);
        *layers = colon + 1;
    } else {
        snprintf(path, size, "%s", text);
        *layers = "all";
    }
}

int cli_transfer_check(const char *init_from, const char *freeze)
{
    if (freeze && !is_layer_list(freeze))
        return cli_usage("--freeze: '%s' is not a layer list (e.g. 0,1), all or all-but-last",
                         freeze);
    if (init_from) {
        char path[4096];
        const char *layers;
        split_init_from(init_from, path, sizeof path, &layers);
        if (!*path)
            return cli_usage("--init-from: '%s' names no model file (MODEL[:LAYERS])", init_from);
    }
    return CLI_OK;
}

/* The layers of m a list names, into out (room for every layer); a usage error for an index
 * out of range. */
static int layer_list(const char *option, const char *text, const struct clann_model *m,
                      size_t *out, size_t *n)
{
    size_t count = clann_model_layer_count(m);
    *n = 0;
    if (strcmp(text, "all") == 0 || strcmp(text, "all-but-last") == 0) {
        for (size_t i = 0; i < count; i++) {
            size_t width, params = 0;
            clann_model_layer_shape(m, i, &width, NULL, &params, NULL);
            if (params)
                out[(*n)++] = i;
        }
        if (strcmp(text, "all-but-last") == 0 && *n)
            (*n)--;
        return CLI_OK;
    }
    for (const char *p = text; *p;) { /* digits and commas: is_layer_list checked them */
        char *end;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p || v >= count)
            return cli_usage("--%s: the model has no layer %s%llu (layers 0..%zu, as clann info "
                             "numbers them)", option, end == p ? "''" : "", end == p ? 0ULL : v,
                             count - 1);
        if (*n < count)
            out[(*n)++] = (size_t)v;
        p = *end == ',' ? end + 1 : end;
    }
    return CLI_OK;
}

/* One stderr line: the parameters, how many train, and which layers are frozen. */
static void announce(const struct clann_model *m)
{
    size_t total = 0, trained = 0, count = clann_model_layer_count(m);
    char frozen[256] = "";
    for (size_t i = 0; i < count; i++) {
        size_t width, params = 0, t = 0, len = strlen(frozen);
        clann_model_layer_shape(m, i, &width, NULL, &params, &t);
        total += params;
        trained += t;
        if (params && !clann_model_layer_trainable(m, i) && len + 24 < sizeof frozen)
            snprintf(frozen + len, sizeof frozen - len, "%s%zu", len ? "," : "", i);
    }
    cli_note("model: %zu parameters, %zu trained%s%s%s\n", total, trained,
             *frozen ? " (frozen layers " : "", frozen, *frozen ? ")" : "");
}

int cli_transfer_apply(const char *init_from, const char *freeze, struct clann_model *m)
{
    size_t count = clann_model_layer_count(m), n = 0;
    size_t *layers = malloc((count ? count : 1) * sizeof *layers);
    if (!layers)
        return cli_usage("out of memory");
    int rc = CLI_OK;
    if (init_from) {
        char path[4096];
        const char *list;
        split_init_from(init_from, path, sizeof path, &list);
        rc = layer_list("init-from", list, m, layers, &n);
        enum clann_status st = rc ? CLANN_OK : clann_model_load_layers(m, path, layers, NULL, n);
        if (st != CLANN_OK)
            rc = cli_fail("--init-from", st);
        else if (rc == CLI_OK)
            cli_note("init-from: %zu layer(s) copied from %s\n", n, path);
    }
    if (rc == CLI_OK && freeze)
        rc = layer_list("freeze", freeze, m, layers, &n);
    for (size_t i = 0; rc == CLI_OK && freeze && i < n; i++) {
        enum clann_status st = clann_model_set_trainable(m, layers[i], false);
        if (st != CLANN_OK)
            rc = cli_fail("--freeze", st);
    }
    free(layers);
    if (rc == CLI_OK)
        announce(m);
    return rc;
}
