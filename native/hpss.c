/* Running medians for harmonic-percussive separation: scipy.ndimage.median_filter with a
 * window along one axis and 'reflect' (half-sample symmetric) edges, as librosa's hpss calls it.
 *
 * Each column (lane) keeps its window sorted. One step removes the value leaving the window and
 * inserts the one entering it without branches, slot by slot:
 *     a[k] = buf[k] < old ? buf[k] : buf[k + 1]          (drop the first copy of old)
 *     buf[k] = min(a[k], max(a[k - 1], new))             (insert new, a[-1] = -inf)
 * which costs O(width) vector operations per step but runs several columns at once in SIMD
 * lanes: 4 doubles or 8 floats with AVX2 where the CPU has it, 16 floats with AVX-512 (chosen at
 * run time), 2 doubles or 4 floats with baseline SSE2 or NEON. Each group of lines is copied into
 * a buffer with its lanes side by side and filtered there. The medians are exact (values are
 * only moved), so the output equals scipy's to the bit. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hpss.h"

static inline int64_t reflect_index(int64_t i, int64_t n) {
    int64_t period = 2 * n;
    i %= period;
    if (i < 0) i += period;
    return i < n ? i : period - 1 - i;
}

static void sort_small(double *v, int64_t n) {
    for (int64_t i = 1; i < n; i++) {
        double x = v[i];
        int64_t j = i - 1;
        while (j >= 0 && v[j] > x) {
            v[j + 1] = v[j];
            j--;
        }
        v[j + 1] = x;
    }
}

/* The kernel body for a vector type VD of LANES values of type T, with the integer mask type VL
 * of the same width. VMAX(a, b) and VMIN(a, b) are lanewise a > b ? a : b and a < b ? a : b
 * (x86's max and min instructions, or masks). Element (r, c) of the input is s[r * rs + c * cs];
 * of the output o[r * ors + c * ocs]. The median runs along r (n values) for every c < m. `vbuf`
 * holds width + 1 vectors, `init` width doubles. */
#define DAFX_MEDIAN_BODY(T, VD, VL, LANES, VMAX, VMIN)                                            \
    VD *buf = (VD *)vbuf;                                                                         \
    const int64_t half = width / 2;                                                               \
    for (int64_t c0 = 0; c0 < m; c0 += LANES) {                                                   \
        int64_t lanes = m - c0 < LANES ? m - c0 : LANES;                                          \
        for (int64_t l = 0; l < LANES; l++) {                                                     \
            int64_t c = c0 + (l < lanes ? l : lanes - 1);                                         \
            for (int64_t j = 0; j < width; j++)                                                   \
                init[j] = s[reflect_index(j - half, n) * rs + c * cs];                            \
            sort_small(init, width);                                                              \
            for (int64_t j = 0; j < width; j++) buf[j][l] = (T)init[j];                           \
            buf[width][l] = INFINITY;                                                             \
        }                                                                                         \
        for (int64_t i = 0; i < n; i++) {                                                         \
            if (i > 0) {                                                                          \
                const T *po = s + reflect_index(i - 1 - half, n) * rs + c0 * cs;                  \
                const T *pn = s + reflect_index(i + half, n) * rs + c0 * cs;                      \
                VD old, nw;                                                                       \
                if (cs == 1 && lanes == LANES) {                                                  \
                    memcpy(&old, po, sizeof(VD));                                                 \
                    memcpy(&nw, pn, sizeof(VD));                                                  \
                } else {                                                                          \
                    for (int64_t l = 0; l < LANES; l++) {                                         \
                        int64_t ll = l < lanes ? l : lanes - 1;                                   \
                        old[l] = po[ll * cs];                                                     \
                        nw[l] = pn[ll * cs];                                                      \
                    }                                                                             \
                }                                                                                 \
                VD prev = (VD){0} - INFINITY;                                                     \
                for (int64_t k = 0; k < width; k++) {                                             \
                    VD x = buf[k];                                                                \
                    VL keep = x < old;                                                            \
                    VD a = (VD)(((VL)x & keep) | ((VL)buf[k + 1] & ~keep));                       \
                    buf[k] = VMIN(a, VMAX(prev, nw));                                             \
                    prev = a;                                                                     \
                }                                                                                 \
            }                                                                                     \
            T *dst = o + i * ors + c0 * ocs;                                                      \
            if (ocs == 1 && lanes == LANES) {                                                     \
                memcpy(dst, &buf[half], sizeof(VD));                                              \
            } else {                                                                              \
                for (int64_t l = 0; l < lanes; l++) dst[l * ocs] = buf[half][l];                  \
            }                                                                                     \
        }                                                                                         \
    }

