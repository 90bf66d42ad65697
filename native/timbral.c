/* Kernels of the timbral descriptors (brightness, depth and the shared front end).
 *
 * - dafx_timbral_filters: the K-weighting, the 20 Hz high pass and the four band filters of
 *   brightness and depth (chains of biquads) in a single pass, one chain per vector lane, each
 *   stage in direct form II transposed with scipy.signal.lfilter's operation order and fused
 *   multiply-adds where the CPU has them, so every chain gives lfilter's numbers up to
 *   rounding (exactly without FMA).
 * - dafx_timbral_frame_energy: per frame of a signal, sum of (w (x - mean))^2: by Parseval, the
 *   sum over all bins of a frame's power spectrum divided by nfft.
 * - dafx_timbral_block_powers: mean squares of the loudness meter's 400 ms gating blocks.
 * - dafx_timbral_stft: frames of a signal (optionally mean-removed), windowed, zero-padded to
 *   nfft, real FFT, and reductions of the power spectrum |X_k|^2 (one-sided, doubled except at
 *   DC and Nyquist): its sum over frames per bin, its first moment sum_k k c_k |X_k|^2 and its
 *   total per frame, mel band powers per frame, and the magnitudes |X_k| or the complex
 *   spectrum itself. Frames lie on a regular grid or at given starts.
 * - dafx_timbral_istft: inverse real FFTs of complex spectra, windowed and overlap-added (the
 *   inverse STFT before its normalisation), through the same lanes.
 *   The transform is the lane-batched real FFT of timbral_fft.h (see there), in double or float.
 * - dafx_timbral_mel_flux: librosa's onset strength from mel band powers (dB, 80 dB floor below
 *   the peak, lag-1 positive difference averaged over bands, centred). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fastmath.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define TIMBRAL_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define TIMBRAL_CLONES
#endif

/* ---------------------------------------------------------------------------------------- */
/* Biquad chains                                                                              */
/* ---------------------------------------------------------------------------------------- */

typedef double v8d __attribute__((vector_size(64)));

/* The front end and the band filters of brightness and depth in one pass over x.
 * front: 2 chains x 3 stages (rows b0, b1, b2, a1, a2): chain 0 (the K-weighting, padded with an
 * identity stage) and chain 1 (the 20 Hz high pass); bands: 4 chains x 3 stages fed by chain
 * 1's output. out_front[c * n + k], out_bands[c * n + k].
 * All six chains run in the lanes of one 8-wide vector; the band lanes run LAG samples behind
 * (their input is the high pass's output of LAG steps before), so one set of recursions
 * advances every chain per step while the steps still overlap in the pipeline.
 *
 * Each stage is direct form II transposed in lfilter's order,
 *   y = z0 + b0 v,  z0 = (z1 + b1 v) - a1 y,  z1 = b2 v - a2 y,
 * with fused multiply-adds where the CPU has them: y -> z0 -> next y is then two FMAs instead
 * of a multiply, a subtraction and an addition, and a step takes 5 vector operations per stage
 * instead of 9. The results differ from lfilter's by rounding only (one rounding fewer per
 * product). Without FMA hardware the plain form runs (lfilter's numbers exactly). */
#define LAG 8

#define STAGE_PLAIN(s)                            \
    do {                                          \
        const v8d y = z0[s] + c0[s] * v;          \
        z0[s] = z1[s] + c1[s] * v - d1[s] * y;    \
        z1[s] = c2[s] * v - d2[s] * y;            \
        v = y;                                    \
    } while (0)
/* nd1 = -a1, nd2 = -a2: z0 = fma(-a1, y, fma(b1, v, z1)), z1 = fma(-a2, y, b2 v). */
#define STAGE_FMA(s)                                          \
    do {                                                      \
        const v8d y = FMA8(c0[s], v, z0[s]);                  \
        z0[s] = FMA8(nd1[s], y, FMA8(c1[s], v, z1[s]));       \
        z1[s] = FMA8(nd2[s], y, c2[s] * v);                   \
        v = y;                                                \
    } while (0)

