/*
 * Fused adaptive-threshold LIF for CPU (spikeforge "alif" family, "cpu" backend). Layout,
 * work split and codes as lif.c (charge, reset and the surrogate derivative come from
 * sf_common.h); backward recomputes H and a of one block, then runs one reverse pass. The
 * file includes itself to instantiate float and double versions.
 */
#ifndef SF_T

#include "sf_common.h"

#define SF_SELF "alif.c"
#include "sf_instantiate.h"

#else /* ---------------------------------------------------------------- body */

#define T_ SF_T
#include "sf_common.h"

/* ------------------------------------------------ adaptive threshold ("alif" family) */
/* theta[t] = V_th + b a[t-1];  H = charge(V[t-1], X[t]);  S = [H - theta >= 0];
   V[t] = reset(H, S, theta);  a[t] = rho a[t-1] + S.  Same operation order as the torch
   reference (functional/alif.py). k, V_th and b are per-neuron arrays here (a scalar is
   broadcast into a per-thread row by the caller), rho is one value. */

/* Forward over one block. Row t of the output is out + t * ostride: the spikes (N, the
   forward pass) or H (blk, backward's recomputation, store_h); row t of arows (stride
   astride: blk, or 0 for a scratch row) receives a[t]. */
SF_INLINE void SF_FN(afwd_block)(const T_ *restrict x, const T_ *restrict v0,
                                 const T_ *restrict a0, T_ *restrict out, int64_t ostride,
                                 T_ *restrict arows, int64_t astride, T_ *restrict vout,
                                 T_ *restrict aout, const T_ *restrict kk,
                                 const T_ *restrict tt, const T_ *restrict bb, T_ rho,
                                 T_ *restrict v, T_ *restrict a, T_ vr, int64_t T, int64_t N,
                                 int64_t n0, int64_t m, const int store_h, const int charge,
                                 const int reset) {
    for (int64_t i = 0; i < m; i++) {
        v[i] = v0[n0 + i];
        a[i] = a0[n0 + i];
    }
    for (int64_t t = 0; t < T; t++) {
        const T_ *restrict xt = x + t * N + n0;
        T_ *restrict ot = out + t * ostride;
        T_ *restrict at = arows + t * astride;
#pragma GCC ivdep
        for (int64_t i = 0; i < m; i++) {
            const T_ th = tt[i] + bb[i] * a[i];
            const T_ h = SF_FN(charge_of)(v[i], xt[i], kk[i], vr, charge);
            const int f = (h - th) >= (T_)0;
            v[i] = SF_FN(reset_of)(h, f, th, vr, reset);
            const T_ an = rho * a[i] + (f ? (T_)1 : (T_)0);
            a[i] = an;
            ot[i] = store_h ? h : (f ? (T_)1 : (T_)0);
            at[i] = an;
        }
    }
    if (vout != NULL)
        for (int64_t i = 0; i < m; i++) {
            vout[n0 + i] = v[i];
            aout[n0 + i] = a[i];
        }
}

#define SF_AFWD_ARGS                                                                           \
    const T_ *restrict x, const T_ *restrict v0, const T_ *restrict a0, T_ *restrict out,      \
        int64_t ostride, T_ *restrict arows, int64_t astride, T_ *restrict vout,               \
        T_ *restrict aout, const T_ *restrict kk, const T_ *restrict tt, const T_ *restrict bb, \
        T_ rho, T_ *restrict v, T_ *restrict a, T_ vr, int64_t T, int64_t N, int64_t n0,       \
        int64_t m, int store_h
#define SF_AFWD_DEF(C, R)                                                                      \
    static __attribute__((noinline)) void SF_FN(afwd_##C##R)(SF_AFWD_ARGS) {                   \
        SF_FN(afwd_block)(x, v0, a0, out, ostride, arows, astride, vout, aout, kk, tt, bb,     \
                          rho, v, a, vr, T, N, n0, m, store_h, C, R);                          \
    }
SF_AFWD_DEF(0, 0)
SF_AFWD_DEF(0, 1)
SF_AFWD_DEF(0, 2)
SF_AFWD_DEF(1, 0)
SF_AFWD_DEF(1, 1)
SF_AFWD_DEF(1, 2)
SF_AFWD_DEF(2, 0)
SF_AFWD_DEF(2, 1)
SF_AFWD_DEF(2, 2)

typedef void (*SF_FN(afwd_fn))(SF_AFWD_ARGS);

static const SF_FN(afwd_fn) SF_FN(afwd_table)[9] = {
    SF_FN(afwd_00), SF_FN(afwd_01), SF_FN(afwd_02), SF_FN(afwd_10), SF_FN(afwd_11),
    SF_FN(afwd_12), SF_FN(afwd_20), SF_FN(afwd_21), SF_FN(afwd_22)};

