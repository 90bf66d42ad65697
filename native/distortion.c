/* Distortion: waveshaper (tanh, soft clip, hard clip or asymmetric "tube"), one-pole low-pass
 * tone filter, wet/dry mix, output level. Every (batch row, channel) starts from rest. */
#include <math.h>
#include <stdint.h>

#include "fastmath.h"
#include "parallel.h"
#include "sink.h"

/* Rows are filtered LANES at a time: the one-pole recursion is latency-bound, and interleaving
 * independent rows keeps the floating-point pipeline full (about 2x faster than one row). */
#define LANES 4
/* Samples per block: a block of every lane's waveshaper output and output stays in L1. */
#define BLOCK 512

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

/* In place: w <- high-pass(w), continuing from the state (*prev_in, *prev_out); a row starts
 * from rest (both 0). */
static void dc_block(float *w, int64_t len, double r, double *prev_in, double *prev_out) {
    double pin = *prev_in, pout = *prev_out;
    for (int64_t n = 0; n < len; ++n) {
        const double in = w[n];
        pout = in - pin + r * pout;
        pin = in;
        w[n] = (float)pout;
    }
    *prev_in = pin;
    *prev_out = pout;
}

static void distortion_run(const float *x, const dafx_sink *sink, int64_t batch, int64_t channels,
                           int64_t samples, const double *drive_db, const double *tone_hz,
                           const double *mix, const double *output_db, double sample_rate,
                           int mode) {
    const int64_t rows = batch * channels;
    const int64_t groups = (rows + LANES - 1) / LANES;
    const double dc_r = exp(-2.0 * M_PI * DC_BLOCK_HZ / sample_rate);
    /* Dynamic: on a shared machine one thread may start late, and the other takes its groups. */
#pragma omp parallel for schedule(dynamic, 1) num_threads(dafx_threads_for(groups))
    for (int64_t g = 0; g < groups; ++g) {
        const int64_t first = g * LANES;
        const int64_t lanes = rows - first < LANES ? rows - first : LANES;
        double a[LANES], keep[LANES], wet[LANES], dry[LANES], lp[LANES];
        double dc_in[LANES], dc_out[LANES];
        float drive[LANES];
        const float *xr[LANES];
        /* The waveshaper's output, then the lanes' output, one block at a time: in L1. */
        float w[LANES][BLOCK], scratch[LANES][BLOCK];
        for (int64_t j = 0; j < LANES; ++j) {
            /* Missing lanes of the last group repeat its first row; their output is dropped. */
            const int64_t r = first + (j < lanes ? j : 0);
            const int64_t b = r / channels;
            xr[j] = x + dafx_in_offset(sink, b, r % channels);
            a[j] = 1.0 - exp(-2.0 * M_PI * tone_hz[b] / sample_rate);
            keep[j] = 1.0 - a[j];
            const double level = pow(10.0, output_db[b] / 20.0);
            wet[j] = level * mix[b];
            dry[j] = level * (1.0 - mix[b]);
            drive[j] = (float)pow(10.0, drive_db[b] / 20.0);
            lp[j] = dc_in[j] = dc_out[j] = 0.0;
        }
        for (int64_t n0 = 0; n0 < samples; n0 += BLOCK) {
            const int64_t len = samples - n0 < BLOCK ? samples - n0 : BLOCK;
            float *yr[LANES];
            for (int64_t j = 0; j < LANES; ++j) {
                /* The waveshaper has no state: a separate, vectorised pass. */
                shape(xr[j] + n0, w[j], len, drive[j], mode);
                if (mode == MODE_TUBE) dc_block(w[j], len, dc_r, &dc_in[j], &dc_out[j]);
                yr[j] = j < lanes ? dafx_out(sink, first + j, n0, scratch[j]) : scratch[j];
            }
            /* The one-pole recursion, LANES independent rows interleaved. */
            for (int64_t n = 0; n < len; ++n) {
                for (int j = 0; j < LANES; ++j) {
                    lp[j] = keep[j] * lp[j] + a[j] * (double)w[j][n];
                    yr[j][n] = (float)(dry[j] * (double)xr[j][n0 + n] + wet[j] * lp[j]);
                }
            }
            for (int64_t j = 0; j < lanes; ++j) dafx_commit(sink, first + j, n0, yr[j], len);
        }
    }
}

void dafx_distortion(const float *x, float *y, int64_t batch, int64_t channels, int64_t samples,
                     const double *drive_db, const double *tone_hz, const double *mix,
                     const double *output_db, double sample_rate, int mode) {
    const dafx_sink sink = dafx_plain_sink(y, channels, samples);
    distortion_run(x, &sink, batch, channels, samples, drive_db, tone_hz, mix, output_db,
                   sample_rate, mode);
}

void dafx_distortion_dot(const float *x, const float *g, double *dots, int64_t repeat,
                         int64_t batch, int64_t channels, int64_t samples, const double *drive_db,
                         const double *tone_hz, const double *mix, const double *output_db,
                         double sample_rate, int mode) {
    const dafx_sink sink = dafx_dot_sink(g, dots, repeat, channels, samples);
    distortion_run(x, &sink, batch, channels, samples, drive_db, tone_hz, mix, output_db,
                   sample_rate, mode);
}