#define FILTERS_BODY(STAGE)                                                                  \
    {                                                                                        \
        v8d z0[3], z1[3], c0[3], c1[3], c2[3], d1[3], d2[3], nd1[3], nd2[3];                 \
        for (int s = 0; s < 3; ++s) {                                                        \
            for (int c = 0; c < 8; ++c) {                                                    \
                const double *row = NULL;                                                    \
                if (c < 2) row = front + (c * 3 + s) * 5;                                    \
                else if (c < 6) row = bands + ((c - 2) * 3 + s) * 5;                         \
                c0[s][c] = row ? row[0] : 1.0;                                               \
                c1[s][c] = row ? row[1] : 0.0;                                               \
                c2[s][c] = row ? row[2] : 0.0;                                               \
                d1[s][c] = row ? row[3] : 0.0;                                               \
                d2[s][c] = row ? row[4] : 0.0;                                               \
                nd1[s][c] = -d1[s][c];                                                       \
                nd2[s][c] = -d2[s][c];                                                       \
                z0[s][c] = 0.0;                                                              \
                z1[s][c] = 0.0;                                                              \
            }                                                                                \
        }                                                                                    \
        (void)nd1;                                                                           \
        (void)nd2;                                                                           \
        double *o0 = out_front, *o1 = out_front + n;                                         \
        double *p0 = out_bands, *p1 = out_bands + n, *p2 = out_bands + 2 * n,                \
               *p3 = out_bands + 3 * n;                                                      \
        for (int64_t k = 0; k < n + LAG; ++k) {                                              \
            const double xk = k < n ? x[k] : 0.0;                                            \
            const double h = k >= LAG ? o1[k - LAG] : 0.0;                                   \
            v8d v = {xk, xk, h, h, h, h, 0.0, 0.0};                                          \
            STAGE(0);                                                                        \
            STAGE(1);                                                                        \
            STAGE(2);                                                                        \
            if (k < n) {                                                                     \
                o0[k] = v[0];                                                                \
                o1[k] = v[1];                                                                \
            }                                                                                \
            if (k >= LAG) {                                                                  \
                p0[k - LAG] = v[2];                                                          \
                p1[k - LAG] = v[3];                                                          \
                p2[k - LAG] = v[4];                                                          \
                p3[k - LAG] = v[5];                                                          \
            }                                                                                \
        }                                                                                    \
    }

#define FILTERS_ARGS                                                                       \
    const double *restrict x, int64_t n, const double *front, const double *bands,        \
        double *restrict out_front, double *restrict out_bands

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
/* x86: FMA decided at run time (the library is built for the baseline instruction set). */
#include <immintrin.h>
#define FMA8(a, b, c) fma8_avx512((a), (b), (c))
static inline __attribute__((always_inline, target("avx512f"))) v8d fma8_avx512(v8d a, v8d b,
                                                                                 v8d c) {
    return (v8d)_mm512_fmadd_pd((__m512d)a, (__m512d)b, (__m512d)c);
}
__attribute__((target("avx512f"))) static void filters_avx512(FILTERS_ARGS) FILTERS_BODY(STAGE_FMA)
#undef FMA8
/* Eight lanes as two AVX2 halves (a macro: a function passing 64-byte vectors without AVX-512
 * would draw GCC's ABI warning). */
typedef union {
    v8d v;
    __m256d h[2];
} v8d_halves;
#define FMA8(a, b, c)                                                \
    ({                                                               \
        const v8d_halves a_ = {.v = (a)}, b_ = {.v = (b)}, c_ = {.v = (c)}; \
        v8d_halves r_;                                               \
        r_.h[0] = _mm256_fmadd_pd(a_.h[0], b_.h[0], c_.h[0]);        \
        r_.h[1] = _mm256_fmadd_pd(a_.h[1], b_.h[1], c_.h[1]);        \
        r_.v;                                                        \
    })
__attribute__((target("avx2,fma"))) static void filters_fma(FILTERS_ARGS) FILTERS_BODY(STAGE_FMA)
#undef FMA8
static void filters_plain(FILTERS_ARGS) FILTERS_BODY(STAGE_PLAIN)

