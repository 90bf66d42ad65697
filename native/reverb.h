int64_t dafx_reverb(const float *x, float *y, int64_t batch, int64_t channels, int64_t samples,
                    const double *room_size, const double *damping, const double *pre_delay_ms,
                    const double *width, const double *mix, double sample_rate);
int64_t dafx_reverb_dot(const float *x, const float *g, double *dots, int64_t repeat,
                        int64_t batch, int64_t channels, int64_t samples,
                        const double *room_size, const double *damping,
                        const double *pre_delay_ms, const double *width, const double *mix,
                        double sample_rate);
