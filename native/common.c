/* Thread control for the OpenMP pool shared by every kernel, and whole-array checks. */
#include <stdint.h>

#include "parallel.h"
#ifdef _OPENMP
#include <omp.h>
#endif

void dafx_set_num_threads(int n) {
#ifdef _OPENMP
    if (n > 0) omp_set_num_threads(n);
#else
    (void)n;
#endif
}

int dafx_get_num_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

int dafx_has_openmp(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

/* How many of n float32 values, passed as their bit patterns, are NaN or infinite: an exponent
 * field of all ones. One pass at memory speed with no temporary array (NumPy's
 * isfinite(x).all() writes a bool per sample first). */
int64_t dafx_count_nonfinite(const uint32_t *bits, int64_t n) {
    int64_t count = 0;
/* One thread per 1 MiB at least: a thread costs more to wake than it saves on less. */
#pragma omp parallel for simd reduction(+ : count) schedule(static) num_threads(dafx_threads_for(n >> 18))
    for (int64_t i = 0; i < n; ++i) count += (bits[i] & 0x7f800000u) == 0x7f800000u;
    return count;
}

/* out[r] = the sum of squares of row r of x (rows of n float32 values), accumulated in double:
 * a clip's power in one pass, with no float32 temporary of the squares and no cast buffer. */
void dafx_sum_squares_rows(const float *x, int64_t rows, int64_t n, double *out) {
    for (int64_t r = 0; r < rows; ++r) {
        const float *row = x + r * n;
        double s = 0.0;
#pragma omp simd reduction(+ : s)
        for (int64_t i = 0; i < n; ++i) s += (double)row[i] * (double)row[i];
        out[r] = s;
    }
}
