/*
 * optim.cl - one optimizer step over n parameters (formulas: src/backend/backend.h).
 *
 * Kernel optimizer_step: w, g, and state s1 (momentum velocity, Adagrad/RMSprop accumulator,
 * Adam m) and s2 (Adam v). Kinds: SGD, momentum (optionally Nesterov), Adagrad, Adam
 * (TensorFlow form: lr_t and eps_t come bias-corrected from the host), RMSprop. With use_guard,
 * a nonzero guard[0] (the NaN guard's flag) makes the step change nothing. Each work-item
 * updates OPT_VEC consecutive parameters as one vector (CPU compilers keep that in SIMD
 * registers, which a per-element switch would prevent), the last one the remainder.
 *
 * Defines: none (OPT_VEC is fixed at 8, as in src/backend/opencl.c).
 */
#include "common.clh"
#include "optim.clh"

#define OPT_VEC 8


#define OPT_LOAD8(p) vload8(0, (p))
#define OPT_STORE8(v, p) vstore8((v), 0, (p))
OPT_UPDATE_DEF(opt_update8, float8, OPT_LOAD8, OPT_STORE8)

__kernel void optimizer_step(__global float *w, ulong woff, __global const float *g, ulong goff,
                             __global float *s1, ulong s1off, __global float *s2, ulong s2off,
                             uint n, int kind, float lr, float momentum, int nesterov,
                             float beta1, float beta2, float eps, float rho,
                             __global const float *guard, ulong guardoff, int use_guard)
{
    size_t i = get_global_id(0) * OPT_VEC;
    if (i >= n || (use_guard && guard[guardoff] != 0.0f))
        return;
    struct opt_hyper h = {kind, lr, momentum, nesterov, beta1, beta2, eps, rho};
    w += woff;
    g += goff;
    s1 += s1off;
    s2 += s2off;
    if (i + OPT_VEC <= n) {
        vstore8(opt_update8(&h, vload8(0, w + i), vload8(0, g + i), s1 + i, s2 + i), 0, w + i);
        return;
    }
    for (; i < n; i++)
        w[i] = opt_update(&h, w[i], g[i], s1 + i, s2 + i);
}

/* The NaN guard (one work-item): flag[0] = value when sumsq[0] is not finite and flag[0] is 0. */
__kernel void guard_check(__global const float *sumsq, ulong soff, __global float *flag,
                          ulong foff, float value)
{
    if (get_global_id(0) == 0 && !isfinite(sumsq[soff]) && flag[foff] == 0.0f)
        flag[foff] = value;
}

/* out[0] += x[0] unless flag[0] != 0 (one work-item). */
__kernel void accumulate_unless(__global const float *x, ulong xoff, __global float *out,
                                ulong ooff, __global const float *flag, ulong foff)
{
    if (get_global_id(0) == 0 && flag[foff] == 0.0f)
        out[ooff] += x[xoff];
}

/* The skip policy's count of skipped steps in a row, and its stop mark (one work-item). */
__kernel void guard_skip(__global const float *flag, ulong foff, __global float *run, ulong roff,
                         __global float *stop, ulong soff, float limit, float value)
{
    if (get_global_id(0) != 0)
        return;
    run[roff] = flag[foff] != 0.0f ? run[roff] + 1.0f : 0.0f;
    if (run[roff] > limit && stop[soff] == 0.0f)
        stop[soff] = value;
}
