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
 * Codes: charge 0 = IF, 1 = LIF decay_input, 2 = LIF no input decay;
 *        reset  0 = hard ("zero"), 1 = "subtract", 2 = "none";
 *        surrogate 0 atan, 1 sigmoid, 2 fast_sigmoid, 3 triangle, 4 rectangle,
 *                  5 piecewise_linear;  (a = alpha, b = gamma or leak).
 *
 * The file includes itself to instantiate float and double versions.
 */
#ifndef SF_T

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#define SF_INLINE static inline __attribute__((always_inline))

/* Copy one computed row (in cache) to its place in a large output with non-temporal
   stores: the output line is not read first (no read-for-ownership) and does not evict
   the working set. Used only when the output is much larger than the caches. */
static void sf_stream_row(void *dst_, const void *src_, size_t nbytes) {
    char *dst = (char *)dst_;
    const char *src = (const char *)src_;
    size_t i = 0;
#if defined(__AVX512F__)
    while (i < nbytes && ((uintptr_t)(dst + i) & 63u)) {
        dst[i] = src[i];
        i++;
    }
    for (; i + 64 <= nbytes; i += 64)
        _mm512_stream_si512((__m512i *)(dst + i), _mm512_loadu_si512((const void *)(src + i)));
#elif defined(__AVX__)
    while (i < nbytes && ((uintptr_t)(dst + i) & 31u)) {
        dst[i] = src[i];
        i++;
    }
    for (; i + 32 <= nbytes; i += 32)
        _mm256_stream_si256((__m256i *)(dst + i),
                            _mm256_loadu_si256((const __m256i *)(src + i)));
#elif defined(__SSE2__)
    while (i < nbytes && ((uintptr_t)(dst + i) & 15u)) {
        dst[i] = src[i];
        i++;
    }
    for (; i + 16 <= nbytes; i += 16)
        _mm_stream_si128((__m128i *)(dst + i), _mm_loadu_si128((const __m128i *)(src + i)));
#endif
    if (i < nbytes) memcpy(dst + i, src + i, nbytes - i);
}

static void sf_stream_fence(void) {
#if defined(__SSE2__)
    _mm_sfence();
#endif
}

/* The build compiles the float and the double half as two objects in parallel
   (-DSF_ONLY_F32 / -DSF_ONLY_F64); without either macro one object holds both. */
#ifndef SF_ONLY_F64
int sf_abi_version(void) { return 6; }

#define SF_T float
#define SF_FN(name) name##_f32
#define SF_EXP expf
#define SF_FABS fabsf
#include __FILE__
#undef SF_T
#undef SF_FN
#undef SF_EXP
#undef SF_FABS
#endif

#ifndef SF_ONLY_F32
#define SF_T double
#define SF_FN(name) name##_f64
#define SF_EXP exp
#define SF_FABS fabs
#include __FILE__
#endif

#else /* ---------------------------------------------------------------- body */

#define T_ SF_T

/* H from V[t-1] and X[t], exactly as the reference orders the operations. */
SF_INLINE T_ SF_FN(charge_of)(T_ v, T_ x, T_ k, T_ vr, const int charge) {
    if (charge == 0) return v + x;
    if (charge == 1) return v + (x - (v - vr)) * k;
    return (v - (v - vr) * k) + x;
}

/* V after reset, for H and its spike f = [H >= V_th]: h - (h - vr) s, h - th s, h. */
SF_INLINE T_ SF_FN(reset_of)(T_ h, int f, T_ th, T_ vr, const int reset) {
    if (reset == 0) return f ? h - (h - vr) : h;
    if (reset == 1) return f ? h - th : h;
    return h;
}

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

/* σ'(u); constants c0, c1 are precomputed in double by the caller and rounded to T_. */
SF_INLINE T_ SF_FN(surrogate)(T_ u, const int sid, T_ a, T_ b, T_ c0, T_ c1) {
    switch (sid) {
    case 0: { /* atan: a / (2 (1 + (pi a u / 2)^2)), c0 = pi a / 2 */
        const T_ z = c0 * u;
        return a / ((T_)2 * ((T_)1 + z * z));
    }
    case 1: { /* sigmoid: a s (1 - s), s = 1 / (1 + exp(-a u)) */
        const T_ sg = (T_)1 / ((T_)1 + SF_EXP(-(a * u)));
        return a * sg * ((T_)1 - sg);
    }
    case 2: { /* fast sigmoid: 1 / (1 + a|u|)^2 */
        const T_ z = (T_)1 + a * SF_FABS(u);
        return (T_)1 / (z * z);
    }
    case 3: { /* triangle: b max(0, 1 - a|u|) */
        const T_ z = (T_)1 - a * SF_FABS(u);
        return b * (z > (T_)0 ? z : (T_)0);
    }
    case 4: /* rectangle: a 1[|u| < c1], c1 = 0.5 / a */
        return SF_FABS(u) < c1 ? a : (T_)0;
    default: /* piecewise linear: a/2 on |u| < c1 (= 1/a), b outside; c0 = a/2 */
        return SF_FABS(u) < c1 ? c0 : b;
    }
}

