/* Delay: a feedback echo with a one-pole low-pass ("damping") inside the loop,
 *   d[n] = v[n - D],  s[n] = (1 - damping) d[n] + damping s[n-1],  v[n] = x[n] + feedback s[n],
 *   y[n] = (1 - mix) x[n] + mix s[n],   D = max(1, floor(time_ms * sample_rate / 1000 + 0.5)).
 * Every (batch row, channel) starts from rest. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "parallel.h"
#include "sink.h"

/* The delay in whole samples, rounded half up (the same rule in every backend). */
static int64_t delay_samples(double time_ms, double sample_rate) {
    const double t = floor(time_ms * sample_rate / 1000.0 + 0.5);
    return t < 1.0 ? 1 : (int64_t)t;
}

/* Output goes out in runs of at most this many samples (through L1 for a fused call). */
#define BLOCK 512

/* Returns the number of rows whose delay line could not be allocated (0 on success); their
 * output is left unwritten and the caller raises. */
static int64_t delay_run(const float *x, const dafx_sink *sink, int64_t batch, int64_t channels,
                         int64_t samples, const double *time_ms, const double *feedback,
                         const double *damping, const double *mix, double sample_rate) {
    const int64_t rows = batch * channels;
    int64_t failed = 0;
#pragma omp parallel for schedule(dynamic, 4) reduction(+ : failed) num_threads(dafx_threads_for(rows))
    for (int64_t r = 0; r < rows; ++r) {
        const int64_t b = r / channels;
        const float *xr = x + dafx_in_offset(sink, b, r % channels);
        float scratch[BLOCK];
        const int64_t delay = delay_samples(time_ms[b], sample_rate);
        const double fb = feedback[b], keep = damping[b], take = 1.0 - damping[b];
        const double wet = mix[b], dry = 1.0 - mix[b];
        /* The loop's signal v over the last `delay` samples (zero before the clip starts). Going
         * through the clip in blocks of `delay` samples, slot j holds v[n - delay] when sample n
         * is read and v[n] once it is written: no index wrapping inside the inner loop. */
        const int64_t size = delay < samples ? delay : samples;
        double *line = calloc((size_t)(size > 0 ? size : 1), sizeof *line);
        if (line == NULL) {
            ++failed;
            continue;
        }
        double s = 0.0;
        for (int64_t n0 = 0; n0 < samples; n0 += delay) {
            const int64_t len = samples - n0 < delay ? samples - n0 : delay;
            for (int64_t j0 = 0; j0 < len; j0 += BLOCK) {
                const int64_t j1 = len - j0 < BLOCK ? len : j0 + BLOCK;
                const float *xb = xr + n0;
                float *out = dafx_out(sink, r, n0 + j0, scratch);
                for (int64_t j = j0; j < j1; ++j) {
                    const double xn = (double)xb[j];
                    s = take * line[j] + keep * s;
                    line[j] = xn + fb * s;
                    out[j - j0] = (float)(dry * xn + wet * s);
                }
                dafx_commit(sink, r, n0 + j0, out, j1 - j0);
            }
        }
        free(line);
    }
    return failed;
}


int64_t dafx_delay(const float *x, float *y, int64_t batch, int64_t channels, int64_t samples,
                   const double *time_ms, const double *feedback, const double *damping,
                   const double *mix, double sample_rate) {
    const dafx_sink sink = dafx_plain_sink(y, channels, samples);
    return delay_run(x, &sink, batch, channels, samples, time_ms, feedback, damping, mix,
                     sample_rate);
}

/* The fused form (see sink.h); the same failure count. */
int64_t dafx_delay_dot(const float *x, const float *g, double *dots, int64_t repeat, int64_t batch,
                       int64_t channels, int64_t samples, const double *time_ms,
                       const double *feedback, const double *damping, const double *mix,
                       double sample_rate) {
    const dafx_sink sink = dafx_dot_sink(g, dots, repeat, channels, samples);
    return delay_run(x, &sink, batch, channels, samples, time_ms, feedback, damping, mix,
                     sample_rate);
}
