int64_t dafx_modulation(const float *x, float *y, int64_t batch, int64_t channels, int64_t samples,
                        const double *rate_hz, const double *depth_ms, const double *centre_ms,
                        const double *feedback, const double *mix, double sample_rate);
