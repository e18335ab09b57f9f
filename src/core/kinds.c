/*
 * kinds.c - the name tables of core/kinds.h, the compile-time checks that clann.h's public
 * enums equal the tables, and the one lookup every name reader and writer uses.
 */
#include "core/kinds.h"
#include "clann.h"

#include <string.h>

#define NAME_AT(pub, short_name, value, name) [value] = name,
#define ONE(pub, short_name, value, name) +1
#define CHECK_PUBLIC(pub, short_name, value, name) \
    _Static_assert((pub) == (value), #pub " differs from its row in core/kinds.h");

/* Every public constant equals its row's value. */
CLANN__ACTIVATIONS(CHECK_PUBLIC)
CLANN__LOSSES(CHECK_PUBLIC, CHECK_PUBLIC)
CLANN__OPTIMIZERS(CHECK_PUBLIC)
CLANN__INITIALIZERS(CHECK_PUBLIC)
CLANN__CONSTRAINTS(CHECK_PUBLIC)
CLANN__SCALES(CHECK_PUBLIC)
CLANN__COMBINERS(CHECK_PUBLIC)
CLANN__FEATURE_KINDS(CHECK_PUBLIC)
CLANN__FEATURE_OUTPUTS(CHECK_PUBLIC)
CLANN__SAMPLERS(CHECK_PUBLIC)
CLANN__SCHEDULES(CHECK_PUBLIC)
CLANN__MODES(CHECK_PUBLIC)
CLANN__NAN_POLICIES(CHECK_PUBLIC)

/* A table indexed by value; its size equals the row count only when the values are 0..n-1
 * (a repeated value is an override, which -Woverride-init reports). */
#define KIND_TABLE(ident, what, rows, count)                                                   \
    static const char *const ident##_names[] = {rows};                                         \
    _Static_assert(sizeof ident##_names / sizeof *ident##_names == (count),                    \
                   "the values of " what " kinds in core/kinds.h are not 0..n-1");             \
    const struct clann__kind_table clann__##ident##_kinds = {what, ident##_names, (count)};

KIND_TABLE(activation, "activation", CLANN__ACTIVATIONS(NAME_AT), 0 CLANN__ACTIVATIONS(ONE))
KIND_TABLE(loss, "loss", CLANN__LOSSES(NAME_AT, NAME_AT), 0 CLANN__LOSSES(ONE, ONE))
KIND_TABLE(optimizer, "optimizer", CLANN__OPTIMIZERS(NAME_AT), 0 CLANN__OPTIMIZERS(ONE))
KIND_TABLE(initializer, "initializer", CLANN__INITIALIZERS(NAME_AT), 0 CLANN__INITIALIZERS(ONE))
KIND_TABLE(constraint, "constraint", CLANN__CONSTRAINTS(NAME_AT), 0 CLANN__CONSTRAINTS(ONE))
KIND_TABLE(scale, "scaler", CLANN__SCALES(NAME_AT), 0 CLANN__SCALES(ONE))
KIND_TABLE(layer, "layer", CLANN__LAYER_KINDS(NAME_AT), 0 CLANN__LAYER_KINDS(ONE))
KIND_TABLE(combiner, "combiner", CLANN__COMBINERS(NAME_AT), 0 CLANN__COMBINERS(ONE))
KIND_TABLE(feature, "feature column", CLANN__FEATURE_KINDS(NAME_AT), 0 CLANN__FEATURE_KINDS(ONE))
KIND_TABLE(feature_output, "feature output", CLANN__FEATURE_OUTPUTS(NAME_AT),
           0 CLANN__FEATURE_OUTPUTS(ONE))
KIND_TABLE(sampler, "sampler", CLANN__SAMPLERS(NAME_AT), 0 CLANN__SAMPLERS(ONE))
KIND_TABLE(schedule, "learning-rate schedule", CLANN__SCHEDULES(NAME_AT), 0 CLANN__SCHEDULES(ONE))
KIND_TABLE(mode, "monitor mode", CLANN__MODES(NAME_AT), 0 CLANN__MODES(ONE))
KIND_TABLE(nan_policy, "NaN policy", CLANN__NAN_POLICIES(NAME_AT), 0 CLANN__NAN_POLICIES(ONE))
KIND_TABLE(monitor, "monitor", CLANN__MONITORS(NAME_AT), 0 CLANN__MONITORS(ONE))

const char *clann__kind_name(const struct clann__kind_table *t, size_t value)
{
    return value < t->count ? t->names[value] : "?";
}

bool clann__kind_parse(const struct clann__kind_table *t, const char *name, size_t *out)
{
    for (size_t i = 0; name && i < t->count; i++) {
        if (strcmp(name, t->names[i]) == 0) {
            *out = i;
            return true;
        }
    }
    return false;
}

CLANN_API const char *clann_name_at(enum clann_name_list list, size_t i)
{
    static const struct clann__kind_table *const lists[] = {
        &clann__activation_kinds, &clann__loss_kinds,     &clann__optimizer_kinds,
        &clann__initializer_kinds, &clann__constraint_kinds, &clann__scale_kinds,
        &clann__schedule_kinds,   &clann__mode_kinds,     &clann__nan_policy_kinds,
        &clann__monitor_kinds};
    if ((size_t)list >= sizeof lists / sizeof *lists || i >= lists[list]->count)
        return NULL;
    return lists[list]->names[i];
}
