/*
 * opencl_optim.c - the ops of cl/optim.cl: the optimizer step and the NaN guard.
 */
#include "backend/opencl_impl.h"

/* ---------------------------------------------------------------------------------------------
 * Optimizer and clipping.
 */
/* Unused state views become NULL (the dummy buffer). The views, the kind and Adam's step
 * arrive checked, with the step's lr_t and eps_t filled (ops.c). */
void opt_state_views(const struct clann_opt *opt, struct clann_view *s1,
                     struct clann_view *s2)
{
    if (opt->kind == CLANN__OPT_SGD)
        s1->buf = NULL;
    if (opt->kind != CLANN__OPT_ADAM)
        s2->buf = NULL;
}

/* The hyperparameter and guard arguments every optimizer kernel ends with. */
void ka_opt(struct kargs *a, const struct clann_opt *opt)
{
    ka_i32(a, (int)opt->kind);
    ka_f32(a, opt->lr_t);
    ka_f32(a, opt->momentum);
    ka_i32(a, opt->nesterov);
    ka_f32(a, opt->beta1);
    ka_f32(a, opt->beta2);
    ka_f32(a, opt->eps_t);
    ka_f32(a, opt->rho);
    ka_guard(a, opt->guard);
}

enum clann_status op_optimizer_step(struct clann_backend *be_, const struct clann_opt *opt,
                                    struct clann_view w, struct clann_view g,
                                    struct clann_view s1, struct clann_view s2, size_t n)
{
    opt_state_views(opt, &s1, &s2);
    if (n == 0)
        return CLANN_OK;
    CHECK(check_count(be_, "optimizer_step", n));
    struct kargs a = ka_begin(cl_be(be_), K_OPTIMIZER_STEP);
    ka_view(&a, w);
    ka_view(&a, g);
    ka_view(&a, s1);
    ka_view(&a, s2);
    ka_u32(&a, n);
    ka_opt(&a, opt);
    return LAUNCH_1D(&a, (n + OPT_VEC - 1) / OPT_VEC);
}

enum clann_status op_guard_check(struct clann_backend *be_, struct clann_view sumsq,
                                 struct clann_view flag, float value)
{
    struct kargs a = ka_begin(cl_be(be_), K_GUARD_CHECK);
    ka_view(&a, sumsq);
    ka_view(&a, flag);
    ka_f32(&a, value);
    return LAUNCH_1D(&a, 1);
}

enum clann_status op_accumulate_unless(struct clann_backend *be_, struct clann_view x,
                                       struct clann_view out, struct clann_view flag)
{
    struct kargs a = ka_begin(cl_be(be_), K_ACCUMULATE_UNLESS);
    ka_view(&a, x);
    ka_view(&a, out);
    ka_view(&a, flag);
    return LAUNCH_1D(&a, 1);
}


enum clann_status op_guard_skip(struct clann_backend *be_, struct clann_view flag,
                                struct clann_view run, struct clann_view stop, float limit,
                                float value)
{
    struct kargs a = ka_begin(cl_be(be_), K_GUARD_SKIP);
    ka_view(&a, flag);
    ka_view(&a, run);
    ka_view(&a, stop);
    ka_f32(&a, limit);
    ka_f32(&a, value);
    return LAUNCH_1D(&a, 1);
}
