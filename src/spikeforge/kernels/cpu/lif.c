/*
 * Fused multi-step IF / LIF / PLIF kernel for CPU (spikeforge "lif" family, "cpu" backend).
 *
 * Layout: x, spikes and gradient tensors are [T, N] row-major (N = all neurons of the
 * batch). Each thread owns contiguous blocks of `block` neurons and walks all T steps of a
 * block with the block's state in a per-thread workspace (L1/L2); each row of a block is a
 * contiguous run in memory. Inner loops over a block's neurons are branch-free and
 * auto-vectorised.
 *
 * Forward (per step): charge H from V and X, S = [H >= V_th], reset V from H and S. The
 *   arithmetic mirrors the torch reference operation by operation (and the build uses
 *   -ffp-contract=off), so H, and therefore the spikes, are bit-identical to it. Nothing
 *   but the spikes and the final V is written: memory traffic = read x + write spikes.
 * Backward (per block): first recompute H[0..T-1] of the block from x and v0 into a
 *   T x block buffer that stays in cache (same arithmetic, so the same H), then one
 *   reverse pass: S[t] = [H[t] >= V_th], V[t-1] = reset(H[t-1]) (v0 at t = 0).
 *   Memory traffic = read x + read dL/dS + write dL/dx; nothing [T, N] is saved.
 *
 * Parameters inv_tau (k) and v_th are arrays with a stride of 0 (scalar) or 1 (one value
 * per neuron); their gradients are written per neuron and reduced by the caller.
 *
 * Codes (charge, reset, surrogate) and the per-type helpers it shares with alif.c: see
 * sf_common.h. The file includes itself to instantiate float and double versions; it also
 * holds the library's ABI version (checked by _build.py).
 */
#ifndef SF_T

#include "sf_common.h"

/* The library's ABI version (checked by _build.py), in the float half's object. */
#ifndef SF_ONLY_F64
int sf_abi_version(void) { return 7; }
#endif

#define SF_SELF "lif.c"
#include "sf_instantiate.h"

#else /* ---------------------------------------------------------------- body */

#define T_ SF_T
#include "sf_common.h"

/* ------------------------------------------------------------------- forward */

SF_INLINE void SF_FN(fwd_block)(const T_ *restrict x, const T_ *restrict v0, T_ *restrict s,
                                T_ *restrict sbuf, T_ *restrict vout, const T_ *restrict kk,
                                const T_ *restrict tt, T_ *restrict v, T_ vr, int64_t T,
                                int64_t N, int64_t n0, int64_t m, const int charge,
                                const int reset, const int vecp) {
    /* vecp = 0: one k and one V_th for all neurons (hoisted), else one per neuron. */
    const T_ k0 = kk[0], t0 = tt[0];
    for (int64_t i = 0; i < m; i++) v[i] = v0[n0 + i];
    for (int64_t t = 0; t < T; t++) {
        const T_ *restrict xt = x + t * N + n0;
        /* with sbuf (non-temporal mode) the row is built in cache, then streamed out */
        T_ *restrict st = sbuf != NULL ? sbuf : s + t * N + n0;
#pragma GCC ivdep
        for (int64_t i = 0; i < m; i++) {
            const T_ ki = vecp ? kk[i] : k0, ti = vecp ? tt[i] : t0;
            const T_ hi = SF_FN(charge_of)(v[i], xt[i], ki, vr, charge);
            const int f = hi >= ti;
            st[i] = f ? (T_)1 : (T_)0;
            v[i] = SF_FN(reset_of)(hi, f, ti, vr, reset);
        }
        if (sbuf != NULL) sf_stream_row(s + t * N + n0, sbuf, (size_t)m * sizeof(T_));
    }
    for (int64_t i = 0; i < m; i++) vout[n0 + i] = v[i];
}

/* One out-of-line function per (charge, reset, vecp): small functions keep compile
   time linear in the number of variants. */
#define SF_FWD_ARGS                                                                            \
    const T_ *restrict x, const T_ *restrict v0, T_ *restrict s, T_ *restrict sbuf,            \
        T_ *restrict vout, const T_ *restrict kk, const T_ *restrict tt, T_ *restrict v, T_ vr, int64_t T,        \
        int64_t N, int64_t n0, int64_t m
