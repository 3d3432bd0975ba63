/*
 * Fused parallel spiking neurons for CPU (spikeforge "psn" family, "cpu" backend):
 * spikes S = [W X + b >= 0] over time, W a [T, T] matrix acting on the time axis of
 * X [T, N] (N = every neuron of the batch), b one value per output step. It serves PSN,
 * masked PSN (W = the masked effective weight), sliding PSN (W = its banded Toeplitz
 * matrix) and ParaLIF's threshold mode (W = the leaky integrator's Toeplitz matrix).
 *
 * Why fused: the torch path streams [T, N] intermediates through DRAM (H, the surrogate's
 * derivative, dL/dH), while the T x T x N products are small enough to run from cache.
 * Here each thread takes blocks of `block` columns and keeps the block's X, H and dL/dH
 * ([Tp x nbp] each, padded) in its L2:
 *   forward   pack X_blk, H_blk = W X_blk + b (register-blocked product), write the spikes;
 *             H is never stored.
 *   backward  pack X_blk, recompute H_blk (same code, so the same H as forward),
 *             dH = dS * sigma'(H) (the surrogates of sf_common.h), dX_blk = W^T dH,
 *             dW += dH X_blk^T and db += sum_n dH in per-thread accumulators (dW in
 *             vector lanes) that are summed in thread order at the end (deterministic
 *             for a given thread count).
 *
 * Product micro-kernel: MR rows of the left matrix x 2 vectors of columns, accumulated
 * in registers with fused multiply-adds (GCC vector extensions; these functions alone are
 * built with fp-contract=fast, the rest of the library keeps -ffp-contract=off). The inner
 * time index is summed in increasing order, not in MKL's blocked order, so H agrees with
 * the torch path to rounding only: spikes can differ where H lies within a few ulps of the
 * threshold. The sum order per column does not depend on the block size or the thread
 * count, so the backward pass recomputes exactly the forward pass's H.
 *
 * Rows of W (and of W^T) are scanned once per call for their nonzero range, and a row tile
 * only runs over the inner indices where its rows are nonzero: a banded W (masked PSN at
 * lambda = 1, sliding PSN, causal PSN) costs what its band costs. Skipped terms are exact
 * zeros (0 * x adds nothing unless x is inf or NaN, which torch would propagate as NaN).
 *
 * The weight gradient is computed only for lags t - j in [lag_lo, lag_hi] (the caller
 * passes the band outside which the gradient is unused: a masked or Toeplitz weight);
 * entries outside are written as 0.
 *
 * The file includes itself to instantiate float and double versions (sf_instantiate.h).
 */
#ifndef SF_T

#include "sf_common.h"
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__AVX512F__)
#define SF_PSN_VB 64 /* bytes per vector */
#define SF_PSN_MR 8  /* rows per product tile: 16 accumulators of 32 registers */
#define SF_PSN_QC 4  /* weight-gradient tile columns (4 x 4 accumulators) */
#else
#define SF_PSN_VB 32
#define SF_PSN_MR 4 /* 8 accumulators: fits the 16 registers of AVX2 */
#define SF_PSN_QC 2
#endif
#define SF_PSN_QR 4

/* Copy a finished row segment (in cache) to a large output. With `stream`, whole lines go
   out with non-temporal stores: the output line is not read first (no read-for-ownership:
   a third less memory traffic for an output written once) and does not stay in cache. */
static inline void sf_psn_store_row(void *dst, const void *src, size_t nbytes, int stream) {
    if (stream)
        sf_stream_row(dst, src, nbytes);
    else
        memcpy(dst, src, nbytes);
}

static inline void sf_psn_store_fence(int stream) {
    if (stream) sf_stream_fence();
}

/* Rows padded to the product tile: zero rows of W and X make every tile full. */
static inline int64_t sf_psn_pad_rows(int64_t T) {
    return (T + SF_PSN_MR - 1) / SF_PSN_MR * SF_PSN_MR;
}

#define SF_SELF "psn.c"
#include "sf_instantiate.h"

#else /* ---------------------------------------------------------------- body */

#define T_ SF_T
#include "sf_common.h"

typedef T_ SF_FN(psn_vec) __attribute__((vector_size(SF_PSN_VB)));
#define VEC SF_FN(psn_vec)
#define VW ((int64_t)(SF_PSN_VB / sizeof(T_))) /* lanes per vector */
#define CT (2 * VW)                             /* columns per product tile */

