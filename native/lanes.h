/* Rows side by side in vector lanes: 4-wide double vectors (gcc vector types) for kernels that
 * run several rows' serial recursions at once, and the lane forms of fastmath.h's functions.
 * Every operation is the scalar code's, in the same order, so a lane gives the scalar result
 * bit for bit (no FMA contraction under -std=c11). */
#ifndef DAFX_LANES_H
#define DAFX_LANES_H

#include <stdint.h>

#include "fastmath.h"

typedef double v4d __attribute__((vector_size(4 * sizeof(double))));
typedef int64_t v4i __attribute__((vector_size(4 * sizeof(int64_t))));
typedef uint64_t v4u __attribute__((vector_size(4 * sizeof(uint64_t))));
typedef float v4f __attribute__((vector_size(4 * sizeof(float))));
typedef int32_t v4si __attribute__((vector_size(4 * sizeof(int32_t))));

/* Only inlined into their callers (AVX2 clones included), so passing vectors by value never
 * crosses a call and the ABI note gcc gives for it does not apply. */
#pragma GCC diagnostic ignored "-Wpsabi"
#define DAFX_INLINE static inline __attribute__((always_inline))

/* Four consecutive doubles, and one double in every lane. */
#define DAFX_LOAD4(v) ((v4d){(v)[0], (v)[1], (v)[2], (v)[3]})
#define DAFX_SPLAT4(s) ((v4d){(s), (s), (s), (s)})
/* mask ? a : b lane by lane; mask lanes are all ones or all zeros (a vector comparison). */
#define DAFX_SELECT4(mask, a, b) ((v4d)(((v4i)(a) & (mask)) | ((v4i)(b) & ~(mask))))

/* dafx_exp_d in every lane. */
DAFX_INLINE v4d dafx_exp4(v4d y) {
    const double shifter = 6755399441055744.0; /* 1.5 * 2^52 */
    const double log2e = 1.4426950408889634074;
    const double ln2_hi = 6.93147180369123816490e-01;
    const double ln2_lo = 1.90821492927058770002e-10;
    const v4d t = y * log2e + shifter;
    const v4d k = t - shifter;
    const v4d r = (y - k * ln2_hi) - k * ln2_lo;
    const v4d p = 1.0 + r * (1.0 + r * (1.0 / 2 + r * (1.0 / 6 + r * (1.0 / 24 + r * (1.0 / 120
                  + r * (1.0 / 720 + r * (1.0 / 5040 + r * (1.0 / 40320 + r * (1.0 / 362880
                  + r * (1.0 / 3628800 + r * (1.0 / 39916800)))))))))));
    const v4d scale = (v4d)(((v4u)t + 1023u) << 52);
    return p * scale;
}

/* v[i] <- dafx_exp_d(v[i]) lane by lane for i < count, four vectors per step: each exp is a
 * chain of a dozen dependent multiply-adds, and independent chains side by side fill the
 * pipeline that one leaves idle. */
DAFX_INLINE void dafx_exp4_inplace(v4d *v, int64_t count) {
    int64_t i = 0;
    for (; i + 4 <= count; i += 4) {
        const v4d a = dafx_exp4(v[i]), b = dafx_exp4(v[i + 1]);
        const v4d c = dafx_exp4(v[i + 2]), d = dafx_exp4(v[i + 3]);
        v[i] = a;
        v[i + 1] = b;
        v[i + 2] = c;
        v[i + 3] = d;
    }
    for (; i < count; ++i) v[i] = dafx_exp4(v[i]);
}

/* Each lane rounded to float and widened back: the float32 output a plain call would store. */
DAFX_INLINE v4d dafx_round_to_float4(v4d v) {
    return __builtin_convertvector(__builtin_convertvector(v, v4f), v4d);
}

/* Rows per lane group of the kernels built on dafx_lane_outputs: DAFX_VECS vectors of 4. */
#define DAFX_LANES 8
#define DAFX_VECS (DAFX_LANES / 4)

/* A lane group's output for one channel, y = float(x * gain), for gains that scale the input
 * (compressor, gate): lane j reads xs[j] and, for a fused call, the gradient gs[j], and adds
 * <g, y> to its lane of acc; a plain call (gs[0] == NULL) stores y through out[j] (len floats
 * each). shared: every lane reads one clip, so input and gradient are loaded once a sample. */
DAFX_SIMD_CLONES __attribute__((unused))
static void dafx_lane_outputs(const float *const xs[DAFX_LANES], const float *const gs[DAFX_LANES],
                              float *const out[DAFX_LANES], int64_t len,
                              const v4d (*gain)[DAFX_VECS], v4d acc[DAFX_VECS], int shared) {
    if (gs[0] != 0 && shared) {
        const float *xv = xs[0], *gv = gs[0];
        for (int64_t n = 0; n < len; ++n) {
            const v4d xn = DAFX_SPLAT4((double)xv[n]), gn = DAFX_SPLAT4((double)gv[n]);
#pragma GCC unroll 2
            for (int v = 0; v < DAFX_VECS; ++v)
                acc[v] += dafx_round_to_float4(xn * gain[n][v]) * gn;
        }
    } else if (gs[0] != 0) {
        for (int64_t n = 0; n < len; ++n) {
#pragma GCC unroll 2
            for (int v = 0; v < DAFX_VECS; ++v) {
                const float *const *xv = xs + 4 * v, *const *gv = gs + 4 * v;
                const v4d xn = {xv[0][n], xv[1][n], xv[2][n], xv[3][n]};
                const v4d gn = {gv[0][n], gv[1][n], gv[2][n], gv[3][n]};
                acc[v] += dafx_round_to_float4(xn * gain[n][v]) * gn;
            }
        }
    } else {
        for (int64_t n = 0; n < len; ++n) {
            for (int v = 0; v < DAFX_VECS; ++v) {
                const float *const *xv = xs + 4 * v;
                const v4d xn = {xv[0][n], xv[1][n], xv[2][n], xv[3][n]};
                const v4f y = __builtin_convertvector(xn * gain[n][v], v4f);
                for (int j = 0; j < 4; ++j) out[4 * v + j][n] = y[j];
            }
        }
    }
}

#endif
