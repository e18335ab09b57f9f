/*
 * embeddings.c - an embedding learned from a high-cardinality categorical column.
 *
 * A shop sells 2000 items; each secretly belongs to one of 8 genres. Each row is a sale: the
 * item's name ("item0042", a string), its price and the buyer's age (numbers), and the label
 * is the shelf the buyer picked (one of 8), which is the item's genre, shifted by one shelf for
 * young buyers of cheap items. The model never sees the genres. It learns an 8-float vector per
 * item (a vocabulary column fitted on the training rows, plus an out-of-vocabulary bucket), and
 * items of a genre end up close together: the sample prints the nearest neighbours (cosine
 * similarity) of a few items with their hidden genres.
 *
 *     ./embeddings [DEVICE]
 */
#include <clann.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ITEMS 2000
#define GENRES 8
#define DIM 8

static int genre_of(size_t item)
{
    return (int)((item * 7919u) % GENRES);
}

/* n sales as a table (item, price, age) and their labels. */
static enum clann_status make_sales(size_t n, unsigned seed, struct clann_table **out,
                                    struct clann_matrix *labels)
{
    char (*names)[16] = malloc(n * sizeof *names);
    const char **items = malloc(n * sizeof *items);
    float *price = malloc(n * sizeof *price), *age = malloc(n * sizeof *age);
    enum clann_status st = names && items && price && age ? clann_matrix_create(n, 1, labels)
                                                          : CLANN_ERR_NO_MEMORY;
    srand(seed);
    for (size_t i = 0; st == CLANN_OK && i < n; i++) {
        size_t item = (size_t)rand() % ITEMS;
        snprintf(names[i], sizeof names[i], "item%04zu", item);
        items[i] = names[i];
        price[i] = 5.0f + 95.0f * (float)rand() / (float)RAND_MAX;
        age[i] = 18.0f + 60.0f * (float)rand() / (float)RAND_MAX;
        int shift = price[i] < 30.0f && age[i] < 35.0f;
        labels->data[i] = (float)((genre_of(item) + shift) % GENRES);
    }
    if (st == CLANN_OK)
        st = clann_table_create(n, out);
    if (st == CLANN_OK && (st = clann_table_add_strings(*out, "item", items)) == CLANN_OK &&
        (st = clann_table_add_numeric(*out, "price", price)) == CLANN_OK)
        st = clann_table_add_numeric(*out, "age", age);
    free(names), free(items), free(price), free(age);
    return st;
}

static double cosine(const float *a, const float *b, size_t d)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t k = 0; k < d; k++) {
        ab += (double)a[k] * b[k];
        aa += (double)a[k] * a[k];
        bb += (double)b[k] * b[k];
    }
    return ab / (sqrt(aa * bb) + 1e-12);
}

/* The vocabulary value's item number ("item0042" -> 42). */
static size_t item_number(const char *name)
{
    return (size_t)strtoul(name + 4, NULL, 10);
}

/* Prints the 5 nearest neighbours of vocabulary id q; returns how many share its genre. */
static int print_neighbours(const struct clann_features *fs, const struct clann_matrix *e,
                            size_t q)
{
    size_t best[5] = {0};
    double sim[5] = {-2, -2, -2, -2, -2};
    for (size_t j = 0; j < e->rows; j++) {
        const char *name = clann_features_value(fs, "item", j);
        if (j == q || !name)
            continue; /* the OOV bucket has no item */
        double s = cosine(e->data + q * e->cols, e->data + j * e->cols, e->cols);
        for (size_t k = 0; k < 5; k++) {
            if (s > sim[k]) {
                memmove(sim + k + 1, sim + k, (4 - k) * sizeof *sim);
                memmove(best + k + 1, best + k, (4 - k) * sizeof *best);
                sim[k] = s;
                best[k] = j;
                break;
            }
        }
    }
    const char *qname = clann_features_value(fs, "item", q);
    int g = genre_of(item_number(qname)), same = 0;
    printf("%s (genre %d):", qname, g);
    for (size_t k = 0; k < 5; k++) {
        const char *name = clann_features_value(fs, "item", best[k]);
        int gk = genre_of(item_number(name));
        same += gk == g;
        printf("  %s (genre %d, %.2f)", name, gk, sim[k]);
    }
    printf("\n");
    return same;
}

