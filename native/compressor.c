/* Compressor: feed-forward, log-domain peak detection, soft-knee gain computer, attack/release
 * smoothing of the gain in dB, makeup gain; one gain per batch row (channels linked). */
#include <math.h>
#include <stdint.h>

#include "fastmath.h"
#include "lanes.h"
#include "parallel.h"
#include "sink.h"

/* Rows run LANES at a time, as VECS vectors of 4 double lanes: the smoother is a serial
 * recursion, and VECS independent vectors of it keep the floating-point pipeline full. In a
 * fused call the lanes are mostly probes of one clip, which share the level computation. */
#define LANES DAFX_LANES
#define VECS DAFX_VECS
/* Samples per block: the level and gain passes vectorise over a block held in L1 cache. */
#define BLOCK 256

#define DB_PER_NEPER 8.6858896380650365 /* 20 / ln 10 */
#define NEPER_PER_DB 0.11512925464970229 /* ln 10 / 20 */
/* Level floor: 1e-6 is -120 dB, far below the knee (threshold >= -60, knee <= 24 dB). */
#define FLOOR 1e-6f
/* Knee widths are floored here before dividing by them (see lane_gains). */
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

/* level[n] = 20 log10(max(max_c |x_c[n]|, 1e-6)) in dB. It depends on the audio only, so the
 * probes of one clip (neighbouring rows of a fused call) share it. */
DAFX_SIMD_CLONES
static void level_db(const float *x, int64_t channels, int64_t stride, int64_t len,
                     double *level) {
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
#pragma omp simd
    for (int64_t n = 0; n < len; ++n) {
        const float p = peak[n] > FLOOR ? peak[n] : FLOOR;
        level[n] = DB_PER_NEPER * log_of_float(p);
    }
}

/* One vector of 4 lanes' settings. */
typedef struct {
    v4d threshold, knee, half_knee, inv_twice_knee, slope;
    v4d keep_a, take_a, keep_r, take_r, makeup;
} lane_settings;

/* For every sample of the block: the static curve's gain gc = G(L) - L in dB from each lane's
 * level, the attack/release smoother gs (state in gs), and the linear gain
 * 10^((gs + makeup_db) / 20) into gain[n]. Branch-free (the attack or release choice follows
 * the music, and as a branch was mispredicted often), VECS independent recursions interleaved
 * to keep the pipeline full. The exp is a pass of its own: inside the recursion loop its
 * dozen dependent multiply-adds kept few samples in flight (measured: a fifth slower). */
DAFX_INLINE void lane_gains_body(const double *const level[LANES], int64_t len,
                                 const lane_settings *set, v4d *gs, v4d (*gain)[VECS],
                                 const int shared) {
    const v4d zero = DAFX_SPLAT4(0.0);
    v4d g[VECS];
    for (int v = 0; v < VECS; ++v) g[v] = gs[v];
    for (int64_t n = 0; n < len; ++n) {
#pragma GCC unroll 2
        for (int v = 0; v < VECS; ++v) {
            const double *const *lv = level + 4 * v;
            const v4d lvl = shared ? DAFX_SPLAT4(lv[0][n])
                                   : (v4d){lv[0][n], lv[1][n], lv[2][n], lv[3][n]};
            const v4d d = lvl - set[v].threshold;
            const v4d k = d + set[v].half_knee;
            const v4d in_knee = set[v].slope * k * k * set[v].inv_twice_knee;
            const v4d above = set[v].slope * d;
            const v4d twice = d + d;
            const v4d c = DAFX_SELECT4(twice < -set[v].knee, zero,
                                       DAFX_SELECT4(twice > set[v].knee, above, in_knee));
            g[v] = DAFX_SELECT4(c < g[v], set[v].keep_a * g[v] + set[v].take_a * c,
                                set[v].keep_r * g[v] + set[v].take_r * c);
            gain[n][v] = (g[v] + set[v].makeup) * NEPER_PER_DB;
        }
    }
    for (int v = 0; v < VECS; ++v) gs[v] = g[v];
    dafx_exp4_inplace(&gain[0][0], len * VECS);
}

/* shared: every lane reads one clip (a fused call's probes), so its level is loaded once. */
DAFX_SIMD_CLONES
static void lane_gains(const double *const level[LANES], int64_t len, const lane_settings *set,
                       v4d *gs, v4d (*gain)[VECS], int shared) {
    if (shared)
        lane_gains_body(level, len, set, gs, gain, 1);
    else
        lane_gains_body(level, len, set, gs, gain, 0);
}

