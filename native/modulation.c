/* Chorus and flanger: one modulated fractional delay with feedback. Per row, channel c:
 *   lfo[n] = sin(2 pi rate_hz n / sample_rate + c pi / 2)
 *   tau[n] = max(1, (centre_ms + depth_ms lfo[n]) sample_rate / 1000)      (samples)
 *   k = floor(tau), f = tau - k,  d[n] = (1 - f) v[n - k] + f v[n - k - 1]  (v[m] = 0, m < 0)
 *   v[n] = x[n] + feedback d[n],  y[n] = (1 - mix) x[n] + mix d[n].
 * Every (batch row, channel) starts from rest. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "lanes.h"
#include "parallel.h"
#include "sink.h"

/* lfo comes from a rotation by w = 2 pi rate / sample_rate in double precision, re-seeded with
 * libm's sin and cos every RESEED samples: the drift stays below 1e-12, far under what moves a
 * float32 output. */
#define RESEED 4096
/* Output goes out in runs of this many samples (through L1 for a fused call); divides RESEED. */
#define BLOCK 512

/* Rows run 4 at a time in the lanes of a vector: the LFO's rotation is a serial recursion, and
 * four rows side by side keep the pipeline full. In a fused call the four are mostly probes
 * of one clip and share its input and gradient loads. */
#define LANES 4

/* One lane group's settings and LFO state, a lane per row. */
typedef struct {
    v4d depth, centre, fb, wet, dry, step_c, step_s;
    v4d sn, cs;
} lfo_lanes;

/* Samples [m0, m1) of the lanes (inside one reseed period): each lane's float output through
 * out[j][n - m0] for a plain call, or <g, y> added to its lane of *acc for a fused one (gr:
 * the lanes' gradient rows). shared: every lane reads one input and gradient row. */
DAFX_INLINE void chorus_body(const float *const xr[LANES], const float *const gr[LANES],
                             double *const line[LANES], const int64_t mask[LANES],
                             float *const out[LANES], int64_t m0, int64_t m1,
                             double sample_rate, lfo_lanes *lfo, v4d *acc, const int fused,
                             const int shared) {
    const v4d depth = lfo->depth, centre = lfo->centre, fb = lfo->fb, wet = lfo->wet;
    const v4d dry = lfo->dry, step_c = lfo->step_c, step_s = lfo->step_s;
    const v4d one = DAFX_SPLAT4(1.0);
    v4d sn = lfo->sn, cs = lfo->cs, sum = *acc;
    for (int64_t n = m0; n < m1; ++n) {
        v4d tau = (centre + depth * sn) * sample_rate / 1000.0;
        tau = DAFX_SELECT4(tau < 1.0, one, tau);
        /* floor: tau >= 1; through int32 (AVX2 has no double to int64 conversion), and tau
         * stays far below 2^31 samples. */
        const v4si k = __builtin_convertvector(tau, v4si);
        const v4d frac = tau - __builtin_convertvector(k, v4d);
        v4d near, far;
        for (int j = 0; j < LANES; ++j) {
            near[j] = line[j][(n - k[j]) & mask[j]];
            far[j] = line[j][(n - k[j] - 1) & mask[j]];
        }
        const v4d d = (1.0 - frac) * near + frac * far;
        const v4d xn = shared ? DAFX_SPLAT4((double)xr[0][n])
                              : (v4d){xr[0][n], xr[1][n], xr[2][n], xr[3][n]};
        const v4d v = xn + fb * d;
        for (int j = 0; j < LANES; ++j) line[j][n & mask[j]] = v[j];
        const v4d y = dry * xn + wet * d;
        if (fused) {
            const v4d gn = shared ? DAFX_SPLAT4((double)gr[0][n])
                                  : (v4d){gr[0][n], gr[1][n], gr[2][n], gr[3][n]};
            sum += dafx_round_to_float4(y) * gn;
        } else {
            const v4f yf = __builtin_convertvector(y, v4f);
            for (int j = 0; j < LANES; ++j) out[j][n - m0] = yf[j];
        }
        const v4d next = cs * step_c - sn * step_s;
        sn = sn * step_c + cs * step_s;
        cs = next;
    }
    lfo->sn = sn;
    lfo->cs = cs;
    *acc = sum;
}

/* chorus_body specialised: fused with one clip in every lane, fused, or plain. */
DAFX_SIMD_CLONES
static void chorus_block(const float *const xr[LANES], const float *const gr[LANES],
                         double *const line[LANES], const int64_t mask[LANES],
                         float *const out[LANES], int64_t m0, int64_t m1, double sample_rate,
                         lfo_lanes *lfo, v4d *acc, int shared) {
    if (gr[0] != 0 && shared)
        chorus_body(xr, gr, line, mask, out, m0, m1, sample_rate, lfo, acc, 1, 1);
    else if (gr[0] != 0)
        chorus_body(xr, gr, line, mask, out, m0, m1, sample_rate, lfo, acc, 1, 0);
    else
        chorus_body(xr, gr, line, mask, out, m0, m1, sample_rate, lfo, acc, 0, 0);
}

