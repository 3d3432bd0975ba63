/*
 * Spike tensors as bits (spikeforge.layers.memory: spike-aware saved tensors).
 *
 * A tensor is "spike-valued" when every element is +0.0 or one common value s (the first
 * nonzero element; 0/1 spikes and graded spikes lambda*S both qualify). Such a tensor is
 * stored as one bit per element (bit i of the output is element i == s, byte i / 8, bit
 * i % 8, least significant first; padding bits of the last byte are 0) plus s.
 *
 * The kernels work on the elements' bit patterns (uint16 for float16 / bfloat16, uint32
 * for float32, uint64 for float64): for floats that are neither NaN nor -0.0, two values
 * are equal exactly when their patterns are, so comparing patterns is the exact test,
 * and unpacking writes s's pattern back, so the round trip is bit-exact. A nonzero s is
 * refused when it is -0.0 (only the sign bit set) or not finite (all exponent bits set):
 * the caller passes both masks, so one kernel serves every format of a width.
 *
 * Pack is one pass: each thread takes a contiguous range (a multiple of 512 elements, so
 * threads never share a cache line of the output), finds its own first nonzero value and
 * checks its range against it chunk by chunk, stopping at the first chunk with a third
 * value or as soon as another thread has failed; a short serial check of the tensor's
 * start first rejects most non-spike tensors (conv outputs, membranes) without waking the
 * threads. The per-thread values must agree at the end. Unpack writes s or 0 per bit.
 * Both work on 64-element words: AVX-512 compare-to-mask / masked move where compiled in,
 * AVX2 compare + movemask for 32/64-bit pack, a plain C loop otherwise; `level` (2, 1, 0)
 * caps the choice so tests compare all three on one machine.
 *
 * Built by _build.py like the neuron families: the 16- and 32-bit kernels go into the
 * float half's object, the 64-bit ones into the double half's.
 */
#ifndef SF_W

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#define SF_BITS_CHUNK 4096   /* elements checked between looks at the shared failure flag */
#define SF_BITS_ALIGN 512    /* per-thread ranges start at multiples of this (64 output bytes) */
#define SF_BITS_PREFIX 256   /* elements checked serially before any thread starts */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "bits.c stores 64-element masks as little-endian words"
#endif

#ifndef SF_ONLY_F64
#define SF_W 16
#define SF_U uint16_t
#include "bits.c"
#undef SF_W
#undef SF_U
#define SF_W 32
#define SF_U uint32_t
#include "bits.c"
#undef SF_W
#undef SF_U
#endif

#ifndef SF_ONLY_F32
#define SF_W 64
#define SF_U uint64_t
#include "bits.c"
#undef SF_W
#undef SF_U
#endif

#else /* ---------------------------------------------------------------- per width */

#define SF_CAT_(a, b) a##b
#define SF_CAT(a, b) SF_CAT_(a, b)
#define SF_NAME(name) SF_CAT(name, SF_W)

/* Is v acceptable as the common nonzero value? Not -0.0, not infinite, not NaN. */
static inline int SF_NAME(sf_bits_valid_w)(SF_U v, SF_U sign, SF_U expo) {
    return v != sign && (v & expo) != expo;
}

/* Bits of 64 elements: bit j = (x[j] == s); *bad |= whether some x[j] is neither s nor 0.
   level 2 = AVX-512, 1 = AVX2, 0 = plain C (each used only where it was compiled in; the
   plain loop is what the others must equal, and tests compare all of them). */