#define SF_FWD_DEF(C, R, P)                                                                    \
    static __attribute__((noinline)) void SF_FN(fwd_##C##R##P)(SF_FWD_ARGS) {                  \
        SF_FN(fwd_block)(x, v0, s, sbuf, vout, kk, tt, v, vr, T, N, n0, m, C, R, P);           \
    }
SF_FWD_DEF(0, 0, 0)
SF_FWD_DEF(0, 0, 1)
SF_FWD_DEF(0, 1, 0)
SF_FWD_DEF(0, 1, 1)
SF_FWD_DEF(0, 2, 0)
SF_FWD_DEF(0, 2, 1)
SF_FWD_DEF(1, 0, 0)
SF_FWD_DEF(1, 0, 1)
SF_FWD_DEF(1, 1, 0)
SF_FWD_DEF(1, 1, 1)
SF_FWD_DEF(1, 2, 0)
SF_FWD_DEF(1, 2, 1)
SF_FWD_DEF(2, 0, 0)
SF_FWD_DEF(2, 0, 1)
SF_FWD_DEF(2, 1, 0)
SF_FWD_DEF(2, 1, 1)
SF_FWD_DEF(2, 2, 0)
SF_FWD_DEF(2, 2, 1)

typedef void (*SF_FN(fwd_fn))(SF_FWD_ARGS);

int SF_FN(sf_lif_forward)(const T_ *x, const T_ *v0, T_ *s, T_ *vout, const T_ *k, int64_t ks,
                          const T_ *th, int64_t ts, double v_reset, int64_t T, int64_t N,
                          int charge, int reset, int64_t block, int stream, int nthreads) {
    if (charge < 0 || charge > 2 || reset < 0 || reset > 2 || block < 1) return -1;
    const T_ vr = (T_)v_reset;
    const int64_t blk = block < N ? block : (N > 0 ? N : 1);
    const int64_t nblocks = (N + blk - 1) / blk;
    static const SF_FN(fwd_fn) table[18] = {
        SF_FN(fwd_000), SF_FN(fwd_001), SF_FN(fwd_010), SF_FN(fwd_011), SF_FN(fwd_020),
        SF_FN(fwd_021), SF_FN(fwd_100), SF_FN(fwd_101), SF_FN(fwd_110), SF_FN(fwd_111),
        SF_FN(fwd_120), SF_FN(fwd_121), SF_FN(fwd_200), SF_FN(fwd_201), SF_FN(fwd_210),
        SF_FN(fwd_211), SF_FN(fwd_220), SF_FN(fwd_221)};
    const SF_FN(fwd_fn) fn = table[(charge * 3 + reset) * 2 + (ks != 0 || ts != 0)];
    int failed = 0;
#pragma omp parallel num_threads(nthreads) reduction(| : failed)
    {
        T_ *ws = (T_ *)malloc(sizeof(T_) * (size_t)blk * 4);
        if (ws == NULL) {
            failed = 1;
        } else {
            T_ *v = ws, *kfill = ws + blk, *tfill = ws + 2 * blk;
            T_ *sbuf = stream ? ws + 3 * blk : NULL;
            for (int64_t i = 0; i < blk; i++) {
                kfill[i] = k[0];
                tfill[i] = th[0];
            }
#pragma omp for schedule(static)
            for (int64_t b = 0; b < nblocks; b++) {
                const int64_t n0 = b * blk;
                const int64_t m = (N - n0) < blk ? (N - n0) : blk;
                const T_ *kk = ks ? k + n0 : kfill;
                const T_ *tt = ts ? th + n0 : tfill;
                fn(x, v0, s, sbuf, vout, kk, tt, v, vr, T, N, n0, m);
            }
            if (stream) sf_stream_fence();
            free(ws);
        }
    }
    return failed ? -3 : 0;
}

/* ------------------------------------------------------------------ backward */

/* Recompute H[0..T-1] of one block into hb (row stride blk), bit-identical to the forward
   pass; also leaves v0 of the block in vinit. The block's input row t is xb + t * xs (x
   itself, or the batch-norm affine of the block in the workspace, see affine_block). */
