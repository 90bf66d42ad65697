void dafx_bitcrusher(const float *x, float *y, int64_t batch, int64_t channels, int64_t samples,
                     const double *bits, const double *downsample, const double *mix);
