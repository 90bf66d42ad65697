int64_t dafx_delay(const float *x, float *y, int64_t batch, int64_t channels, int64_t samples,
                   const double *time_ms, const double *feedback, const double *damping,
                   const double *mix, double sample_rate);