static struct clann_model *build(struct clann_context *ctx, const struct clann_features *fs,
                                 enum clann_status *st)
{
    struct clann_model *m = NULL;
    struct clann_dense_params hidden = clann_dense_default_params(32, CLANN_ACTIVATION_RELU);
    struct clann_dense_params out = clann_dense_default_params(GENRES, CLANN_ACTIVATION_LINEAR);
    struct clann_compile_params cp =
        clann_compile_default_params(CLANN_LOSS_SPARSE_SOFTMAX_CROSS_ENTROPY);
    cp.optimizer.learning_rate = 0.01f;
    if ((*st = clann_model_create_with_features(ctx, fs, &m)) == CLANN_OK &&
        (*st = clann_model_add_dense(m, &hidden)) == CLANN_OK &&
        (*st = clann_model_add_dense(m, &out)) == CLANN_OK)
        *st = clann_model_compile(m, &cp);
    return m;
}

static enum clann_status run(struct clann_context *ctx)
{
    struct clann_table *train = NULL, *test = NULL;
    struct clann_matrix ytrain = {0}, ytest = {0}, xtrain = {0}, xtest = {0}, emb = {0};
    struct clann_features *fs = NULL;
    struct clann_model *m = NULL;
    struct clann_feature_column cols[3] = {
        clann_feature_column_default(CLANN_FEATURE_VOCABULARY, "item"),
        clann_feature_column_default(CLANN_FEATURE_NUMERIC, "price"),
        clann_feature_column_default(CLANN_FEATURE_NUMERIC, "age"),
    };
    cols[0].dimension = DIM;
    struct clann_scaler_params sp = {CLANN_SCALE_STANDARD, 0.0f, 0.0f};
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = 8;
    struct clann_metrics mt;
    enum clann_status st = make_sales(80000, 1, &train, &ytrain);
    if (st == CLANN_OK)
        st = make_sales(10000, 2, &test, &ytest);
    if (st == CLANN_OK)
        st = clann_features_create(cols, 3, &fs);
    if (st == CLANN_OK)
        st = clann_features_fit(fs, train); /* the vocabulary of the training rows only */
    if (st == CLANN_OK)
        st = clann_features_transform(fs, train, &xtrain);
    if (st == CLANN_OK)
        st = clann_features_transform(fs, test, &xtest);
    if (st == CLANN_OK)
        m = build(ctx, fs, &st);
    if (st == CLANN_OK)
        st = clann_model_scale_inputs(m, &sp, &xtrain); /* price and age; ids are left alone */
    if (st == CLANN_OK)
        st = clann_model_fit(m, &xtrain, &ytrain, NULL, NULL, &fp, NULL);
    if (st == CLANN_OK)
        st = clann_model_evaluate(m, &xtest, &ytest, &mt);
    if (st == CLANN_OK) {
        printf("%zu items in the vocabulary, embedding dimension %d\n",
               clann_features_id_count(fs, "item") - 1, DIM);
        printf("test accuracy %.3f (the best possible is 1)\n\n", mt.accuracy);
        st = clann_model_embedding_get(m, "item", &emb);
    }
    int same = 0;
    for (size_t q = 0; st == CLANN_OK && q < 6; q++)
        same += print_neighbours(fs, &emb, q * 97);
    if (st == CLANN_OK)
        printf("\n%d of 30 nearest neighbours share the item's hidden genre (chance: about 4)\n",
               same);
    clann_model_destroy(m);
    clann_features_destroy(fs);
    clann_table_destroy(train), clann_table_destroy(test);
    clann_matrix_free(&ytrain), clann_matrix_free(&ytest), clann_matrix_free(&xtrain);
    clann_matrix_free(&xtest), clann_matrix_free(&emb);
    return st;
}

int main(int argc, char **argv)
{
    struct clann_context_params cp = clann_context_default_params();
    cp.device = argc > 1 ? argv[1] : "cpu";
    struct clann_context *ctx;
    if (clann_context_create(&cp, &ctx) != CLANN_OK) {
        fprintf(stderr, "embeddings: %s\n", clann_last_error());
        return 1;
    }
    enum clann_status st = run(ctx);
    if (st != CLANN_OK)
        fprintf(stderr, "embeddings: %s\n", clann_last_error());
    clann_context_destroy(ctx);
    return st == CLANN_OK ? 0 : 1;
}