/* Recompute H[0..T-1] of one block into hb (row stride blk), bit-identical to the forward
   pass; also leaves v0 of the block in vinit. */
SF_INLINE void SF_FN(rec_block)(const T_ *restrict x, const T_ *restrict v0,
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
        const T_ *restrict xt = x + t * N + n0;
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
    const T_ *restrict x, const T_ *restrict v0, const T_ *restrict kk,                        \
        const T_ *restrict tt, T_ *restrict hb, T_ *restrict vinit, T_ *restrict v, T_ vr,     \
        int64_t T, int64_t N, int64_t n0, int64_t m, int64_t blk
#define SF_REC_DEF(C, R, P)                                                                    \
    static __attribute__((noinline)) void SF_FN(rec_##C##R##P)(SF_REC_ARGS) {                  \
        SF_FN(rec_block)(x, v0, kk, tt, hb, vinit, v, vr, T, N, n0, m, blk, C, R, P);          \
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

/* Workspace per thread: hb [T x blk] then gv, ak, at, vinit, v [blk] each. */
SF_INLINE void SF_FN(bwd_block)(const T_ *restrict x, const T_ *restrict v0,
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
        const T_ *restrict xt = (want_k && charge == 1) ? x + t * N + n0 : ht;
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
    const T_ *restrict x, const T_ *restrict v0, const T_ *restrict gs,                        \
        const T_ *restrict gvT, T_ *restrict gx, T_ *restrict gxbuf, T_ *restrict gv0,         \
        const T_ *restrict kk,                                                                 \
        const T_ *restrict tt, T_ *restrict gk, T_ *restrict gth, T_ *restrict ws, T_ vr,      \
        int64_t T, int64_t N, int64_t n0, int64_t m, int64_t blk, int charge, int reset,       \
        int detach, T_ a, T_ b, T_ c0, T_ c1
#define SF_BWD_DEF(SID, P)                                                                     \
    static __attribute__((noinline)) void SF_FN(bwd_##SID##P)(SF_BWD_ARGS) {                   \
        SF_FN(bwd_block)(x, v0, gs, gvT, gx, gxbuf, gv0, kk, tt, gk, gth, ws, vr, T, N, n0, m, \
                         blk,                                                                  \
                         charge, reset, detach, SID, P, a, b, c0, c1);                         \
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
                           int reset, int detach, int sid, double a, double b, int64_t block,
                           int stream, int nthreads) {
    if (charge < 0 || charge > 2 || reset < 0 || reset > 2 || sid < 0 || sid > 5 || block < 1)
        return -1;
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
        T_ *ws = (T_ *)malloc(sizeof(T_) * (size_t)blk * (size_t)(T + 8));
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
                rfn(x, v0, kk, tt, ws, vinit, v, vr, T, N, n0, m, blk);
                fn(x, v0, gs, gvT, gx, gxbuf, gv0, kk, tt, gk, gth, ws, vr, T, N, n0, m, blk,
                   charge, reset, detach, ta, tb, tc0, tc1);
            }
            if (stream) sf_stream_fence();
            free(ws);
        }
    }
    return failed ? -3 : 0;
}


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
#undef SF_FWD_ARGS
#undef SF_FWD_DEF
#undef SF_BWD_ARGS
#undef SF_REC_ARGS
#undef SF_REC_DEF
#undef SF_BWD_DEF
#undef SF_LFWD_ARGS
#undef SF_LFWD_DEF
#undef SF_LBWD_ARGS
#undef SF_LBWD_DEF
#undef SF_AFWD_ARGS
#undef SF_AFWD_DEF
#undef SF_ABWD_ARGS
#undef SF_ABWD_DEF

#endif
