/* The lane-batched real FFT of timbral.c, in one precision. timbral.c includes this file once
 * per precision with FT (the floating type of the transform), FL (frames per batch: one vector
 * of FT) and FN(name) (the precision's suffix) defined; there is no include guard on purpose.
 * Sums of powers are kept in double in both precisions.
 *
 * The real FFT of nfft points is a complex FFT of m = nfft / 2 points of z[n] = x[2n] + i
 * x[2n + 1] followed by the split X[k] = E[k] + e^{-2 pi i k / nfft} O[k]. The complex FFT is an
 * in-place decimation-in-frequency transform of radix-4 passes (one radix-2 pass first when m
 * is an odd power of two) whose output rows are in bit-reversed order; the split walks them in
 * that order, pairing each row with its mirror in the same octave. FL frames are transformed
 * together, frame f in lane f (re[n * FL + f]), so every butterfly is a loop over lanes with
 * scalar twiddles: full-width vectors without shuffles. */

/* One radix-4 DIF pass over rows [lo, hi) with sub-transforms of `size` rows: outputs of a
 * butterfly go to j, j + q, j + 2q, j + 3q as (t0 + t2), (t0 - t2) W^2j, (t1 + t3) W^j,
 * (t1 - t3) W^3j (two radix-2 DIF stages, so the final order stays bit-reversed). */
TIMBRAL_CLONES
static void FN(radix4_pass)(const fft_t *p, FT *restrict re, FT *restrict im, int64_t lo,
                            int64_t hi, int64_t size) {
    const int64_t q = size / 4, step = p->m / size;
    for (int64_t b = lo; b < hi; b += size) {
        for (int64_t j = 0; j < q; ++j) {
            const int64_t t1 = j * step, t2 = 2 * t1, t3 = 3 * t1;
            const FT w1r = (FT)p->cos_m[t1], w1i = (FT)-p->sin_m[t1];
            const FT w2r = (FT)p->cos_m[t2], w2i = (FT)-p->sin_m[t2];
            const FT w3r = (FT)p->cos_m[t3], w3i = (FT)-p->sin_m[t3];
            FT *restrict r0 = re + (b + j) * FL, *restrict i0 = im + (b + j) * FL;
            FT *restrict r1 = r0 + q * FL, *restrict i1 = i0 + q * FL;
            FT *restrict r2 = r1 + q * FL, *restrict i2 = i1 + q * FL;
            FT *restrict r3 = r2 + q * FL, *restrict i3 = i2 + q * FL;
#pragma omp simd
            for (int f = 0; f < FL; ++f) {
                const FT t0r = r0[f] + r2[f], t0i = i0[f] + i2[f];
                const FT t1r = r0[f] - r2[f], t1i = i0[f] - i2[f];
                const FT t2r = r1[f] + r3[f], t2i = i1[f] + i3[f];
                const FT t3r = i1[f] - i3[f], t3i = r3[f] - r1[f]; /* -i (a1 - a3) */
                const FT ur = t0r - t2r, ui = t0i - t2i;
                const FT vr = t1r + t3r, vi = t1i + t3i;
                const FT wr = t1r - t3r, wi = t1i - t3i;
                r0[f] = t0r + t2r;
                i0[f] = t0i + t2i;
                r1[f] = ur * w2r - ui * w2i;
                i1[f] = ur * w2i + ui * w2r;
                r2[f] = vr * w1r - vi * w1i;
                i2[f] = vr * w1i + vi * w1r;
                r3[f] = wr * w3r - wi * w3i;
                i3[f] = wr * w3i + wi * w3r;
            }
        }
    }
}

