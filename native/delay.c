/* Delay: a feedback echo with a one-pole low-pass ("damping") inside the loop,
 *   d[n] = v[n - D],  s[n] = (1 - damping) d[n] + damping s[n-1],  v[n] = x[n] + feedback s[n],
 *   y[n] = (1 - mix) x[n] + mix s[n],   D = max(1, floor(time_ms * sample_rate / 1000 + 0.5)).
 * Every (batch row, channel) starts from rest. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "lanes.h"
#include "parallel.h"
#include "sink.h"

/* The delay in whole samples, rounded half up (the same rule in every backend). */
static int64_t delay_samples(double time_ms, double sample_rate) {
    const double t = floor(time_ms * sample_rate / 1000.0 + 0.5);
    return t < 1.0 ? 1 : (int64_t)t;
}

/* Output goes out in runs of at most this many samples (through L1 for a fused call). */
#define BLOCK 512
/* Rows run 4 at a time in the lanes of a vector: the echo loop is a serial recursion (a
 * multiply and an add per sample), and four independent rows side by side keep the pipeline
 * full. In a fused call the four are mostly probes of one clip and share its input loads. */
#define LANES 4

/* One lane group's settings, a lane per row. */
typedef struct {
    v4d fb, keep, take, wet, dry;
} echo_settings;

/* Samples [n0, n0 + len) of the lanes: the echo loop with the rows side by side; the loop
 * state s (the damped echo) in *state. A plain call stores each lane's float output through
 * out[j][n - n0]; a fused one (gr given: the lanes' gradient rows) adds <g, y> to its lane of
 * *acc instead. shared: every lane reads one input and gradient row (a fused call's probes),
 * loaded once a sample. */
DAFX_INLINE void echo_body(const float *const xr[LANES], const float *const gr[LANES],
                           double *const line[LANES], int64_t pos[LANES],
                           const int64_t delay[LANES], float *const out[LANES], int64_t n0,
                           int64_t len, const echo_settings *set, v4d *state, v4d *acc,
                           const int fused, const int shared) {
    const v4d fb = set->fb, keep = set->keep, take = set->take, wet = set->wet, dry = set->dry;
    v4d s = *state, sum = *acc;
    for (int64_t n = n0; n < n0 + len;) {
        /* A stretch in which no lane's ring wraps: slot pos + i for sample n + i. */
        int64_t stretch = n0 + len - n;
        for (int j = 0; j < LANES; ++j)
            stretch = delay[j] - pos[j] < stretch ? delay[j] - pos[j] : stretch;
        double *l0 = line[0] + pos[0], *l1 = line[1] + pos[1];
        double *l2 = line[2] + pos[2], *l3 = line[3] + pos[3];
        for (int64_t i = 0; i < stretch; ++i, ++n) {
            const v4d xn = shared ? DAFX_SPLAT4((double)xr[0][n])
                                  : (v4d){xr[0][n], xr[1][n], xr[2][n], xr[3][n]};
            const v4d echo = {l0[i], l1[i], l2[i], l3[i]};
            s = take * echo + keep * s;
            const v4d v = xn + fb * s;
            l0[i] = v[0];
            l1[i] = v[1];
            l2[i] = v[2];
            l3[i] = v[3];
            const v4d y = dry * xn + wet * s;
            if (fused) {
                const v4d gn = shared ? DAFX_SPLAT4((double)gr[0][n])
                                      : (v4d){gr[0][n], gr[1][n], gr[2][n], gr[3][n]};
                sum += dafx_round_to_float4(y) * gn;
            } else {
                const v4f yf = __builtin_convertvector(y, v4f);
                for (int j = 0; j < LANES; ++j) out[j][n - n0] = yf[j];
            }
        }
        for (int j = 0; j < LANES; ++j) {
            pos[j] += stretch;
            pos[j] = pos[j] == delay[j] ? 0 : pos[j];
        }
    }
    *state = s;
    *acc = sum;
}

/* echo_body specialised: fused with one clip in every lane, fused, or plain. */
DAFX_SIMD_CLONES
static void echo_block(const float *const xr[LANES], const float *const gr[LANES],
                       double *const line[LANES], int64_t pos[LANES], const int64_t delay[LANES],
                       float *const out[LANES], int64_t n0, int64_t len,
                       const echo_settings *set, v4d *state, v4d *acc, int shared) {
    if (gr[0] != 0 && shared)
        echo_body(xr, gr, line, pos, delay, out, n0, len, set, state, acc, 1, 1);
    else if (gr[0] != 0)
        echo_body(xr, gr, line, pos, delay, out, n0, len, set, state, acc, 1, 0);
    else
        echo_body(xr, gr, line, pos, delay, out, n0, len, set, state, acc, 0, 0);
}

/* Returns the number of rows whose delay lines could not be allocated (0 on success);
 * their output is left unwritten and the caller raises. */
static int64_t delay_run(const float *x, const dafx_sink *sink, int64_t batch, int64_t channels,
                         int64_t samples, const double *time_ms, const double *feedback,
                         const double *damping, const double *mix, double sample_rate) {
    const int64_t rows = batch * channels;
    const int64_t groups = (rows + LANES - 1) / LANES;
    int64_t failed = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : failed) num_threads(dafx_threads_for(groups))
    for (int64_t grp = 0; grp < groups; ++grp) {
        const int64_t first = grp * LANES;
        const int64_t lanes = rows - first < LANES ? rows - first : LANES;
        const float *xr[LANES];
        float *out[LANES];
        float scratch[LANES][BLOCK];
        int64_t delay[LANES], pos[LANES], offset[LANES];
        echo_settings set;
        int64_t total = 0;
        for (int64_t j = 0; j < LANES; ++j) {
            /* Missing lanes of the last group repeat its first row; nothing reads them. */
            const int64_t r = first + (j < lanes ? j : 0);
            const int64_t b = r / channels;
            xr[j] = x + dafx_in_offset(sink, b, r % channels);
            /* An echo later than the clip never arrives: a delay of `samples` reads only the
             * zeros before the clip, as any longer one would. */
            const int64_t d = delay_samples(time_ms[b], sample_rate);
            delay[j] = d < samples ? d : samples;
            set.fb[j] = feedback[b];
            set.keep[j] = damping[b];
            set.take[j] = 1.0 - damping[b];
            set.wet[j] = mix[b];
            set.dry[j] = 1.0 - mix[b];
            /* The loop's signal v in a ring of `delay` slots: slot pos = n mod delay holds
             * v[n - delay] when sample n reads it (zero before the clip starts) and v[n] once
             * it is written. */
            pos[j] = 0;
            offset[j] = total;
            total += delay[j];
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
        v4d s = DAFX_SPLAT4(0.0), acc = DAFX_SPLAT4(0.0);
        for (int64_t n0 = 0; n0 < samples; n0 += BLOCK) {
            const int64_t len = samples - n0 < BLOCK ? samples - n0 : BLOCK;
            for (int64_t j = 0; j < LANES; ++j)
                out[j] = j < lanes ? dafx_out(sink, first + j, n0, scratch[j]) : scratch[j];
            echo_block(xr, gr, line, pos, delay, out, n0, len, &set, &s, &acc, shared);
        }
        if (sink->dots != 0)
            for (int64_t j = 0; j < lanes; ++j) sink->dots[first + j] += acc[j];
        free(lines);
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
