/* Distortion: waveshaper (tanh, soft clip, hard clip or asymmetric "tube"), one-pole low-pass
 * tone filter, wet/dry mix, output level. Every (batch row, channel) starts from rest. */
#include <math.h>
#include <stdint.h>

#include "fastmath.h"

/* Rows are filtered LANES at a time: the one-pole recursion is latency-bound, and interleaving
 * independent rows keeps the floating-point pipeline full (about 2x faster than one row). */
#define LANES 4

enum { MODE_TANH = 0, MODE_SOFT = 1, MODE_HARD = 2, MODE_TUBE = 3 };

/* Bias of the asymmetric shaper: tanh(u + b) - tanh(b) clips harder on one side. */
#define TUBE_BIAS 0.25f
/* The tube mode's DC blocker: a one-pole high-pass at this corner frequency. */
#define DC_BLOCK_HZ 10.0

DAFX_SIMD_CLONES
static void shape(const float *restrict xin, float *restrict yout, int64_t samples, float drive,
                  int mode) {
    switch (mode) {
    case MODE_SOFT:
#pragma omp simd
        for (int64_t n = 0; n < samples; ++n) {
            float u = drive * xin[n];
            u = u > 1.0f ? 1.0f : (u < -1.0f ? -1.0f : u);
            yout[n] = 1.5f * (u - u * u * u * (1.0f / 3.0f));
        }
        break;
    case MODE_HARD:
#pragma omp simd
        for (int64_t n = 0; n < samples; ++n) {
            float u = drive * xin[n];
            yout[n] = u > 1.0f ? 1.0f : (u < -1.0f ? -1.0f : u);
        }
        break;
    case MODE_TUBE: {
        const float offset = dafx_tanh(TUBE_BIAS);
#pragma omp simd
        for (int64_t n = 0; n < samples; ++n)
            yout[n] = dafx_tanh(drive * xin[n] + TUBE_BIAS) - offset;
        break;
    }
    default:
#pragma omp simd
        for (int64_t n = 0; n < samples; ++n) yout[n] = dafx_tanh(drive * xin[n]);
    }
}

/* In place: y <- high-pass(y) with y[-1] = x[-1] = 0. */
static void dc_block(float *y, int64_t samples, double sample_rate) {
    const double r = exp(-2.0 * M_PI * DC_BLOCK_HZ / sample_rate);
    double prev_in = 0.0, prev_out = 0.0;
    for (int64_t n = 0; n < samples; ++n) {
        const double in = y[n];
        prev_out = in - prev_in + r * prev_out;
        prev_in = in;
        y[n] = (float)prev_out;
    }
}

void dafx_distortion(const float *x, float *y, int64_t batch, int64_t channels, int64_t samples,
                     const double *drive_db, const double *tone_hz, const double *mix,
                     const double *output_db, double sample_rate, int mode) {
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
                shape(xr[j], yr[j], samples, (float)pow(10.0, drive_db[b] / 20.0), mode);
                if (mode == MODE_TUBE) dc_block(yr[j], samples, sample_rate);
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