/* The sum of a vector's lanes as a halving tree (log2 VW vector adds once unrolled, where
   a lane-by-lane sum is VW dependent scalar adds). */
SF_INLINE T_ SF_FN(psn_hsum)(const VEC *v) {
    T_ lanes[VW];
    memcpy(lanes, v, sizeof(*v));
#pragma GCC unroll 8
    for (int64_t w = VW / 2; w >= 1; w /= 2)
#pragma GCC unroll 16
        for (int64_t l = 0; l < w; l++) lanes[l] += lanes[l + w];
    return lanes[0];
}

/* [lo, hi) of the nonzero columns of each MR-row tile of A [Mp x K] (0, 0 when the tile
   is all zero). */
static void SF_FN(psn_ranges)(const T_ *A, int64_t Mp, int64_t K, int64_t *lo, int64_t *hi) {
    for (int64_t r0 = 0; r0 < Mp; r0 += SF_PSN_MR) {
        int64_t l = K, h = 0;
        for (int64_t r = r0; r < r0 + SF_PSN_MR; r++)
            for (int64_t j = 0; j < K; j++)
                if (A[r * K + j] != (T_)0) {
                    if (j < l) l = j;
                    if (j + 1 > h) h = j + 1;
                }
        lo[r0 / SF_PSN_MR] = l < h ? l : 0;
        hi[r0 / SF_PSN_MR] = l < h ? h : 0;
    }
}

/* C = A B (+ bias per row): A [Mp x K] row-major, B [K x nbp], C [Mp x nbp]; nbp is a
   multiple of CT and B, C are 64-byte aligned. Tile r0 sums k over [lo, hi) only, in
   increasing k. */
static __attribute__((noinline, optimize("fp-contract=fast"))) void
SF_FN(psn_gemm)(const T_ *restrict A, int64_t Mp, int64_t K, const int64_t *restrict lo,
                const int64_t *restrict hi, const T_ *restrict bias, const T_ *restrict B,
                int64_t nbp, T_ *restrict C) {
    for (int64_t r0 = 0; r0 < Mp; r0 += SF_PSN_MR) {
        const int64_t k0 = lo[r0 / SF_PSN_MR], k1 = hi[r0 / SF_PSN_MR];
        const T_ *restrict a = A + r0 * K;
        for (int64_t c0 = 0; c0 < nbp; c0 += CT) {
            VEC acc0[SF_PSN_MR], acc1[SF_PSN_MR];
#pragma GCC unroll 8
            for (int r = 0; r < SF_PSN_MR; r++) {
                acc0[r] = (VEC){0};
                acc1[r] = (VEC){0};
            }
            for (int64_t k = k0; k < k1; k++) {
                const VEC x0 = *(const VEC *)(B + k * nbp + c0);
                const VEC x1 = *(const VEC *)(B + k * nbp + c0 + VW);
#pragma GCC unroll 8
                for (int r = 0; r < SF_PSN_MR; r++) {
                    const T_ w = a[r * K + k];
                    acc0[r] += w * x0;
                    acc1[r] += w * x1;
                }
            }
#pragma GCC unroll 8
            for (int r = 0; r < SF_PSN_MR; r++) {
                /* the bias is added after the product, as torch's "W X + b" */
                const T_ bi = bias != NULL ? bias[r0 + r] : (T_)0;
                *(VEC *)(C + (r0 + r) * nbp + c0) = acc0[r] + bi;
                *(VEC *)(C + (r0 + r) * nbp + c0 + VW) = acc1[r] + bi;
            }
        }
    }
}

/* G[t, j] += sum_c D[t, c] X[j, c] for t, j < T with lag t - j in [lag_lo, lag_hi]:
   D, X [Tp x nbp] (aligned, zero beyond the valid rows and columns). With GV (one vector
   per (t, j), [Tp x Tp], the per-thread accumulator) the sums stay in vector lanes across
   blocks and are reduced once at the end (psn_lanes_to); without it each block reduces
   its lanes into G [T x T] — a lane reduction per (t, j) and block that costs about as much as
   the products at short blocks, so it is the fallback for very long T only. */