/* Returns the number of rows whose delay lines could not be allocated (0 on success);
 * their output is left unwritten and the caller raises. */
static int64_t modulation_run(const float *x, const dafx_sink *sink, int64_t batch,
                              int64_t channels, int64_t samples, const double *rate_hz,
                              const double *depth_ms, const double *centre_ms,
                              const double *feedback, const double *mix, double sample_rate) {
    const int64_t rows = batch * channels;
    const int64_t groups = (rows + LANES - 1) / LANES;
    const double per_ms = sample_rate / 1000.0;
    int64_t failed = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : failed) num_threads(dafx_threads_for(groups))
    for (int64_t grp = 0; grp < groups; ++grp) {
        const int64_t first = grp * LANES;
        const int64_t lanes = rows - first < LANES ? rows - first : LANES;
        const float *xr[LANES];
        float *out[LANES];
        float scratch[LANES][BLOCK];
        double rate[LANES], phase[LANES];
        int64_t mask[LANES], offset[LANES];
        lfo_lanes lfo;
        int64_t total = 0;
        for (int64_t j = 0; j < LANES; ++j) {
            /* Missing lanes of the last group repeat its first row; nothing reads them. */
            const int64_t r = first + (j < lanes ? j : 0);
            const int64_t b = r / channels;
            const int64_t c = r % channels;
            xr[j] = x + dafx_in_offset(sink, b, c);
            rate[j] = rate_hz[b];
            lfo.depth[j] = depth_ms[b];
            lfo.centre[j] = centre_ms[b];
            lfo.fb[j] = feedback[b];
            lfo.wet[j] = mix[b];
            lfo.dry[j] = 1.0 - mix[b];
            phase[j] = (double)c * M_PI / 2.0;
            const double w = 2.0 * M_PI * rate[j] / sample_rate;
            lfo.step_c[j] = cos(w);
            lfo.step_s[j] = sin(w);
            /* Each line holds the last `size` values of v, a power of two above the longest
             * read, floor(tau) + 1 <= ceil((centre + depth) rate / 1000) + 1 (2 more for the
             * rotation's rounding). Calloc: v[m] = 0 before the clip starts. */
            const double longest = (depth_ms[b] + centre_ms[b]) * per_ms;
            int64_t size = 4;
            while ((double)size < longest + 4.0) size *= 2;
            mask[j] = size - 1;
            offset[j] = total;
            total += size;
        }
        double *lines = calloc((size_t)total, sizeof *lines);
        if (lines == NULL) {
            failed += lanes;
            continue;
        }
        double *line[LANES];
        for (int j = 0; j < LANES; ++j) line[j] = lines + offset[j];
        /* A fused call folds the output into <g, y> as it goes; a plain one stores it. */
        const float *gr[LANES];
        int shared = 1;
        for (int j = 0; j < LANES; ++j) {
            gr[j] = sink->g != 0 ? sink->g + (xr[j] - x) : 0;
            shared &= xr[j] == xr[0];
        }
        v4d acc = DAFX_SPLAT4(0.0);
        for (int64_t n0 = 0; n0 < samples; n0 += RESEED) {
            const int64_t n1 = samples - n0 < RESEED ? samples : n0 + RESEED;
            for (int j = 0; j < LANES; ++j) {
                const double arg = 2.0 * M_PI * rate[j] * (double)n0 / sample_rate + phase[j];
                lfo.sn[j] = sin(arg);
                lfo.cs[j] = cos(arg);
            }
            for (int64_t m0 = n0; m0 < n1; m0 += BLOCK) {
                const int64_t m1 = n1 - m0 < BLOCK ? n1 : m0 + BLOCK;
                for (int64_t j = 0; j < LANES; ++j)
                    out[j] = j < lanes ? dafx_out(sink, first + j, m0, scratch[j]) : scratch[j];
                chorus_block(xr, gr, line, mask, out, m0, m1, sample_rate, &lfo, &acc, shared);
            }
        }
        if (sink->dots != 0)
            for (int64_t j = 0; j < lanes; ++j) sink->dots[first + j] += acc[j];
        free(lines);
    }
    return failed;
}

int64_t dafx_modulation(const float *x, float *y, int64_t batch, int64_t channels, int64_t samples,
                        const double *rate_hz, const double *depth_ms, const double *centre_ms,
                        const double *feedback, const double *mix, double sample_rate) {
    const dafx_sink sink = dafx_plain_sink(y, channels, samples);
    return modulation_run(x, &sink, batch, channels, samples, rate_hz, depth_ms, centre_ms,
                          feedback, mix, sample_rate);
}

/* The fused form (see sink.h); the same failure count. */
int64_t dafx_modulation_dot(const float *x, const float *g, double *dots, int64_t repeat,
                            int64_t batch, int64_t channels, int64_t samples,
                            const double *rate_hz, const double *depth_ms,
                            const double *centre_ms, const double *feedback, const double *mix,
                            double sample_rate) {
    const dafx_sink sink = dafx_dot_sink(g, dots, repeat, channels, samples);
    return modulation_run(x, &sink, batch, channels, samples, rate_hz, depth_ms, centre_ms,
                          feedback, mix, sample_rate);
}
