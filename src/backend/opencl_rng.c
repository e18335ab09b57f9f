/*
 * opencl_rng.c - the random-number ops of cl/rng.cl.
 */
#include "backend/opencl_impl.h"

/* ---------------------------------------------------------------------------------------------
 * Random numbers.
 */
static enum clann_status rng_fill(struct clann_backend *be_, enum kernel_id id, const char *op,
                                  struct clann_view x, size_t n, struct clann_rng_key key,
                                  float p0, float p1)
{
    if (n == 0)
        return CLANN_OK;
    CHECK(check_count(be_, op, n));
    struct kargs a = ka_begin(cl_be(be_), id);
    ka_view(&a, x);
    ka_u32(&a, n);
    ka_u64(&a, key.seed);
    ka_u32(&a, key.stream);
    ka_u64(&a, key.offset);
    ka_f32(&a, p0);
    ka_f32(&a, p1);
    return LAUNCH_1D(&a, n);
}

enum clann_status op_rng_uniform(struct clann_backend *be, struct clann_view x, size_t n,
                                 struct clann_rng_key key, float lo, float hi)
{
    return rng_fill(be, K_RNG_UNIFORM, "rng_uniform", x, n, key, lo, hi);
}

enum clann_status op_rng_normal(struct clann_backend *be, struct clann_view x, size_t n,
                                struct clann_rng_key key, float mean, float stddev)
{
    return rng_fill(be, K_RNG_NORMAL, "rng_normal", x, n, key, mean, stddev);
}