void dafx_timbral_filters(FILTERS_ARGS) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        filters_avx512(x, n, front, bands, out_front, out_bands);
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        filters_fma(x, n, front, bands, out_front, out_bands);
    else
        filters_plain(x, n, front, bands, out_front, out_bands);
}
#elif defined(__FP_FAST_FMA)
/* FMA in the target's base instruction set (aarch64, or x86 built for such a CPU). */
#define FMA8(a, b, c) ((a) * (b) + (c)) /* contracted: the build allows no other contraction */
void dafx_timbral_filters(FILTERS_ARGS) FILTERS_BODY(STAGE_FMA)
#else
void dafx_timbral_filters(FILTERS_ARGS) FILTERS_BODY(STAGE_PLAIN)
#endif

/* ---------------------------------------------------------------------------------------- */
/* Frame energies (Parseval)                                                                  */
/* ---------------------------------------------------------------------------------------- */

/* Sum of n doubles with four independent vector accumulators (a single one would wait on
 * the add latency at every step). */
static inline __attribute__((always_inline)) double sum_doubles(const double *x, int64_t n) {
    v8d acc[4] = {{0}, {0}, {0}, {0}};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        for (int a = 0; a < 4; ++a) {
            v8d v;
            memcpy(&v, x + i + 8 * a, sizeof(v));
            acc[a] += v;
        }
    }
    const v8d total = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    double s = 0.0;
    for (int f = 0; f < 8; ++f) s += total[f];
    for (; i < n; ++i) s += x[i];
    return s;
}

/* sum_i w[i] (x[i] - mean)^2 (w = NULL: weights 1), four vector accumulators. */
static inline __attribute__((always_inline)) double sum_weighted_squares(const double *x,
                                                                        const double *w,
                                                                        int64_t n, double mean) {
    v8d acc[4] = {{0}, {0}, {0}, {0}};
    const v8d mv = {mean, mean, mean, mean, mean, mean, mean, mean};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        for (int a = 0; a < 4; ++a) {
            v8d v, wv;
            memcpy(&v, x + i + 8 * a, sizeof(v));
            const v8d d = v - mv;
            if (w) {
                memcpy(&wv, w + i + 8 * a, sizeof(wv));
                acc[a] += wv * (d * d);
            } else {
                acc[a] += d * d;
            }
        }
    }
    const v8d total = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    double s = 0.0;
    for (int f = 0; f < 8; ++f) s += total[f];
    for (; i < n; ++i) {
        const double d = x[i] - mean;
        s += (w ? w[i] : 1.0) * (d * d);
    }
    return s;
}

/* out[t] = the mean of frame t, x[first + t hop ...] for nperseg samples (zeros outside x).
 * When hop divides nperseg, from sums of hop-sample blocks (each sample is read once instead of
 * nperseg / hop times); else, or without memory for the block sums, frame by frame. */
TIMBRAL_CLONES
static void frame_means(const double *x, int64_t n, int64_t first, int64_t hop, int64_t frames,
                        int64_t nperseg, double *out) {
    const int64_t q = hop > 0 ? nperseg / hop : 0;
    double *block = frames > 1 && q > 1 && q * hop == nperseg
                        ? malloc(sizeof(double) * (size_t)(frames - 1 + q))
                        : NULL;
    if (block) {
        for (int64_t b = 0; b < frames - 1 + q; ++b) {
            int64_t lo = first + b * hop, hi = lo + hop;
            lo = lo < 0 ? 0 : lo;
            hi = hi > n ? n : hi;
            block[b] = hi > lo ? sum_doubles(x + lo, hi - lo) : 0.0;
        }
        for (int64_t t = 0; t < frames; ++t) {
            double s = 0.0;
            for (int64_t j = 0; j < q; ++j) s += block[t + j];
            out[t] = s / (double)nperseg;
        }
        free(block);
        return;
    }
    for (int64_t t = 0; t < frames; ++t) {
        const int64_t start = first + t * hop;
        const int64_t lo = start < 0 ? -start : 0;
        int64_t hi = start + nperseg > n ? n - start : nperseg;
        if (hi < lo) hi = lo;
        out[t] = sum_doubles(x + start + lo, hi - lo) / (double)nperseg;
    }
}

