/* Reverb: a Freeverb-style network per batch row. The (pre-delayed, mono-summed) input feeds
 * two tanks of 8 low-pass-feedback combs in parallel and 4 all-passes in series; the right
 * tank's delays are 23 samples longer. Every buffer starts from silence. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define COMBS 8
#define ALLPASSES 4
#define SPREAD 23

static const int COMB_TUNING[COMBS] = {1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617};
static const int ALLPASS_TUNING[ALLPASSES] = {556, 441, 341, 225};
static const double INPUT_GAIN = 0.015, WET_SCALE = 3.0, ALLPASS_GAIN = 0.5;

static int64_t scaled(int delay, double sample_rate) {
    const int64_t n = (int64_t)floor(delay * sample_rate / 44100.0 + 0.5);
    return n < 1 ? 1 : n;
}

/* One tank over the whole clip: u (input) -> wet. All combs advance together per sample, so
 * their eight independent recursions overlap in the pipeline. Returns 0, or 1 when out of memory. */
static int tank(const double *u, double *wet, int64_t samples, int spread, double feedback,
                double damp, double sample_rate) {
    int64_t comb_len[COMBS], ap_len[ALLPASSES], comb_at[COMBS], ap_at[ALLPASSES], total = 0;
    for (int i = 0; i < COMBS; ++i) total += comb_len[i] = scaled(COMB_TUNING[i] + spread, sample_rate);
    for (int i = 0; i < ALLPASSES; ++i)
        total += ap_len[i] = scaled(ALLPASS_TUNING[i] + spread, sample_rate);
    double *memory = calloc((size_t)total, sizeof(double));
    if (!memory) return 1;
    double *comb_buf[COMBS], *ap_buf[ALLPASSES], store[COMBS] = {0};
    double *next = memory;
    for (int i = 0; i < COMBS; ++i) comb_buf[i] = next, next += comb_len[i], comb_at[i] = 0;
    for (int i = 0; i < ALLPASSES; ++i) ap_buf[i] = next, next += ap_len[i], ap_at[i] = 0;
    const double keep = 1.0 - damp;
    for (int64_t n = 0; n < samples; ++n) {
        const double in = u[n];
        double sum = 0.0;
        for (int i = 0; i < COMBS; ++i) {
            double *slot = comb_buf[i] + comb_at[i];
            const double out = *slot;
            store[i] = out * keep + store[i] * damp;
            *slot = in + store[i] * feedback;
            if (++comb_at[i] == comb_len[i]) comb_at[i] = 0;
            sum += out;
        }
        for (int i = 0; i < ALLPASSES; ++i) {
            double *slot = ap_buf[i] + ap_at[i];
            const double held = *slot;
            *slot = sum + held * ALLPASS_GAIN;
            sum = held - sum;
            if (++ap_at[i] == ap_len[i]) ap_at[i] = 0;
        }
        wet[n] = sum;
    }
    free(memory);
    return 0;
}

/* Channels must be 1 or 2 (the Python side checks). Returns how many rows ran out of memory. */
int64_t dafx_reverb(const float *x, float *y, int64_t batch, int64_t channels, int64_t samples,
                    const double *room_size, const double *damping, const double *pre_delay_ms,
                    const double *width, const double *mix, double sample_rate) {
    int64_t failed = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : failed)
    for (int64_t b = 0; b < batch; ++b) {
        const float *xb = x + b * channels * samples;
        float *yb = y + b * channels * samples;
        double *work = malloc((size_t)(3 * samples) * sizeof(double));
        if (!work) {
            ++failed;
            continue;
        }
        double *u = work, *wet_l = work + samples, *wet_r = work + 2 * samples;
        int64_t pre = (int64_t)floor(pre_delay_ms[b] * sample_rate / 1000.0 + 0.5);
        pre = pre > samples ? samples : pre;
        for (int64_t n = 0; n < pre; ++n) u[n] = 0.0;
        for (int64_t n = pre; n < samples; ++n) {
            double s = 0.0;
            for (int64_t c = 0; c < channels; ++c) s += xb[c * samples + n - pre];
            u[n] = INPUT_GAIN * s;
        }
        const double feedback = 0.7 + 0.28 * room_size[b], damp = 0.4 * damping[b];
        const double m = mix[b], dry = 1.0 - m;
        int bad = tank(u, wet_l, samples, 0, feedback, damp, sample_rate);
        if (channels == 1) {
            for (int64_t n = 0; n < samples; ++n)
                yb[n] = (float)(dry * xb[n] + m * WET_SCALE * wet_l[n]);
        } else {
            bad |= tank(u, wet_r, samples, SPREAD, feedback, damp, sample_rate);
            const double w1 = width[b] / 2.0 + 0.5, w2 = (1.0 - width[b]) / 2.0;
            for (int64_t n = 0; n < samples; ++n) {
                const double left = wet_l[n] * w1 + wet_r[n] * w2;
                const double right = wet_r[n] * w1 + wet_l[n] * w2;
                yb[n] = (float)(dry * xb[n] + m * WET_SCALE * left);
                yb[samples + n] = (float)(dry * xb[samples + n] + m * WET_SCALE * right);
            }
        }
        failed += bad;
        free(work);
    }
    return failed;
}
