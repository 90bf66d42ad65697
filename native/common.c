/* Thread control for the OpenMP pool shared by every kernel. */
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
