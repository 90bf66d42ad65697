/* MFCCs as librosa.feature.mfcc computes them (librosa 0.11 defaults), one signal per row.
 *
 * Per row: centred frames (n_fft / 2 zeros padded on both sides), periodic Hann window, real
 * FFT, power spectrum, sparse mel filterbank, 10 log10(max(amin, mel)), clamp to the row's
 * maximum minus top_db, orthonormal DCT-II. All arithmetic is double; the output is rounded to
 * float once.
 *
 * The real FFT of n_fft points is a complex FFT of m = n_fft / 2 points of the even and odd
 * samples (z[n] = x[2n] + i x[2n + 1]) followed by the usual split. The complex FFT is an
 * in-place decimation-in-frequency transform of radix-4 stages (one radix-2 stage first when
 * m is an odd power of two) whose output is in bit-reversed order; the split reads it through
 * a bit-reversal table, so nothing is ever permuted.
 *
 * LANES frames are transformed together, frame f of a group in lane f: sample n of every frame
 * lies in re[n * LANES + f], im[n * LANES + f]. Every butterfly is then a loop over the lanes
 * with one scalar twiddle, which the compiler turns into full-width vector instructions at
 * every stage (small stages included), without shuffles. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Frames per group: 8 doubles fill an AVX-512 register. 4 measured 35 % slower, 16 no faster. */
#define LANES 8

/* Every loop over lanes is compiled three times (AVX-512, AVX2, baseline), chosen at load
 * time; the same operations in the same order (no FMA contraction under -std=c11), so all
 * three give the same results. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define MFCC_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MFCC_CLONES
#endif

/* 10 log10(x) for normal x > 0, in plain double and integer operations so that a loop of
 * them vectorises (libm's log10 does not). x = 2^k r with r in [sqrt(1/2), sqrt(2));
 * ln r = 2 atanh(s), s = (r - 1) / (r + 1), |s| <= 0.1716, by its odd series to s^21 (truncation
 * below 3e-17 relative). k is the exponent of x / sqrt(1/2), taken with 1024 added so that the
 * shift is a logical one (AVX2 has no 64-bit arithmetic shift), and becomes a double through
 * the 2^52 trick (nor has AVX2 a 64-bit integer conversion). Against 10 log10(x) in libm, over
 * 2e7 random x from 1e-10 to 1e120: within 3e-16 |result| + 1e-15 dB. */
static inline double db10(double x) {
    const uint64_t sqrt_half_bits = 0x3FE6A09E667F3BCDull;
    const uint64_t one_k = 1024ull << 52;
    union { double f; uint64_t i; } u = { .f = x };
    const uint64_t shifted = u.i - sqrt_half_bits + one_k;
    const uint64_t kb = shifted >> 52; /* k + 1024 */
    union { uint64_t i; double f; } r = { .i = u.i - ((kb - 1024u) << 52) };
    union { uint64_t i; double f; } kd = { .i = 0x4330000000000000ull | kb };
    const double k = (kd.f - 4503599627370496.0) - 1024.0;
    const double s = (r.f - 1.0) / (r.f + 1.0);
    const double z = s * s;
    const double series = 1.0 + z * (1.0 / 3 + z * (1.0 / 5 + z * (1.0 / 7 + z * (1.0 / 9
                          + z * (1.0 / 11 + z * (1.0 / 13 + z * (1.0 / 15 + z * (1.0 / 17
                          + z * (1.0 / 19 + z * (1.0 / 21))))))))));
    const double ten_over_ln10 = 4.3429448190325182765;
    const double ten_log10_2 = 3.0102999566398119521;
    return k * ten_log10_2 + (2.0 * ten_over_ln10) * (s * series);
}

typedef struct {
    int64_t n_fft, m, hop, pad, samples, frames;
    int log2m;
    const double *window;
    double *cos_m, *sin_m;       /* cos, sin of 2 pi t / m, t < m: the FFT's twiddles */
    double *cos_n, *sin_n;       /* cos, sin of 2 pi k / n_fft, k <= m: the split's twiddles */
    int64_t *bitrev;             /* bit reversal of log2m bits */
    int64_t n_mels, n_mfcc;
    const int64_t *band_start, *band_stop, *band_offset;
    const double *band_weights;
    const double *dct;
    double amin, top_db;
} plan_t;

