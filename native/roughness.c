/* Vassilakis' roughness (SMC 2007) of spectral peak pairs, summed over the pairs of every frame,
 * as the roughness descriptor (dafxkit/descriptors/timbral/roughness.py) defines it: for the
 * peaks of a frame sorted by height, every pair i > j adds
 *     (A_i A_j)^0.1 * 0.5 (2 A_j / (A_i + A_j))^3.11 * (e^{-3.51 s d} - e^{-5.75 s d}),
 *     s = 0.24 / (0.0207 min(f_i, f_j) + 18.96), d = |f_i - f_j|,
 * and pairs with 3.51 s d > 40 (under e^-40 of a typical term) are skipped.
 *
 * Here the peaks of a frame are visited in order of frequency: for the lower peak a of a pair,
 * s depends on a alone, and the kept partners are the run of higher peaks up to the first with
 * 3.51 s d > 40 (the same test on the same numbers, so the same pairs are kept). A pair's term
 * is 0.5 (e^{L - 3.51 s d} - e^{L - 5.75 s d}) with
 *     L = 0.1 (ln A_a + ln A_b) + 3.11 (ln 2 + ln A_e - ln(A_a + A_b)),
 * e being the taller of the two (the earlier in the height order): two exponentials and one
 * logarithm per pair, in vector lanes (fastmath.h, relative errors near 1e-15) over the kept
 * pairs of a frame listed first, instead of three powers or exponentials. The terms differ from
 * the direct formula by rounding. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "fastmath.h"
#include "roughness.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define ROUGHNESS_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define ROUGHNESS_CLONES
#endif

#define B1 3.51
#define B2 5.75
#define XSTAR 0.24
#define S1 0.0207
#define S2 18.96
#define CUTOFF 40.0
#define LN2 0.69314718055994530942

/* Kept pairs of one frame: part = 0.1 (ln A_a + ln A_b) + 3.11 (ln 2 + ln A_e), sum = A_a + A_b,
 * sd = s d. */
typedef struct {
    double *part, *sum, *sd;
} pairs_t;

/* Sum over the n pairs of 0.5 (e^{L - 3.51 s d} - e^{L - 5.75 s d}), L = part - 3.11 ln(sum):
 * one long loop in vector lanes. */
ROUGHNESS_CLONES
static double pair_terms(const pairs_t *q, int64_t n) {
    const double *restrict part = q->part, *restrict sum = q->sum, *restrict sd = q->sd;
    double acc = 0.0;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = 0; i < n; ++i) {
        const double el = part[i] - 3.11 * dafx_log_d(sum[i]);
        double x1 = el - B1 * sd[i], x2 = el - B2 * sd[i];
        x1 = x1 < -700.0 ? -700.0 : x1;
        x2 = x2 < -700.0 ? -700.0 : x2;
        acc += 0.5 * (dafx_exp_d(x1) - dafx_exp_d(x2));
    }
    return acc;
}

/* Peaks of frame t: freqs and levels [offsets[t], offsets[t + 1]), levels > 0, sorted by
 * height. *total = the sum over frames of each frame's pair sum. Returns 0, or -1 when the
 * scratch could not be allocated. */
int64_t dafx_roughness_pairs(const double *freqs, const double *levels, const int64_t *offsets,
                             int64_t frames, double *total) {
    int64_t widest = 0;
    for (int64_t t = 0; t < frames; ++t)
        widest = offsets[t + 1] - offsets[t] > widest ? offsets[t + 1] - offsets[t] : widest;
    const size_t n_max = (size_t)(widest > 0 ? widest : 1);
    const size_t pairs_max = n_max * (n_max - 1) / 2 + 1;
    double *peaks = malloc(sizeof(double) * 3 * n_max);
    int64_t *rank = malloc(sizeof(int64_t) * n_max);
    double *pairs = malloc(sizeof(double) * 3 * pairs_max);
    if (!peaks || !rank || !pairs) {
        free(peaks);
        free(rank);
        free(pairs);
        return -1;
    }
    /* The peaks of a frame in order of frequency: f, A, ln A and the height rank. */
    double *f = peaks, *v = peaks + n_max, *lnv = peaks + 2 * n_max;
    const pairs_t q = {pairs, pairs + pairs_max, pairs + 2 * pairs_max};
    double sum = 0.0;
    for (int64_t t = 0; t < frames; ++t) {
        const int64_t lo = offsets[t], n = offsets[t + 1] - lo;
        /* Insertion sort by frequency (stable; a frame holds tens of peaks). */
        for (int64_t i = 0; i < n; ++i) {
            const double fi = freqs[lo + i];
            int64_t k = i;
            while (k > 0 && f[k - 1] > fi) {
                f[k] = f[k - 1];
                v[k] = v[k - 1];
                rank[k] = rank[k - 1];
                --k;
            }
            f[k] = fi;
            v[k] = levels[lo + i];
            rank[k] = i;
        }
        for (int64_t i = 0; i < n; ++i) lnv[i] = log(v[i]);
        int64_t count = 0;
        for (int64_t a = 0; a + 1 < n; ++a) {
            const double s = XSTAR / (S1 * f[a] + S2);
            for (int64_t b = a + 1; b < n; ++b) {
                const double d = f[b] - f[a];
                if (B1 * s * d > CUTOFF) break; /* and so are all higher peaks */
                const double lne = rank[b] < rank[a] ? lnv[b] : lnv[a]; /* the taller peak */
                q.part[count] = 0.1 * (lnv[a] + lnv[b]) + 3.11 * (LN2 + lne);
                q.sum[count] = v[a] + v[b];
                q.sd[count] = s * d;
                ++count;
            }
        }
        sum += pair_terms(&q, count);
    }
    free(peaks);
    free(rank);
    free(pairs);
    *total = sum;
    return 0;
}
