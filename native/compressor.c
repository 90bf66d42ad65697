/* Compressor: feed-forward, log-domain peak detection, soft-knee gain computer, attack/release
 * smoothing of the gain in dB, makeup gain; one gain per batch row (channels linked). */
#include <math.h>
#include <stdint.h>

#include "fastmath.h"
#include "parallel.h"
#include "sink.h"

/* Rows are smoothed LANES at a time: the smoother is a serial recursion, and interleaving
 * independent rows keeps the floating-point pipeline full. smooth() assumes 4. */
#define LANES 4
/* Samples per block: the level and gain passes vectorise over a block held in L1 cache. */
#define BLOCK 256

#define DB_PER_NEPER 8.6858896380650365 /* 20 / ln 10 */
#define NEPER_PER_DB 0.11512925464970229 /* ln 10 / 20 */
/* Level floor: 1e-6 is -120 dB, far below the knee (threshold >= -60, knee <= 24 dB). */
#define FLOOR 1e-6f
/* Knee widths are floored here before dividing by them (see gain_computer). */
#define KNEE_FLOOR 1e-300

/* ln(v) in double for a positive normal float v: v = m 2^e with m in [sqrt(1/2), sqrt(2)),
 * ln m = 2 atanh(s) with s = (m - 1) / (m + 1), |s| <= 0.1716, by its series up to s^17
 * (error below 1e-15). Integer work in 32 bits, so it vectorises. */
static inline double log_of_float(float v) {
    union { float f; int32_t i; } u = { .f = v };
    /* 0x3f3504f3: the bits of sqrt(1/2); >> on a negative int is arithmetic in gcc and clang */
    const int32_t e = (u.i - 0x3f3504f3) >> 23;
    u.i -= e * (1 << 23);
    const double m = u.f;
    const double s = (m - 1.0) / (m + 1.0);
    const double z = s * s;
    const double series = 1.0 + z * (1.0 / 3 + z * (1.0 / 5 + z * (1.0 / 7 + z * (1.0 / 9
                          + z * (1.0 / 11 + z * (1.0 / 13 + z * (1.0 / 15 + z * (1.0 / 17))))))));
    return (double)e * M_LN2 + 2.0 * s * series;
}

/* gc[n] = G(L[n]) - L[n], the static curve's gain in dB, from the channels' peak level. */
DAFX_SIMD_CLONES
static void gain_computer(const float *x, int64_t channels, int64_t stride, int64_t len,
                          double threshold_db, double knee_db, double slope, double *gc) {
    float peak[BLOCK];
#pragma omp simd
    for (int64_t n = 0; n < len; ++n) peak[n] = fabsf(x[n]);
    for (int64_t c = 1; c < channels; ++c) {
        const float *xc = x + c * stride;
#pragma omp simd
        for (int64_t n = 0; n < len; ++n) {
            const float a = fabsf(xc[n]);
            peak[n] = a > peak[n] ? a : peak[n];
        }
    }
    const double half_knee = 0.5 * knee_db;
    /* Below 1e-300 dB (W = 0 included) the knee region holds only |d| <= 1e-300, where k * k
     * is 0: the guard keeps 1 / (2W) finite, so that 0 * inf cannot make a NaN. */
    const double inv_twice_knee = 0.5 / (knee_db > KNEE_FLOOR ? knee_db : KNEE_FLOOR);
#pragma omp simd
    for (int64_t n = 0; n < len; ++n) {
        const float p = peak[n] > FLOOR ? peak[n] : FLOOR;
        const double d = DB_PER_NEPER * log_of_float(p) - threshold_db;
        const double k = d + half_knee;
        const double in_knee = slope * k * k * inv_twice_knee;
        const double above = slope * d;
        gc[n] = d + d < -knee_db ? 0.0 : (d + d > knee_db ? above : in_knee);
    }
}

/* g[n] <- 10^((g[n] + makeup_db) / 20): the linear gain, from gs[n] in dB. */
DAFX_SIMD_CLONES
static void linear_gain(int64_t len, double makeup_db, double *g) {
#pragma omp simd
    for (int64_t n = 0; n < len; ++n) g[n] = dafx_exp_d((g[n] + makeup_db) * NEPER_PER_DB);
}

/* y[n] = x[n] * g[n] for one channel. */
DAFX_SIMD_CLONES
static void apply_gain(const float *restrict x, float *restrict y, int64_t len,
                       const double *restrict g) {
#pragma omp simd
    for (int64_t n = 0; n < len; ++n) y[n] = (float)((double)x[n] * g[n]);
}

/* The smoother runs on the LANES rows at once in gcc vector types, branch-free: the attack or
 * release choice follows the music, and as a branch it was mispredicted often. */
