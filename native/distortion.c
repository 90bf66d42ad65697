/* Distortion: waveshaper (tanh, soft clip, hard clip or asymmetric "tube"), one-pole low-pass
 * tone filter, wet/dry mix, output level. Every (batch row, channel) starts from rest. */
#include <math.h>
#include <stdint.h>

#include "fastmath.h"
#include "lanes.h"
#include "parallel.h"
#include "sink.h"

/* Rows are filtered LANES at a time, in the lanes of a vector: the one-pole recursion is
 * latency-bound, and independent rows side by side keep the floating-point pipeline full. In
 * a fused call the lanes are mostly probes of one clip and share its input and gradient. */
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

/* One lane group's filter and mix settings, a lane per row. */
typedef struct {
    v4d a, keep, wet, dry;
} tone_settings;

/* The one-pole tone filter and the mix for samples [n0, n0 + len) of the lanes, side by side:
 * lane j filters w[j] (the waveshaper's output from n0 on) and mixes with its input xr[j] (the
 * row's start); lp holds the filters' state. A plain call stores each lane's float output
 * through out[j]; a fused one (gr given: the lanes' gradient rows) adds <g, y> to its lane of
 * acc. shared: every lane reads one input and gradient row (a fused call's probes). */
DAFX_INLINE void tone_body(const float *const xr[LANES], const float *const gr[LANES],
                           const float w[LANES][BLOCK], float *const out[LANES], int64_t n0,
                           int64_t len, const tone_settings *set, v4d *lp, v4d *acc,
                           const int fused, const int shared) {
    const v4d a = set->a, keep = set->keep, wet = set->wet, dry = set->dry;
    v4d state = *lp, sum = *acc;
    for (int64_t n = 0; n < len; ++n) {
        const v4d wn = {w[0][n], w[1][n], w[2][n], w[3][n]};
        state = keep * state + a * wn;
        const int64_t m = n0 + n;
        const v4d xn = shared ? DAFX_SPLAT4((double)xr[0][m])
                              : (v4d){xr[0][m], xr[1][m], xr[2][m], xr[3][m]};
        const v4d y = dry * xn + wet * state;
        if (fused) {
            const v4d gn = shared ? DAFX_SPLAT4((double)gr[0][m])
                                  : (v4d){gr[0][m], gr[1][m], gr[2][m], gr[3][m]};
            sum += dafx_round_to_float4(y) * gn;
        } else {
            const v4f yf = __builtin_convertvector(y, v4f);
            for (int j = 0; j < LANES; ++j) out[j][n] = yf[j];
        }
    }
    *lp = state;
    *acc = sum;
}

DAFX_SIMD_CLONES
static void tone_block(const float *const xr[LANES], const float *const gr[LANES],
                       const float w[LANES][BLOCK], float *const out[LANES], int64_t n0,
                       int64_t len, const tone_settings *set, v4d *lp, v4d *acc, int shared) {
    if (gr[0] != 0 && shared)
        tone_body(xr, gr, w, out, n0, len, set, lp, acc, 1, 1);
    else if (gr[0] != 0)
        tone_body(xr, gr, w, out, n0, len, set, lp, acc, 1, 0);
    else
        tone_body(xr, gr, w, out, n0, len, set, lp, acc, 0, 0);
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
        tone_settings set;
        double dc_in[LANES], dc_out[LANES];
        float drive[LANES];
        const float *xr[LANES], *gr[LANES];
        /* The waveshaper's output, then (plain call) the lanes' output, one block at a time. */
        float w[LANES][BLOCK];
        for (int64_t j = 0; j < LANES; ++j) {
            /* Missing lanes of the last group repeat its first row; their output is dropped. */
            const int64_t r = first + (j < lanes ? j : 0);
            const int64_t b = r / channels;
            xr[j] = x + dafx_in_offset(sink, b, r % channels);
            gr[j] = sink->g != 0 ? sink->g + dafx_in_offset(sink, b, r % channels) : 0;
            set.a[j] = 1.0 - exp(-2.0 * M_PI * tone_hz[b] / sample_rate);
            set.keep[j] = 1.0 - set.a[j];
            const double level = pow(10.0, output_db[b] / 20.0);
            set.wet[j] = level * mix[b];
            set.dry[j] = level * (1.0 - mix[b]);
            drive[j] = (float)pow(10.0, drive_db[b] / 20.0);
            dc_in[j] = dc_out[j] = 0.0;
        }
        int shared = 1;
        for (int j = 1; j < LANES; ++j) shared &= xr[j] == xr[0];
        v4d lp = DAFX_SPLAT4(0.0), acc = DAFX_SPLAT4(0.0);
        for (int64_t n0 = 0; n0 < samples; n0 += BLOCK) {
            const int64_t len = samples - n0 < BLOCK ? samples - n0 : BLOCK;
            float *yr[LANES];
            for (int64_t j = 0; j < LANES; ++j) {
                /* The waveshaper has no state: a separate, vectorised pass. */
                shape(xr[j] + n0, w[j], len, drive[j], mode);
                if (mode == MODE_TUBE) dc_block(w[j], len, dc_r, &dc_in[j], &dc_out[j]);
                /* A plain call's missing lanes write over their own w, no longer needed. */
                yr[j] = sink->y != 0 && j < lanes ? sink->y + (first + j) * samples + n0 : w[j];
            }
            tone_block(xr, gr, (const float(*)[BLOCK])w, yr, n0, len, &set, &lp, &acc, shared);
        }
        if (sink->dots != 0)
            for (int64_t j = 0; j < lanes; ++j) sink->dots[first + j] += acc[j];
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
