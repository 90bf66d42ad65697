void dafx_equaliser(const float *x, float *y, int64_t batch, int64_t channels, int64_t samples,
                    const double *coefficients);
void dafx_equaliser_dot(const float *x, const float *g, double *dots, int64_t repeat,
                        int64_t batch, int64_t channels, int64_t samples,
                        const double *coefficients);