static inline uint64_t SF_NAME(sf_bits_mask64_w)(const SF_U *x, SF_U s, int *bad, int level) {
#if defined(__AVX512F__) && (SF_W != 16 || defined(__AVX512BW__))
    if (level >= 2) {
        uint64_t w = 0, nonzero_other = 0;
#if SF_W == 32
        const __m512i vs = _mm512_set1_epi32((int)s);
        for (int q = 0; q < 4; q++) {
            const __m512i v = _mm512_loadu_si512((const void *)(x + 16 * q));
            const __mmask16 e = _mm512_cmpeq_epi32_mask(v, vs);
            w |= (uint64_t)e << (16 * q);
            nonzero_other |= _mm512_mask_test_epi32_mask((__mmask16)~e, v, v);
        }
#elif SF_W == 64
        const __m512i vs = _mm512_set1_epi64((long long)s);
        for (int q = 0; q < 8; q++) {
            const __m512i v = _mm512_loadu_si512((const void *)(x + 8 * q));
            const __mmask8 e = _mm512_cmpeq_epi64_mask(v, vs);
            w |= (uint64_t)e << (8 * q);
            nonzero_other |= _mm512_mask_test_epi64_mask((__mmask8)~e, v, v);
        }
#else
        const __m512i vs = _mm512_set1_epi16((short)s);
        for (int q = 0; q < 2; q++) {
            const __m512i v = _mm512_loadu_si512((const void *)(x + 32 * q));
            const __mmask32 e = _mm512_cmpeq_epi16_mask(v, vs);
            w |= (uint64_t)e << (32 * q);
            nonzero_other |= _mm512_mask_test_epi16_mask((__mmask32)~e, v, v);
        }
#endif
        *bad |= nonzero_other != 0;
        return w;
    }
#endif
#if defined(__AVX2__) && SF_W != 16
    if (level >= 1) {
        uint64_t w = 0;
        int all_ok = 1;
        const __m256i zero = _mm256_setzero_si256();
#if SF_W == 32
        const __m256i vs = _mm256_set1_epi32((int)s);
        for (int q = 0; q < 8; q++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(x + 8 * q));
            const __m256i e = _mm256_cmpeq_epi32(v, vs);
            const __m256i ok = _mm256_or_si256(e, _mm256_cmpeq_epi32(v, zero));
            w |= (uint64_t)(uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(e)) << (8 * q);
            all_ok &= _mm256_movemask_ps(_mm256_castsi256_ps(ok)) == 0xFF;
        }
#else
        const __m256i vs = _mm256_set1_epi64x((long long)s);
        for (int q = 0; q < 16; q++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(x + 4 * q));
            const __m256i e = _mm256_cmpeq_epi64(v, vs);
            const __m256i ok = _mm256_or_si256(e, _mm256_cmpeq_epi64(v, zero));
            w |= (uint64_t)(uint32_t)_mm256_movemask_pd(_mm256_castsi256_pd(e)) << (4 * q);
            all_ok &= _mm256_movemask_pd(_mm256_castsi256_pd(ok)) == 0xF;
        }
#endif
        *bad |= !all_ok;
        return w;
    }
#endif
    (void)level;
    uint64_t w = 0;
    SF_U other = 0;
    for (int j = 0; j < 64; j++) {
        const SF_U v = x[j];
        w |= (uint64_t)(v == s) << j;
        other |= (SF_U)((v != s) & (v != 0));
    }
    *bad |= other != 0;
    return w;
}

/* Pack x[lo, hi) into bits (lo a multiple of 64) against *s; *s == 0 means "not yet
   known" and is set from the first nonzero element. Returns 0 if a third value, or an
   invalid s, was found (the range's bits are then undefined). */
static int SF_NAME(sf_bits_pack_range_w)(const SF_U *x, int64_t lo, int64_t hi, uint8_t *bits,
                                         SF_U *s_io, SF_U sign, SF_U expo, const int *failed,
                                         int level) {
    SF_U s = *s_io;
    for (int64_t c = lo; c < hi; c += SF_BITS_CHUNK) {
        if (failed != NULL && __atomic_load_n(failed, __ATOMIC_RELAXED)) return 0;
        const int64_t m = hi - c < SF_BITS_CHUNK ? hi - c : SF_BITS_CHUNK;
        const SF_U *xc = x + c;
        uint8_t *out = bits + c / 8;
        if (s == 0) { /* all zero so far: look for the first nonzero */
            int64_t j = 0;
            while (j < m && xc[j] == 0) j++;
            if (j == m) { /* an all-zero chunk: all bits 0 */
                memset(out, 0, (size_t)((m + 7) / 8));
                continue;
            }
            s = xc[j];
            if (!SF_NAME(sf_bits_valid_w)(s, sign, expo)) return 0;
        }
        int bad = 0;
        int64_t g = 0;
        for (; g + 64 <= m; g += 64) {
            const uint64_t w = SF_NAME(sf_bits_mask64_w)(xc + g, s, &bad, level);
            memcpy(out + g / 8, &w, 8); /* little endian: element g + j is bit j */
        }
        if (g < m) { /* the tensor's last elements; padding bits stay 0 */
            memset(out + g / 8, 0, (size_t)((m - g + 7) / 8));
            for (int64_t j = g; j < m; j++) {
                const SF_U v = xc[j];
                bad |= (v != s) & (v != 0);
                out[j / 8] |= (uint8_t)((v == s) << (j % 8));
            }
        }
        if (bad) return 0;
    }
    *s_io = s;
    return 1;
}