TIMBRAL_CLONES
static void FN(radix2_pass)(const fft_t *p, FT *restrict re, FT *restrict im) {
    const int64_t h = p->m / 2;
    for (int64_t j = 0; j < h; ++j) {
        const FT wr = (FT)p->cos_m[j], wi = (FT)-p->sin_m[j];
        FT *restrict ar = re + j * FL, *restrict ai = im + j * FL;
        FT *restrict br = re + (j + h) * FL, *restrict bi = im + (j + h) * FL;
#pragma omp simd
        for (int f = 0; f < FL; ++f) {
            const FT dr = ar[f] - br[f], di = ai[f] - bi[f];
            ar[f] += br[f];
            ai[f] += bi[f];
            br[f] = dr * wr - di * wi;
            bi[f] = dr * wi + di * wr;
        }
    }
}

/* The last radix-4 pass (size 4, all twiddles 1). */
TIMBRAL_CLONES
static void FN(radix4_last)(FT *restrict re, FT *restrict im, int64_t lo, int64_t hi) {
    for (int64_t b = lo; b < hi; b += 4) {
        FT *restrict r = re + b * FL, *restrict i = im + b * FL;
#pragma omp simd
        for (int f = 0; f < FL; ++f) {
            const FT a0r = r[f], a0i = i[f];
            const FT a1r = r[FL + f], a1i = i[FL + f];
            const FT a2r = r[2 * FL + f], a2i = i[2 * FL + f];
            const FT a3r = r[3 * FL + f], a3i = i[3 * FL + f];
            const FT t0r = a0r + a2r, t0i = a0i + a2i;
            const FT t1r = a0r - a2r, t1i = a0i - a2i;
            const FT t2r = a1r + a3r, t2i = a1i + a3i;
            const FT t3r = a1i - a3i, t3i = a3r - a1r;
            r[f] = t0r + t2r;
            i[f] = t0i + t2i;
            r[FL + f] = t0r - t2r;
            i[FL + f] = t0i - t2i;
            r[2 * FL + f] = t1r + t3r;
            i[2 * FL + f] = t1i + t3i;
            r[3 * FL + f] = t1r - t3r;
            i[3 * FL + f] = t1i - t3i;
        }
    }
}

/* In-place FFT of m points in every lane, output rows bit-reversed. Sub-transforms of at most
 * FFT_BLOCK_BYTES are finished one at a time while they sit in L1. */
static void FN(fft_lanes)(const fft_t *p, FT *re, FT *im) {
    const int64_t m = p->m;
    const int64_t block = FFT_BLOCK_BYTES / (int64_t)(2 * FL * sizeof(FT));
    int64_t size = m;
    if (p->log2m & 1) {
        FN(radix2_pass)(p, re, im);
        size = m / 2;
    }
    for (; size > block; size /= 4) FN(radix4_pass)(p, re, im, 0, m, size);
    for (int64_t b = 0; b < m; b += size) {
        for (int64_t s = size; s > 4; s /= 4) FN(radix4_pass)(p, re, im, b, b + size, s);
        if (size >= 4) FN(radix4_last)(re, im, b, b + size);
    }
}

/* Load frames t0 .. t0 + FL - 1 into the lanes as z[n] = x[2n] + i x[2n + 1]: frame t starts at
 * g->first + t g->hop and holds g->nperseg samples (zeros outside x and beyond nperseg, up to
 * nfft), minus their mean when g->detrend, times the window. Lanes past the last frame are
 * zero. scratch (FL * nfft doubles, or NULL): where frames reaching past either end of x, and
 * unused lanes, are copied with their zeros so that every lane takes the transposed path (the
 * same numbers as the element-wise one: the copies' zeros minus the mean, times the window). */
