/* Phaser: S first-order all-passes in series inside a feedback loop, their break frequency swept
 * by a sine LFO at control rate, mixed with the dry signal. Every (batch row, channel) starts
 * from rest. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "parallel.h"
#include "sink.h"

/* The all-pass chain is one long dependency chain per sample (latency-bound); running LANES
 * independent rows side by side, in SIMD registers, keeps the floating-point units busy. */
#define LANES 8
/* The coefficient is recomputed every CONTROL samples from the LFO value at that sample. */
#define CONTROL 16
#define MAX_STAGES 12

/* 2 * round(stages / 2) (round half to even) clipped to [2, MAX_STAGES]. */
static int stage_count(double stages) {
    const int s = 2 * (int)nearbyint(0.5 * stages);
    return s < 2 ? 2 : (s > MAX_STAGES ? MAX_STAGES : s);
}

static double allpass_coefficient(double rate_hz, double depth, double centre_hz, double offset,
                                  int64_t n, double fs) {
    const double lfo = sin(2.0 * M_PI * rate_hz * (double)n / fs + offset);
    double f = centre_hz * pow(2.0, 2.0 * depth * lfo);
    const double top = 0.45 * fs;
    f = f < 20.0 ? 20.0 : (f > top ? top : f);
    const double t = tan(M_PI * f / fs);
    return (t - 1.0) / (t + 1.0);
}

static void phaser_run(const float *x, const dafx_sink *sink, int64_t batch, int64_t channels,
                       int64_t samples, const double *rate_hz, const double *depth,
                       const double *centre_hz, const double *feedback, const double *stages,
                       const double *mix, double sample_rate) {
    const int64_t rows = batch * channels;
    const int64_t groups = (rows + LANES - 1) / LANES;
    /* Rows sorted by stage count (a stable counting sort), so the lanes of a group share their
     * stage count and few idle stages run. Without the buffer, rows go in their own order:
     * slower, same result. */
    int64_t *order = malloc((size_t)(rows > 0 ? rows : 1) * sizeof *order);
    if (order != NULL) {
        int64_t next = 0;
        for (int s = 2; s <= MAX_STAGES; s += 2)
            for (int64_t r = 0; r < rows; ++r)
                if (stage_count(stages[r / channels]) == s) order[next++] = r;
    }
#pragma omp parallel for schedule(dynamic, 1) num_threads(dafx_threads_for(groups))
    for (int64_t g = 0; g < groups; ++g) {
        const int64_t first = g * LANES;
        const int64_t lanes = rows - first < LANES ? rows - first : LANES;
        const float *xr[LANES];
        int64_t row[LANES];
        float scratch[CONTROL];
        double rate[LANES], dep[LANES], centre[LANES], offset[LANES], fb[LANES], dry[LANES],
            wet[LANES], p[LANES];
        int nstages[LANES], smax = 2;
        /* ak[k][j]: coefficient of stage k in lane j. A stage beyond the lane's count keeps
         * a = 1 and state 0, which passes its input through exactly (out = in, s = in - in). */
        double ak[MAX_STAGES][LANES], s[MAX_STAGES][LANES];
        double xb[CONTROL][LANES], yb[CONTROL][LANES];
        for (int j = 0; j < LANES; ++j) {
            /* Missing lanes of the last group repeat its first row; their output is dropped. */
            const int64_t i = first + (j < lanes ? j : 0);
            const int64_t r = order != NULL ? order[i] : i;
            const int64_t b = r / channels;
            xr[j] = x + dafx_in_offset(sink, b, r % channels);
            row[j] = r;
            rate[j] = rate_hz[b];
            dep[j] = depth[b];
            centre[j] = centre_hz[b];
            offset[j] = (double)(r % channels) * M_PI / 2.0;
            fb[j] = feedback[b];
            dry[j] = 1.0 - mix[b];
            wet[j] = mix[b];
            p[j] = 0.0;
            nstages[j] = stage_count(stages[b]);
            smax = nstages[j] > smax ? nstages[j] : smax;
            for (int k = 0; k < MAX_STAGES; ++k) {
                ak[k][j] = 1.0;
                s[k][j] = 0.0;
            }
        }
        for (int64_t n0 = 0; n0 < samples; n0 += CONTROL) {
            const int nb = samples - n0 < CONTROL ? (int)(samples - n0) : CONTROL;
            for (int j = 0; j < LANES; ++j) {
                const double a =
                    allpass_coefficient(rate[j], dep[j], centre[j], offset[j], n0, sample_rate);
                for (int k = 0; k < nstages[j]; ++k) ak[k][j] = a;
            }
            for (int j = 0; j < LANES; ++j)
                for (int i = 0; i < nb; ++i) xb[i][j] = (double)xr[j][n0 + i];
            for (int i = 0; i < nb; ++i) {
                double u[LANES];
                for (int j = 0; j < LANES; ++j) u[j] = xb[i][j] + fb[j] * p[j];
                for (int k = 0; k < smax; ++k) {
                    const double *restrict a = ak[k];
                    double *restrict st = s[k];
#pragma omp simd
                    for (int j = 0; j < LANES; ++j) {
                        const double out = a[j] * u[j] + st[j];
                        st[j] = u[j] - a[j] * out;
                        u[j] = out;
                    }
                }
                for (int j = 0; j < LANES; ++j) {
                    p[j] = u[j];
                    yb[i][j] = dry[j] * xb[i][j] + wet[j] * u[j];
                }
            }
            for (int64_t j = 0; j < lanes; ++j) {
                float *out = dafx_out(sink, row[j], n0, scratch);
                for (int i = 0; i < nb; ++i) out[i] = (float)yb[i][j];
                dafx_commit(sink, row[j], n0, out, nb);
            }
        }
    }
    free(order);
}

void dafx_phaser(const float *x, float *y, int64_t batch, int64_t channels, int64_t samples,
                 const double *rate_hz, const double *depth, const double *centre_hz,
                 const double *feedback, const double *stages, const double *mix,
                 double sample_rate) {
    const dafx_sink sink = dafx_plain_sink(y, channels, samples);
    phaser_run(x, &sink, batch, channels, samples, rate_hz, depth, centre_hz, feedback, stages,
               mix, sample_rate);
}

void dafx_phaser_dot(const float *x, const float *g, double *dots, int64_t repeat, int64_t batch,
                     int64_t channels, int64_t samples, const double *rate_hz,
                     const double *depth, const double *centre_hz, const double *feedback,
                     const double *stages, const double *mix, double sample_rate) {
    const dafx_sink sink = dafx_dot_sink(g, dots, repeat, channels, samples);
    phaser_run(x, &sink, batch, channels, samples, rate_hz, depth, centre_hz, feedback, stages,
               mix, sample_rate);
}
