int64_t dafx_mfcc(const float *x32, const double *x64, float *out, int64_t rows,
                  int64_t samples, int64_t n_fft, int64_t hop, const double *window,
                  int64_t n_mels, const int64_t *band_start, const int64_t *band_stop,
                  const int64_t *band_offset, const double *band_weights, int64_t n_mfcc,
                  const double *dct, double amin, double top_db);