TIMBRAL_CLONES
static void FN(load_frames)(const frames_t *g, int64_t t0, FT *restrict re, FT *restrict im,
                            double *restrict scratch) {
    const int64_t m = g->nfft / 2, n = g->n, nperseg = g->nperseg;
    const double *x = g->x, *window = g->window;
    double mean[FL];
    int64_t start[FL];
    const double *src[FL];
    int used[FL];
    int inside = nperseg == g->nfft;
    for (int f = 0; f < FL; ++f) {
        used[f] = t0 + f < g->frames;
        start[f] = !g->starts ? g->first + (t0 + f) * g->hop : used[f] ? g->starts[t0 + f] : 0;
        mean[f] = 0.0;
        src[f] = x + start[f];
        if (used[f] && g->detrend && g->means) {
            mean[f] = g->means[t0 + f];
        } else if (used[f] && g->detrend) {
            const int64_t lo = start[f] < 0 ? -start[f] : 0;
            const int64_t hi = start[f] + nperseg > n ? n - start[f] : nperseg;
            mean[f] = sum_doubles(x + start[f] + lo, hi - lo) / (double)nperseg;
        }
        if (!(used[f] && start[f] >= 0 && start[f] + nperseg <= n)) {
            if (scratch && nperseg == g->nfft) {
                /* The frame's samples inside x, zeros elsewhere (none at all when unused). */
                double *copy = scratch + (int64_t)f * g->nfft;
                int64_t lo = 0, hi = 0;
                if (used[f]) {
                    lo = start[f] < 0 ? -start[f] : 0;
                    lo = lo < nperseg ? lo : nperseg;
                    hi = n - start[f] < nperseg ? n - start[f] : nperseg;
                    hi = hi > lo ? hi : lo;
                }
                memset(copy, 0, sizeof(double) * (size_t)lo);
                if (hi > lo) memcpy(copy + lo, x + start[f] + lo, sizeof(double) * (size_t)(hi - lo));
                memset(copy + hi, 0, sizeof(double) * (size_t)(nperseg - hi));
                src[f] = copy;
            } else {
                inside = 0;
            }
        }
    }
    if (inside) {
        /* Eight lanes at a time read eight consecutive samples each, transposed in registers
         * (see transpose8). */
        for (int h = 0; h < FL / 8; ++h) {
            const v8d meanv = {mean[8 * h], mean[8 * h + 1], mean[8 * h + 2], mean[8 * h + 3],
                               mean[8 * h + 4], mean[8 * h + 5], mean[8 * h + 6], mean[8 * h + 7]};
            for (int64_t s = 0; s < 2 * m; s += 8) {
                v8d r[8];
                for (int f = 0; f < 8; ++f) memcpy(&r[f], src[8 * h + f] + s, sizeof(v8d));
                transpose8(r);
                for (int i = 0; i < 8; ++i) {
                    const v8d v = window[s + i] * (r[i] - meanv);
                    FT *dst = ((i & 1) ? im : re) + ((s + i) / 2) * FL + 8 * h;
                    STORE8(dst, v);
                }
            }
        }
        return;
    }
    for (int64_t j = 0; j < m; ++j) {
        FT *rj = re + j * FL, *ij = im + j * FL;
        for (int f = 0; f < FL; ++f) {
            double v[2];
            for (int h = 0; h < 2; ++h) {
                const int64_t i = 2 * j + h;
                double s = 0.0;
                if (used[f] && i < nperseg) {
                    const int64_t at = start[f] + i;
                    s = (at >= 0 && at < n) ? x[at] : 0.0;
                    s = window[i] * (s - mean[f]);
                }
                v[h] = s;
            }
            rj[f] = (FT)v[0];
            ij[f] = (FT)v[1];
        }
    }
}

/* The real spectrum of every lane from the half-size transform Z, whose rows are in
 * bit-reversed order (row q holds Z[bitrev q]). Within each octave of rows [2^j, 2^(j+1)) the
 * row holding Z[m - k] mirrors the one holding Z[k] (3 2^j - 1 - q), so both are read as
 * sequential streams and give X[k] and X[m - k] together: with E = (Z[k] + conj Z[m - k]) / 2,
 * O = (Z[k] - conj Z[m - k]) / 2i (the transforms of the even and odd samples) and
 * V = e^{-2 pi i k / nfft} O, X[k] = E + V and X[m - k] = conj(E - V).
 * With P_k = c_k |X_k|^2 (c = 1 at DC and Nyquist, else 2), per lane, for the non-NULL outputs:
 * acc[row] += P_k in row order (Nyquist in row m), mom = sum_k k P_k, tot = sum_k P_k,
 * bands[b * FL + f] = sum_k w_bk |X_k|^2 through the per-bin mel tables; and in lanes, in
 * natural order, smag[k * FL + f] = |X_k| and X_k itself, sre[k * FL + f] + i sim[k * FL + f]
 * (stft transposes those into rows). */
