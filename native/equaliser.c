/* A cascade of biquads per batch row (transposed direct form II, double precision throughout,
 * state from rest), coefficients per row: (batch, sections, 5) as b0, b1, b2, a1, a2, a0 = 1. */
#include <stdint.h>

/* Rows are filtered LANES at a time: a biquad is latency-bound, and interleaving independent
 * rows keeps the floating-point pipeline full. */
#define LANES 4
#define MAX_SECTIONS 8

/* Returns the number of rows not processed because `sections` exceeds MAX_SECTIONS. */
int64_t dafx_biquad_cascade(const float *x, float *y, int64_t batch, int64_t channels,
                            int64_t samples, const double *coefficients, int64_t sections) {
    if (sections > MAX_SECTIONS || sections < 1) return batch * channels;
    const int64_t rows = batch * channels;
    const int64_t groups = (rows + LANES - 1) / LANES;
#pragma omp parallel for schedule(static)
    for (int64_t g = 0; g < groups; ++g) {
        const int64_t first = g * LANES;
        const int64_t lanes = rows - first < LANES ? rows - first : LANES;
        const float *xr[LANES];
        float *yr[LANES];
        double k[MAX_SECTIONS][5][LANES], z1[MAX_SECTIONS][LANES], z2[MAX_SECTIONS][LANES];
        for (int64_t j = 0; j < LANES; ++j) {
            /* Missing lanes of the last group repeat its first row; they are never written. */
            const int64_t r = first + (j < lanes ? j : 0);
            xr[j] = x + r * samples;
            yr[j] = y + r * samples;
            const double *c = coefficients + (r / channels) * sections * 5;
            for (int64_t s = 0; s < sections; ++s) {
                for (int i = 0; i < 5; ++i) k[s][i][j] = c[5 * s + i];
                z1[s][j] = z2[s][j] = 0.0;
            }
        }
        for (int64_t n = 0; n < samples; ++n) {
            double v[LANES];
            for (int j = 0; j < LANES; ++j) v[j] = xr[j][n];
            for (int64_t s = 0; s < sections; ++s) {
                for (int j = 0; j < LANES; ++j) {
                    const double in = v[j];
                    const double out = k[s][0][j] * in + z1[s][j];
                    z1[s][j] = k[s][1][j] * in - k[s][3][j] * out + z2[s][j];
                    z2[s][j] = k[s][2][j] * in - k[s][4][j] * out;
                    v[j] = out;
                }
            }
            for (int64_t j = 0; j < lanes; ++j) yr[j][n] = (float)v[j];
        }
    }
    return 0;
}