/* Fill the per-thread parameter rows of one block: a pointer into the caller's per-neuron
   array (stride 1), or the broadcast row (stride 0, filled once per thread). */
SF_INLINE const T_ *SF_FN(param_row)(const T_ *p, int64_t stride, const T_ *fill, int64_t n0) {
    return stride ? p + n0 : fill;
}

int SF_FN(sf_alif_forward)(const T_ *x, const T_ *v0, const T_ *a0, T_ *s, T_ *vout,
                           T_ *aout, const T_ *k, int64_t ks, const T_ *th, int64_t ts,
                           const T_ *b, int64_t bs, double rho, double v_reset, int64_t T,
                           int64_t N, int charge, int reset, int64_t block, int nthreads) {
    if (charge < 0 || charge > 2 || reset < 0 || reset > 2 || block < 1) return -1;
    const T_ vr = (T_)v_reset, rr = (T_)rho;
    const int64_t blk = block < N ? block : (N > 0 ? N : 1);
    const int64_t nblocks = (N + blk - 1) / blk;
    const SF_FN(afwd_fn) fn = SF_FN(afwd_table)[charge * 3 + reset];
    int failed = 0;
#pragma omp parallel num_threads(nthreads) reduction(| : failed)
    {
        T_ *ws = (T_ *)malloc(sizeof(T_) * (size_t)blk * 6);
        if (ws == NULL) {
            failed = 1;
        } else {
            T_ *v = ws, *a = ws + blk, *kf = ws + 2 * blk, *tf = ws + 3 * blk, *bf = ws + 4 * blk;
            T_ *scratch = ws + 5 * blk; /* a[t] rows are not kept in forward */
            for (int64_t i = 0; i < blk; i++) {
                kf[i] = k[0];
                tf[i] = th[0];
                bf[i] = b[0];
            }
#pragma omp for schedule(static)
            for (int64_t bl = 0; bl < nblocks; bl++) {
                const int64_t n0 = bl * blk;
                const int64_t m = (N - n0) < blk ? (N - n0) : blk;
                fn(x, v0, a0, s + n0, N, scratch, 0, vout, aout, SF_FN(param_row)(k, ks, kf, n0),
                   SF_FN(param_row)(th, ts, tf, n0), SF_FN(param_row)(b, bs, bf, n0), rr, v, a,
                   vr, T, N, n0, m, 0);
            }
            free(ws);
        }
    }
    return failed ? -3 : 0;
}

/* Reverse pass over a block whose H[t] (hb) and a[t] (ab) rows were recomputed. Carried:
   gv = dL/dV[t], ga = dL/da[t]. Per step: dL/dS = gs + ga + gv dV/dS (unless detached),
   dL/dH = gv dV/dH + dL/dS sigma', dL/dtheta = -dL/dS sigma' - gv S (subtract reset),
   then dL/da[t-1] = rho ga + b dL/dtheta and dL/dV[t-1], dL/dx from the charge. */