TIMBRAL_CLONES
static void FN(spectrum_lanes)(const fft_t *p, const FT *restrict re, const FT *restrict im,
                               double *restrict acc, double *restrict mom, double *restrict tot,
                               const mel_t *mel, double *restrict bands, double *restrict smag,
                               FT *restrict sre, FT *restrict sim) {
    const int64_t m = p->m;
    double m0[FL], s0[FL];
    if (bands) memset(bands, 0, sizeof(double) * (size_t)(mel->n_mels * FL));
    for (int f = 0; f < FL; ++f) {
        m0[f] = 0.0;
        s0[f] = 0.0;
    }
    /* Row 0: DC and Nyquist; row 1: k = m / 2, its own mirror. */
    for (int64_t row = 0; row < 2; ++row) {
        const int64_t k = row == 0 ? 0 : m / 2;
        const double c = p->cos_n[k], s = p->sin_n[k];
        for (int f = 0; f < FL; ++f) {
            double pk, pm;
            if (row == 0) {
                const double x0 = (double)re[f] + (double)im[f];
                const double xm = (double)re[f] - (double)im[f];
                pk = x0 * x0;
                pm = xm * xm;
            } else {
                const double ar = re[FL + f], ai = im[FL + f];
                const double er = ar, ei = 0.0, or_ = ai, oi = 0.0;
                const double vr = c * or_ + s * oi, vi = c * oi - s * or_;
                pk = (er + vr) * (er + vr) + (ei + vi) * (ei + vi);
                pm = 0.0;
            }
            const double ck = row == 0 ? 1.0 : 2.0;
            m0[f] += (double)k * (ck * pk) + (row == 0 ? (double)m * pm : 0.0);
            s0[f] += ck * pk + pm;
            if (acc) {
                acc[row * FL + f] += ck * pk;
                if (row == 0) acc[m * FL + f] += pm;
            }
            if (smag) {
                smag[k * FL + f] = sqrt(pk);
                if (row == 0) smag[m * FL + f] = sqrt(pm);
            }
            if (sre) {
                if (row == 0) {
                    sre[f] = (FT)((double)re[f] + (double)im[f]);
                    sim[f] = (FT)0;
                    sre[m * FL + f] = (FT)((double)re[f] - (double)im[f]);
                    sim[m * FL + f] = (FT)0;
                } else {
                    const double ar = re[FL + f], ai = im[FL + f];
                    sre[k * FL + f] = (FT)(ar + c * ai);
                    sim[k * FL + f] = (FT)(-s * ai);
                }
            }
            if (bands) {
                const int64_t kk[2] = {k, m};
                const double pp[2] = {pk, pm};
                for (int e = 0; e < (row == 0 ? 2 : 1); ++e) {
                    const int64_t b = mel->bin_band[kk[e]];
                    if (b >= 0) {
                        bands[b * FL + f] += mel->bin_w0[kk[e]] * pp[e];
                        if (b + 1 < mel->n_mels)
                            bands[(b + 1) * FL + f] += mel->bin_w1[kk[e]] * pp[e];
                    }
                }
            }
        }
    }
    for (int64_t oct = 2; oct < m; oct *= 2) {
        const int64_t half = oct / 2;
        for (int64_t q = oct; q < oct + half; ++q) {
            const int64_t qq = 3 * oct - 1 - q;
            const int64_t k = p->bitrev[q], km = m - k;
            const FT c = (FT)p->cos_n[k], s = (FT)p->sin_n[k];
            const double kk = (double)k, kq = (double)km;
            const FT *restrict ar = re + q * FL, *restrict ai = im + q * FL;
            const FT *restrict cr = re + qq * FL, *restrict ci = im + qq * FL;
            double pk[FL], pq[FL];
#pragma omp simd
            for (int f = 0; f < FL; ++f) {
                const FT er = (FT)0.5 * (ar[f] + cr[f]), ei = (FT)0.5 * (ai[f] - ci[f]);
                const FT or_ = (FT)0.5 * (ai[f] + ci[f]), oi = (FT)0.5 * (cr[f] - ar[f]);
                const FT vr = c * or_ + s * oi, vi = c * oi - s * or_;
                /* Powers in the transform's precision (float: one more rounding, 6e-8 of each
                 * power, next to the transform's own 1e-7), sums in double. */
                const FT xr = er + vr, xi = ei + vi, yr = er - vr, yi = ei - vi;
                pk[f] = (double)(xr * xr + xi * xi);
                pq[f] = (double)(yr * yr + yi * yi);
                if (sre) { /* X[m - k] = conj(E - V) */
                    sre[k * FL + f] = xr;
                    sim[k * FL + f] = xi;
                    sre[km * FL + f] = yr;
                    sim[km * FL + f] = -yi;
                }
                m0[f] += kk * (2.0 * pk[f]) + kq * (2.0 * pq[f]);
                s0[f] += 2.0 * pk[f] + 2.0 * pq[f];
            }
            if (acc) {
#pragma omp simd
                for (int f = 0; f < FL; ++f) {
                    acc[q * FL + f] += 2.0 * pk[f];
                    acc[qq * FL + f] += 2.0 * pq[f];
                }
            }
            if (smag) {
#pragma omp simd
                for (int f = 0; f < FL; ++f) {
                    smag[k * FL + f] = sqrt(pk[f]);
                    smag[km * FL + f] = sqrt(pq[f]);
                }
            }
            if (bands) {
                const int64_t ks[2] = {k, km};
                for (int e = 0; e < 2; ++e) {
                    const int64_t b = mel->bin_band[ks[e]];
                    if (b < 0) continue;
                    const double w0 = mel->bin_w0[ks[e]], w1 = mel->bin_w1[ks[e]];
                    const double *restrict pw = e == 0 ? pk : pq;
                    double *restrict b0 = bands + b * FL, *restrict b1 = b0 + FL;
                    if (b + 1 < mel->n_mels) {
#pragma omp simd
                        for (int f = 0; f < FL; ++f) {
                            b0[f] += w0 * pw[f];
                            b1[f] += w1 * pw[f];
                        }
                    } else {
#pragma omp simd
                        for (int f = 0; f < FL; ++f) b0[f] += w0 * pw[f];
                    }
                }
            }
        }
    }
    if (mom) {
        for (int f = 0; f < FL; ++f) {
            mom[f] = m0[f];
            tot[f] = s0[f];
        }
    }
}