typedef double vd2 __attribute__((vector_size(16)));
typedef int64_t vl2 __attribute__((vector_size(16)));
typedef float vf4 __attribute__((vector_size(16)));
typedef int32_t vi4 __attribute__((vector_size(16)));

/* Lanewise a > b ? a : b and a < b ? a : b through masks (any target). */
#define DAFX_MASK_MINMAX(VD, VL, SUFFIX)                                                           \
    static inline VD max_##SUFFIX(VD a, VD b) {                                                   \
        const VL up = a > b;                                                                      \
        return (VD)(((VL)a & up) | ((VL)b & ~up));                                                \
    }                                                                                             \
    static inline VD min_##SUFFIX(VD a, VD b) {                                                   \
        const VL low = a < b;                                                                     \
        return (VD)(((VL)a & low) | ((VL)b & ~low));                                              \
    }
DAFX_MASK_MINMAX(vd2, vl2, d2)
DAFX_MASK_MINMAX(vf4, vi4, f4)

static void median_d2(const double *s, double *o, int64_t n, int64_t m, int64_t rs, int64_t cs,
                      int64_t ors, int64_t ocs, int64_t width, void *vbuf, double *init) {
    DAFX_MEDIAN_BODY(double, vd2, vl2, 2, max_d2, min_d2)
}

static void median_f4(const float *s, float *o, int64_t n, int64_t m, int64_t rs, int64_t cs,
                      int64_t ors, int64_t ocs, int64_t width, void *vbuf, double *init) {
    DAFX_MEDIAN_BODY(float, vf4, vi4, 4, max_f4, min_f4)
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DAFX_HAVE_AVX2_PATH 1
#include <immintrin.h>
typedef double vd4 __attribute__((vector_size(32)));
typedef int64_t vl4 __attribute__((vector_size(32)));
typedef float vf8 __attribute__((vector_size(32)));
typedef int32_t vi8 __attribute__((vector_size(32)));
typedef float vf16 __attribute__((vector_size(64)));
typedef int32_t vi16 __attribute__((vector_size(64)));

/* x86's max (min) returns its first operand where it is greater (less), else the second:
 * exactly a > b ? a : b (a < b ? a : b), NaN and signed zeros included. */
#define DAFX_AVX2_INLINE static inline __attribute__((target("avx2"), always_inline))
#define DAFX_AVX512_INLINE static inline __attribute__((target("avx512f"), always_inline))
DAFX_AVX2_INLINE vd4 max_d4(vd4 a, vd4 b) { return (vd4)_mm256_max_pd((__m256d)a, (__m256d)b); }
DAFX_AVX2_INLINE vd4 min_d4(vd4 a, vd4 b) { return (vd4)_mm256_min_pd((__m256d)a, (__m256d)b); }
DAFX_AVX2_INLINE vf8 max_f8(vf8 a, vf8 b) { return (vf8)_mm256_max_ps((__m256)a, (__m256)b); }
DAFX_AVX2_INLINE vf8 min_f8(vf8 a, vf8 b) { return (vf8)_mm256_min_ps((__m256)a, (__m256)b); }
DAFX_AVX512_INLINE vf16 max_f16(vf16 a, vf16 b) {
    return (vf16)_mm512_max_ps((__m512)a, (__m512)b);
}
DAFX_AVX512_INLINE vf16 min_f16(vf16 a, vf16 b) {
    return (vf16)_mm512_min_ps((__m512)a, (__m512)b);
}

__attribute__((target("avx2"))) static void median_d4(const double *s, double *o, int64_t n,
                                                      int64_t m, int64_t rs, int64_t cs,
                                                      int64_t ors, int64_t ocs, int64_t width,
                                                      void *vbuf, double *init) {
    DAFX_MEDIAN_BODY(double, vd4, vl4, 4, max_d4, min_d4)
}

__attribute__((target("avx2"))) static void median_f8(const float *s, float *o, int64_t n,
                                                      int64_t m, int64_t rs, int64_t cs,
                                                      int64_t ors, int64_t ocs, int64_t width,
                                                      void *vbuf, double *init) {
    DAFX_MEDIAN_BODY(float, vf8, vi8, 8, max_f8, min_f8)
}

__attribute__((target("avx512f"))) static void median_f16(const float *s, float *o, int64_t n,
                                                          int64_t m, int64_t rs, int64_t cs,
                                                          int64_t ors, int64_t ocs,
                                                          int64_t width, void *vbuf,
                                                          double *init) {
    DAFX_MEDIAN_BODY(float, vf16, vi16, 16, max_f16, min_f16)
}

static int use_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
}

