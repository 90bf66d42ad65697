/* Tremolo: every channel multiplied by the same raised-cosine gain,
 * g[n] = 1 - depth * (0.5 - 0.5 * cos(w * n)), w = 2 pi rate_hz / sample_rate. */
#include <math.h>
#include <stdint.h>

#include "parallel.h"

/* cos(w n) comes from LANES interleaved rotations by LANES * w: independent recurrences, so the
 * loop vectorises, and no libm call per sample (the kernel is then memory-bound). */
#define LANES 8
/* Samples between exact seeds of the rotations, which bounds their drift (double precision:
 * below 1e-13 after RESEED / LANES steps). */
#define RESEED 4096

void dafx_tremolo(const float *x, float *y, int64_t batch, int64_t channels, int64_t samples,
                  const double *rate_hz, const double *depth, double sample_rate) {
    const int64_t rows = batch * channels;
#pragma omp parallel for schedule(static) num_threads(dafx_threads_for(rows))
    for (int64_t r = 0; r < rows; ++r) {
        const int64_t b = r / channels;
        const float *xr = x + r * samples;
        float *yr = y + r * samples;
        const double w = 2.0 * M_PI * rate_hz[b] / sample_rate;
        const double d = depth[b];
        const double step_c = cos(LANES * w), step_s = sin(LANES * w);
        double lane_c[LANES], lane_s[LANES];
        for (int j = 0; j < LANES; ++j) {
            lane_c[j] = cos(j * w);
            lane_s[j] = sin(j * w);
        }
        for (int64_t n0 = 0; n0 < samples; n0 += RESEED) {
            const int64_t nb = samples - n0 < RESEED ? samples - n0 : RESEED;
            const float *xb = xr + n0;
            float *yb = yr + n0;
            /* c[j], s[j] = cos, sin of w (n0 + j), then of w (n + j) as n steps by LANES. */
            const double c0 = cos(w * (double)n0), s0 = sin(w * (double)n0);
            double c[LANES], s[LANES];
            for (int j = 0; j < LANES; ++j) {
                c[j] = c0 * lane_c[j] - s0 * lane_s[j];
                s[j] = s0 * lane_c[j] + c0 * lane_s[j];
            }
            const int64_t whole = nb - nb % LANES;
            for (int64_t n = 0; n < whole; n += LANES) {
#pragma omp simd
                for (int j = 0; j < LANES; ++j) {
                    yb[n + j] = (float)((double)xb[n + j] * (1.0 - d * (0.5 - 0.5 * c[j])));
                    const double cn = c[j] * step_c - s[j] * step_s;
                    s[j] = s[j] * step_c + c[j] * step_s;
                    c[j] = cn;
                }
            }
            for (int64_t n = whole; n < nb; ++n)
                yb[n] = (float)((double)xb[n] * (1.0 - d * (0.5 - 0.5 * c[n - whole])));
        }
    }
}
