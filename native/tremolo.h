void dafx_tremolo(const float *x, float *y, int64_t batch, int64_t channels, int64_t samples,
                  const double *rate_hz, const double *depth, double sample_rate);