static int use_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
}
#else
static int use_avx2(void) { return 0; }
#endif

/* Scratch for one call: width + 1 vectors of up to 64 bytes, and width doubles. */
static int scratch(int64_t width, void **buf, double **init) {
    *init = malloc((size_t)width * sizeof(double));
    *buf = aligned_alloc(64, (size_t)(width + 1) * 64);
    if (!*init || !*buf) {
        free(*init);
        free(*buf);
        return -2;
    }
    return 0;
}

/* dst[r * dst_rs + l * dst_cs] = src[r * src_rs + l * src_cs] for r < n, l < lanes: a row's lanes
 * at once where they are adjacent on both sides, else 64 rows of one lane at a time. */
#define DAFX_COPY_LINES(T, NAME)                                                                  \
    static void NAME(const T *src, int64_t src_rs, int64_t src_cs, T *dst, int64_t dst_rs,        \
                     int64_t dst_cs, int64_t n, int64_t lanes) {                                  \
        if (src_cs == 1 && dst_cs == 1) {                                                         \
            for (int64_t r = 0; r < n; ++r)                                                       \
                memcpy(dst + r * dst_rs, src + r * src_rs, sizeof(T) * (size_t)lanes);           \
            return;                                                                               \
        }                                                                                         \
        for (int64_t r0 = 0; r0 < n; r0 += 64) {                                                  \
            const int64_t r1 = r0 + 64 < n ? r0 + 64 : n;                                         \
            for (int64_t l = 0; l < lanes; ++l)                                                   \
                for (int64_t r = r0; r < r1; ++r)                                                 \
                    dst[r * dst_rs + l * dst_cs] = src[r * src_rs + l * src_cs];                  \
        }                                                                                         \
    }

/* Runs a median kernel of `lanes` vector lanes over all m lines. Lines whose lanes are not
 * adjacent in memory would be gathered value by value at every step, and a group's lines, a row
 * apart, can share cache sets: groups of `lanes` lines are therefore copied into a buffer with
 * the lanes adjacent, filtered there and copied back; a last partial group runs in place. */