SF_INLINE void SF_FN(rec_block)(const T_ *restrict xb, int64_t xs, const T_ *restrict v0,
                                const T_ *restrict kk, const T_ *restrict tt,
                                T_ *restrict hb, T_ *restrict vinit, T_ *restrict v, T_ vr,
                                int64_t T, int64_t N, int64_t n0, int64_t m, int64_t blk,
                                const int charge, const int reset, const int vecp) {
    const T_ k0 = kk[0], t0 = tt[0];
    for (int64_t i = 0; i < m; i++) {
        vinit[i] = v0[n0 + i];
        v[i] = vinit[i];
    }
    for (int64_t t = 0; t < T; t++) {
        const T_ *restrict xt = xb + t * xs;
        T_ *restrict hbt = hb + t * blk;
#pragma GCC ivdep
        for (int64_t i = 0; i < m; i++) {
            const T_ ki = vecp ? kk[i] : k0, ti = vecp ? tt[i] : t0;
            const T_ hi = SF_FN(charge_of)(v[i], xt[i], ki, vr, charge);
            hbt[i] = hi;
            v[i] = SF_FN(reset_of)(hi, hi >= ti, ti, vr, reset);
        }
    }
}

#define SF_REC_ARGS                                                                            \
    const T_ *restrict xb, int64_t xs, const T_ *restrict v0, const T_ *restrict kk,                        \
        const T_ *restrict tt, T_ *restrict hb, T_ *restrict vinit, T_ *restrict v, T_ vr,     \
        int64_t T, int64_t N, int64_t n0, int64_t m, int64_t blk
#define SF_REC_DEF(C, R, P)                                                                    \
    static __attribute__((noinline)) void SF_FN(rec_##C##R##P)(SF_REC_ARGS) {                  \
        SF_FN(rec_block)(xb, xs, v0, kk, tt, hb, vinit, v, vr, T, N, n0, m, blk, C, R, P);     \
    }
SF_REC_DEF(0, 0, 0)
SF_REC_DEF(0, 0, 1)
SF_REC_DEF(0, 1, 0)
SF_REC_DEF(0, 1, 1)
SF_REC_DEF(0, 2, 0)
SF_REC_DEF(0, 2, 1)
SF_REC_DEF(1, 0, 0)
SF_REC_DEF(1, 0, 1)
SF_REC_DEF(1, 1, 0)
SF_REC_DEF(1, 1, 1)
SF_REC_DEF(1, 2, 0)
SF_REC_DEF(1, 2, 1)
SF_REC_DEF(2, 0, 0)
SF_REC_DEF(2, 0, 1)
SF_REC_DEF(2, 1, 0)
SF_REC_DEF(2, 1, 1)
SF_REC_DEF(2, 2, 0)
SF_REC_DEF(2, 2, 1)

typedef void (*SF_FN(rec_fn))(SF_REC_ARGS);

/* The input of one block as batch norm's training output from its input c (the conv
   output, which batch norm keeps for its own backward anyway): row t of xa (stride blk) is
   fma(c, alpha[ch], beta[ch]) with ch the channel of each neuron (neuron n of a row lies in
   channel (n / inner) % channels). ATen's CPU batch norm computes the same fused
   multiply-add with alpha = invstd * weight, beta = bias - mean * alpha (see
   sf_bn_coefficients); the caller checks the two agree bit for bit before relying on it.
   ab, bb: [blk] scratch for the block's per-neuron coefficients. */
SF_INLINE void SF_FN(affine_block)(const T_ *restrict c, const T_ *restrict alpha,
                                   const T_ *restrict beta, T_ *restrict xa, T_ *restrict ab,
                                   T_ *restrict bb, int64_t T, int64_t N, int64_t n0,
                                   int64_t m, int64_t blk, int64_t channels, int64_t inner) {
    for (int64_t i = 0; i < m; i++) {
        const int64_t ch = ((n0 + i) / inner) % channels;
        ab[i] = alpha[ch];
        bb[i] = beta[ch];
    }
    for (int64_t t = 0; t < T; t++) {
        const T_ *restrict ct = c + t * N + n0;
        T_ *restrict xt = xa + t * blk;
#pragma GCC ivdep
        for (int64_t i = 0; i < m; i++) xt[i] = SF_FMA(ct[i], ab[i], bb[i]);
    }
}