/* Lanes of frames t0 .. t0 + LANES - 1 (lanes past the last frame are zero), windowed, as
 * even / odd samples in re / im. */
MFCC_CLONES
static void load_frames(const plan_t *p, const float *x32, const double *x64, int64_t t0,
                        double *restrict re, double *restrict im) {
    const int64_t m = p->m, n_fft = p->n_fft, samples = p->samples, hop = p->hop;
    const double *restrict w = p->window;
    const int64_t first = t0 * hop - p->pad;
    if (t0 + LANES <= p->frames && first >= 0 && first + (LANES - 1) * hop + n_fft <= samples) {
        /* All lanes inside the signal: fill whole lines of re and im (lanes innermost); a
         * lane at a time would write one double per line of a buffer larger than L1. */
        for (int64_t n = 0; n < m; ++n) {
            const double we = w[2 * n], wo = w[2 * n + 1];
            double *restrict lr = re + n * LANES, *restrict li = im + n * LANES;
            if (x32) {
                const float *restrict x = x32 + first + 2 * n;
                for (int f = 0; f < LANES; ++f) {
                    lr[f] = we * (double)x[f * hop];
                    li[f] = wo * (double)x[f * hop + 1];
                }
            } else {
                const double *restrict x = x64 + first + 2 * n;
                for (int f = 0; f < LANES; ++f) {
                    lr[f] = we * x[f * hop];
                    li[f] = wo * x[f * hop + 1];
                }
            }
        }
        return;
    }
    for (int64_t f = 0; f < LANES; ++f) { /* frames reaching into the padding, or none */
        const int64_t start = first + f * hop;
        const int live = t0 + f < p->frames;
        for (int64_t n = 0; n < n_fft; ++n) {
            const int64_t i = start + n;
            const double v = !live || i < 0 || i >= samples
                                 ? 0.0
                                 : w[n] * (x32 ? (double)x32[i] : x64[i]);
            if (n & 1)
                im[(n >> 1) * LANES + f] = v;
            else
                re[(n >> 1) * LANES + f] = v;
        }
    }
}

/* Helpers of the cloned functions must be inlined into each clone to get its instruction set. */
#if defined(__GNUC__)
#define INLINE static inline __attribute__((always_inline))
#else
#define INLINE static inline
#endif

/* One radix-4 DIF stage on the blocks of `size` points in [lo, hi), W = e^{-2 pi i / size}:
 * two radix-2 stages fused (outputs j, j + q, j + 2q, j + 3q of a block are those two stages'
 * outputs), so the final order stays bit-reversed. */
INLINE void radix4_stage(const plan_t *p, double *restrict re, double *restrict im, int64_t lo,
                         int64_t hi, int64_t size) {
    const int64_t q = size / 4, stride = p->m / size;
    for (int64_t b = lo; b < hi; b += size) {
        for (int64_t j = 0; j < q; ++j) {
            const double w1r = p->cos_m[j * stride], w1i = -p->sin_m[j * stride];
            const double w2r = p->cos_m[2 * j * stride], w2i = -p->sin_m[2 * j * stride];
            const double w3r = p->cos_m[3 * j * stride], w3i = -p->sin_m[3 * j * stride];
            double *restrict r0 = re + (b + j) * LANES, *restrict i0 = im + (b + j) * LANES;
            double *restrict r1 = r0 + q * LANES, *restrict i1 = i0 + q * LANES;
            double *restrict r2 = r1 + q * LANES, *restrict i2 = i1 + q * LANES;
            double *restrict r3 = r2 + q * LANES, *restrict i3 = i2 + q * LANES;
#pragma omp simd
            for (int f = 0; f < LANES; ++f) {
                const double t0r = r0[f] + r2[f], t0i = i0[f] + i2[f];
                const double t1r = r0[f] - r2[f], t1i = i0[f] - i2[f];
                const double t2r = r1[f] + r3[f], t2i = i1[f] + i3[f];
                const double t3r = i1[f] - i3[f], t3i = r3[f] - r1[f]; /* -i (a1 - a3) */
                const double ur = t0r - t2r, ui = t0i - t2i;
                const double vr = t1r + t3r, vi = t1i + t3i;
                const double sr = t1r - t3r, si = t1i - t3i;
                r0[f] = t0r + t2r;
                i0[f] = t0i + t2i;
                r1[f] = ur * w2r - ui * w2i;
                i1[f] = ur * w2i + ui * w2r;
                r2[f] = vr * w1r - vi * w1i;
                i2[f] = vr * w1i + vi * w1r;
                r3[f] = sr * w3r - si * w3i;
                i3[f] = sr * w3i + si * w3r;
            }
        }
    }
}