/* Every group of FL frames: load, transform, reduce (see dafx_timbral_stft). Returns 0, or -1
 * when the work buffers could not be allocated. */
static int64_t FN(stft)(const frames_t *frames, const fft_t *p, double *sum_power,
                        double *moment, double *total, double *magnitude, float *spectrum,
                        const mel_t *mel, double *mel_out) {
    const int64_t m = p->m;
    const size_t rows = (size_t)m * FL, rows1 = (size_t)(m + 1) * FL;
    FT *re = aligned_alloc(64, sizeof(FT) * rows);
    FT *im = aligned_alloc(64, sizeof(FT) * rows);
    double *acc = sum_power ? calloc(rows1, sizeof(double)) : NULL;
    double *bands = mel_out ? malloc(sizeof(double) * (size_t)(mel->n_mels * FL)) : NULL;
    double *scratch = malloc(sizeof(double) * (size_t)(FL * frames->nfft));
    /* The frames' means at once (from block sums) on a regular grid, not per group. */
    const int grid_means = frames->detrend && !frames->starts;
    double *means = grid_means ? malloc(sizeof(double) * (size_t)frames->frames) : NULL;
    /* Magnitudes and spectra in lanes, natural order, before they are transposed into rows
     * (written straight to the rows, the lanes' rows would share cache sets). */
    double *smag = magnitude ? aligned_alloc(64, sizeof(double) * rows1) : NULL;
    FT *sre = spectrum ? aligned_alloc(64, sizeof(FT) * rows1) : NULL;
    FT *sim = spectrum ? aligned_alloc(64, sizeof(FT) * rows1) : NULL;
    if (!re || !im || (sum_power && !acc) || (mel_out && !bands) || !scratch ||
        (grid_means && !means) || (spectrum && (!sre || !sim)) || (magnitude && !smag)) {
        free(smag);
        free(sre);
        free(sim);
        free(re);
        free(im);
        free(acc);
        free(bands);
        free(scratch);
        free(means);
        return -1;
    }
    frames_t with_means = *frames;
    if (means) {
        frame_means(frames->x, frames->n, frames->first, frames->hop, frames->frames,
                    frames->nperseg, means);
        with_means.means = means;
    }
    const frames_t *g = &with_means;
    for (int64_t t0 = 0; t0 < g->frames; t0 += FL) {
        const int64_t used = g->frames - t0 < FL ? g->frames - t0 : FL;
        double mom[FL], tot[FL];
        FN(load_frames)(g, t0, re, im, scratch);
        FN(fft_lanes)(p, re, im);
        FN(spectrum_lanes)(p, re, im, acc, (moment || total) ? mom : NULL, tot, mel, bands, smag,
                           sre, sim);
        /* Lanes to rows, 64 bins at a time. */
        for (int64_t kb = 0; (magnitude || spectrum) && kb <= m; kb += 64) {
            const int64_t ke = kb + 64 < m + 1 ? kb + 64 : m + 1;
            for (int64_t f = 0; f < used; ++f) {
                if (magnitude) {
                    double *dst = magnitude + (t0 + f) * (m + 1);
                    for (int64_t k = kb; k < ke; ++k) dst[k] = smag[k * FL + f];
                }
                if (spectrum) {
                    float *dst = spectrum + 2 * (t0 + f) * (m + 1);
                    for (int64_t k = kb; k < ke; ++k) {
                        dst[2 * k] = (float)sre[k * FL + f];
                        dst[2 * k + 1] = (float)sim[k * FL + f];
                    }
                }
            }
        }
        for (int64_t f = 0; f < used; ++f) {
            if (moment) moment[t0 + f] = mom[f];
            if (total) total[t0 + f] = tot[f];
            if (mel_out)
                for (int64_t b = 0; b < mel->n_mels; ++b)
                    mel_out[(t0 + f) * mel->n_mels + b] = bands[b * FL + f];
        }
    }
    if (sum_power) {
        /* Lanes past the last frame held zeros: summing all of them adds nothing. */
        for (int64_t k = 0; k <= m; ++k) {
            const double *row = acc + (k == m ? m : p->bitrev[k]) * FL;
            double s = 0.0;
            for (int f = 0; f < FL; ++f) s += row[f];
            sum_power[k] = s;
        }
    }
    free(re);
    free(im);
    free(acc);
    free(bands);
    free(scratch);
    free(means);
    free(smag);
    free(sre);
    free(sim);
    return 0;
}

