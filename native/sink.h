/* Where a kernel's output goes: stored (a plain call), or folded into inner products with an
 * incoming gradient as it is produced (SPSA probes), so that the probe outputs never reach
 * memory. Every kernel that supports both runs one body and calls the helpers below at the
 * places where it used to store a stretch of output. */
#ifndef DAFX_SINK_H
#define DAFX_SINK_H

#include <stdint.h>

typedef struct {
    /* Plain: the output, (batch, channels, samples). NULL for a fused call. */
    float *y;
    /* Fused: the gradient, one row per audio row, (batch / repeat, channels, samples)... */
    const float *g;
    /* ... and the sums, one per (batch row, channel): dots[r] = <g row of r, output row r>. */
    double *dots;
    /* Parameter rows per audio row: batch row b reads audio row b / repeat (1 for a plain
     * call). The 2K probes of one clip are consecutive rows, so the rows of a lane group share
     * their input and gradient, which then come from cache. */
    int64_t repeat;
    int64_t channels, samples;
} dafx_sink;

static inline dafx_sink dafx_plain_sink(float *y, int64_t channels, int64_t samples) {
    dafx_sink s = {y, 0, 0, 1, channels, samples};
    return s;
}

static inline dafx_sink dafx_dot_sink(const float *g, double *dots, int64_t repeat,
                                      int64_t channels, int64_t samples) {
    dafx_sink s = {0, g, dots, repeat < 1 ? 1 : repeat, channels, samples};
    return s;
}

/* Offset of the audio (and gradient) row that (batch row b, channel c) reads. */
static inline int64_t dafx_in_offset(const dafx_sink *s, int64_t b, int64_t c) {
    return ((b / s->repeat) * s->channels + c) * s->samples;
}

/* Where row r (= b * channels + c) should write samples [n0, n0 + len): straight into the
 * output of a plain call, else into `scratch` (at least len floats), to be handed to
 * dafx_commit. */
static inline float *dafx_out(const dafx_sink *s, int64_t r, int64_t n0, float *scratch) {
    return s->y != 0 ? s->y + r * s->samples + n0 : scratch;
}

/* <a, b> over n floats, products and sum in double (the float outputs are exact in double, so
 * the only difference from any other summation order is the rounding of the sum). */
static inline double dafx_dot_f(const float *a, const float *b, int64_t n) {
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < n; ++i) sum += (double)a[i] * (double)b[i];
    return sum;
}

/* Row r's samples [n0, n0 + len) are in `out` (from dafx_out): nothing more to do for a plain
 * call; a fused one adds their inner product with the gradient to dots[r] (zeroed by the
 * caller). Each row belongs to one thread, so the sum needs no lock. */
static inline void dafx_commit(const dafx_sink *s, int64_t r, int64_t n0, const float *out,
                               int64_t len) {
    if (s->y != 0) return;
    const int64_t c = r % s->channels;
    s->dots[r] += dafx_dot_f(out, s->g + dafx_in_offset(s, r / s->channels, c) + n0, len);
}

#endif
