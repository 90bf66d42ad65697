/* Bitcrusher: sample-and-hold by k samples, then rounding to multiples of 1 / q, mixed with the
 * dry signal. q = 2^(bits - 1); k = max(1, round(downsample)). Rounding is half to even (rint in
 * the default rounding mode), as NumPy's np.round, so every backend gives the same levels. */
#include <math.h>
#include <stdint.h>

#include "fastmath.h"
#include "parallel.h"

/* 1.5 * 2^52: adding and subtracting it rounds any |t| < 2^51 to an integer in the current
 * rounding mode, exactly as rint does (half to even by default), and it vectorises where rint
 * is a libm call (x86-64 before SSE4.1). Beyond 2^51 it stays monotone, which is all the clip
 * below needs. */
#define ROUND_MAGIC 6755399441055744.0
/* Hold factors below this run through a table of block indices (short blocks make a loop per
 * block slow); longer blocks run a vectorised loop each. */
#define TABLE_BELOW 4
#define CHUNK 1024

/* round(clip(x, -1, 1) * q) / q, computed as clip(round(x * q), -top, top) / q with
 * top = round(q): the same number, since rounding is monotone and odd, and clipping after the
 * rounding compiles to plain min/max instructions (clipping x first made gcc blend masks). */
static inline double crush(float x, double q, double top) {
    double i = ((double)x * q + ROUND_MAGIC) - ROUND_MAGIC;
    i = i > -top ? i : -top;
    i = i < top ? i : top;
    return i / q;
}

/* One row; compiled twice (baseline and AVX2, chosen at load time): it is memory-bound and
 * the wider vectors halve its arithmetic. */
DAFX_SIMD_CLONES
static void crush_row(const float *restrict xr, float *restrict yr, int64_t samples, double q,
                      double top, int64_t k, double dry, double wet) {
    if (k <= 1) {
#pragma omp simd
        for (int64_t n = 0; n < samples; ++n)
            yr[n] = (float)(dry * (double)xr[n] + wet * crush(xr[n], q, top));
    } else if (k < TABLE_BELOW) {
        /* Per chunk of whole blocks: crush each block's first sample, then mix every
         * sample with its block's value, found through the table block[n] = n / k. */
        const int64_t chunk = k * (CHUNK / k);
        int block[CHUNK];
        double held_z[CHUNK];
        for (int64_t n = 0; n < chunk; ++n) block[n] = (int)(n / k);
        for (int64_t n0 = 0; n0 < samples; n0 += chunk) {
            const int64_t nb = samples - n0 < chunk ? samples - n0 : chunk;
            const float *xc = xr + n0;
            float *yc = yr + n0;
            const int64_t blocks = (nb + k - 1) / k;
            for (int64_t i = 0; i < blocks; ++i) held_z[i] = wet * crush(xc[i * k], q, top);
            for (int64_t n = 0; n < nb; ++n) yc[n] = (float)(dry * (double)xc[n] + held_z[block[n]]);
        }
    } else {
        for (int64_t m = 0; m < samples; m += k) {
            const double z = wet * crush(xr[m], q, top);
            const int64_t end = samples - m < k ? samples : m + k;
#pragma omp simd
            for (int64_t n = m; n < end; ++n) yr[n] = (float)(dry * (double)xr[n] + z);
        }
    }
}

void dafx_bitcrusher(const float *x, float *y, int64_t batch, int64_t channels, int64_t samples,
                     const double *bits, const double *downsample, const double *mix) {
    const int64_t rows = batch * channels;
#pragma omp parallel for schedule(static) num_threads(dafx_threads_for(rows))
    for (int64_t r = 0; r < rows; ++r) {
        const int64_t b = r / channels;
        const double q = pow(2.0, bits[b] - 1.0);
        const double held = rint(downsample[b]);
        const int64_t k = held < 1.0 ? 1 : (held > (double)samples ? samples : (int64_t)held);
        crush_row(x + r * samples, y + r * samples, samples, q, rint(q), k, 1.0 - mix[b], mix[b]);
    }
}
