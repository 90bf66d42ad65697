void dafx_timbral_filters(const double *x, int64_t n, const double *front, const double *bands,
                          double *out_front, double *out_bands);
void dafx_timbral_frame_energy(const double *x, int64_t n, int64_t first, int64_t hop,
                               int64_t frames, int64_t nperseg, const double *w2, int64_t detrend,
                               double *out);
void dafx_timbral_block_powers(const double *y, const int64_t *lo, const int64_t *hi,
                               int64_t blocks, double scale, double *out);
int64_t dafx_timbral_stft(const double *x, int64_t n, int64_t first, int64_t hop, int64_t frames,
                          const int64_t *starts, int64_t nperseg, int64_t nfft,
                          const double *window, int64_t detrend, int64_t single,
                          const double *cos_m, const double *sin_m, const double *cos_n,
                          const double *sin_n, const int64_t *bitrev, double *sum_power,
                          double *moment, double *total, double *magnitude, float *spectrum,
                          int64_t n_mels, const int64_t *bin_band, const double *bin_w0,
                          const double *bin_w1, double *mel);
int64_t dafx_timbral_istft(const float *spectrum, int64_t frames, int64_t nfft,
                           const double *window, int64_t hop, int64_t first, int64_t single,
                           const double *cos_m, const double *sin_m, const double *cos_n,
                           const double *sin_n, const int64_t *bitrev, double *out);
void dafx_timbral_mel_flux(double *mel, int64_t frames, int64_t n_mels, double amin, double top_db,
                           double *env);
int64_t dafx_timbral_bandwidth(const double *x, int64_t n, int64_t hop, int64_t frames,
                               int64_t nfft, const double *cos_m, const double *sin_m,
                               const double *cos_n, const double *sin_n, const int64_t *bitrev,
                               double scale, double thr, double fraction, double err_per_l1,
                               double *level, int64_t *rollon, int64_t *rolloff,
                               uint8_t *ambiguous, double *err);