SF_INLINE void SF_FN(abwd_block)(const T_ *restrict x, const T_ *restrict v0,
                                 const T_ *restrict a0, const T_ *restrict gs,
                                 const T_ *restrict gvT, const T_ *restrict gaT,
                                 T_ *restrict gx, T_ *restrict gv0, T_ *restrict ga0,
                                 const T_ *restrict kk, const T_ *restrict tt,
                                 const T_ *restrict bb, T_ rho, T_ *restrict gk,
                                 T_ *restrict gth, T_ *restrict gb, T_ *restrict ws, T_ vr,
                                 int64_t T, int64_t N, int64_t n0, int64_t m, int64_t blk,
                                 const int charge, const int reset, const int detach,
                                 const int sid, T_ a, T_ b, T_ c0, T_ c1) {
    const T_ *restrict hb = ws, *restrict ab = ws + T * blk;
    T_ *restrict gv = ws + 2 * T * blk, *restrict ga = gv + blk, *restrict ak = ga + blk;
    T_ *restrict at = ak + blk, *restrict abb = at + blk;
    for (int64_t i = 0; i < m; i++) {
        gv[i] = gvT[n0 + i];
        ga[i] = gaT[n0 + i];
        ak[i] = 0;
        at[i] = 0;
        abb[i] = 0;
    }
    const T_ zr = reset == 0 ? (T_)1 : (T_)0;
    const T_ sb = reset == 1 ? (T_)1 : (T_)0;
    const T_ nd = (detach || reset == 2) ? (T_)0 : (T_)1;
    const T_ cxk = charge == 1 ? (T_)1 : (T_)0;
    for (int64_t t = T - 1; t >= 0; t--) {
        const T_ *restrict ht = hb + t * blk;
        /* a[t-1] (a0 at t = 0) and, for dL/dk, V[t-1] = reset(H[t-1]) (v0 at t = 0) */
        const T_ *restrict ap = t > 0 ? ab + (t - 1) * blk : a0 + n0;
        const T_ *restrict hp = t > 0 ? hb + (t - 1) * blk : v0 + n0;
        const T_ *restrict app = t > 1 ? ab + (t - 2) * blk : a0 + n0; /* a[t-2]: theta[t-1] */
        const int rp = t > 0;
        const T_ *restrict gst = gs + t * N + n0;
        const T_ *restrict xt = charge == 1 ? x + t * N + n0 : ht;
        T_ *restrict gxt = gx + t * N + n0;
        if (gk == NULL) {
            /* no dL/dk: V[t-1] is not needed */
#pragma GCC ivdep
            for (int64_t i = 0; i < m; i++) {
                const T_ hi = ht[i], api = ap[i], g = gv[i], ki = kk[i], bi = bb[i];
                const T_ thi = tt[i] + bi * api;
                const T_ f = (hi - thi) >= (T_)0 ? (T_)1 : (T_)0;
                const T_ sg = SF_FN(surrogate)(hi - thi, sid, a, b, c0, c1);
                const T_ gsum = gst[i] + ga[i] + g * (-nd * (zr * (hi - vr) + sb * thi));
                const T_ gh = g * ((T_)1 - zr * f) + gsum * sg;
                const T_ gtheta = -(gsum * sg) - sb * g * f;
                at[i] += gtheta;
                abb[i] += gtheta * api;
                gxt[i] = charge == 1 ? gh * ki : gh;
                gv[i] = charge == 0 ? gh : gh * ((T_)1 - ki);
                ga[i] = rho * ga[i] + bi * gtheta;
            }
            continue;
        }
#pragma GCC ivdep
        for (int64_t i = 0; i < m; i++) {
            const T_ hi = ht[i], api = ap[i], g = gv[i], ki = kk[i], bi = bb[i];
            const T_ thi = tt[i] + bi * api;
            const T_ f = (hi - thi) >= (T_)0 ? (T_)1 : (T_)0;
            const T_ sg = SF_FN(surrogate)(hi - thi, sid, a, b, c0, c1);
            const T_ dvdh = (T_)1 - zr * f;
            const T_ dvds = -nd * (zr * (hi - vr) + sb * thi);
            const T_ gsum = gst[i] + ga[i] + g * dvds;
            const T_ gh = g * dvdh + gsum * sg;
            const T_ gtheta = -(gsum * sg) - sb * g * f;
            at[i] += gtheta;
            abb[i] += gtheta * api;
            /* V[t-1] = reset(H[t-1], S[t-1], theta[t-1]) for t > 0, v0 at t = 0 */
            const T_ hq = hp[i];
            const T_ thq = tt[i] + bi * app[i];
            const T_ fq = (rp && (hq - thq) >= (T_)0) ? (T_)1 : (T_)0;
            const T_ vz = fq != (T_)0 ? hq - (hq - vr) : hq;
            const T_ vp = zr != (T_)0 ? vz : hq - sb * thq * fq;
            ak[i] += gh * (cxk * xt[i] - (vp - vr));
            gxt[i] = charge == 1 ? gh * ki : gh;
            gv[i] = charge == 0 ? gh : gh * ((T_)1 - ki);
            ga[i] = rho * ga[i] + bi * gtheta;
        }
    }
    for (int64_t i = 0; i < m; i++) {
        gv0[n0 + i] = gv[i];
        ga0[n0 + i] = ga[i];
        if (gk != NULL) gk[n0 + i] = ak[i];
        if (gth != NULL) gth[n0 + i] = at[i];
        if (gb != NULL) gb[n0 + i] = abb[i];
    }
}

#define SF_ABWD_ARGS                                                                           \
    const T_ *restrict x, const T_ *restrict v0, const T_ *restrict a0, const T_ *restrict gs, \
        const T_ *restrict gvT, const T_ *restrict gaT, T_ *restrict gx, T_ *restrict gv0,     \
        T_ *restrict ga0, const T_ *restrict kk, const T_ *restrict tt, const T_ *restrict bb, \
        T_ rho, T_ *restrict gk, T_ *restrict gth, T_ *restrict gb, T_ *restrict ws, T_ vr,    \
        int64_t T, int64_t N, int64_t n0, int64_t m, int64_t blk, int charge, int reset,       \
        int detach, T_ a, T_ b, T_ c0, T_ c1
