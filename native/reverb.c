/* Reverb: a Freeverb-style network per batch row. The pre-delayed mono sum of the input,
 *   u[n] = 0.015 sum_c x_c[n - P],
 * feeds a tank of 8 low-pass-feedback combs in parallel,
 *   out = buf[n - N],  s = (1 - d) out + d s,  buf[n] = u[n] + f s,
 * summed and sent through 4 all-passes in series,
 *   b = buf[n - M],  out = b - in,  buf[n] = in + b / 2.
 * Stereo clips run a second tank whose delays are 23 samples longer (at 44.1 kHz) and mix the
 * two by width. Every delay line starts silent; the tail past the clip's end is cut. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fastmath.h"
#include "parallel.h"
#include "sink.h"

#define COMBS 8
#define ALLPASSES 4
#define SPREAD 23
/* Rows run LANES at a time, one SIMD lane each: rows of one call share every delay length, so
 * lane j of slot k of a line is row j's buf[k] and one vector load reads the slot of all lanes.
 * The tank is bound by its 8 comb updates per sample, and this runs them 4 rows wide. */
#define LANES 4
/* Samples per block: the input sum and the tanks' outputs live in small stack arrays. */
#define BLOCK 128

typedef double lanes_t __attribute__((vector_size(LANES * sizeof(double))));

static const int COMB_TUNING[COMBS] = {1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617};
static const int ALLPASS_TUNING[ALLPASSES] = {556, 441, 341, 225};
static const double INPUT_GAIN = 0.015, WET_SCALE = 3.0, ALLPASS_GAIN = 0.5;

/* A tuning in samples at 44.1 kHz, at the sample rate: rounded half up, at least 1. */
static int64_t scaled(int delay, double sample_rate) {
    const double n = floor(delay * sample_rate / 44100.0 + 0.5);
    return n < 1.0 ? 1 : (int64_t)n;
}

typedef struct {
    lanes_t *comb[COMBS], *allpass[ALLPASSES];
    int64_t comb_len[COMBS], comb_at[COMBS], allpass_len[ALLPASSES], allpass_at[ALLPASSES];
    lanes_t store[COMBS]; /* the combs' damping filter states */
    lanes_t feedback, keep, damp;
} tank_t;

/* Lays a tank's lines out from `memory` (already zeroed); returns the first slot after them. */
static lanes_t *tank_init(tank_t *t, lanes_t *memory, int spread, double sample_rate) {
    for (int i = 0; i < COMBS; ++i) {
        t->comb[i] = memory;
        t->comb_len[i] = scaled(COMB_TUNING[i] + spread, sample_rate);
        t->comb_at[i] = 0;
        t->store[i] = (lanes_t){0};
        memory += t->comb_len[i];
    }
    for (int i = 0; i < ALLPASSES; ++i) {
        t->allpass[i] = memory;
        t->allpass_len[i] = scaled(ALLPASS_TUNING[i] + spread, sample_rate);
        t->allpass_at[i] = 0;
        memory += t->allpass_len[i];
    }
    return memory;
}

static int64_t tank_slots(int spread, double sample_rate) {
    int64_t total = 0;
    for (int i = 0; i < COMBS; ++i) total += scaled(COMB_TUNING[i] + spread, sample_rate);
    for (int i = 0; i < ALLPASSES; ++i) total += scaled(ALLPASS_TUNING[i] + spread, sample_rate);
    return total;
}

/* wet[0..len) <- the tank's output for input u[0..len). The eight combs of a sample are
 * independent, so their damping recursions overlap in the pipeline. The clip goes through in
 * runs in which no line wraps around, so every line's slot is its run start + k. The
 * operations and their order are the reference's, so every backend rounds alike. */