static __attribute__((noinline, optimize("fp-contract=fast"))) void
SF_FN(psn_gemm_nt)(const T_ *restrict D, const T_ *restrict X, int64_t nbp, int64_t T,
                   int64_t Tp, int64_t lag_lo, int64_t lag_hi, VEC *restrict GV,
                   T_ *restrict G) {
    for (int64_t t0 = 0; t0 < T; t0 += SF_PSN_QR) {
        for (int64_t j0 = 0; j0 < T; j0 += SF_PSN_QC) {
            /* lags of this tile: t0 - (j0 + QC - 1) .. t0 + QR - 1 - j0 */
            if (t0 + SF_PSN_QR - 1 - j0 < lag_lo || t0 - (j0 + SF_PSN_QC - 1) > lag_hi)
                continue;
            VEC acc[SF_PSN_QR][SF_PSN_QC];
#pragma GCC unroll 4
            for (int r = 0; r < SF_PSN_QR; r++)
#pragma GCC unroll 4
                for (int q = 0; q < SF_PSN_QC; q++)
                    acc[r][q] = GV != NULL ? GV[(t0 + r) * Tp + j0 + q] : (VEC){0};
            for (int64_t c = 0; c < nbp; c += VW) {
                VEC d[SF_PSN_QR], xv[SF_PSN_QC];
#pragma GCC unroll 4
                for (int r = 0; r < SF_PSN_QR; r++) d[r] = *(const VEC *)(D + (t0 + r) * nbp + c);
#pragma GCC unroll 4
                for (int q = 0; q < SF_PSN_QC; q++) xv[q] = *(const VEC *)(X + (j0 + q) * nbp + c);
#pragma GCC unroll 4
                for (int r = 0; r < SF_PSN_QR; r++)
#pragma GCC unroll 4
                    for (int q = 0; q < SF_PSN_QC; q++) acc[r][q] += d[r] * xv[q];
            }
            if (GV != NULL) {
#pragma GCC unroll 4
                for (int r = 0; r < SF_PSN_QR; r++)
#pragma GCC unroll 4
                    for (int q = 0; q < SF_PSN_QC; q++) GV[(t0 + r) * Tp + j0 + q] = acc[r][q];
                continue;
            }
            for (int r = 0; r < SF_PSN_QR; r++)
                for (int q = 0; q < SF_PSN_QC; q++) {
                    const int64_t t = t0 + r, j = j0 + q, lag = t - j;
                    if (t >= T || j >= T || lag < lag_lo || lag > lag_hi) continue;
                    G[t * T + j] += SF_FN(psn_hsum)(&acc[r][q]);
                }
        }
    }
}

/* G[t, j] += the lane sum of GV[t, j] inside the band. */
static void SF_FN(psn_lanes_to)(const VEC *GV, int64_t T, int64_t Tp, int64_t lag_lo,
                                int64_t lag_hi, T_ *G) {
    for (int64_t t = 0; t < T; t++)
        for (int64_t j = 0; j < T; j++) {
            if (t - j < lag_lo || t - j > lag_hi) continue;
            G[t * T + j] += SF_FN(psn_hsum)(&GV[t * Tp + j]);
        }
}

/* Prefetch the row segment row[0 .. m-1] (a later row of the block: rows lie N apart, so
   each is a short stream of its own that the hardware prefetcher picks up late). */
static inline void SF_FN(psn_prefetch)(const T_ *row, int64_t m) {
    for (int64_t i = 0; i < m; i += 64 / (int64_t)sizeof(T_)) __builtin_prefetch(row + i, 0, 2);
}
#define SF_PSN_AHEAD 4 /* rows prefetched ahead */

/* Prefetch the next block's rows (columns n0 .. n0+m-1, clipped to N) while this block
   computes: its rows are T separate short streams (measured 2-7 % faster, T = 16, 64). */
static inline void SF_FN(psn_prefetch_block)(const T_ *x, int64_t T, int64_t N, int64_t n0,
                                             int64_t m) {
    if (n0 >= N) return;
    if (n0 + m > N) m = N - n0;
    for (int64_t t = 0; t < T; t++) SF_FN(psn_prefetch)(x + t * N + n0, m);
}

/* X_blk (columns n0 .. n0+m-1 of x [T x N]) into Xp [Tp x nbp], zero-padded. */
static void SF_FN(psn_pack)(const T_ *restrict x, int64_t T, int64_t N, int64_t n0, int64_t m,
                            int64_t nbp, T_ *restrict Xp) {
    for (int64_t t = 0; t < T; t++) {
        if (t + SF_PSN_AHEAD < T) SF_FN(psn_prefetch)(x + (t + SF_PSN_AHEAD) * N + n0, m);
        memcpy(Xp + t * nbp, x + t * N + n0, (size_t)m * sizeof(T_));
        if (m < nbp) memset(Xp + t * nbp + m, 0, (size_t)(nbp - m) * sizeof(T_));
    }
}