static void compressor_run(const float *x, const dafx_sink *sink, int64_t batch,
                           int64_t channels, int64_t samples, const double *threshold_db,
                           const double *ratio, const double *attack_ms, const double *release_ms,
                           const double *knee_db, const double *makeup_db, double sample_rate) {
    const int64_t groups = (batch + LANES - 1) / LANES;
    const int64_t repeat = sink->repeat;
    /* Dynamic: on a shared machine one thread may start late, and the other takes its groups. */
#pragma omp parallel for schedule(dynamic, 1) num_threads(dafx_threads_for(groups))
    for (int64_t grp = 0; grp < groups; ++grp) {
        const int64_t first = grp * LANES;
        const int64_t lanes = batch - first < LANES ? batch - first : LANES;
        /* The group's rows read clips clip0 .. clip0 + clips - 1 (rows of one clip are
         * neighbours); each clip's level is computed once for all its lanes. */
        const int64_t clip0 = first / repeat;
        const int64_t clips = (first + lanes - 1) / repeat - clip0 + 1;
        double level[LANES][BLOCK];
        v4d gain[BLOCK][VECS];
        float scratch[LANES][BLOCK];
        const double *lane_level[LANES];
        lane_settings set[VECS];
        v4d gs[VECS];
        int64_t row[LANES];
        for (int64_t j = 0; j < LANES; ++j) {
            /* Missing lanes of the last group repeat its first row; nothing reads them. */
            const int64_t b = first + (j < lanes ? j : 0);
            const int v = (int)(j / 4), i = (int)(j % 4);
            row[j] = b;
            lane_level[j] = level[b / repeat - clip0];
            const double keep_a = exp(-1.0 / (0.001 * attack_ms[b] * sample_rate));
            const double keep_r = exp(-1.0 / (0.001 * release_ms[b] * sample_rate));
            set[v].threshold[i] = threshold_db[b];
            set[v].knee[i] = knee_db[b];
            set[v].half_knee[i] = 0.5 * knee_db[b];
            /* Below 1e-300 dB (W = 0 included) the knee region holds only |d| <= 1e-300, where
             * k * k is 0: the floor keeps 1 / (2W) finite, so that 0 * inf cannot make a NaN. */
            set[v].inv_twice_knee[i] = 0.5 / (knee_db[b] > KNEE_FLOOR ? knee_db[b] : KNEE_FLOOR);
            set[v].slope[i] = 1.0 / ratio[b] - 1.0;
            set[v].keep_a[i] = keep_a;
            set[v].take_a[i] = 1.0 - keep_a;
            set[v].keep_r[i] = keep_r;
            set[v].take_r[i] = 1.0 - keep_r;
            set[v].makeup[i] = makeup_db[b];
            gs[v][i] = 0.0;
        }
        /* Per lane and channel: the running <g, y> of a fused call. */
        v4d acc[channels > 0 ? channels : 1][VECS];
        for (int64_t c = 0; c < channels; ++c)
            for (int v = 0; v < VECS; ++v) acc[c][v] = DAFX_SPLAT4(0.0);
        for (int64_t start = 0; start < samples; start += BLOCK) {
            const int64_t len = samples - start < BLOCK ? samples - start : BLOCK;
            for (int64_t u = 0; u < clips; ++u)
                level_db(x + (clip0 + u) * channels * samples + start, channels, samples, len,
                         level[u]);
            lane_gains(lane_level, len, set, gs, gain, clips == 1);
            for (int64_t c = 0; c < channels; ++c) {
                const float *xs[LANES], *grad[LANES];
                float *out[LANES];
                for (int64_t j = 0; j < LANES; ++j) {
                    const int64_t off = dafx_in_offset(sink, row[j], c) + start;
                    xs[j] = x + off;
                    grad[j] = sink->g != 0 ? sink->g + off : 0;
                    out[j] = j < lanes ? dafx_out(sink, row[j] * channels + c, start, scratch[j])
                                       : scratch[j];
                }
                dafx_lane_outputs(xs, grad, out, len, (const v4d(*)[VECS])gain, acc[c], clips == 1);
            }
        }
        if (sink->dots != 0)
            for (int64_t j = 0; j < lanes; ++j)
                for (int64_t c = 0; c < channels; ++c)
                    sink->dots[row[j] * channels + c] += acc[c][j / 4][j % 4];
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