/* The last stage (blocks of 4 points), whose twiddles are all 1. */
INLINE void radix4_last(double *restrict re, double *restrict im, int64_t lo, int64_t hi) {
    for (int64_t b = lo; b < hi; b += 4) {
        double *restrict r0 = re + b * LANES, *restrict i0 = im + b * LANES;
        double *restrict r1 = r0 + LANES, *restrict i1 = i0 + LANES;
        double *restrict r2 = r1 + LANES, *restrict i2 = i1 + LANES;
        double *restrict r3 = r2 + LANES, *restrict i3 = i2 + LANES;
#pragma omp simd
        for (int f = 0; f < LANES; ++f) {
            const double t0r = r0[f] + r2[f], t0i = i0[f] + i2[f];
            const double t1r = r0[f] - r2[f], t1i = i0[f] - i2[f];
            const double t2r = r1[f] + r3[f], t2i = i1[f] + i3[f];
            const double t3r = i1[f] - i3[f], t3i = r3[f] - r1[f];
            r0[f] = t0r + t2r;
            i0[f] = t0i + t2i;
            r1[f] = t0r - t2r;
            i1[f] = t0i - t2i;
            r2[f] = t1r + t3r;
            i2[f] = t1i + t3i;
            r3[f] = t1r - t3r;
            i3[f] = t1i - t3i;
        }
    }
}

/* In-place DIF FFT of m points in every lane; output in bit-reversed order. */
MFCC_CLONES
static void fft_lanes(const plan_t *p, double *restrict re, double *restrict im) {
    const int64_t m = p->m;
    int64_t size = m; /* length of the sub-transforms the next stage splits */
    if (p->log2m & 1) {
        const int64_t h = m / 2;
        for (int64_t j = 0; j < h; ++j) {
            const double wr = p->cos_m[j], wi = -p->sin_m[j];
            double *restrict ar = re + j * LANES, *restrict ai = im + j * LANES;
            double *restrict br = re + (j + h) * LANES, *restrict bi = im + (j + h) * LANES;
#pragma omp simd
            for (int f = 0; f < LANES; ++f) {
                const double dr = ar[f] - br[f], di = ai[f] - bi[f];
                ar[f] += br[f];
                ai[f] += bi[f];
                br[f] = dr * wr - di * wi;
                bi[f] = dr * wi + di * wr;
            }
        }
        size = h;
    }
    /* Stage by stage over the whole buffer: finishing L1-sized sub-transforms one at a time
     * measured no faster (the buffer sits in L2 either way). */
    for (; size > 4; size /= 4) radix4_stage(p, re, im, 0, m, size);
    if (size == 4) radix4_last(re, im, 0, m);
}

/* Power spectrum bins 0 .. m of every lane, times 4, from the bit-reversed half-size transform
 * Z of z[n] = x[2n] + i x[2n + 1]: X[k] = E[k] + e^{-2 pi i k / n_fft} O[k] with
 * E = (Z[k] + conj Z[m - k]) / 2 and O = (Z[k] - conj Z[m - k]) / 2i the transforms of the
 * even and odd samples. Bins k and m - k come from the same two values of Z:
 * 2 X[k] = (a + b, e + d) and 2 X[m - k] = (a - b, d - e), with a, e the real and imaginary
 * parts of 2 E[k] and b, d those of 2 e^{-2 pi i k / n_fft} O[k]. (The factor 4 is exact; the
 * mel stage takes it out.) */
