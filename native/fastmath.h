/* Branch-free float approximations that the compiler can vectorise (libm's tanhf cannot be). */
#ifndef DAFX_FASTMATH_H
#define DAFX_FASTMATH_H

#include <math.h>
#include <stdint.h>

/* e^y for y in [0, 88]: y = k ln2 + r with |r| <= ln2/2, e^r by a degree-6 Taylor polynomial
 * (relative error below 2e-7 on that interval), 2^k put straight into the exponent bits. */
static inline float dafx_exp_pos(float y) {
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693145751953125f;   /* ln 2 split so k * ln2_hi is exact */
    const float ln2_lo = 1.42860682030941723e-6f;
    float k = (float)(int32_t)(y * log2e + 0.5f);
    float r = (y - k * ln2_hi) - k * ln2_lo;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6.0f + r * (1.0f / 24.0f
              + r * (1.0f / 120.0f + r * (1.0f / 720.0f))))));
    union { int32_t i; float f; } scale = { .i = ((int32_t)k + 127) << 23 };
    return p * scale.f;
}

/* tanh(x) = sign(x) (1 - 2 / (e^{2|x|} + 1)); |x| is capped at 20, where tanh is 1 in float.
 * Absolute error below 3e-7 everywhere. */
static inline float dafx_tanh(float x) {
    float ax = fabsf(x);
    /* min(ax, 20) written as arithmetic: fminf and ?: both stop gcc vectorising for AVX2. */
    ax = 0.5f * (ax + 20.0f - fabsf(ax - 20.0f));
    float t = 1.0f - 2.0f / (dafx_exp_pos(2.0f * ax) + 1.0f);
    return copysignf(t, x);
}

/* e^y in double for y in [-708, 709] (either sign): y = k ln2 + r with |r| <= ln2/2, e^r by a
 * degree-11 Taylor polynomial (relative error below 1e-14), 2^k put into the exponent bits.
 * k = round(y log2e) comes from adding 1.5 * 2^52, which leaves k in the low mantissa bits:
 * only double arithmetic and 64-bit integer adds and shifts, which AVX2 vectorises. */
static inline double dafx_exp_d(double y) {
    const double shifter = 6755399441055744.0; /* 1.5 * 2^52 */
    const double log2e = 1.4426950408889634074;
    const double ln2_hi = 6.93147180369123816490e-01; /* ln 2 split so k * ln2_hi is exact */
    const double ln2_lo = 1.90821492927058770002e-10;
    double t = y * log2e + shifter;
    double k = t - shifter;
    double r = (y - k * ln2_hi) - k * ln2_lo;
    double p = 1.0 + r * (1.0 + r * (1.0 / 2 + r * (1.0 / 6 + r * (1.0 / 24 + r * (1.0 / 120
               + r * (1.0 / 720 + r * (1.0 / 5040 + r * (1.0 / 40320 + r * (1.0 / 362880
               + r * (1.0 / 3628800 + r * (1.0 / 39916800)))))))))));
    union { double f; uint64_t i; } bits = { .f = t };
    union { uint64_t i; double f; } scale = { .i = (bits.i + 1023u) << 52 };
    return p * scale.f;
}

/* Put on a function holding an `omp simd` loop: gcc then also compiles an AVX2 copy and picks
 * one at load time, so the baseline build stays portable. Same operations (no FMA contraction
 * under -std=c11), so both copies give the same results. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define DAFX_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define DAFX_SIMD_CLONES
#endif

#endif