/* Pack x[0, n) (contiguous) into bits[(n + 7) / 8]. Returns 1 and the common value in
   *value (0 for an all-zero tensor) if x is spike-valued, else 0. */
int SF_NAME(sf_bits_pack_w)(const SF_U *x, int64_t n, uint8_t *bits, SF_U *value, SF_U sign,
                            SF_U expo, int threads, int level) {
    /* the serial look at the start: a non-spike tensor is almost always refused here */
    SF_U s = 0;
    const int64_t prefix = n < SF_BITS_PREFIX ? n : SF_BITS_PREFIX;
    if (!SF_NAME(sf_bits_pack_range_w)(x, 0, prefix, bits, &s, sign, expo, NULL, level))
        return 0;
    if (prefix == n) {
        *value = s;
        return 1;
    }
    const int64_t rest = n - prefix; /* prefix is a multiple of 64 here */
    int nt = threads < 1 ? 1 : (threads > 256 ? 256 : threads);
    const int64_t per_min = 16 * SF_BITS_CHUNK; /* below this, threads cost more than they save */
    if ((int64_t)nt * per_min > rest) nt = rest / per_min > 1 ? (int)(rest / per_min) : 1;
    SF_U found[256];
    int ok[256];
    int failed = 0;
    int64_t per = (rest + nt - 1) / nt;
    per = (per + SF_BITS_ALIGN - 1) / SF_BITS_ALIGN * SF_BITS_ALIGN;
#pragma omp parallel for num_threads(nt) schedule(static, 1) if (nt > 1)
    for (int t = 0; t < nt; t++) {
        const int64_t lo = prefix + (int64_t)t * per;
        const int64_t hi = lo + per < n ? lo + per : n;
        SF_U st = 0;
        int good = 1;
        if (lo < hi)
            good = SF_NAME(sf_bits_pack_range_w)(x, lo, hi, bits, &st, sign, expo, &failed, level);
        if (!good) __atomic_store_n(&failed, 1, __ATOMIC_RELAXED);
        found[t] = st;
        ok[t] = good;
    }
    if (failed) return 0;
    for (int t = 0; t < nt; t++) {
        if (!ok[t]) return 0;
        if (found[t] == 0) continue;
        if (s == 0) s = found[t];
        else if (found[t] != s) return 0; /* two ranges, two different values */
    }
    *value = s;
    return 1;
}

/* out[i] = bit i ? value : 0 for i < n (out contiguous). */
void SF_NAME(sf_bits_unpack_w)(const uint8_t *bits, int64_t n, SF_U value, SF_U *out,
                               int threads, int level) {
    const int64_t words = n / 64;
    int nt = threads < 1 ? 1 : threads;
    const int64_t per_min = 1024; /* 64-element words per thread at least */
    if ((int64_t)nt * per_min > words) nt = words / per_min > 1 ? (int)(words / per_min) : 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t k = 0; k < words; k++) {
        uint64_t w;
        memcpy(&w, bits + 8 * k, 8);
        SF_U *o = out + 64 * k;
#if defined(__AVX512F__) && (SF_W != 16 || defined(__AVX512BW__))
        if (level >= 2) {
#if SF_W == 32
            const __m512i vs = _mm512_set1_epi32((int)value);
            for (int q = 0; q < 4; q++)
                _mm512_storeu_si512((void *)(o + 16 * q),
                                    _mm512_maskz_mov_epi32((__mmask16)(w >> (16 * q)), vs));
#elif SF_W == 64
            const __m512i vs = _mm512_set1_epi64((long long)value);
            for (int q = 0; q < 8; q++)
                _mm512_storeu_si512((void *)(o + 8 * q),
                                    _mm512_maskz_mov_epi64((__mmask8)(w >> (8 * q)), vs));
#else
            const __m512i vs = _mm512_set1_epi16((short)value);
            for (int q = 0; q < 2; q++)
                _mm512_storeu_si512((void *)(o + 32 * q),
                                    _mm512_maskz_mov_epi16((__mmask32)(w >> (32 * q)), vs));
#endif
            continue;
        }
#endif
        /* plain C; gcc vectorises it (AVX2: shift, mask, compare, and) */
        for (int j = 0; j < 64; j++) o[j] = value & (SF_U)(0 - (SF_U)((w >> j) & 1u));
    }
    for (int64_t i = 64 * words; i < n; i++) /* the last, partial word */
        out[i] = value & (SF_U)(0 - (SF_U)((bits[i / 8] >> (i % 8)) & 1u));
    (void)level;
}

#undef SF_NAME
#undef SF_CAT
#undef SF_CAT_

#endif /* SF_W */