/* Inverse real FFTs of spectra (frames rows of m + 1 complex values, float real and imaginary
 * parts), each frame times the window, added into out: frame t's sample i (i < nfft) to
 * out[(first + t) hop + i]. Per lane, with W = e^{-2 pi i / nfft}: E = (X[k] + conj X[m - k]) / 2
 * and O = (X[k] - conj X[m - k]) W^-k / 2 are the transforms of the even and odd samples, so
 * z = x[2n] + i x[2n + 1] is the inverse transform of Z = E + i O: here conj(FFT(conj Z)) / m
 * through the forward lanes, whose output rows are bit-reversed (sample pair n sits in row
 * bitrev n). numpy.fft.irfft's convention: the imaginary parts at DC and Nyquist are ignored.
 * Returns 0, or -1 when the work buffers could not be allocated. */
TIMBRAL_CLONES
static int64_t FN(istft)(const fft_t *p, const float *spectrum, int64_t frames,
                         const double *window, int64_t hop, int64_t first, double *out) {
    const int64_t m = p->m, nfft = 2 * m, row = 2 * (m + 1);
    /* Lanes of the transform, of the spectra in natural order, and the lanes' output samples
     * (rows padded so that the lanes' rows do not share cache sets). */
    const int64_t ts = nfft + 16;
    FT *re = aligned_alloc(64, sizeof(FT) * (size_t)m * FL);
    FT *im = aligned_alloc(64, sizeof(FT) * (size_t)m * FL);
    FT *xr = aligned_alloc(64, sizeof(FT) * (size_t)(m + 1) * FL);
    FT *xi = aligned_alloc(64, sizeof(FT) * (size_t)(m + 1) * FL);
    FT *tb = aligned_alloc(64, sizeof(FT) * (size_t)(ts * FL));
    if (!re || !im || !xr || !xi || !tb) {
        free(re);
        free(im);
        free(xr);
        free(xi);
        free(tb);
        return -1;
    }
    const FT half = (FT)0.5, scale = (FT)(1.0 / (double)m);
    for (int64_t t0 = 0; t0 < frames; t0 += FL) {
        const int64_t used = frames - t0 < FL ? frames - t0 : FL;
        /* The spectra into the lanes, 64 bins at a time (unused lanes take a copy of the last
         * frame; their output is dropped). Imaginary parts at DC and Nyquist are ignored. */
        for (int64_t kb = 0; kb <= m; kb += 64) {
            const int64_t ke = kb + 64 < m + 1 ? kb + 64 : m + 1;
            for (int f = 0; f < FL; ++f) {
                const float *x = spectrum + (t0 + (f < used ? f : used - 1)) * row;
                for (int64_t k = kb; k < ke; ++k) {
                    xr[k * FL + f] = (FT)x[2 * k];
                    xi[k * FL + f] = (k == 0 || k == m) ? (FT)0 : (FT)x[2 * k + 1];
                }
            }
        }
        for (int64_t k = 0; k < m; ++k) {
            const FT c = (FT)p->cos_n[k], s = (FT)p->sin_n[k];
            const FT *restrict ar = xr + k * FL, *restrict ai = xi + k * FL;
            const FT *restrict br = xr + (m - k) * FL, *restrict bi = xi + (m - k) * FL;
            FT *restrict rk = re + k * FL, *restrict ik = im + k * FL;
#pragma omp simd
            for (int f = 0; f < FL; ++f) {
                const FT er = half * (ar[f] + br[f]), ei = half * (ai[f] - bi[f]);
                const FT dr = half * (ar[f] - br[f]), di = half * (ai[f] + bi[f]);
                const FT or_ = dr * c - di * s, oi = dr * s + di * c;
                rk[f] = er - oi; /* conj(Z) = conj(E + i O) */
                ik[f] = -(ei + or_);
            }
        }
        FN(fft_lanes)(p, re, im);
        /* Sample pair n of every lane from row bitrev n (one row holds all lanes). */
        for (int64_t n = 0; n < m; ++n) {
            const FT *restrict rq = re + p->bitrev[n] * FL, *restrict iq = im + p->bitrev[n] * FL;
#pragma omp simd
            for (int f = 0; f < FL; ++f) {
                tb[f * ts + 2 * n] = rq[f] * scale;
                tb[f * ts + 2 * n + 1] = -iq[f] * scale;
            }
        }
        for (int64_t f = 0; f < used; ++f) {
            double *restrict dst = out + (first + t0 + f) * hop;
            const FT *restrict src = tb + f * ts;
#pragma omp simd
            for (int64_t i = 0; i < nfft; ++i) dst[i] += (double)src[i] * window[i];
        }
    }
    free(re);
    free(im);
    free(xr);
    free(xi);
    free(tb);
    return 0;
}
