/* Running medians for harmonic-percussive separation: scipy.ndimage.median_filter with a
 * window along one axis and 'reflect' (half-sample symmetric) edges, as librosa's hpss calls it.
 *
 * Each column (lane) keeps its window sorted. One step removes the value leaving the window and
 * inserts the one entering it without branches, slot by slot:
 *     a[k] = buf[k] < old ? buf[k] : buf[k + 1]          (drop the first copy of old)
 *     buf[k] = min(a[k], max(a[k - 1], new))             (insert new, a[-1] = -inf)
 * which costs O(width) vector operations per step but runs several columns at once in SIMD
 * lanes: 4 doubles or 8 floats with AVX2 where the CPU has it (chosen at run time), 2 doubles or
 * 4 floats with baseline SSE2 or NEON. The medians are exact (values are only moved), so the
 * output equals scipy's to the bit. */
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
 * of the same width. Element (r, c) of the input is s[r * rs + c * cs]; of the output
 * o[r * ors + c * ocs]. The median runs along r (n values) for every c < m. `buf` holds
 * width + 1 vectors, `init` width doubles. */
#define DAFX_MEDIAN_BODY(T, VD, VL, LANES)                                                           \
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
                    VL up = prev > nw;                                                            \
                    VD hi = (VD)(((VL)prev & up) | ((VL)nw & ~up));                               \
                    VL low = a < hi;                                                              \
                    buf[k] = (VD)(((VL)a & low) | ((VL)hi & ~low));                               \
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

static void median_d2(const double *s, double *o, int64_t n, int64_t m, int64_t rs, int64_t cs,
                      int64_t ors, int64_t ocs, int64_t width, vd2 *buf, double *init) {
    DAFX_MEDIAN_BODY(double, vd2, vl2, 2)
}

static void median_f4(const float *s, float *o, int64_t n, int64_t m, int64_t rs, int64_t cs,
                      int64_t ors, int64_t ocs, int64_t width, vf4 *buf, double *init) {
    DAFX_MEDIAN_BODY(float, vf4, vi4, 4)
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DAFX_HAVE_AVX2_PATH 1
typedef double vd4 __attribute__((vector_size(32)));
typedef int64_t vl4 __attribute__((vector_size(32)));
typedef float vf8 __attribute__((vector_size(32)));
typedef int32_t vi8 __attribute__((vector_size(32)));

__attribute__((target("avx2"))) static void median_d4(const double *s, double *o, int64_t n,
                                                      int64_t m, int64_t rs, int64_t cs,
                                                      int64_t ors, int64_t ocs, int64_t width,
                                                      vd4 *buf, double *init) {
    DAFX_MEDIAN_BODY(double, vd4, vl4, 4)
}

__attribute__((target("avx2"))) static void median_f8(const float *s, float *o, int64_t n,
                                                      int64_t m, int64_t rs, int64_t cs,
                                                      int64_t ors, int64_t ocs, int64_t width,
                                                      vf8 *buf, double *init) {
    DAFX_MEDIAN_BODY(float, vf8, vi8, 8)
}

static int use_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
}
#else
static int use_avx2(void) { return 0; }
#endif

/* Scratch for one call: width + 1 vectors of up to 32 bytes, and width doubles. */
static int scratch(int64_t width, void **buf, double **init) {
    *init = malloc((size_t)width * sizeof(double));
    *buf = aligned_alloc(32, (size_t)(width + 1) * 32);
    if (!*init || !*buf) {
        free(*init);
        free(*buf);
        return -2;
    }
    return 0;
}

int dafx_running_median(const double *s, double *out, int64_t n, int64_t m, int64_t row_stride,
                        int64_t col_stride, int64_t out_row_stride, int64_t out_col_stride,
                        int64_t width) {
    if (n <= 0 || m <= 0) return 0;
    if (width < 1 || width % 2 == 0) return -1;
    void *buf;
    double *init;
    if (scratch(width, &buf, &init)) return -2;
#ifdef DAFX_HAVE_AVX2_PATH
    if (use_avx2())
        median_d4(s, out, n, m, row_stride, col_stride, out_row_stride, out_col_stride, width,
                  (vd4 *)buf, init);
    else
#endif
        median_d2(s, out, n, m, row_stride, col_stride, out_row_stride, out_col_stride, width,
                  (vd2 *)buf, init);
    free(init);
    free(buf);
    return 0;
}

int dafx_running_median_f32(const float *s, float *out, int64_t n, int64_t m, int64_t row_stride,
                            int64_t col_stride, int64_t out_row_stride, int64_t out_col_stride,
                            int64_t width) {
    if (n <= 0 || m <= 0) return 0;
    if (width < 1 || width % 2 == 0) return -1;
    void *buf;
    double *init;
    if (scratch(width, &buf, &init)) return -2;
#ifdef DAFX_HAVE_AVX2_PATH
    if (use_avx2())
        median_f8(s, out, n, m, row_stride, col_stride, out_row_stride, out_col_stride, width,
                  (vf8 *)buf, init);
    else
#endif
        median_f4(s, out, n, m, row_stride, col_stride, out_row_stride, out_col_stride, width,
                  (vf4 *)buf, init);
    free(init);
    free(buf);
    return 0;
}