/* W [T x T] into Wp [Tp x Tp] and its transpose WTp, zero-padded. */
static void SF_FN(psn_pack_weight)(const T_ *w, int64_t T, int64_t Tp, T_ *Wp, T_ *WTp) {
    memset(Wp, 0, sizeof(T_) * (size_t)(Tp * Tp));
    if (WTp != NULL) memset(WTp, 0, sizeof(T_) * (size_t)(Tp * Tp));
    for (int64_t t = 0; t < T; t++)
        for (int64_t j = 0; j < T; j++) {
            Wp[t * Tp + j] = w[t * T + j];
            if (WTp != NULL) WTp[j * Tp + t] = w[t * T + j];
        }
}

static T_ *SF_FN(psn_alloc)(int64_t count) {
    size_t bytes = (sizeof(T_) * (size_t)count + 63) / 64 * 64;
    return (T_ *)aligned_alloc(64, bytes > 0 ? bytes : 64);
}

/* ------------------------------------------------------------------- forward */

int SF_FN(sf_psn_forward)(const T_ *x, const T_ *w, const T_ *bias, T_ *s, int64_t T,
                          int64_t N, int64_t block, int stream, int nthreads) {
    if (T < 1 || N < 0 || block < 1) return -1;
    if (N == 0) return 0;
    const int64_t Tp = sf_psn_pad_rows(T);
    const int64_t blk = block < N ? block : N;
    const int64_t nbp = (blk + CT - 1) / CT * CT;
    const int64_t nblocks = (N + blk - 1) / blk;
    const int64_t ntiles = Tp / SF_PSN_MR;
    T_ *Wp = SF_FN(psn_alloc)(Tp * Tp + Tp);
    int64_t *rng = (int64_t *)malloc(sizeof(int64_t) * (size_t)(2 * ntiles));
    if (Wp == NULL || rng == NULL) {
        free(Wp);
        free(rng);
        return -3;
    }
    T_ *bp = Wp + Tp * Tp;
    SF_FN(psn_pack_weight)(w, T, Tp, Wp, NULL);
    for (int64_t t = 0; t < Tp; t++) bp[t] = (bias != NULL && t < T) ? bias[t] : (T_)0;
    SF_FN(psn_ranges)(Wp, Tp, Tp, rng, rng + ntiles);
    int failed = 0;
#pragma omp parallel num_threads(nthreads) reduction(| : failed)
    {
        T_ *Xp = SF_FN(psn_alloc)(2 * Tp * nbp);
        if (Xp == NULL) {
            failed = 1;
        } else {
            T_ *Hp = Xp + Tp * nbp;
            memset(Xp, 0, sizeof(T_) * (size_t)(Tp * nbp)); /* the padding rows stay 0 */
#pragma omp for schedule(static)
            for (int64_t b = 0; b < nblocks; b++) {
                const int64_t n0 = b * blk;
                const int64_t m = (N - n0) < blk ? (N - n0) : blk;
                SF_FN(psn_pack)(x, T, N, n0, m, nbp, Xp);
                SF_FN(psn_prefetch_block)(x, T, N, n0 + blk, blk);
                SF_FN(psn_gemm)(Wp, Tp, Tp, rng, rng + ntiles, bp, Xp, nbp, Hp);
                for (int64_t t = 0; t < T; t++) {
                    T_ *restrict ht = Hp + t * nbp; /* the spikes replace H in cache */
#pragma GCC ivdep
                    for (int64_t i = 0; i < m; i++) ht[i] = ht[i] >= (T_)0 ? (T_)1 : (T_)0;
                    sf_psn_store_row(s + t * N + n0, ht, (size_t)m * sizeof(T_), stream);
                }
            }
            sf_psn_store_fence(stream);
            free(Xp);
        }
    }
    free(Wp);
    free(rng);
    return failed ? -3 : 0;
}

/* ------------------------------------------------------------------ backward */

/* dH = dS * sigma'(H) for one block (zero outside the valid rows and columns); adds
   sum_c dH[t, c] to gb[t]. One out-of-line copy per surrogate so the loop vectorises. */
