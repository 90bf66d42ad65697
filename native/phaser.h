void dafx_phaser(const float *x, float *y, int64_t batch, int64_t channels, int64_t samples,
                 const double *rate_hz, const double *depth, const double *centre_hz,
                 const double *feedback, const double *stages, const double *mix,
                 double sample_rate);
void dafx_phaser_dot(const float *x, const float *g, double *dots, int64_t repeat, int64_t batch,
                     int64_t channels, int64_t samples, const double *rate_hz,
                     const double *depth, const double *centre_hz, const double *feedback,
                     const double *stages, const double *mix, double sample_rate);