/* Workspace per thread: hb [T x blk] then gv, ak, at, vinit, v [blk] each. */
SF_INLINE void SF_FN(bwd_block)(const T_ *restrict xb, int64_t xs, const T_ *restrict v0,
                                const T_ *restrict gs, const T_ *restrict gvT,
                                T_ *restrict gx, T_ *restrict gxbuf, T_ *restrict gv0,
                                const T_ *restrict kk,
                                const T_ *restrict tt, T_ *restrict gk, T_ *restrict gth,
                                T_ *restrict ws, T_ vr, int64_t T, int64_t N, int64_t n0,
                                int64_t m, int64_t blk, const int charge, const int reset,
                                const int detach, const int sid, const int vecp, T_ a, T_ b,
                                T_ c0, T_ c1) {
    const T_ k0 = kk[0], t0 = tt[0];
    T_ *restrict hb = ws;
    T_ *restrict gv = ws + T * blk, *restrict ak = gv + blk, *restrict at = ak + blk;
    T_ *restrict vinit = at + blk;
    const int want_k = gk != NULL && charge != 0;
    const int want_t = gth != NULL;

    /* H of this block is already in hb (rec_block); one reverse pass from here */
    for (int64_t i = 0; i < m; i++) {
        gv[i] = gvT[n0 + i];
        ak[i] = 0;
        at[i] = 0;
    }
    const T_ zr = reset == 0 ? (T_)1 : (T_)0; /* hard reset */
    const T_ sb = reset == 1 ? (T_)1 : (T_)0; /* subtract reset */
    const T_ nd = (detach || reset == 2) ? (T_)0 : (T_)1;
    const T_ cxk = charge == 1 ? (T_)1 : (T_)0; /* dH/dk = cxk X - (V[t-1] - V_reset) */
    for (int64_t t = T - 1; t >= 0; t--) {
        const T_ *restrict ht = hb + t * blk;
        const T_ *restrict gst = gs + t * N + n0;
        T_ *restrict gxt = gxbuf != NULL ? gxbuf : gx + t * N + n0;
        if (!want_k && !want_t) {
            /* the common case: only dL/dx and dL/dv0 */
#pragma GCC ivdep
            for (int64_t i = 0; i < m; i++) {
                const T_ hi = ht[i], g = gv[i];
                const T_ ki = vecp ? kk[i] : k0, thi = vecp ? tt[i] : t0;
                const T_ f = hi >= thi ? (T_)1 : (T_)0;
                const T_ sg = SF_FN(surrogate)(hi - thi, sid, a, b, c0, c1);
                /* V = reset(H, S): dV/dH (S held fixed) and dV/dS */
                const T_ dvdh = (T_)1 - zr * f;
                const T_ dvds = -nd * (zr * (hi - vr) + sb * thi);
                const T_ gh = g * dvdh + (gst[i] + g * dvds) * sg;
                gxt[i] = charge == 1 ? gh * ki : gh;
                gv[i] = charge == 0 ? gh : gh * ((T_)1 - ki);
            }
            if (gxbuf != NULL) sf_stream_row(gx + t * N + n0, gxbuf, (size_t)m * sizeof(T_));
            continue;
        }
        /* V[t-1] = reset(H[t-1]) for t > 0, v0 at t = 0. Every load is unconditional
           (unused operands point at rows already in cache) so the loop vectorises. */
        const T_ *restrict hp = t > 0 ? hb + (t - 1) * blk : vinit;
        const int rp = t > 0;
        const T_ *restrict xt = (want_k && charge == 1) ? xb + t * xs : ht;
#pragma GCC ivdep
        for (int64_t i = 0; i < m; i++) {
            const T_ hi = ht[i], thi = tt[i], g = gv[i], ki = kk[i];
            const T_ f = hi >= thi ? (T_)1 : (T_)0;
            const T_ sg = SF_FN(surrogate)(hi - thi, sid, a, b, c0, c1);
            const T_ dvdh = (T_)1 - zr * f;
            const T_ dvds = -nd * (zr * (hi - vr) + sb * thi);
            const T_ gsum = gst[i] + g * dvds; /* dL/dS[t] */
            const T_ gh = g * dvdh + gsum * sg;
            at[i] -= gsum * sg + sb * g * f;
            /* select form (reset is a runtime value here): no control flow in the loop */
            const T_ hq = hp[i];
            const T_ fq = (rp && hq >= thi) ? (T_)1 : (T_)0;
            const T_ vz = fq != (T_)0 ? hq - (hq - vr) : hq;
            const T_ vp = zr != (T_)0 ? vz : hq - sb * thi * fq;
            ak[i] += gh * (cxk * xt[i] - (vp - vr));
            gxt[i] = charge == 1 ? gh * ki : gh;
            gv[i] = charge == 0 ? gh : gh * ((T_)1 - ki);
        }
        if (gxbuf != NULL) sf_stream_row(gx + t * N + n0, gxbuf, (size_t)m * sizeof(T_));
    }
    for (int64_t i = 0; i < m; i++) {
        gv0[n0 + i] = gv[i];
        if (want_k) gk[n0 + i] = ak[i];
        if (want_t) gth[n0 + i] = at[i];
    }
}

