/*
 * What the fused CPU kernel families share (spikeforge "cpu" backend): lif.c ("lif":
 * IF / LIF / PLIF), alif.c ("alif": adaptive threshold) and leaky.c ("leaky": first-order
 * linear scans). Each family's file includes itself once per element type (float, double)
 * and this header inside each instantiation; the build links all of them into one library.
 *
 * Included with SF_T undefined: the system headers and SF_INLINE (once).
 * Included with SF_T, SF_FN, SF_EXP, SF_FABS and T_ defined (a family's body): the
 * per-type helpers every spiking family uses, exactly as the torch reference orders the
 * operations (the build uses -ffp-contract=off):
 *   charge_of  H from V[t-1] and X[t];
 *   reset_of   V after reset from H and its spike;
 *   surrogate  the surrogate derivative σ'(u) of the backward passes.
 *
 * Codes: charge 0 = IF, 1 = LIF decay_input, 2 = LIF no input decay;
 *        reset  0 = hard ("zero"), 1 = "subtract", 2 = "none";
 *        surrogate 0 atan, 1 sigmoid, 2 fast_sigmoid, 3 triangle, 4 rectangle,
 *                  5 piecewise_linear;  (a = alpha, b = gamma or leak).
 */
#ifndef SF_COMMON_H
#define SF_COMMON_H

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
   the working set. Used only when the output is much larger than the caches (lif.c, psn.c). */
static inline void sf_stream_row(void *dst_, const void *src_, size_t nbytes) {
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

static inline void sf_stream_fence(void) {
#if defined(__SSE2__)
    _mm_sfence();
#endif
}

#endif /* SF_COMMON_H */

#ifdef SF_T /* ------------------------------------------------- per element type */

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

#endif /* SF_T */
