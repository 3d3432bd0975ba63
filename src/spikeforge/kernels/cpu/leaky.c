/*
 * Fused first-order linear scans for CPU (spikeforge "leaky" family, "cpu" backend): the
 * LI readout's membrane and the CuBa neuron's synaptic current. Layout and work split as
 * lif.c: [T, N] row-major, contiguous blocks of neurons per thread, all T steps of a block
 * with its state in a per-thread row. The file includes itself to instantiate float and
 * double versions (see sf_common.h).
 */
#ifndef SF_T

#include "sf_common.h"

#define SF_SELF "leaky.c"
#include "sf_instantiate.h"

#else /* ---------------------------------------------------------------- body */

#define T_ SF_T
#include "sf_common.h"

/* ------------------------------------------- first-order linear scan ("leaky" family) */
/* y[t] = f(y[t-1], x[t]) with the reference's operation order:
   form 0  y + x                    (integrator; the IF charge)
   form 1  y + (x - (y - r)) c      (the LIF charge with input decay, c = 1/tau)
   form 2  (y - (y - r) c) + x      (the LIF charge without input decay)
   form 3  c y + x                  (exponential decay, c = alpha: CuBa's synaptic current)
   The whole trajectory y[0..T-1] is the output (LI readout membranes, CuBa currents);
   backward reads dL/dy and writes dL/dx in one reverse pass, and reads x and the saved
   trajectory only for dL/dc. */
SF_INLINE T_ SF_FN(leak_of)(T_ y, T_ x, T_ c, T_ r, const int form) {
    if (form == 0) return y + x;
    if (form == 1) return y + (x - (y - r)) * c;
    if (form == 2) return (y - (y - r) * c) + x;
    return c * y + x;
}

SF_INLINE void SF_FN(lfwd_block)(const T_ *restrict x, const T_ *restrict y0, T_ *restrict y,
                                 T_ *restrict yout, const T_ *restrict cc, T_ *restrict v,
                                 T_ r, int64_t T, int64_t N, int64_t n0, int64_t m,
                                 const int form, const int vecp) {
    const T_ c0 = cc[0];
    for (int64_t i = 0; i < m; i++) v[i] = y0[n0 + i];
    for (int64_t t = 0; t < T; t++) {
        const T_ *restrict xt = x + t * N + n0;
        T_ *restrict yt = y + t * N + n0;
#pragma GCC ivdep
        for (int64_t i = 0; i < m; i++) {
            const T_ yi = SF_FN(leak_of)(v[i], xt[i], vecp ? cc[i] : c0, r, form);
            v[i] = yi;
            yt[i] = yi;
        }
    }
    for (int64_t i = 0; i < m; i++) yout[n0 + i] = v[i];
}

/* gy (dL/dy, a [blk] zero row when absent) and gyT (dL/dy[T-1] of the final state) are
   summed into the carried gradient g; gc (dL/dc per neuron) only when wanted. */
