int64_t dafx_roughness_pairs(const double *freqs, const double *levels, const int64_t *offsets,
                             int64_t frames, double *total);
