void dafx_bitcrusher(const float *x, float *y, int64_t batch, int64_t channels, int64_t samples,
                     const double *bits, const double *downsample, const double *mix);
void dafx_bitcrusher_dot(const float *x, const float *g, double *dots, int64_t repeat,
                         int64_t batch, int64_t channels, int64_t samples, const double *bits,
                         const double *downsample, const double *mix);
