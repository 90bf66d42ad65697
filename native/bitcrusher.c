/* Bitcrusher: sample-and-hold by k samples, then rounding to multiples of 1 / q, mixed with the
 * dry signal. q = 2^(bits - 1); k = max(1, round(downsample)). Rounding is half to even (rint in
 * the default rounding mode), as NumPy's np.round, so every backend gives the same levels. */
#include <math.h>
#include <stdint.h>

#include "fastmath.h"
#include "lanes.h"
#include "parallel.h"
#include "sink.h"

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

/* Samples of one row from a hold boundary on; compiled twice (baseline and AVX2, chosen at load
 * time): it is memory-bound and the wider vectors halve its arithmetic. block[n] = n / k for
 * n < CHUNK, built by the caller (integer division does not vectorise). */
DAFX_SIMD_CLONES
static void crush_row(const float *restrict xr, float *restrict yr, int64_t samples, double q,
                      double top, int64_t k, double dry, double wet, const int *block) {
    if (k <= 1) {
#pragma omp simd
        for (int64_t n = 0; n < samples; ++n)
            yr[n] = (float)(dry * (double)xr[n] + wet * crush(xr[n], q, top));
    } else if (k < TABLE_BELOW) {
        /* Per chunk of whole blocks: crush each block's first sample, then mix every
         * sample with its block's value, found through the table block[n] = n / k. */
        const int64_t chunk = k * (CHUNK / k);
        double held_z[CHUNK];
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

/* block[n] = n / k for n < CHUNK, the table crush_row needs for holds of k < TABLE_BELOW. */
static void block_table(int64_t k, int *block) {
    if (k <= 1 || k >= TABLE_BELOW) return;
    for (int64_t n = 0; n < CHUNK; ++n) block[n] = (int)(n / k);
}

/* zb[i] = z of the hold block holding sample n0 + i, for i < len: each block's z is
 * computed once (from its first sample, which may lie before n0) and copied over its part of
 * the span. K > 0 is the hold as a constant, so the copies of short holds unroll. */
DAFX_INLINE void expand_held(const float *xr, int64_t n0, int64_t len, double q, double top,
                             int64_t k, double wet, double *zb, const int64_t K) {
    const int64_t hold = K > 0 ? K : k;
    const int64_t end = n0 + len;
    int64_t t = n0 - n0 % hold;
    if (t < n0) { /* the block n0 falls in, begun before the span */
        const double z = wet * crush(xr[t], q, top);
        const int64_t stop = t + hold < end ? t + hold : end;
        for (int64_t n = n0; n < stop; ++n) zb[n - n0] = z;
        t += hold;
    }
    for (; t + hold <= end; t += hold) {
        const double z = wet * crush(xr[t], q, top);
        for (int64_t j = 0; j < hold; ++j) zb[t - n0 + j] = z;
    }
    if (t < end) {
        const double z = wet * crush(xr[t], q, top);
        for (int64_t n = t; n < end; ++n) zb[n - n0] = z;
    }
}

/* <g, y> over samples [n0, n0 + len) of one row, y being exactly the float output crush_row
 * gives (same operations), summed in double; zb: len doubles of scratch. */
DAFX_SIMD_CLONES
static double crush_dot(const float *restrict xr, const float *restrict gr, int64_t n0,
                        int64_t len, double q, double top, int64_t k, double dry, double wet,
                        double *restrict zb) {
    double sum = 0.0;
    const float *xs = xr + n0, *gs = gr + n0;
    if (k <= 1) {
#pragma omp simd reduction(+ : sum)
        for (int64_t i = 0; i < len; ++i) {
            const float y = (float)(dry * (double)xs[i] + wet * crush(xs[i], q, top));
            sum += (double)y * (double)gs[i];
        }
        return sum;
    }
    switch (k) {
    case 2: expand_held(xr, n0, len, q, top, k, wet, zb, 2); break;
    case 3: expand_held(xr, n0, len, q, top, k, wet, zb, 3); break;
    case 4: expand_held(xr, n0, len, q, top, k, wet, zb, 4); break;
    default: expand_held(xr, n0, len, q, top, k, wet, zb, 0);
    }
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < len; ++i) {
        const float y = (float)(dry * (double)xs[i] + zb[i]);
        sum += (double)y * (double)gs[i];
    }
    return sum;
}

/* A row's settings: q = 2^(bits - 1), the clip level round(q), the hold k, the mix. */
typedef struct {
    double q, top, dry, wet;
    int64_t k;
} crush_settings;

static crush_settings settings_of(double bits, double downsample, double mix, int64_t samples) {
    crush_settings s;
    s.q = pow(2.0, bits - 1.0);
    s.top = rint(s.q);
    const double held = rint(downsample);
    s.k = held < 1.0 ? 1 : (held > (double)samples ? samples : (int64_t)held);
    s.dry = 1.0 - mix;
    s.wet = mix;
    return s;
}

void dafx_bitcrusher(const float *x, float *y, int64_t batch, int64_t channels, int64_t samples,
                     const double *bits, const double *downsample, const double *mix) {
    const int64_t rows = batch * channels;
#pragma omp parallel for schedule(static) num_threads(dafx_threads_for(rows))
    for (int64_t r = 0; r < rows; ++r) {
        const int64_t b = r / channels;
        const crush_settings s = settings_of(bits[b], downsample[b], mix[b], samples);
        int block[CHUNK];
        block_table(s.k, block);
        crush_row(x + r * samples, y + r * samples, samples, s.q, s.top, s.k, s.dry, s.wet, block);
    }
}

/* The fused form (see sink.h). A thread takes one (clip, channel) and runs all the clip's
 * parameter rows over one span of it before the next, so that its input and gradient are read
 * from memory once, not once per probe. */
void dafx_bitcrusher_dot(const float *x, const float *g, double *dots, int64_t repeat,
                         int64_t batch, int64_t channels, int64_t samples, const double *bits,
                         const double *downsample, const double *mix) {
    const dafx_sink sink = dafx_dot_sink(g, dots, repeat, channels, samples);
    repeat = sink.repeat;
    const int64_t units = batch / repeat * channels;
#pragma omp parallel for schedule(dynamic, 1) num_threads(dafx_threads_for(units))
    for (int64_t u = 0; u < units; ++u) {
        const int64_t clip = u / channels, c = u % channels;
        const float *xr = x + (clip * channels + c) * samples;
        const float *gr = g + (clip * channels + c) * samples;
        double zb[CHUNK];
        crush_settings set[repeat];
        for (int64_t s = 0; s < repeat; ++s) {
            const int64_t b = clip * repeat + s;
            set[s] = settings_of(bits[b], downsample[b], mix[b], samples);
        }
        for (int64_t n0 = 0; n0 < samples; n0 += CHUNK) {
            const int64_t len = samples - n0 < CHUNK ? samples - n0 : CHUNK;
            for (int64_t s = 0; s < repeat; ++s)
                dots[(clip * repeat + s) * channels + c] += crush_dot(
                    xr, gr, n0, len, set[s].q, set[s].top, set[s].k, set[s].dry, set[s].wet, zb);
        }
    }
}