MFCC_CLONES
static void power_lanes(const plan_t *p, const double *restrict re, const double *restrict im,
                        double *restrict power) {
    const int64_t m = p->m;
#pragma omp simd
    for (int f = 0; f < LANES; ++f) {
        const double x0 = 2.0 * (re[f] + im[f]), xm = 2.0 * (re[f] - im[f]);
        power[f] = x0 * x0;
        power[m * LANES + f] = xm * xm;
    }
    for (int64_t k = 1; 2 * k < m; ++k) {
        const int64_t at = p->bitrev[k] * LANES, mirror = p->bitrev[m - k] * LANES;
        const double *restrict zr = re + at, *restrict zi = im + at;       /* Z[k] */
        const double *restrict yr = re + mirror, *restrict yi = im + mirror; /* Z[m - k] */
        const double c = p->cos_n[k], s = p->sin_n[k];
        double *restrict lo = power + k * LANES, *restrict hi = power + (m - k) * LANES;
#pragma omp simd
        for (int f = 0; f < LANES; ++f) {
            const double a = zr[f] + yr[f], e = zi[f] - yi[f];   /* 2 E[k] */
            const double or_ = zi[f] + yi[f], oi = yr[f] - zr[f]; /* 2 O[k] */
            const double b = c * or_ + s * oi, d = c * oi - s * or_;
            const double lr = a + b, li = e + d, hr = a - b, hi_ = d - e;
            lo[f] = lr * lr + li * li;
            hi[f] = hr * hr + hi_ * hi_;
        }
    }
    if (m >= 2) { /* k = m / 2 pairs with itself: X = Z[k] conjugated */
        const double *restrict zr = re + p->bitrev[m / 2] * LANES;
        const double *restrict zi = im + p->bitrev[m / 2] * LANES;
        double *restrict mid = power + (m / 2) * LANES;
#pragma omp simd
        for (int f = 0; f < LANES; ++f) mid[f] = 4.0 * (zr[f] * zr[f] + zi[f] * zi[f]);
    }
}

/* Mel bands of every lane in dB, into db[band * frames + t0 + f] for the lanes that are frames;
 * returns their maximum. */
MFCC_CLONES
static double mel_db_lanes(const plan_t *p, const double *restrict power, int64_t t0,
                           double *restrict db) {
    double peak = -HUGE_VAL;
    const int64_t used = p->frames - t0 < LANES ? p->frames - t0 : LANES;
    for (int64_t band = 0; band < p->n_mels; ++band) {
        double acc[LANES] = {0};
        const double *w = p->band_weights + p->band_offset[band];
        for (int64_t k = p->band_start[band]; k < p->band_stop[band]; ++k, ++w) {
            const double wk = *w;
            const double *restrict pk = power + k * LANES;
#pragma omp simd
            for (int f = 0; f < LANES; ++f) acc[f] += wk * pk[f];
        }
        double level[LANES];
#pragma omp simd
        for (int f = 0; f < LANES; ++f) {
            const double mel = 0.25 * acc[f]; /* the power spectrum came times 4 */
            level[f] = db10(mel > p->amin ? mel : p->amin);
        }
        double *restrict row = db + band * p->frames + t0;
        for (int64_t f = 0; f < used; ++f) {
            row[f] = level[f];
            peak = level[f] > peak ? level[f] : peak;
        }
    }
    return peak;
}

/* Clamp at floor, then out[c][t] = sum over bands of dct[c][band] db[band][t]. */
MFCC_CLONES
static void dct_row(const plan_t *p, double *restrict db, double floor, double *restrict acc,
                    float *restrict out) {
    const int64_t frames = p->frames, total = p->n_mels * frames;
#pragma omp simd
    for (int64_t i = 0; i < total; ++i) db[i] = db[i] > floor ? db[i] : floor;
    for (int64_t c = 0; c < p->n_mfcc; ++c) {
        memset(acc, 0, sizeof(double) * frames);
        for (int64_t band = 0; band < p->n_mels; ++band) {
            const double d = p->dct[c * p->n_mels + band];
            const double *restrict src = db + band * frames;
#pragma omp simd
            for (int64_t t = 0; t < frames; ++t) acc[t] += d * src[t];
        }
        float *restrict dst = out + c * frames;
#pragma omp simd
        for (int64_t t = 0; t < frames; ++t) dst[t] = (float)acc[t];
    }
}

