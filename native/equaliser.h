void dafx_equaliser(const float *x, float *y, int64_t batch, int64_t channels, int64_t samples,
                    const double *coefficients);
