/* Delay: a feedback echo with a one-pole low-pass ("damping") inside the loop,
 *   d[n] = v[n - D],  s[n] = (1 - damping) d[n] + damping s[n-1],  v[n] = x[n] + feedback s[n],
 *   y[n] = (1 - mix) x[n] + mix s[n],   D = max(1, floor(time_ms * sample_rate / 1000 + 0.5)).
 * Every (batch row, channel) starts from rest. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* The delay in whole samples, rounded half up (the same rule in every backend). */
static int64_t delay_samples(double time_ms, double sample_rate) {
    const double t = floor(time_ms * sample_rate / 1000.0 + 0.5);
    return t < 1.0 ? 1 : (int64_t)t;
}

/* Returns the number of rows whose delay line could not be allocated (0 on success); their
 * output is left unwritten and the caller raises. */
int64_t dafx_delay(const float *x, float *y, int64_t batch, int64_t channels, int64_t samples,
                   const double *time_ms, const double *feedback, const double *damping,
                   const double *mix, double sample_rate) {
    const int64_t rows = batch * channels;
    int64_t failed = 0;
#pragma omp parallel for schedule(static) reduction(+ : failed)
    for (int64_t r = 0; r < rows; ++r) {
        const int64_t b = r / channels;
        const float *xr = x + r * samples;
        float *yr = y + r * samples;
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
            const float *xb = xr + n0;
            float *yb = yr + n0;
            for (int64_t j = 0; j < len; ++j) {
                const double xn = (double)xb[j];
                s = take * line[j] + keep * s;
                line[j] = xn + fb * s;
                yb[j] = (float)(dry * xn + wet * s);
            }
        }
        free(line);
    }
    return failed;
}