/* Frame t covers x[first + t hop ...] for nperseg samples (samples outside x read as 0);
 * out[t] = sum_n w2[n] (x_n - mean)^2, the mean over the frame when detrend, else 0. */
TIMBRAL_CLONES
void dafx_timbral_frame_energy(const double *x, int64_t n, int64_t first, int64_t hop,
                               int64_t frames, int64_t nperseg, const double *w2, int64_t detrend,
                               double *out) {
    /* The means go into out first; each is read before its slot is overwritten. */
    if (detrend) frame_means(x, n, first, hop, frames, nperseg, out);
    for (int64_t t = 0; t < frames; ++t) {
        const int64_t start = first + t * hop;
        const int64_t lo = start < 0 ? -start : 0;
        int64_t hi = start + nperseg > n ? n - start : nperseg;
        if (hi < lo) hi = lo;
        const double mean = detrend ? out[t] : 0.0;
        double acc = sum_weighted_squares(x + start + lo, w2 + lo, hi - lo, mean);
        /* Samples outside the signal are zeros, minus the mean. */
        for (int64_t i = 0; i < lo; ++i) acc += w2[i] * (mean * mean);
        for (int64_t i = hi; i < nperseg; ++i) acc += w2[i] * (mean * mean);
        out[t] = acc;
    }
}

/* out[j] = scale * sum of y[lo[j] .. hi[j])^2 (bounds within y): the mean squares of the
 * loudness meter's gating blocks. */
TIMBRAL_CLONES
void dafx_timbral_block_powers(const double *y, const int64_t *lo, const int64_t *hi,
                               int64_t blocks, double scale, double *out) {
    for (int64_t j = 0; j < blocks; ++j)
        out[j] = hi[j] > lo[j] ? scale * sum_weighted_squares(y + lo[j], NULL, hi[j] - lo[j], 0.0)
                               : 0.0;
}

/* ---------------------------------------------------------------------------------------- */
/* Lane-batched real FFT (timbral_fft.h, once in double and once in float)                    */
/* ---------------------------------------------------------------------------------------- */

/* Sub-transforms of at most this many bytes of lanes are finished while they sit in L1. */
#define FFT_BLOCK_BYTES 32768

typedef struct {
    int64_t m, log2m;
    const double *cos_m, *sin_m; /* cos, sin of 2 pi t / m, t < m */
    const double *cos_n, *sin_n; /* cos, sin of 2 pi k / nfft, k <= m */
    const int64_t *bitrev;       /* bit reversal of log2m bits */
} fft_t;

typedef struct {
    const double *x, *window;
    int64_t n, first, hop, frames, nperseg, nfft, detrend;
    const double *means;   /* the frames' means when detrend (NULL: computed per group) */
    const int64_t *starts; /* frame t starts at starts[t] (NULL: at first + t hop) */
} frames_t;

/* Mel bands by bin: bin k (k <= m) adds w0[k] |X_k|^2 to band bin_band[k] and w1[k] |X_k|^2 to
 * the next band (triangular filters overlap by at most two); bin_band[k] < 0: no band. */
typedef struct {
    int64_t n_mels;
    const int64_t *bin_band;
    const double *bin_w0, *bin_w1;
} mel_t;

typedef long long v8l __attribute__((vector_size(64)));
typedef float v8f __attribute__((vector_size(32)));

/* r[f] holds eight consecutive values of lane f; afterwards r[i] holds value i of every lane
 * (three stages of two-vector shuffles). */
