/* Noise gate: peak envelope with instant attack, open/closed target gain, attack/release
 * smoothing of the gain in dB; one gain per batch row (channels linked). */
#include <math.h>
#include <stdint.h>

#include "fastmath.h"
#include "lanes.h"
#include "parallel.h"
#include "sink.h"

/* Rows run LANES at a time, as VECS vectors of 4 double lanes: envelope and smoother are
 * serial recursions, and VECS independent vectors of them keep the pipeline full. In a fused
 * call the lanes are mostly probes of one clip, which share its peak and input loads. */
#define LANES DAFX_LANES
#define VECS DAFX_VECS
/* Samples per block: the peak, exp and output passes run over a block held in L1 cache. */
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

/* One vector of 4 lanes' settings. */
typedef struct {
    v4d open_level, closed_db, keep_a, take_a, keep_r, take_r;
} lane_settings;

/* env <- max(peak, aR env); target 0 dB if env >= open_level else closed_db;
 * gs <- aA gs + (1 - aA) target if target > gs else aR gs + (1 - aR) target;
 * gain[n] = 10^(gs / 20). Branch-free (the open/closed and attack/release choices follow the
 * music, and as branches were mispredicted), VECS recursions interleaved; the exp is a pass of
 * its own, whose long polynomial chains would otherwise keep few samples in flight. */
DAFX_INLINE void lane_gains_body(const double *const peak[LANES], int64_t len,
                                 const lane_settings *set, v4d *env, v4d *gs,
                                 v4d (*gain)[VECS], const int shared) {
    const v4d zero = DAFX_SPLAT4(0.0);
    v4d e[VECS], g[VECS];
    for (int v = 0; v < VECS; ++v) {
        e[v] = env[v];
        g[v] = gs[v];
    }
    for (int64_t n = 0; n < len; ++n) {
#pragma GCC unroll 2
        for (int v = 0; v < VECS; ++v) {
            const double *const *pv = peak + 4 * v;
            const v4d p = shared ? DAFX_SPLAT4(pv[0][n])
                                 : (v4d){pv[0][n], pv[1][n], pv[2][n], pv[3][n]};
            const v4d decayed = set[v].keep_r * e[v];
            e[v] = DAFX_SELECT4(p > decayed, p, decayed);
            const v4d target = DAFX_SELECT4(e[v] >= set[v].open_level, zero, set[v].closed_db);
            g[v] = DAFX_SELECT4(target > g[v], set[v].keep_a * g[v] + set[v].take_a * target,
                                set[v].keep_r * g[v] + set[v].take_r * target);
            gain[n][v] = g[v] * NEPER_PER_DB;
        }
    }
    for (int v = 0; v < VECS; ++v) {
        env[v] = e[v];
        gs[v] = g[v];
    }
    dafx_exp4_inplace(&gain[0][0], len * VECS);
}

/* shared: every lane reads one clip (a fused call's probes), so its peak is loaded once. */
DAFX_SIMD_CLONES
static void lane_gains(const double *const peak[LANES], int64_t len, const lane_settings *set,
                       v4d *env, v4d *gs, v4d (*gain)[VECS], int shared) {
    if (shared)
        lane_gains_body(peak, len, set, env, gs, gain, 1);
    else
        lane_gains_body(peak, len, set, env, gs, gain, 0);
}

