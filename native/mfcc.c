/* MFCCs as librosa.feature.mfcc computes them (librosa 0.11 defaults), one signal per row.
 *
 * Per row: centred frames (n_fft / 2 zeros padded on both sides), periodic Hann window, real
 * FFT, power spectrum and mel band powers (dafx_timbral_stft: the lane-batched real FFT of
 * timbral_fft.h in double, or in float when asked, with the per-bin mel tables), then 10 log10(max(amin, mel)), clamp
 * to the row's maximum minus top_db, orthonormal DCT-II. All arithmetic is double (but the transform
 * when single); the output is rounded to float once. Rows run in parallel (OpenMP). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fastmath.h"
#include "timbral.h"

/* The loops are compiled three times (AVX-512, AVX2, baseline), chosen at load
 * time; the same operations in the same order (no FMA contraction under -std=c11), so all
 * three give the same results. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define MFCC_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MFCC_CLONES
#endif

typedef struct {
    int64_t n_fft, hop, samples, frames;
    const double *window;
    const double *cos_m, *sin_m, *cos_n, *sin_n; /* the FFT tables (see dafx_timbral_stft) */
    const int64_t *bitrev;
    int64_t n_mels, n_mfcc;
    int64_t single;          /* transform in float32 (dafx_timbral_stft's single) */
    const int64_t *bin_band; /* per bin: first mel band holding it (-1: none) */
    const double *bin_w0, *bin_w1; /* its weights in that band and the next */
    const double *dct;
    double amin, top_db;
} plan_t;

/* mel[t * n_mels + b] in dB, in place (one contiguous loop, which vectorises), then into
 * db[b * frames + t] by blocks of frames; returns the largest level. */
MFCC_CLONES
static double mel_db(const plan_t *p, double *restrict mel, double *restrict db) {
    const int64_t frames = p->frames, n_mels = p->n_mels, total = frames * n_mels;
    const double amin = p->amin;
#pragma omp simd
    for (int64_t i = 0; i < total; ++i) mel[i] = dafx_db10(mel[i] > amin ? mel[i] : amin);
    double peak = -HUGE_VAL;
    for (int64_t i = 0; i < total; ++i) peak = mel[i] > peak ? mel[i] : peak;
    for (int64_t t0 = 0; t0 < frames; t0 += 8) {
        const int64_t t1 = t0 + 8 < frames ? t0 + 8 : frames;
        for (int64_t b = 0; b < n_mels; ++b)
            for (int64_t t = t0; t < t1; ++t) db[b * frames + t] = mel[t * n_mels + b];
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
        const int64_t frames = p->frames, samples = p->samples;
        double *copy = x32 ? malloc(sizeof(double) * (size_t)samples) : NULL;
        double *mel = malloc(sizeof(double) * (size_t)(p->n_mels * frames));
        double *db = malloc(sizeof(double) * (size_t)(p->n_mels * frames));
        double *acc = malloc(sizeof(double) * (size_t)frames);
        const int ok = (copy || !x32) && mel && db && acc;
#pragma omp for schedule(dynamic)
        for (int64_t r = 0; r < rows; ++r) {
            const double *row = x32 ? copy : x64 + r * samples;
            if (ok && x32) {
                const float *src = x32 + r * samples;
                for (int64_t i = 0; i < samples; ++i) copy[i] = (double)src[i];
            }
            if (!ok || dafx_timbral_stft(row, samples, -(p->n_fft / 2), p->hop, frames, NULL,
                                         p->n_fft, p->n_fft, p->window, 0, p->single, p->cos_m,
                                         p->sin_m, p->cos_n, p->sin_n, p->bitrev, NULL, NULL,
                                         NULL, NULL, NULL, p->n_mels, p->bin_band,
                                         p->bin_w0, p->bin_w1, mel) != 0) {
                ++failures;
                continue;
            }
            const double peak = mel_db(p, mel, db);
            dct_row(p, db, peak - p->top_db, acc, out + r * p->n_mfcc * frames);
        }
        free(copy);
        free(mel);
        free(db);
        free(acc);
    }
    return failures;
}

int64_t dafx_mfcc(const float *x32, const double *x64, float *out, int64_t rows,
                  int64_t samples, int64_t n_fft, int64_t hop, const double *window,
                  const double *cos_m, const double *sin_m, const double *cos_n,
                  const double *sin_n, const int64_t *bitrev, int64_t n_mels,
                  const int64_t *bin_band, const double *bin_w0, const double *bin_w1,
                  int64_t n_mfcc, const double *dct, double amin, double top_db,
                  int64_t single) {
    /* n_fft must be a power of two >= 8 (checked by the caller). */
    const plan_t p = {
        .n_fft = n_fft, .hop = hop, .samples = samples,
        .frames = 1 + (samples + 2 * (n_fft / 2) - n_fft) / hop, .window = window,
        .cos_m = cos_m, .sin_m = sin_m, .cos_n = cos_n, .sin_n = sin_n, .bitrev = bitrev,
        .n_mels = n_mels, .n_mfcc = n_mfcc, .bin_band = bin_band, .bin_w0 = bin_w0,
        .bin_w1 = bin_w1, .dct = dct, .amin = amin, .top_db = top_db, .single = single,
    };
    return mfcc_rows(&p, x32, x64, out, rows);
}