typedef double v4d __attribute__((vector_size(4 * sizeof(double))));
typedef int64_t v4i __attribute__((vector_size(4 * sizeof(int64_t))));
#define LOAD4(v) ((v4d){(v)[0], (v)[1], (v)[2], (v)[3]})
/* mask ? a : b lane by lane; mask lanes are all ones or all zeros (a vector comparison). */
#define SELECT4(mask, a, b) ((v4d)(((v4i)(a) & (mask)) | ((v4i)(b) & ~(mask))))

/* gs <- aA gs + (1 - aA) gc if gc < gs else aR gs + (1 - aR) gc, over buf in place. */
DAFX_SIMD_CLONES
static void smooth(double buf[LANES][BLOCK], int64_t len, double *gs, const double *keep_a,
                   const double *take_a, const double *keep_r, const double *take_r) {
    const v4d ka = LOAD4(keep_a), ta = LOAD4(take_a), kr = LOAD4(keep_r), tr = LOAD4(take_r);
    v4d g = LOAD4(gs);
    for (int64_t n = 0; n < len; ++n) {
        const v4d c = {buf[0][n], buf[1][n], buf[2][n], buf[3][n]};
        g = SELECT4(c < g, ka * g + ta * c, kr * g + tr * c);
        for (int j = 0; j < LANES; ++j) buf[j][n] = g[j];
    }
    for (int j = 0; j < LANES; ++j) gs[j] = g[j];
}

static void compressor_run(const float *x, const dafx_sink *sink, int64_t batch,
                           int64_t channels, int64_t samples, const double *threshold_db,
                           const double *ratio, const double *attack_ms, const double *release_ms,
                           const double *knee_db, const double *makeup_db, double sample_rate) {
    const int64_t groups = (batch + LANES - 1) / LANES;
    /* Dynamic: on a shared machine one thread may start late, and the other takes its groups. */
#pragma omp parallel for schedule(dynamic, 1) num_threads(dafx_threads_for(groups))
    for (int64_t g = 0; g < groups; ++g) {
        const int64_t first = g * LANES;
        const int64_t lanes = batch - first < LANES ? batch - first : LANES;
        double slope[LANES], keep_a[LANES], take_a[LANES], keep_r[LANES], take_r[LANES];
        double gs[LANES];
        double buf[LANES][BLOCK];
        float scratch[BLOCK];
        const float *xb[LANES];
        for (int64_t j = 0; j < LANES; ++j) {
            /* Missing lanes of the last group run on their own scratch; nothing reads them. */
            const int64_t b = first + (j < lanes ? j : 0);
            xb[j] = x + dafx_in_offset(sink, b, 0);
            slope[j] = 1.0 / ratio[b] - 1.0;
            keep_a[j] = exp(-1.0 / (0.001 * attack_ms[b] * sample_rate));
            take_a[j] = 1.0 - keep_a[j];
            keep_r[j] = exp(-1.0 / (0.001 * release_ms[b] * sample_rate));
            take_r[j] = 1.0 - keep_r[j];
            gs[j] = 0.0;
            for (int64_t n = 0; n < BLOCK; ++n) buf[j][n] = 0.0;
        }
        for (int64_t start = 0; start < samples; start += BLOCK) {
            const int64_t len = samples - start < BLOCK ? samples - start : BLOCK;
            for (int64_t j = 0; j < lanes; ++j) {
                const int64_t b = first + j;
                gain_computer(xb[j] + start, channels, samples, len, threshold_db[b], knee_db[b],
                              slope[j], buf[j]);
            }
            smooth(buf, len, gs, keep_a, take_a, keep_r, take_r);
            for (int64_t j = 0; j < lanes; ++j) {
                const int64_t b = first + j;
                linear_gain(len, makeup_db[b], buf[j]);
                for (int64_t c = 0; c < channels; ++c) {
                    const int64_t r = b * channels + c;
                    float *out = dafx_out(sink, r, start, scratch);
                    apply_gain(xb[j] + c * samples + start, out, len, buf[j]);
                    dafx_commit(sink, r, start, out, len);
                }
            }
        }
    }
}

void dafx_compressor(const float *x, float *y, int64_t batch, int64_t channels, int64_t samples,
                     const double *threshold_db, const double *ratio, const double *attack_ms,
                     const double *release_ms, const double *knee_db, const double *makeup_db,
                     double sample_rate) {
    const dafx_sink sink = dafx_plain_sink(y, channels, samples);
    compressor_run(x, &sink, batch, channels, samples, threshold_db, ratio, attack_ms, release_ms,
                   knee_db, makeup_db, sample_rate);
}

void dafx_compressor_dot(const float *x, const float *g, double *dots, int64_t repeat,
                         int64_t batch, int64_t channels, int64_t samples,
                         const double *threshold_db, const double *ratio, const double *attack_ms,
                         const double *release_ms, const double *knee_db, const double *makeup_db,
                         double sample_rate) {
    const dafx_sink sink = dafx_dot_sink(g, dots, repeat, channels, samples);
    compressor_run(x, &sink, batch, channels, samples, threshold_db, ratio, attack_ms, release_ms,
                   knee_db, makeup_db, sample_rate);
}