SF_INLINE void SF_FN(psn_dh)(const T_ *restrict Hp, const T_ *restrict gs, T_ *restrict dHp,
                             T_ *restrict gb, int64_t T, int64_t Tp, int64_t N, int64_t n0,
                             int64_t m, int64_t nbp, const int sid, T_ a, T_ b, T_ c0, T_ c1) {
    for (int64_t t = 0; t < T; t++) {
        const T_ *restrict ht = Hp + t * nbp;
        const T_ *restrict gt = gs + t * N + n0;
        T_ *restrict dt = dHp + t * nbp;
        if (t + SF_PSN_AHEAD < T) SF_FN(psn_prefetch)(gt + SF_PSN_AHEAD * N, m);
#pragma GCC ivdep
        for (int64_t i = 0; i < m; i++) dt[i] = gt[i] * SF_FN(surrogate)(ht[i], sid, a, b, c0, c1);
        if (m < nbp) memset(dt + m, 0, (size_t)(nbp - m) * sizeof(T_));
        /* the row sum in vector lanes (a scalar float sum would not vectorise) */
        VEC lanes = (VEC){0};
        for (int64_t i = 0; i < nbp; i += VW) lanes += *(const VEC *)(dt + i);
        gb[t] += SF_FN(psn_hsum)(&lanes);
    }
    if (Tp > T) memset(dHp + T * nbp, 0, sizeof(T_) * (size_t)((Tp - T) * nbp));
}

#define SF_DH_ARGS                                                                             \
    const T_ *restrict Hp, const T_ *restrict gs, T_ *restrict dHp, T_ *restrict gb,          \
        int64_t T, int64_t Tp, int64_t N, int64_t n0, int64_t m, int64_t nbp, T_ a, T_ b,     \
        T_ c0, T_ c1
#define SF_DH_DEF(SID)                                                                         \
    static __attribute__((noinline)) void SF_FN(psn_dh_##SID)(SF_DH_ARGS) {                    \
        SF_FN(psn_dh)(Hp, gs, dHp, gb, T, Tp, N, n0, m, nbp, SID, a, b, c0, c1);               \
    }
SF_DH_DEF(0)
SF_DH_DEF(1)
SF_DH_DEF(2)
SF_DH_DEF(3)
SF_DH_DEF(4)
SF_DH_DEF(5)
typedef void (*SF_FN(psn_dh_fn))(SF_DH_ARGS);