#define SF_BWD_ARGS                                                                            \
    const T_ *restrict xb, int64_t xs, const T_ *restrict v0, const T_ *restrict gs,                        \
        const T_ *restrict gvT, T_ *restrict gx, T_ *restrict gxbuf, T_ *restrict gv0,         \
        const T_ *restrict kk,                                                                 \
        const T_ *restrict tt, T_ *restrict gk, T_ *restrict gth, T_ *restrict ws, T_ vr,      \
        int64_t T, int64_t N, int64_t n0, int64_t m, int64_t blk, int charge, int reset,       \
        int detach, T_ a, T_ b, T_ c0, T_ c1
#define SF_BWD_DEF(SID, P)                                                                     \
    static __attribute__((noinline)) void SF_FN(bwd_##SID##P)(SF_BWD_ARGS) {                   \
        SF_FN(bwd_block)(xb, xs, v0, gs, gvT, gx, gxbuf, gv0, kk, tt, gk, gth, ws, vr, T, N,   \
                         n0, m,                                                                \
                         blk, charge, reset, detach, SID, P, a, b, c0, c1);                    \
    }
SF_BWD_DEF(0, 0)
SF_BWD_DEF(0, 1)
SF_BWD_DEF(1, 0)
SF_BWD_DEF(1, 1)
SF_BWD_DEF(2, 0)
SF_BWD_DEF(2, 1)
SF_BWD_DEF(3, 0)
SF_BWD_DEF(3, 1)
SF_BWD_DEF(4, 0)
SF_BWD_DEF(4, 1)
SF_BWD_DEF(5, 0)
SF_BWD_DEF(5, 1)

typedef void (*SF_FN(bwd_fn))(SF_BWD_ARGS);

