/* Noise gate: peak envelope with instant attack, open/closed target gain, attack/release
 * smoothing of the gain in dB; one gain per batch row (channels linked). */
#include <math.h>
#include <stdint.h>

#include "fastmath.h"
#include "parallel.h"

/* Rows are gated LANES at a time: envelope and smoother are serial recursions, and interleaving
 * independent rows keeps the floating-point pipeline full. smooth() assumes 4. */
#define LANES 4
/* Samples per block: the peak and gain passes vectorise over a block held in L1 cache. */
#define BLOCK 256

#define NEPER_PER_DB 0.11512925464970229 /* ln 10 / 20 */

/* peak[n] = max_c |x_c[n]|. */
DAFX_SIMD_CLONES
static void channel_peak(const float *x, int64_t channels, int64_t stride, int64_t len,
                         double *peak) {
#pragma omp simd
    for (int64_t n = 0; n < len; ++n) peak[n] = fabsf(x[n]);
    for (int64_t c = 1; c < channels; ++c) {
        const float *xc = x + c * stride;
#pragma omp simd
        for (int64_t n = 0; n < len; ++n) {
            const double a = fabsf(xc[n]);
            peak[n] = a > peak[n] ? a : peak[n];
        }
    }
}

/* y_c[n] = x_c[n] * 10^(gs[n] / 20); g holds gs on entry and is overwritten. */
DAFX_SIMD_CLONES
static void apply_gain(const float *x, float *y, int64_t channels, int64_t stride, int64_t len,
                       double *g) {
#pragma omp simd
    for (int64_t n = 0; n < len; ++n) g[n] = dafx_exp_d(g[n] * NEPER_PER_DB);
    for (int64_t c = 0; c < channels; ++c) {
        const float *xc = x + c * stride;
        float *yc = y + c * stride;
#pragma omp simd
        for (int64_t n = 0; n < len; ++n) yc[n] = (float)((double)xc[n] * g[n]);
    }
}

/* Envelope and smoother run on the LANES rows at once in gcc vector types, branch-free: the
 * open/closed and attack/release choices follow the music, and as branches were mispredicted. */
typedef double v4d __attribute__((vector_size(4 * sizeof(double))));
typedef int64_t v4i __attribute__((vector_size(4 * sizeof(int64_t))));
#define LOAD4(v) ((v4d){(v)[0], (v)[1], (v)[2], (v)[3]})
/* mask ? a : b lane by lane; mask lanes are all ones or all zeros (a vector comparison). */
#define SELECT4(mask, a, b) ((v4d)(((v4i)(a) & (mask)) | ((v4i)(b) & ~(mask))))

/* env <- max(peak, aR env); target 0 dB if env >= open_level else closed_db;
 * gs <- aA gs + (1 - aA) target if target > gs else aR gs + (1 - aR) target; buf: peak -> gs. */
DAFX_SIMD_CLONES
static void smooth(double buf[LANES][BLOCK], int64_t len, double *env, double *gs,
                   const double *open_level, const double *closed_db, const double *keep_a,
                   const double *take_a, const double *keep_r, const double *take_r) {
    const v4d open = LOAD4(open_level), closed = LOAD4(closed_db);
    const v4d ka = LOAD4(keep_a), ta = LOAD4(take_a), kr = LOAD4(keep_r), tr = LOAD4(take_r);
    const v4d zero = {0.0, 0.0, 0.0, 0.0};
    v4d e = LOAD4(env), g = LOAD4(gs);
    for (int64_t n = 0; n < len; ++n) {
        const v4d p = {buf[0][n], buf[1][n], buf[2][n], buf[3][n]};
        const v4d decayed = kr * e;
        e = SELECT4(p > decayed, p, decayed);
        const v4d target = SELECT4(e >= open, zero, closed);
        g = SELECT4(target > g, ka * g + ta * target, kr * g + tr * target);
        for (int j = 0; j < LANES; ++j) buf[j][n] = g[j];
    }
    for (int j = 0; j < LANES; ++j) {
        env[j] = e[j];
        gs[j] = g[j];
    }
}

void dafx_gate(const float *x, float *y, int64_t batch, int64_t channels, int64_t samples,
               const double *threshold_db, const double *attack_ms, const double *release_ms,
               const double *range_db, double sample_rate) {
    const int64_t groups = (batch + LANES - 1) / LANES;
    const int64_t row = channels * samples;
#pragma omp parallel for schedule(static) num_threads(dafx_threads_for(groups))
    for (int64_t g = 0; g < groups; ++g) {
        const int64_t first = g * LANES;
        const int64_t lanes = batch - first < LANES ? batch - first : LANES;
        double open_level[LANES], closed_db[LANES];
        double keep_a[LANES], take_a[LANES], keep_r[LANES], take_r[LANES];
        double env[LANES], gs[LANES];
        double buf[LANES][BLOCK];
        for (int64_t j = 0; j < LANES; ++j) {
            /* Missing lanes of the last group run on their own scratch; nothing reads them. */
            const int64_t b = first + (j < lanes ? j : 0);
            /* L >= threshold_db with L = 20 log10(e), tested as e >= 10^(threshold_db / 20)
             * (no log per sample; the 1e-6 floor of L lies below every threshold). */
            open_level[j] = pow(10.0, threshold_db[b] / 20.0);
            closed_db[j] = range_db[b];
            keep_a[j] = exp(-1.0 / (0.001 * attack_ms[b] * sample_rate));
            take_a[j] = 1.0 - keep_a[j];
            keep_r[j] = exp(-1.0 / (0.001 * release_ms[b] * sample_rate));
            take_r[j] = 1.0 - keep_r[j];
            env[j] = 0.0;
            gs[j] = range_db[b]; /* a gate at rest is closed */
            for (int64_t n = 0; n < BLOCK; ++n) buf[j][n] = 0.0;
        }
        for (int64_t start = 0; start < samples; start += BLOCK) {
            const int64_t len = samples - start < BLOCK ? samples - start : BLOCK;
            for (int64_t j = 0; j < lanes; ++j)
                channel_peak(x + (first + j) * row + start, channels, samples, len, buf[j]);
            smooth(buf, len, env, gs, open_level, closed_db, keep_a, take_a, keep_r, take_r);
            for (int64_t j = 0; j < lanes; ++j) {
                const int64_t b = first + j;
                apply_gain(x + b * row + start, y + b * row + start, channels, samples, len,
                           buf[j]);
            }
        }
    }
}