static int64_t mfcc_rows(const plan_t *p, const float *x32, const double *x64, float *out,
                         int64_t rows) {
    int64_t failures = 0;
#pragma omp parallel reduction(+ : failures)
    {
        const int64_t m = p->m, frames = p->frames;
        double *re = malloc(sizeof(double) * m * LANES);
        double *im = malloc(sizeof(double) * m * LANES);
        double *power = malloc(sizeof(double) * (m + 1) * LANES);
        double *db = malloc(sizeof(double) * p->n_mels * frames);
        double *acc = malloc(sizeof(double) * frames);
        const int ok = re && im && power && db && acc;
#pragma omp for schedule(dynamic)
        for (int64_t r = 0; r < rows; ++r) {
            if (!ok) {
                ++failures;
                continue;
            }
            const float *row32 = x32 ? x32 + r * p->samples : NULL;
            const double *row64 = x64 ? x64 + r * p->samples : NULL;
            double peak = -HUGE_VAL;
            for (int64_t t0 = 0; t0 < frames; t0 += LANES) {
                load_frames(p, row32, row64, t0, re, im);
                fft_lanes(p, re, im);
                power_lanes(p, re, im, power);
                const double group_peak = mel_db_lanes(p, power, t0, db);
                peak = group_peak > peak ? group_peak : peak;
            }
            dct_row(p, db, peak - p->top_db, acc, out + r * p->n_mfcc * frames);
        }
        free(re);
        free(im);
        free(power);
        free(db);
        free(acc);
    }
    return failures;
}

int64_t dafx_mfcc(const float *x32, const double *x64, float *out, int64_t rows,
                  int64_t samples, int64_t n_fft, int64_t hop, const double *window,
                  int64_t n_mels, const int64_t *band_start, const int64_t *band_stop,
                  const int64_t *band_offset, const double *band_weights, int64_t n_mfcc,
                  const double *dct, double amin, double top_db) {
    plan_t p = {
        .n_fft = n_fft, .m = n_fft / 2, .hop = hop, .pad = n_fft / 2, .samples = samples,
        .frames = 1 + (samples + 2 * (n_fft / 2) - n_fft) / hop, .window = window,
        .n_mels = n_mels, .n_mfcc = n_mfcc, .band_start = band_start, .band_stop = band_stop,
        .band_offset = band_offset, .band_weights = band_weights, .dct = dct, .amin = amin,
        .top_db = top_db,
    };
    /* n_fft must be a power of two >= 2 (checked by the caller). */
    const int64_t m = p.m;
    p.log2m = 0;
    while ((1LL << p.log2m) < m) ++p.log2m;
    p.cos_m = malloc(sizeof(double) * m);
    p.sin_m = malloc(sizeof(double) * m);
    p.cos_n = malloc(sizeof(double) * (m + 1));
    p.sin_n = malloc(sizeof(double) * (m + 1));
    p.bitrev = malloc(sizeof(int64_t) * m);
    int64_t failures = rows;
    if (p.cos_m && p.sin_m && p.cos_n && p.sin_n && p.bitrev) {
        const double two_pi = 6.283185307179586476925;
        for (int64_t t = 0; t < m; ++t) {
            p.cos_m[t] = cos(two_pi * (double)t / (double)m);
            p.sin_m[t] = sin(two_pi * (double)t / (double)m);
            int64_t rev = 0;
            for (int bit = 0; bit < p.log2m; ++bit) rev |= ((t >> bit) & 1) << (p.log2m - 1 - bit);
            p.bitrev[t] = rev;
        }
        for (int64_t k = 0; k <= m; ++k) {
            p.cos_n[k] = cos(two_pi * (double)k / (double)n_fft);
            p.sin_n[k] = sin(two_pi * (double)k / (double)n_fft);
        }
        failures = mfcc_rows(&p, x32, x64, out, rows);
    }
    free(p.cos_m);
    free(p.sin_m);
    free(p.cos_n);
    free(p.sin_n);
    free(p.bitrev);
    return failures;
}