static inline __attribute__((always_inline)) void transpose8(v8d r[8]) {
    const v8l even1 = {0, 8, 2, 10, 4, 12, 6, 14}, odd1 = {1, 9, 3, 11, 5, 13, 7, 15};
    const v8l lo2 = {0, 1, 8, 9, 4, 5, 12, 13}, hi2 = {2, 3, 10, 11, 6, 7, 14, 15};
    const v8l lo4 = {0, 1, 2, 3, 8, 9, 10, 11}, hi4 = {4, 5, 6, 7, 12, 13, 14, 15};
    v8d a[8], b[8];
    for (int i = 0; i < 8; i += 2) {
        a[i] = __builtin_shuffle(r[i], r[i + 1], even1);
        a[i + 1] = __builtin_shuffle(r[i], r[i + 1], odd1);
    }
    for (int i = 0; i < 8; i += 4) {
        b[i] = __builtin_shuffle(a[i], a[i + 2], lo2);
        b[i + 2] = __builtin_shuffle(a[i], a[i + 2], hi2);
        b[i + 1] = __builtin_shuffle(a[i + 1], a[i + 3], lo2);
        b[i + 3] = __builtin_shuffle(a[i + 1], a[i + 3], hi2);
    }
    for (int i = 0; i < 4; ++i) {
        r[i] = __builtin_shuffle(b[i], b[i + 4], lo4);
        r[i + 4] = __builtin_shuffle(b[i], b[i + 4], hi4);
    }
}

#define FT double
#define FL 8
#define FN(name) name##_f64
#define STORE8(dst, v) memcpy((dst), &(v), sizeof(v8d))
#include "timbral_fft.h"
#undef FT
#undef FL
#undef FN
#undef STORE8

#define FT float
#define FL 16
#define FN(name) name##_f32
#define STORE8(dst, v)                                   \
    do {                                                 \
        const v8f narrow = __builtin_convertvector(v, v8f); \
        memcpy((dst), &narrow, sizeof(v8f));             \
    } while (0)
#include "timbral_fft.h"
#undef FT
#undef FL
#undef FN
#undef STORE8

/* Frames of x, transformed, reduced. Frame t starts at first + t hop and holds nperseg samples
 * (zeros outside x and beyond nperseg, up to nfft), minus their mean when detrend, times the
 * window. With P[t, k] = c_k |X[t, k]|^2 (one-sided: c = 1 at DC and Nyquist, else 2), each
 * non-NULL output receives:
 *   sum_power[k] = sum_t P[t, k] (k = 0 .. nfft / 2);
 *   moment[t] = sum_k k P[t, k] and total[t] = sum_k P[t, k];
 *   magnitude[t * (nfft / 2 + 1) + k] = |X[t, k]| (the square root of the power computed in the
 *   transform's precision);
 *   spectrum[2 (t * (nfft / 2 + 1) + k)] and the next value: X[t, k]'s real and imaginary parts,
 *   rounded to float;
 *   mel[t * n_mels + b] = sum_k w_bk |X[t, k]|^2 through the per-bin tables (see mel_t).
 * starts (or NULL): frame t starts at starts[t] instead of first + t hop (first and hop unused).
 * single: transform in float (16 frames per vector) instead of double (8); sums stay double.
 * nfft must be a power of two >= 8, the tables those of m = nfft / 2 (cos, sin of 2 pi t / m,
 * t < m; of 2 pi k / nfft, k <= m; bit reversal). Returns 0, or -1 when the work buffers could
 * not be allocated. */
int64_t dafx_timbral_stft(const double *x, int64_t n, int64_t first, int64_t hop, int64_t frames,
                          const int64_t *starts, int64_t nperseg, int64_t nfft,
                          const double *window, int64_t detrend, int64_t single,
                          const double *cos_m, const double *sin_m, const double *cos_n,
                          const double *sin_n, const int64_t *bitrev, double *sum_power,
                          double *moment, double *total, double *magnitude, float *spectrum,
                          int64_t n_mels, const int64_t *bin_band, const double *bin_w0,
                          const double *bin_w1, double *mel) {
    const int64_t m = nfft / 2;
    int64_t log2m = 0;
    while (((int64_t)1 << log2m) < m) ++log2m;
    const fft_t p = {m, log2m, cos_m, sin_m, cos_n, sin_n, bitrev};
    const frames_t g = {x, window, n, first, hop, frames, nperseg, nfft, detrend, NULL, starts};
    const mel_t bands = {n_mels, bin_band, bin_w0, bin_w1};
    if (single) return stft_f32(&g, &p, sum_power, moment, total, magnitude, spectrum, &bands, mel);
    return stft_f64(&g, &p, sum_power, moment, total, magnitude, spectrum, &bands, mel);
}

