int64_t dafx_delay(const float *x, float *y, int64_t batch, int64_t channels, int64_t samples,
                   const double *time_ms, const double *feedback, const double *damping,
                   const double *mix, double sample_rate);
int64_t dafx_delay_dot(const float *x, const float *g, double *dots, int64_t repeat, int64_t batch,
                       int64_t channels, int64_t samples, const double *time_ms,
                       const double *feedback, const double *damping, const double *mix,
                       double sample_rate);