static inline __attribute__((always_inline)) void
tank_run(tank_t *restrict t, const lanes_t *restrict u, lanes_t *restrict wet, int64_t len) {
    const lanes_t feedback = t->feedback, keep = t->keep, damp = t->damp;
    lanes_t store[COMBS];
    for (int i = 0; i < COMBS; ++i) store[i] = t->store[i];
    for (int64_t j = 0; j < len;) {
        int64_t run = len - j;
        lanes_t *comb[COMBS], *allpass[ALLPASSES];
        for (int i = 0; i < COMBS; ++i) {
            const int64_t left = t->comb_len[i] - t->comb_at[i];
            run = left < run ? left : run;
            comb[i] = t->comb[i] + t->comb_at[i];
        }
        for (int i = 0; i < ALLPASSES; ++i) {
            const int64_t left = t->allpass_len[i] - t->allpass_at[i];
            run = left < run ? left : run;
            allpass[i] = t->allpass[i] + t->allpass_at[i];
        }
        for (int64_t k = 0; k < run; ++k) {
            const lanes_t in = u[j + k];
            lanes_t sum = (lanes_t){0};
#pragma GCC unroll 8
            for (int i = 0; i < COMBS; ++i) {
                const lanes_t out = comb[i][k];
                store[i] = out * keep + store[i] * damp;
                comb[i][k] = in + store[i] * feedback;
                sum += out;
            }
#pragma GCC unroll 4
            for (int i = 0; i < ALLPASSES; ++i) {
                const lanes_t held = allpass[i][k];
                allpass[i][k] = sum + held * ALLPASS_GAIN;
                sum = held - sum;
            }
            wet[j + k] = sum;
        }
        for (int i = 0; i < COMBS; ++i)
            if ((t->comb_at[i] += run) == t->comb_len[i]) t->comb_at[i] = 0;
        for (int i = 0; i < ALLPASSES; ++i)
            if ((t->allpass_at[i] += run) == t->allpass_len[i]) t->allpass_at[i] = 0;
        j += run;
    }
    for (int i = 0; i < COMBS; ++i) t->store[i] = store[i];
}

/* One group of up to LANES rows (`lanes` real ones, the rest repeat the first row and are not
 * written). Returns 1 when the delay lines could not be allocated, else 0. */
