/* Chorus and flanger: one modulated fractional delay with feedback. Per row, channel c:
 *   lfo[n] = sin(2 pi rate_hz n / sample_rate + c pi / 2)
 *   tau[n] = max(1, (centre_ms + depth_ms lfo[n]) sample_rate / 1000)      (samples)
 *   k = floor(tau), f = tau - k,  d[n] = (1 - f) v[n - k] + f v[n - k - 1]  (v[m] = 0, m < 0)
 *   v[n] = x[n] + feedback d[n],  y[n] = (1 - mix) x[n] + mix d[n].
 * Every (batch row, channel) starts from rest. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "parallel.h"
#include "sink.h"

/* lfo comes from a rotation by w = 2 pi rate / sample_rate in double precision, re-seeded with
 * libm's sin and cos every RESEED samples: the drift stays below 1e-12, far under what moves a
 * float32 output. */
#define RESEED 4096
/* Output goes out in runs of this many samples (through L1 for a fused call); divides RESEED. */
#define BLOCK 512

static int64_t modulation_run(const float *x, const dafx_sink *sink, int64_t batch,
                              int64_t channels, int64_t samples, const double *rate_hz,
                              const double *depth_ms, const double *centre_ms,
                              const double *feedback, const double *mix, double sample_rate) {
    const int64_t rows = batch * channels;
    const double per_ms = sample_rate / 1000.0;
    int64_t failed = 0;
#pragma omp parallel for schedule(dynamic, 4) reduction(+ : failed) num_threads(dafx_threads_for(rows))
    for (int64_t r = 0; r < rows; ++r) {
        const int64_t b = r / channels;
        const int64_t c = r % channels;
        const float *xr = x + dafx_in_offset(sink, b, c);
        float scratch[BLOCK];
        const double rate = rate_hz[b], depth = depth_ms[b], centre = centre_ms[b];
        const double fb = feedback[b], wet = mix[b], dry = 1.0 - mix[b];
        const double phase = (double)c * M_PI / 2.0;
        const double w = 2.0 * M_PI * rate / sample_rate;
        const double step_c = cos(w), step_s = sin(w);
        /* The line holds the last `size` values of v, a power of two above the longest read,
         * floor(tau) + 1 <= ceil((centre + depth) rate / 1000) + 1 (2 more for the rotation's
         * rounding). Calloc: v[m] = 0 before the clip starts. */
        const double longest = (centre + depth) * per_ms;
        int64_t size = 4;
        while ((double)size < longest + 4.0) size *= 2;
        const int64_t mask = size - 1;
        double *line = calloc((size_t)size, sizeof *line);
        if (line == NULL) {
            ++failed;
            continue;
        }
        for (int64_t n0 = 0; n0 < samples; n0 += RESEED) {
            const int64_t n1 = samples - n0 < RESEED ? samples : n0 + RESEED;
            const double arg = 2.0 * M_PI * rate * (double)n0 / sample_rate + phase;
            double sn = sin(arg), cs = cos(arg);
            for (int64_t m0 = n0; m0 < n1; m0 += BLOCK) {
                const int64_t m1 = n1 - m0 < BLOCK ? n1 : m0 + BLOCK;
                float *out = dafx_out(sink, r, m0, scratch);
                for (int64_t n = m0; n < m1; ++n) {
                    double tau = (centre + depth * sn) * sample_rate / 1000.0;
                    tau = tau < 1.0 ? 1.0 : tau;
                    const int64_t k = (int64_t)tau; /* floor: tau >= 1 */
                    const double frac = tau - (double)k;
                    const double d =
                        (1.0 - frac) * line[(n - k) & mask] + frac * line[(n - k - 1) & mask];
                    const double xn = (double)xr[n];
                    line[n & mask] = xn + fb * d;
                    out[n - m0] = (float)(dry * xn + wet * d);
                    const double next = cs * step_c - sn * step_s;
                    sn = sn * step_c + cs * step_s;
                    cs = next;
                }
                dafx_commit(sink, r, m0, out, m1 - m0);
            }
        }
        free(line);
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
