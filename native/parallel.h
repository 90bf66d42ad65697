/* How many OpenMP threads a kernel's loop over `units` independent pieces should wake. */
#ifndef DAFX_PARALLEL_H
#define DAFX_PARALLEL_H

#include <stdint.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Never more threads than pieces: a parallel loop ends only once every thread it woke has
 * checked in, and on a busy machine an idle thread can wait a whole scheduler time slice for a
 * core (a one-clip call took 24 ms instead of 1 ms under load). */
static inline int dafx_threads_for(int64_t units) {
#ifdef _OPENMP
    const int most = omp_get_max_threads();
    return units < (int64_t)most ? (units > 0 ? (int)units : 1) : most;
#else
    (void)units;
    return 1;
#endif
}

#endif
