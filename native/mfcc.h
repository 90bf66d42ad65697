int64_t dafx_mfcc(const float *x32, const double *x64, float *out, int64_t rows,
                  int64_t samples, int64_t n_fft, int64_t hop, const double *window,
                  const double *cos_m, const double *sin_m, const double *cos_n,
                  const double *sin_n, const int64_t *bitrev, int64_t n_mels,
                  const int64_t *bin_band, const double *bin_w0, const double *bin_w1,
                  int64_t n_mfcc, const double *dct, double amin, double top_db,
                  int64_t single);