/* Inverse real FFTs of frames rows of nfft / 2 + 1 complex values (spectrum[2 (t (nfft / 2 + 1)
 * + k)] real, + 1 imaginary), each times the window (nfft values) and added into
 * out[(first + t) hop ...] (the caller sizes out): librosa's istft before its normalisation,
 * with numpy.fft.irfft's convention (imaginary parts at DC and Nyquist ignored). single:
 * transform in float instead of double. Tables as for dafx_timbral_stft. Returns 0, or -1 when
 * the work buffers could not be allocated. */
int64_t dafx_timbral_istft(const float *spectrum, int64_t frames, int64_t nfft,
                           const double *window, int64_t hop, int64_t first, int64_t single,
                           const double *cos_m, const double *sin_m, const double *cos_n,
                           const double *sin_n, const int64_t *bitrev, double *out) {
    const int64_t m = nfft / 2;
    int64_t log2m = 0;
    while (((int64_t)1 << log2m) < m) ++log2m;
    const fft_t p = {m, log2m, cos_m, sin_m, cos_n, sin_n, bitrev};
    if (frames <= 0) return 0;
    if (single) return istft_f32(&p, spectrum, frames, window, hop, first, out);
    return istft_f64(&p, spectrum, frames, window, hop, first, out);
}

/* ---------------------------------------------------------------------------------------- */
/* Bandwidth decisions of hardness (float transform, error-bounded)                           */
/* ---------------------------------------------------------------------------------------- */

/* One group of BW_LANES frames after fft_lanes_f32: the scaled magnitudes |X_k| scale (DC set
 * to 0: the frames' mean removal only zeroes it), computed in float and written over the rows
 * of `re` (bin k, 0 < k < m, in row bitrev[k], DC in row 0, Nyquist in nyq), and per lane
 * the decisions of dafx_timbral_bandwidth (see there); err[f] is the lane's magnitude error
 * bound. */
#define BW_LANES 16
TIMBRAL_CLONES
static void bandwidth_group(const fft_t *p, float *restrict re, const float *restrict im,
                            const double *err, double scale, double thr, double fraction,
                            double *level, int64_t *rollon, int64_t *rolloff,
                            uint8_t *ambiguous) {
    const int64_t m = p->m, n_bins = m + 1;
    const float sc = (float)scale;
    float lo[BW_LANES], hi[BW_LANES], bestv[BW_LANES], nyq[BW_LANES];
    int32_t best[BW_LANES];
    double tot[BW_LANES];
    for (int f = 0; f < BW_LANES; ++f) {
        lo[f] = (float)(thr - err[f]);
        hi[f] = (float)(thr + err[f]);
        best[f] = -1;
        bestv[f] = 0.0f;
        tot[f] = 0.0;
    }
    /* Row 0: DC (0) and Nyquist (re - im, real); row 1: k = m / 2, where X = conj Z. */
    const int32_t k1 = (int32_t)(m / 2), km = (int32_t)m;
    for (int f = 0; f < BW_LANES; ++f) {
        const float vn = fabsf(re[f] - im[f]) * sc;
        const float a = re[BW_LANES + f], b = im[BW_LANES + f];
        const float v1 = sqrtf(a * a + b * b) * sc;
        nyq[f] = vn;
        re[f] = 0.0f;
        re[BW_LANES + f] = v1;
        tot[f] += (double)vn + (double)v1;
        if (vn >= lo[f] && km > best[f]) {
            best[f] = km;
            bestv[f] = vn;
        }
        if (v1 >= lo[f] && k1 > best[f]) {
            best[f] = k1;
            bestv[f] = v1;
        }
    }
    for (int64_t oct = 2; oct < m; oct *= 2) {
        const int64_t half = oct / 2;
        for (int64_t q = oct; q < oct + half; ++q) {
            const int64_t qq = 3 * oct - 1 - q;
            const int32_t k = (int32_t)p->bitrev[q], kq = (int32_t)(m - k);
            const float c = (float)p->cos_n[k], s = (float)p->sin_n[k];
            float *restrict ar = re + q * BW_LANES, *restrict cr = re + qq * BW_LANES;
            const float *restrict ai = im + q * BW_LANES, *restrict ci = im + qq * BW_LANES;
#pragma omp simd
            for (int f = 0; f < BW_LANES; ++f) {
                const float er = 0.5f * (ar[f] + cr[f]), ei = 0.5f * (ai[f] - ci[f]);
                const float or_ = 0.5f * (ai[f] + ci[f]), oi = 0.5f * (cr[f] - ar[f]);
                const float vr = c * or_ + s * oi, vi = c * oi - s * or_;
                const float xr = er + vr, xi = ei + vi, yr = er - vr, yi = ei - vi;
                const float vk = sqrtf(xr * xr + xi * xi) * sc;
                const float vq = sqrtf(yr * yr + yi * yi) * sc;
                ar[f] = vk;
                cr[f] = vq;
                tot[f] += (double)vk + (double)vq;
                const int take_k = vk >= lo[f] && k > best[f];
                best[f] = take_k ? k : best[f];
                bestv[f] = take_k ? vk : bestv[f];
                const int take_q = vq >= lo[f] && kq > best[f];
                best[f] = take_q ? kq : best[f];
                bestv[f] = take_q ? vq : bestv[f];
            }
        }
    }
    for (int f = 0; f < BW_LANES; ++f) {
        /* Roll-on: the first count of bins whose cumulative magnitude reaches the fraction of
         * the total; ambiguous when either side of the step is within the error reach. */
        const double thresh = tot[f] * fraction;
        double cumulative = 0.0, previous = -HUGE_VAL;
        int64_t counter = 1;
        while (cumulative < thresh && counter < n_bins) {
            previous = cumulative;
            cumulative +=
                (double)(counter < m ? re[p->bitrev[counter] * BW_LANES + f] : nyq[f]);
            ++counter;
        }
        const double slack = ((double)counter + fraction * (double)n_bins) * err[f];
        int amb = cumulative - thresh <= slack || thresh - previous <= slack;
        /* Roll-off: the highest bin that could reach thr; ambiguous unless it surely does. */
        if (best[f] >= 0 && !(bestv[f] >= hi[f])) amb = 1;
        level[f] = tot[f];
        rollon[f] = counter - 1;
        rolloff[f] = best[f];
        ambiguous[f] = (uint8_t)amb;
    }
}

