int64_t dafx_modulation(const float *x, float *y, int64_t batch, int64_t channels, int64_t samples,
                        const double *rate_hz, const double *depth_ms, const double *centre_ms,
                        const double *feedback, const double *mix, double sample_rate);
int64_t dafx_modulation_dot(const float *x, const float *g, double *dots, int64_t repeat,
                            int64_t batch, int64_t channels, int64_t samples,
                            const double *rate_hz, const double *depth_ms,
                            const double *centre_ms, const double *feedback, const double *mix,
                            double sample_rate);