DAFX_SIMD_CLONES
static int reverb_group(const float *x, const dafx_sink *sink, int64_t first, int64_t lanes, int64_t channels,
                        int64_t samples, const double *room_size, const double *damping,
                        const double *pre_delay_ms, const double *width, const double *mix,
                        double sample_rate) {
    const int stereo = channels == 2;
    const int64_t slots = tank_slots(0, sample_rate) + (stereo ? tank_slots(SPREAD, sample_rate) : 0);
    const size_t bytes = (size_t)slots * sizeof(lanes_t);
    lanes_t *memory = aligned_alloc(sizeof(lanes_t), bytes);
    if (memory == NULL) return 1;
    memset(memory, 0, bytes);
    tank_t left, right;
    lanes_t *next = tank_init(&left, memory, 0, sample_rate);
    if (stereo) tank_init(&right, next, SPREAD, sample_rate);

    const float *xr[LANES];
    int64_t pre[LANES];
    double w1[LANES], w2[LANES], dry[LANES], wet_gain[LANES];
    for (int j = 0; j < LANES; ++j) {
        const int64_t b = first + (j < lanes ? j : 0);
        xr[j] = x + dafx_in_offset(sink, b, 0);
        const double p = floor(pre_delay_ms[b] * sample_rate / 1000.0 + 0.5);
        pre[j] = p > (double)samples ? samples : (int64_t)p;
        left.feedback[j] = right.feedback[j] = 0.7 + 0.28 * room_size[b];
        left.damp[j] = right.damp[j] = 0.4 * damping[b];
        left.keep[j] = right.keep[j] = 1.0 - left.damp[j];
        w1[j] = width[b] / 2.0 + 0.5;
        w2[j] = (1.0 - width[b]) / 2.0;
        dry[j] = 1.0 - mix[b];
        wet_gain[j] = mix[b] * WET_SCALE;
    }

    lanes_t u[BLOCK], wet_l[BLOCK], wet_r[BLOCK];
    float scratch[2][BLOCK];
    for (int64_t n0 = 0; n0 < samples; n0 += BLOCK) {
        const int64_t len = samples - n0 < BLOCK ? samples - n0 : BLOCK;
        for (int j = 0; j < LANES; ++j) {
            for (int64_t k = 0; k < len; ++k) {
                const int64_t at = n0 + k - pre[j];
                double s = 0.0;
                if (at >= 0)
                    for (int64_t c = 0; c < channels; ++c) s += xr[j][c * samples + at];
                u[k][j] = at >= 0 ? INPUT_GAIN * s : 0.0;
            }
        }
        tank_run(&left, u, wet_l, len);
        if (stereo) tank_run(&right, u, wet_r, len);
        for (int64_t j = 0; j < lanes; ++j) {
            const int64_t r = (first + j) * channels;
            const float *xl = xr[j] + n0;
            float *yl = dafx_out(sink, r, n0, scratch[0]);
            if (!stereo) {
                for (int64_t k = 0; k < len; ++k)
                    yl[k] = (float)(dry[j] * xl[k] + wet_gain[j] * wet_l[k][j]);
            } else {
                float *yr = dafx_out(sink, r + 1, n0, scratch[1]);
                for (int64_t k = 0; k < len; ++k) {
                    const double l = wet_l[k][j] * w1[j] + wet_r[k][j] * w2[j];
                    const double r = wet_r[k][j] * w1[j] + wet_l[k][j] * w2[j];
                    yl[k] = (float)(dry[j] * xl[k] + wet_gain[j] * l);
                    yr[k] = (float)(dry[j] * xl[samples + k] + wet_gain[j] * r);
                }
                dafx_commit(sink, r + 1, n0, yr, len);
            }
            dafx_commit(sink, r, n0, yl, len);
        }
    }
    free(memory);
    return 0;
}

static int64_t reverb_run(const float *x, const dafx_sink *sink, int64_t batch, int64_t channels,
                          int64_t samples, const double *room_size, const double *damping,
                          const double *pre_delay_ms, const double *width, const double *mix,
                          double sample_rate) {
    const int64_t groups = (batch + LANES - 1) / LANES;
    int64_t failed = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : failed) num_threads(dafx_threads_for(groups))
    for (int64_t g = 0; g < groups; ++g) {
        const int64_t first = g * LANES;
        const int64_t lanes = batch - first < LANES ? batch - first : LANES;
        if (reverb_group(x, sink, first, lanes, channels, samples, room_size, damping,
                         pre_delay_ms, width, mix, sample_rate))
            failed += lanes;
    }
    return failed;
}

/* Channels must be 1 or 2 (the Python side checks). Returns how many rows could not get their
 * delay lines; their output is left unwritten and the caller raises. */
int64_t dafx_reverb(const float *x, float *y, int64_t batch, int64_t channels, int64_t samples,
                    const double *room_size, const double *damping, const double *pre_delay_ms,
                    const double *width, const double *mix, double sample_rate) {
    const dafx_sink sink = dafx_plain_sink(y, channels, samples);
    return reverb_run(x, &sink, batch, channels, samples, room_size, damping, pre_delay_ms, width,
                      mix, sample_rate);
}

/* The fused form (see sink.h); the same failure count. */
int64_t dafx_reverb_dot(const float *x, const float *g, double *dots, int64_t repeat,
                        int64_t batch, int64_t channels, int64_t samples,
                        const double *room_size, const double *damping,
                        const double *pre_delay_ms, const double *width, const double *mix,
                        double sample_rate) {
    const dafx_sink sink = dafx_dot_sink(g, dots, repeat, channels, samples);
    return reverb_run(x, &sink, batch, channels, samples, room_size, damping, pre_delay_ms, width,
                      mix, sample_rate);
}