int SF_FN(sf_lif_backward)(const T_ *x, const T_ *v0, const T_ *gs, const T_ *gvT, T_ *gx,
                           T_ *gv0, const T_ *k, int64_t ks, const T_ *th, int64_t ts, T_ *gk,
                           T_ *gth, double v_reset, int64_t T, int64_t N, int charge,
                           int reset, int detach, int sid, double a, double b,
                           const T_ *alpha, const T_ *beta, int64_t channels, int64_t inner,
                           int64_t block, int stream, int nthreads) {
    /* alpha != NULL: x is batch norm's input c, and the neurons' input is its training
       output fma(c, alpha, beta) per channel (affine_block), rebuilt per block in cache. */
    if (charge < 0 || charge > 2 || reset < 0 || reset > 2 || sid < 0 || sid > 5 || block < 1)
        return -1;
    if (alpha != NULL && (beta == NULL || channels < 1 || inner < 1)) return -1;
    if (x == NULL || v0 == NULL || gs == NULL || gvT == NULL || gx == NULL || gv0 == NULL)
        return -2;
    const T_ vr = (T_)v_reset, ta = (T_)a, tb = (T_)b;
    T_ tc0 = 0, tc1 = 0;
    if (sid == 0) tc0 = (T_)(0.5 * 3.14159265358979323846 * a);
    if (sid == 4) tc1 = (T_)(0.5 / a);
    if (sid == 5) {
        tc0 = (T_)(0.5 * a);
        tc1 = (T_)(1.0 / a);
    }
    const int64_t blk = block < N ? block : (N > 0 ? N : 1);
    const int64_t nblocks = (N + blk - 1) / blk;
    static const SF_FN(bwd_fn) table[12] = {
        SF_FN(bwd_00), SF_FN(bwd_01), SF_FN(bwd_10), SF_FN(bwd_11), SF_FN(bwd_20), SF_FN(bwd_21),
        SF_FN(bwd_30), SF_FN(bwd_31), SF_FN(bwd_40), SF_FN(bwd_41), SF_FN(bwd_50), SF_FN(bwd_51)};
    const int vecp = ks != 0 || ts != 0;
    const SF_FN(bwd_fn) fn = table[sid * 2 + vecp];
    static const SF_FN(rec_fn) rtable[18] = {
        SF_FN(rec_000), SF_FN(rec_001), SF_FN(rec_010), SF_FN(rec_011), SF_FN(rec_020),
        SF_FN(rec_021), SF_FN(rec_100), SF_FN(rec_101), SF_FN(rec_110), SF_FN(rec_111),
        SF_FN(rec_120), SF_FN(rec_121), SF_FN(rec_200), SF_FN(rec_201), SF_FN(rec_210),
        SF_FN(rec_211), SF_FN(rec_220), SF_FN(rec_221)};
    const SF_FN(rec_fn) rfn = rtable[(charge * 3 + reset) * 2 + vecp];
    int failed = 0;
#pragma omp parallel num_threads(nthreads) reduction(| : failed)
    {
        /* hb [T x blk], 5 rows of state, kfill, tfill, gxbuf; with alpha: xa [T x blk], ab,
           bb */
        const size_t rows = (size_t)(T + 8) + (alpha != NULL ? (size_t)(T + 2) : 0);
        T_ *ws = (T_ *)malloc(sizeof(T_) * (size_t)blk * rows);
        if (ws == NULL) {
            failed = 1;
        } else {
            T_ *kfill = ws + (T + 5) * blk, *tfill = kfill + blk;
            T_ *gxbuf = stream ? tfill + blk : NULL;
            for (int64_t i = 0; i < blk; i++) {
                kfill[i] = k[0];
                tfill[i] = th[0];
            }
#pragma omp for schedule(static)
            for (int64_t bl = 0; bl < nblocks; bl++) {
                const int64_t n0 = bl * blk;
                const int64_t m = (N - n0) < blk ? (N - n0) : blk;
                const T_ *kk = ks ? k + n0 : kfill;
                const T_ *tt = ts ? th + n0 : tfill;
                T_ *vinit = ws + (T + 3) * blk, *v = ws + (T + 4) * blk;
                const T_ *xb = x + n0;
                int64_t xs = N;
                if (alpha != NULL) {
                    T_ *xa = ws + (T + 8) * blk;
                    SF_FN(affine_block)(x, alpha, beta, xa, xa + T * blk, xa + (T + 1) * blk, T,
                                        N, n0, m, blk, channels, inner);
                    xb = xa;
                    xs = blk;
                }
                rfn(xb, xs, v0, kk, tt, ws, vinit, v, vr, T, N, n0, m, blk);
                fn(xb, xs, v0, gs, gvT, gx, gxbuf, gv0, kk, tt, gk, gth, ws, vr, T, N, n0, m,
                   blk, charge, reset, detach, ta, tb, tc0, tc1);
            }
            if (stream) sf_stream_fence();
            free(ws);
        }
    }
    return failed ? -3 : 0;
}

/* Batch norm's training affine per channel, as ATen's CPU kernel forms it: alpha = invstd *
   weight, beta = fma(-mean, alpha, bias) (weight/bias NULL: 1 and 0). */
void SF_FN(sf_bn_coefficients)(const T_ *mean, const T_ *invstd, const T_ *weight,
                               const T_ *bias, T_ *alpha, T_ *beta, int64_t channels) {
    for (int64_t ch = 0; ch < channels; ch++) {
        const T_ al = weight != NULL ? invstd[ch] * weight[ch] : invstd[ch];
        alpha[ch] = al;
        beta[ch] = SF_FMA(-mean[ch], al, bias != NULL ? bias[ch] : (T_)0);
    }
}

/* out [rows, N] = fma(c, alpha[ch], beta[ch]) (the arithmetic of affine_block), so a caller
   can compare it once with batch norm's own output. */
void SF_FN(sf_bn_affine)(const T_ *c, const T_ *alpha, const T_ *beta, T_ *out, int64_t rows,
                         int64_t N, int64_t channels, int64_t inner) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t n = 0; n < N; n++)
            out[r * N + n] = SF_FMA(c[r * N + n], alpha[(n / inner) % channels],
                                    beta[(n / inner) % channels]);
}

#undef T_
#undef SF_FWD_ARGS
#undef SF_FWD_DEF
#undef SF_BWD_ARGS
#undef SF_REC_ARGS
#undef SF_REC_DEF
#undef SF_BWD_DEF

#endif