SF_INLINE void SF_FN(lbwd_block)(const T_ *restrict x, const T_ *restrict y0,
                                 const T_ *restrict y, const T_ *restrict gy,
                                 const T_ *restrict gyT, T_ *restrict gx, T_ *restrict gy0,
                                 const T_ *restrict cc, T_ *restrict gc, T_ *restrict ws,
                                 T_ r, int64_t T, int64_t N, int64_t n0, int64_t m,
                                 int64_t blk, const int form, const int vecp) {
    const T_ c0 = cc[0];
    T_ *restrict g = ws, *restrict ac = ws + blk, *restrict zrow = ws + 2 * blk;
    for (int64_t i = 0; i < m; i++) {
        g[i] = gyT != NULL ? gyT[n0 + i] : (T_)0;
        ac[i] = 0;
    }
    for (int64_t t = T - 1; t >= 0; t--) {
        const T_ *restrict gyt = gy != NULL ? gy + t * N + n0 : zrow;
        T_ *restrict gxt = gx + t * N + n0;
        if (gc == NULL) {
#pragma GCC ivdep
            for (int64_t i = 0; i < m; i++) {
                const T_ ci = vecp ? cc[i] : c0;
                const T_ gt = g[i] + gyt[i];
                gxt[i] = form == 1 ? gt * ci : gt;
                g[i] = form == 0 ? gt : (form == 3 ? gt * ci : gt * ((T_)1 - ci));
            }
            continue;
        }
        /* dy/dc: x - (y[t-1] - r), -(y[t-1] - r) or y[t-1] (y0 at t = 0) */
        const T_ *restrict yp = t > 0 ? y + (t - 1) * N + n0 : y0 + n0;
        const T_ *restrict xt = form == 1 ? x + t * N + n0 : yp;
#pragma GCC ivdep
        for (int64_t i = 0; i < m; i++) {
            const T_ ci = vecp ? cc[i] : c0;
            const T_ gt = g[i] + gyt[i];
            const T_ dc = form == 1 ? xt[i] - (yp[i] - r)
                                    : (form == 2 ? -(yp[i] - r) : (form == 3 ? yp[i] : (T_)0));
            ac[i] += gt * dc;
            gxt[i] = form == 1 ? gt * ci : gt;
            g[i] = form == 0 ? gt : (form == 3 ? gt * ci : gt * ((T_)1 - ci));
        }
    }
    for (int64_t i = 0; i < m; i++) {
        gy0[n0 + i] = g[i];
        if (gc != NULL) gc[n0 + i] = ac[i];
    }
}

#define SF_LFWD_ARGS                                                                           \
    const T_ *restrict x, const T_ *restrict y0, T_ *restrict y, T_ *restrict yout,            \
        const T_ *restrict cc, T_ *restrict v, T_ r, int64_t T, int64_t N, int64_t n0, int64_t m
#define SF_LFWD_DEF(F, P)                                                                      \
    static __attribute__((noinline)) void SF_FN(lfwd_##F##P)(SF_LFWD_ARGS) {                   \
        SF_FN(lfwd_block)(x, y0, y, yout, cc, v, r, T, N, n0, m, F, P);                        \
    }
#define SF_LBWD_ARGS                                                                           \
    const T_ *restrict x, const T_ *restrict y0, const T_ *restrict y, const T_ *restrict gy,   \
        const T_ *restrict gyT, T_ *restrict gx, T_ *restrict gy0, const T_ *restrict cc,      \
        T_ *restrict gc, T_ *restrict ws, T_ r, int64_t T, int64_t N, int64_t n0, int64_t m,   \
        int64_t blk
#define SF_LBWD_DEF(F, P)                                                                      \
    static __attribute__((noinline)) void SF_FN(lbwd_##F##P)(SF_LBWD_ARGS) {                   \
        SF_FN(lbwd_block)(x, y0, y, gy, gyT, gx, gy0, cc, gc, ws, r, T, N, n0, m, blk, F, P);  \
    }
SF_LFWD_DEF(0, 0)
SF_LFWD_DEF(0, 1)
SF_LFWD_DEF(1, 0)
SF_LFWD_DEF(1, 1)
SF_LFWD_DEF(2, 0)
SF_LFWD_DEF(2, 1)
SF_LFWD_DEF(3, 0)
SF_LFWD_DEF(3, 1)
SF_LBWD_DEF(0, 0)
SF_LBWD_DEF(0, 1)
SF_LBWD_DEF(1, 0)
SF_LBWD_DEF(1, 1)
SF_LBWD_DEF(2, 0)
SF_LBWD_DEF(2, 1)
SF_LBWD_DEF(3, 0)
SF_LBWD_DEF(3, 1)

typedef void (*SF_FN(lfwd_fn))(SF_LFWD_ARGS);
typedef void (*SF_FN(lbwd_fn))(SF_LBWD_ARGS);