#define SF_ABWD_DEF(SID)                                                                       \
    static __attribute__((noinline)) void SF_FN(abwd_##SID)(SF_ABWD_ARGS) {                    \
        SF_FN(abwd_block)(x, v0, a0, gs, gvT, gaT, gx, gv0, ga0, kk, tt, bb, rho, gk, gth, gb, \
                          ws, vr, T, N, n0, m, blk, charge, reset, detach, SID, a, b, c0, c1); \
    }
SF_ABWD_DEF(0)
SF_ABWD_DEF(1)
SF_ABWD_DEF(2)
SF_ABWD_DEF(3)
SF_ABWD_DEF(4)
SF_ABWD_DEF(5)

typedef void (*SF_FN(abwd_fn))(SF_ABWD_ARGS);

int SF_FN(sf_alif_backward)(const T_ *x, const T_ *v0, const T_ *a0, const T_ *gs,
                            const T_ *gvT, const T_ *gaT, T_ *gx, T_ *gv0, T_ *ga0,
                            const T_ *k, int64_t ks, const T_ *th, int64_t ts, const T_ *b,
                            int64_t bs, double rho, T_ *gk, T_ *gth, T_ *gb, double v_reset,
                            int64_t T, int64_t N, int charge, int reset, int detach, int sid,
                            double sa, double sb_, int64_t block, int nthreads) {
    if (charge < 0 || charge > 2 || reset < 0 || reset > 2 || sid < 0 || sid > 5 || block < 1)
        return -1;
    if (gs == NULL || gvT == NULL || gaT == NULL || gx == NULL || gv0 == NULL || ga0 == NULL)
        return -2;
    const T_ vr = (T_)v_reset, rr = (T_)rho, ta = (T_)sa, tb = (T_)sb_;
    T_ tc0 = 0, tc1 = 0;
    if (sid == 0) tc0 = (T_)(0.5 * 3.14159265358979323846 * sa);
    if (sid == 4) tc1 = (T_)(0.5 / sa);
    if (sid == 5) {
        tc0 = (T_)(0.5 * sa);
        tc1 = (T_)(1.0 / sa);
    }
    const int64_t blk = block < N ? block : (N > 0 ? N : 1);
    const int64_t nblocks = (N + blk - 1) / blk;
    static const SF_FN(abwd_fn) table[6] = {SF_FN(abwd_0), SF_FN(abwd_1), SF_FN(abwd_2),
                                            SF_FN(abwd_3), SF_FN(abwd_4), SF_FN(abwd_5)};
    const SF_FN(abwd_fn) fn = table[sid];
    const SF_FN(afwd_fn) rec = SF_FN(afwd_table)[charge * 3 + reset];
    int failed = 0;
#pragma omp parallel num_threads(nthreads) reduction(| : failed)
    {
        /* H and a rows [2 T blk], gv, ga, three accumulators, v, a, three parameter rows */
        T_ *ws = (T_ *)malloc(sizeof(T_) * (size_t)blk * (size_t)(2 * T + 10));
        if (ws == NULL) {
            failed = 1;
        } else {
            T_ *v = ws + (2 * T + 5) * blk, *a = v + blk, *kf = a + blk, *tf = kf + blk;
            T_ *bf = tf + blk;
            for (int64_t i = 0; i < blk; i++) {
                kf[i] = k[0];
                tf[i] = th[0];
                bf[i] = b[0];
            }
#pragma omp for schedule(static)
            for (int64_t bl = 0; bl < nblocks; bl++) {
                const int64_t n0 = bl * blk;
                const int64_t m = (N - n0) < blk ? (N - n0) : blk;
                const T_ *kk = SF_FN(param_row)(k, ks, kf, n0);
                const T_ *tt = SF_FN(param_row)(th, ts, tf, n0);
                const T_ *bb = SF_FN(param_row)(b, bs, bf, n0);
                rec(x, v0, a0, ws, blk, ws + T * blk, blk, NULL, NULL, kk, tt, bb, rr, v, a, vr,
                    T, N, n0, m, 1);
                fn(x, v0, a0, gs, gvT, gaT, gx, gv0, ga0, kk, tt, bb, rr, gk, gth, gb, ws, vr,
                   T, N, n0, m, blk, charge, reset, detach, ta, tb, tc0, tc1);
            }
            free(ws);
        }
    }
    return failed ? -3 : 0;
}

#undef T_
#undef SF_AFWD_ARGS
#undef SF_AFWD_DEF
#undef SF_ABWD_ARGS
#undef SF_ABWD_DEF

#endif