/* Per frame of x (frame t: x[t hop ...], nfft samples, all inside x), the bandwidth decisions
 * of the boxcar spectrogram with the mean removed, magnitudes |X_k| scale:
 *   level[t]: sum over bins of the magnitude; rollon[t]: the roll-on bin (first count of bins,
 *   minus one, whose cumulative magnitude reaches fraction of level); rolloff[t]: the highest
 *   bin with magnitude >= thr, or -1; err[t] = err_per_l1 * scale * sum |x| over the frame,
 *   a bound on each magnitude's error; ambiguous[t] = 1 where a roll-on or roll-off decision
 *   lies within that bound of its threshold (or the frame is too quiet for the bound to hold),
 *   so the float decisions may differ from exact ones (the caller redoes those frames).
 * The transform is fft_lanes_f32 (16 frames per vector), magnitudes in float, sums in double.
 * nfft must be a power of two >= 8, tables as for dafx_timbral_stft. Returns 0, or -1 when
 * work buffers could not be allocated. */
int64_t dafx_timbral_bandwidth(const double *x, int64_t n, int64_t hop, int64_t frames,
                               int64_t nfft, const double *cos_m, const double *sin_m,
                               const double *cos_n, const double *sin_n, const int64_t *bitrev,
                               double scale, double thr, double fraction, double err_per_l1,
                               double *level, int64_t *rollon, int64_t *rolloff,
                               uint8_t *ambiguous, double *err) {
    if (frames <= 0) return 0;
    const int64_t m = nfft / 2;
    int64_t log2m = 0;
    while (((int64_t)1 << log2m) < m) ++log2m;
    const fft_t p = {m, log2m, cos_m, sin_m, cos_n, sin_n, bitrev};
    const size_t rows = (size_t)m * BW_LANES;
    float *re = aligned_alloc(64, sizeof(float) * rows);
    float *im = aligned_alloc(64, sizeof(float) * rows);
    double *ones = malloc(sizeof(double) * (size_t)nfft);
    const int64_t blocks = (frames - 1) + (nfft + hop - 1) / hop;
    double *block_l1 = malloc(sizeof(double) * (size_t)(blocks > 0 ? blocks : 1));
    if (!re || !im || !ones || !block_l1) {
        free(re);
        free(im);
        free(ones);
        free(block_l1);
        return -1;
    }
    for (int64_t i = 0; i < nfft; ++i) ones[i] = 1.0;
    /* sum |x| per hop-block; a frame's is the sum of its blocks when hop divides nfft. */
    const int blockwise = nfft % hop == 0;
    if (blockwise) {
        for (int64_t b = 0; b < blocks; ++b) {
            const int64_t lo = b * hop, hi = lo + hop < n ? lo + hop : n;
            double s = 0.0;
            for (int64_t i = lo; i < hi; ++i) s += fabs(x[i]);
            block_l1[b] = s;
        }
    }
    const frames_t g = {x, ones, n, 0, hop, frames, nfft, nfft, 0, NULL, NULL};
    for (int64_t t0 = 0; t0 < frames; t0 += BW_LANES) {
        const int64_t used = frames - t0 < BW_LANES ? frames - t0 : BW_LANES;
        double e[BW_LANES], lv[BW_LANES];
        int64_t on[BW_LANES], off[BW_LANES];
        uint8_t amb[BW_LANES];
        double l1[BW_LANES];
        for (int f = 0; f < BW_LANES; ++f) {
            double s = 0.0;
            if (f < used) {
                const int64_t start = (t0 + f) * hop;
                if (blockwise) {
                    for (int64_t b = 0; b < nfft / hop; ++b) s += block_l1[t0 + f + b];
                } else {
                    for (int64_t i = 0; i < nfft; ++i) s += fabs(x[start + i]);
                }
            }
            l1[f] = s;
            e[f] = err_per_l1 * scale * s;
        }
        load_frames_f32(&g, t0, re, im, NULL); /* frames inside x */
        fft_lanes_f32(&p, re, im);
        bandwidth_group(&p, re, im, e, scale, thr, fraction, lv, on, off, amb);
        for (int64_t f = 0; f < used; ++f) {
            level[t0 + f] = lv[f];
            rollon[t0 + f] = on[f];
            rolloff[t0 + f] = off[f];
            /* Below this the float transform's underflow could exceed the bound. */
            ambiguous[t0 + f] = amb[f] || !(l1[f] > 1e-12);
            err[t0 + f] = e[f];
        }
    }
    free(re);
    free(im);
    free(ones);
    free(block_l1);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Onset strength from mel powers                                                             */
/* ---------------------------------------------------------------------------------------- */

/* mel: (frames, n_mels) band powers, overwritten with their levels in dB. env[t] (frames values)
 * = mean over bands of max(0, L[t - 2] - L[t - 3]) for t >= 3, else 0, where L is the level
 * floored at amin and at top_db below the overall peak. */
TIMBRAL_CLONES
void dafx_timbral_mel_flux(double *mel, int64_t frames, int64_t n_mels, double amin, double top_db,
                      double *env) {
    const int64_t total = frames * n_mels;
    double peak = -HUGE_VAL;
#pragma omp simd reduction(max : peak)
    for (int64_t i = 0; i < total; ++i) {
        const double v = dafx_db10(mel[i] > amin ? mel[i] : amin);
        mel[i] = v;
        peak = v > peak ? v : peak;
    }
    const double floor = peak - top_db;
#pragma omp simd
    for (int64_t i = 0; i < total; ++i) mel[i] = mel[i] < floor ? floor : mel[i];
    for (int64_t t = 0; t < frames && t < 3; ++t) env[t] = 0.0;
    for (int64_t t = 3; t < frames; ++t) {
        const double *a = mel + (t - 2) * n_mels, *b = mel + (t - 3) * n_mels;
        double acc = 0.0;
        for (int64_t i = 0; i < n_mels; ++i) {
            const double d = a[i] - b[i];
            acc += d > 0.0 ? d : 0.0;
        }
        env[t] = acc / (double)n_mels;
    }
}