int SF_FN(sf_leaky_forward)(const T_ *x, const T_ *y0, T_ *y, T_ *yout, const T_ *c,
                            int64_t cs, double rest, int64_t T, int64_t N, int form,
                            int64_t block, int nthreads) {
    if (form < 0 || form > 3 || block < 1) return -1;
    const T_ r = (T_)rest;
    const int64_t blk = block < N ? block : (N > 0 ? N : 1);
    const int64_t nblocks = (N + blk - 1) / blk;
    static const SF_FN(lfwd_fn) table[8] = {SF_FN(lfwd_00), SF_FN(lfwd_01), SF_FN(lfwd_10),
                                            SF_FN(lfwd_11), SF_FN(lfwd_20), SF_FN(lfwd_21),
                                            SF_FN(lfwd_30), SF_FN(lfwd_31)};
    const SF_FN(lfwd_fn) fn = table[form * 2 + (cs != 0)];
    int failed = 0;
#pragma omp parallel num_threads(nthreads) reduction(| : failed)
    {
        T_ *ws = (T_ *)malloc(sizeof(T_) * (size_t)blk * 2);
        if (ws == NULL) {
            failed = 1;
        } else {
            T_ *cfill = ws + blk;
            for (int64_t i = 0; i < blk; i++) cfill[i] = c[0];
#pragma omp for schedule(static)
            for (int64_t b = 0; b < nblocks; b++) {
                const int64_t n0 = b * blk;
                const int64_t m = (N - n0) < blk ? (N - n0) : blk;
                fn(x, y0, y, yout, cs ? c + n0 : cfill, ws, r, T, N, n0, m);
            }
            free(ws);
        }
    }
    return failed ? -3 : 0;
}

int SF_FN(sf_leaky_backward)(const T_ *x, const T_ *y0, const T_ *y, const T_ *gy,
                             const T_ *gyT, T_ *gx, T_ *gy0, const T_ *c, int64_t cs, T_ *gc,
                             double rest, int64_t T, int64_t N, int form, int64_t block,
                             int nthreads) {
    if (form < 0 || form > 3 || block < 1) return -1;
    if (gx == NULL || gy0 == NULL || (gc != NULL && (y == NULL || y0 == NULL)) ||
        (gc != NULL && form == 1 && x == NULL))
        return -2;
    const T_ r = (T_)rest;
    const int64_t blk = block < N ? block : (N > 0 ? N : 1);
    const int64_t nblocks = (N + blk - 1) / blk;
    static const SF_FN(lbwd_fn) table[8] = {SF_FN(lbwd_00), SF_FN(lbwd_01), SF_FN(lbwd_10),
                                            SF_FN(lbwd_11), SF_FN(lbwd_20), SF_FN(lbwd_21),
                                            SF_FN(lbwd_30), SF_FN(lbwd_31)};
    const SF_FN(lbwd_fn) fn = table[form * 2 + (cs != 0)];
    int failed = 0;
#pragma omp parallel num_threads(nthreads) reduction(| : failed)
    {
        /* carried gradient, dL/dc accumulator, a zero row, the broadcast c */
        T_ *ws = (T_ *)calloc((size_t)blk * 4, sizeof(T_));
        if (ws == NULL) {
            failed = 1;
        } else {
            T_ *cfill = ws + 3 * blk;
            for (int64_t i = 0; i < blk; i++) cfill[i] = c[0];
#pragma omp for schedule(static)
            for (int64_t b = 0; b < nblocks; b++) {
                const int64_t n0 = b * blk;
                const int64_t m = (N - n0) < blk ? (N - n0) : blk;
                fn(x, y0, y, gy, gyT, gx, gy0, cs ? c + n0 : cfill, gc, ws, r, T, N, n0, m,
                   blk);
            }
            free(ws);
        }
    }
    return failed ? -3 : 0;
}

#undef T_
#undef SF_LFWD_ARGS
#undef SF_LFWD_DEF
#undef SF_LBWD_ARGS
#undef SF_LBWD_DEF

#endif
