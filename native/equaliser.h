int64_t dafx_biquad_cascade(const float *x, float *y, int64_t batch, int64_t channels, int64_t samples,
                         const double *coefficients, int64_t sections);