int SF_FN(sf_psn_backward)(const T_ *x, const T_ *w, const T_ *bias, const T_ *gs, T_ *gx,
                           T_ *gw, T_ *gb, int64_t lag_lo, int64_t lag_hi, int64_t T,
                           int64_t N, int sid, double a, double b, int64_t block,
                           int stream, int nthreads) {
    if (T < 1 || N < 0 || block < 1 || sid < 0 || sid > 5 || nthreads < 1) return -1;
    if (x == NULL || w == NULL || gs == NULL || gx == NULL) return -2;
    const int64_t Tp = sf_psn_pad_rows(T);
    const int64_t blk = block < N ? block : (N > 0 ? N : 1);
    const int64_t nbp = (blk + CT - 1) / CT * CT;
    const int64_t nblocks = N > 0 ? (N + blk - 1) / blk : 0;
    const int64_t ntiles = Tp / SF_PSN_MR;
    const T_ ta = (T_)a, tb = (T_)b;
    T_ tc0 = 0, tc1 = 0; /* the surrogate's constants, computed in double as lif.c does */
    if (sid == 0) tc0 = (T_)(0.5 * 3.14159265358979323846 * a);
    if (sid == 4) tc1 = (T_)(0.5 / a);
    if (sid == 5) {
        tc0 = (T_)(0.5 * a);
        tc1 = (T_)(1.0 / a);
    }
    static const SF_FN(psn_dh_fn) table[6] = {SF_FN(psn_dh_0), SF_FN(psn_dh_1), SF_FN(psn_dh_2),
                                              SF_FN(psn_dh_3), SF_FN(psn_dh_4), SF_FN(psn_dh_5)};
    const SF_FN(psn_dh_fn) dh = table[sid];
    /* per-thread accumulators of dW [T x T] and db [T], summed in thread order below */
    const int64_t acc_len = T * T + T;
    /* lane accumulators of dW per thread, [Tp x Tp] vectors, up to 8 MiB (T <= 362): each
       block reads and writes them once, cheaper than reducing every block's lanes */
    const int lanes = (size_t)(Tp * Tp) * sizeof(VEC) <= ((size_t)8 << 20);
    T_ *Wp = SF_FN(psn_alloc)(2 * Tp * Tp + Tp);
    T_ *acc = (T_ *)calloc((size_t)(acc_len * nthreads), sizeof(T_));
    int64_t *rng = (int64_t *)malloc(sizeof(int64_t) * (size_t)(4 * ntiles));
    if (Wp == NULL || acc == NULL || rng == NULL) {
        free(Wp);
        free(acc);
        free(rng);
        return -3;
    }
    T_ *WTp = Wp + Tp * Tp, *bp = WTp + Tp * Tp;
    SF_FN(psn_pack_weight)(w, T, Tp, Wp, WTp);
    for (int64_t t = 0; t < Tp; t++) bp[t] = (bias != NULL && t < T) ? bias[t] : (T_)0;
    SF_FN(psn_ranges)(Wp, Tp, Tp, rng, rng + ntiles);
    SF_FN(psn_ranges)(WTp, Tp, Tp, rng + 2 * ntiles, rng + 3 * ntiles);
    const int want_w = gw != NULL && lag_lo <= lag_hi;
    const int use_lanes = lanes && want_w;
    int failed = 0;
#pragma omp parallel num_threads(nthreads) reduction(| : failed)
    {
        T_ *Xp = SF_FN(psn_alloc)(3 * Tp * nbp);
        VEC *GV = use_lanes ? (VEC *)SF_FN(psn_alloc)(Tp * Tp * VW) : NULL;
#ifdef _OPENMP
        const int tid = omp_get_thread_num();
#else
        const int tid = 0;
#endif
        if (Xp == NULL || (use_lanes && GV == NULL)) {
            failed = 1;
        } else {
            T_ *Hp = Xp + Tp * nbp, *dHp = Hp + Tp * nbp;
            T_ *gwt = acc + (int64_t)tid * acc_len, *gbt = gwt + T * T;
            memset(Xp, 0, sizeof(T_) * (size_t)(Tp * nbp)); /* the padding rows stay 0 */
            if (GV != NULL) memset(GV, 0, sizeof(VEC) * (size_t)(Tp * Tp));
#pragma omp for schedule(static)
            for (int64_t bl = 0; bl < nblocks; bl++) {
                const int64_t n0 = bl * blk;
                const int64_t m = (N - n0) < blk ? (N - n0) : blk;
                SF_FN(psn_pack)(x, T, N, n0, m, nbp, Xp);
                SF_FN(psn_prefetch_block)(x, T, N, n0 + blk, blk);
                SF_FN(psn_prefetch_block)(gs, T, N, n0 + blk, blk);
                SF_FN(psn_gemm)(Wp, Tp, Tp, rng, rng + ntiles, bp, Xp, nbp, Hp);
                dh(Hp, gs, dHp, gbt, T, Tp, N, n0, m, nbp, ta, tb, tc0, tc1);
                /* dX = W^T dH into Hp (H is no longer needed), then out */
                SF_FN(psn_gemm)(WTp, Tp, Tp, rng + 2 * ntiles, rng + 3 * ntiles, NULL, dHp, nbp,
                                Hp);
                for (int64_t t = 0; t < T; t++)
                    sf_psn_store_row(gx + t * N + n0, Hp + t * nbp, (size_t)m * sizeof(T_),
                                     stream);
                if (want_w) SF_FN(psn_gemm_nt)(dHp, Xp, nbp, T, Tp, lag_lo, lag_hi, GV, gwt);
            }
            sf_psn_store_fence(stream);
            if (GV != NULL) SF_FN(psn_lanes_to)(GV, T, Tp, lag_lo, lag_hi, gwt);
        }
        free(Xp);
        free(GV);
    }
    if (!failed) {
        if (gw != NULL) memset(gw, 0, sizeof(T_) * (size_t)(T * T));
        if (gb != NULL) memset(gb, 0, sizeof(T_) * (size_t)T);
        for (int th = 0; th < nthreads; th++) {
            const T_ *gwt = acc + (int64_t)th * acc_len, *gbt = gwt + T * T;
            if (want_w)
                for (int64_t i = 0; i < T * T; i++) gw[i] += gwt[i];
            if (gb != NULL)
                for (int64_t t = 0; t < T; t++) gb[t] += gbt[t];
        }
    }
    free(Wp);
    free(acc);
    free(rng);
    return failed ? -3 : 0;
}

#undef T_
#undef VEC
#undef VW
#undef CT
#undef SF_DH_ARGS
#undef SF_DH_DEF

#endif