static void gate_run(const float *x, const dafx_sink *sink, int64_t batch, int64_t channels,
                     int64_t samples, const double *threshold_db, const double *attack_ms,
                     const double *release_ms, const double *range_db, double sample_rate) {
    const int64_t groups = (batch + LANES - 1) / LANES;
    const int64_t repeat = sink->repeat;
    /* Dynamic: on a shared machine one thread may start late, and the other takes its groups. */
#pragma omp parallel for schedule(dynamic, 1) num_threads(dafx_threads_for(groups))
    for (int64_t grp = 0; grp < groups; ++grp) {
        const int64_t first = grp * LANES;
        const int64_t lanes = batch - first < LANES ? batch - first : LANES;
        /* The group's rows read clips clip0 .. clip0 + clips - 1 (rows of one clip are
         * neighbours); each clip's peak is computed once for all its lanes. */
        const int64_t clip0 = first / repeat;
        const int64_t clips = (first + lanes - 1) / repeat - clip0 + 1;
        double peak[LANES][BLOCK];
        v4d gain[BLOCK][VECS];
        float scratch[LANES][BLOCK];
        const double *lane_peak[LANES];
        lane_settings set[VECS];
        v4d env[VECS], gs[VECS];
        int64_t row[LANES];
        for (int64_t j = 0; j < LANES; ++j) {
            /* Missing lanes of the last group repeat its first row; nothing reads them. */
            const int64_t b = first + (j < lanes ? j : 0);
            const int v = (int)(j / 4), i = (int)(j % 4);
            row[j] = b;
            lane_peak[j] = peak[b / repeat - clip0];
            /* L >= threshold_db with L = 20 log10(e), tested as e >= 10^(threshold_db / 20)
             * (no log per sample; the 1e-6 floor of L lies below every threshold). */
            set[v].open_level[i] = pow(10.0, threshold_db[b] / 20.0);
            set[v].closed_db[i] = range_db[b];
            const double keep_a = exp(-1.0 / (0.001 * attack_ms[b] * sample_rate));
            const double keep_r = exp(-1.0 / (0.001 * release_ms[b] * sample_rate));
            set[v].keep_a[i] = keep_a;
            set[v].take_a[i] = 1.0 - keep_a;
            set[v].keep_r[i] = keep_r;
            set[v].take_r[i] = 1.0 - keep_r;
            env[v][i] = 0.0;
            gs[v][i] = range_db[b]; /* a gate at rest is closed */
        }
        /* Per channel and lane: the running <g, y> of a fused call. */
        v4d acc[channels > 0 ? channels : 1][VECS];
        for (int64_t c = 0; c < channels; ++c)
            for (int v = 0; v < VECS; ++v) acc[c][v] = DAFX_SPLAT4(0.0);
        for (int64_t start = 0; start < samples; start += BLOCK) {
            const int64_t len = samples - start < BLOCK ? samples - start : BLOCK;
            for (int64_t u = 0; u < clips; ++u)
                channel_peak(x + (clip0 + u) * channels * samples + start, channels, samples, len,
                             peak[u]);
            lane_gains(lane_peak, len, set, env, gs, gain, clips == 1);
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
                dafx_lane_outputs(xs, grad, out, len, (const v4d(*)[VECS])gain, acc[c],
                                  clips == 1);
            }
        }
        if (sink->dots != 0)
            for (int64_t j = 0; j < lanes; ++j)
                for (int64_t c = 0; c < channels; ++c)
                    sink->dots[row[j] * channels + c] += acc[c][j / 4][j % 4];
    }
}

void dafx_gate(const float *x, float *y, int64_t batch, int64_t channels, int64_t samples,
               const double *threshold_db, const double *attack_ms, const double *release_ms,
               const double *range_db, double sample_rate) {
    const dafx_sink sink = dafx_plain_sink(y, channels, samples);
    gate_run(x, &sink, batch, channels, samples, threshold_db, attack_ms, release_ms, range_db,
             sample_rate);
}

void dafx_gate_dot(const float *x, const float *g, double *dots, int64_t repeat, int64_t batch,
                   int64_t channels, int64_t samples, const double *threshold_db,
                   const double *attack_ms, const double *release_ms, const double *range_db,
                   double sample_rate) {
    const dafx_sink sink = dafx_dot_sink(g, dots, repeat, channels, samples);
    gate_run(x, &sink, batch, channels, samples, threshold_db, attack_ms, release_ms, range_db,
             sample_rate);
}