#define DAFX_MEDIAN_DRIVER(T, NAME, KERNEL_T, COPY)                                               \
    static int NAME(KERNEL_T kernel, int64_t lanes, const T *s, T *out, int64_t n, int64_t m,    \
                    int64_t rs, int64_t cs, int64_t ors, int64_t ocs, int64_t width) {            \
        void *buf;                                                                                \
        double *init;                                                                             \
        if (scratch(width, &buf, &init)) return -2;                                               \
        int64_t c0 = 0;                                                                           \
        T *tin = NULL, *tout = NULL;                                                              \
        if (m >= lanes) {                                                                         \
            tin = aligned_alloc(64, sizeof(T) * (size_t)(n * lanes));                             \
            tout = aligned_alloc(64, sizeof(T) * (size_t)(n * lanes));                            \
        }                                                                                         \
        for (; tin && tout && c0 + lanes <= m; c0 += lanes) {                                     \
            COPY(s + c0 * cs, rs, cs, tin, lanes, 1, n, lanes);                                   \
            kernel(tin, tout, n, lanes, lanes, 1, lanes, 1, width, buf, init);                    \
            COPY(tout, lanes, 1, out + c0 * ocs, ors, ocs, n, lanes);                             \
        }                                                                                         \
        free(tin);                                                                                \
        free(tout);                                                                               \
        if (c0 < m)                                                                               \
            kernel(s + c0 * cs, out + c0 * ocs, n, m - c0, rs, cs, ors, ocs, width, buf, init);  \
        free(init);                                                                               \
        free(buf);                                                                                \
        return 0;                                                                                 \
    }

typedef void (*median_d_fn)(const double *, double *, int64_t, int64_t, int64_t, int64_t,
                            int64_t, int64_t, int64_t, void *, double *);
typedef void (*median_f_fn)(const float *, float *, int64_t, int64_t, int64_t, int64_t, int64_t,
                            int64_t, int64_t, void *, double *);
DAFX_COPY_LINES(double, copy_lines_d)
DAFX_COPY_LINES(float, copy_lines_f)
DAFX_MEDIAN_DRIVER(double, run_median_d, median_d_fn, copy_lines_d)
DAFX_MEDIAN_DRIVER(float, run_median_f, median_f_fn, copy_lines_f)

int dafx_running_median(const double *s, double *out, int64_t n, int64_t m, int64_t row_stride,
                        int64_t col_stride, int64_t out_row_stride, int64_t out_col_stride,
                        int64_t width) {
    if (n <= 0 || m <= 0) return 0;
    if (width < 1 || width % 2 == 0) return -1;
    median_d_fn kernel = median_d2;
    int64_t lanes = 2;
#ifdef DAFX_HAVE_AVX2_PATH
    if (use_avx2()) {
        kernel = median_d4;
        lanes = 4;
    }
#endif
    return run_median_d(kernel, lanes, s, out, n, m, row_stride, col_stride, out_row_stride,
                        out_col_stride, width);
}

int dafx_running_median_f32(const float *s, float *out, int64_t n, int64_t m, int64_t row_stride,
                            int64_t col_stride, int64_t out_row_stride, int64_t out_col_stride,
                            int64_t width) {
    if (n <= 0 || m <= 0) return 0;
    if (width < 1 || width % 2 == 0) return -1;
    median_f_fn kernel = median_f4;
    int64_t lanes = 4;
#ifdef DAFX_HAVE_AVX2_PATH
    if (use_avx512()) {
        kernel = median_f16;
        lanes = 16;
    } else if (use_avx2()) {
        kernel = median_f8;
        lanes = 8;
    }
#endif
    return run_median_f(kernel, lanes, s, out, n, m, row_stride, col_stride, out_row_stride,
                        out_col_stride, width);
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define HPSS_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define HPSS_CLONES
#endif

/* spec (n complex floats, re/im interleaved) times librosa's softmask(perc, harm, power=2,
 * split_zeros=True), in place: m = (p / z)^2 / ((p / z)^2 + (h / z)^2) with z = max(p, h), and
 * m = 1/2 where z < tiny. Every operation is a float operation in this order, so the result
 * equals the same loop written elementwise in float32 to the bit. */
HPSS_CLONES
void dafx_hpss_percussive_mask_f32(float *restrict spec, const float *restrict harm,
                                   const float *restrict perc, int64_t n, double tiny) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
        const float p = perc[i], h = harm[i];
        const float z = p > h ? p : h;
        float pz = p / z;
        const float hz = h / z;
        pz = pz * pz;
        const float ratio = pz / (pz + hz * hz);
        const float mk = (double)z < tiny ? 0.5f : ratio;
        spec[2 * i] = spec[2 * i] * mk;
        spec[2 * i + 1] = spec[2 * i + 1] * mk;
    }
}
