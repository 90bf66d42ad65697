/* Distortion: tanh waveshaper, one-pole low-pass tone filter, wet/dry mix, output level.
 * Every (batch row, channel) starts from rest. */
#include <math.h>
#include <stdint.h>

#include "fastmath.h"

/* Rows are filtered LANES at a time: the one-pole recursion is latency-bound, and interleaving
 * independent rows keeps the floating-point pipeline full (about 3x faster than one row). */
#define LANES 4

void dafx_distortion(const float *x, float *y, int64_t batch, int64_t channels, int64_t samples,
                     const double *drive_db, const double *tone_hz, const double *mix,
                     const double *output_db, double sample_rate) {
    const int64_t rows = batch * channels;
    const int64_t groups = (rows + LANES - 1) / LANES;
#pragma omp parallel for schedule(static)
    for (int64_t g = 0; g < groups; ++g) {
        const int64_t first = g * LANES;
        const int64_t lanes = rows - first < LANES ? rows - first : LANES;
        double a[LANES], keep[LANES], wet[LANES], dry[LANES], lp[LANES];
        const float *xr[LANES];
        float *yr[LANES];
        for (int64_t j = 0; j < LANES; ++j) {
            /* Missing lanes of the last group repeat its first row; their output is dropped. */
            const int64_t r = first + (j < lanes ? j : 0);
            const int64_t b = r / channels;
            xr[j] = x + r * samples;
            yr[j] = y + r * samples;
            a[j] = 1.0 - exp(-2.0 * M_PI * tone_hz[b] / sample_rate);
            keep[j] = 1.0 - a[j];
            const double level = pow(10.0, output_db[b] / 20.0);
            wet[j] = level * mix[b];
            dry[j] = level * (1.0 - mix[b]);
            lp[j] = 0.0;
            if (j < lanes) {
                /* The waveshaper has no state: a separate, vectorised pass. */
                const float drive = (float)pow(10.0, drive_db[b] / 20.0);
                const float *restrict xin = xr[j];
                float *restrict yout = yr[j];
#pragma omp simd
                for (int64_t n = 0; n < samples; ++n) yout[n] = dafx_tanh(drive * xin[n]);
            }
        }
        if (lanes == LANES) {
            for (int64_t n = 0; n < samples; ++n) {
                for (int j = 0; j < LANES; ++j) {
                    lp[j] = keep[j] * lp[j] + a[j] * (double)yr[j][n];
                    yr[j][n] = (float)(dry[j] * (double)xr[j][n] + wet[j] * lp[j]);
                }
            }
        } else {
            for (int64_t j = 0; j < lanes; ++j) {
                for (int64_t n = 0; n < samples; ++n) {
                    lp[j] = keep[j] * lp[j] + a[j] * (double)yr[j][n];
                    yr[j][n] = (float)(dry[j] * (double)xr[j][n] + wet[j] * lp[j]);
                }
            }
        }
    }
}
