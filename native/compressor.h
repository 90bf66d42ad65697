void dafx_compressor(const float *x, float *y, int64_t batch, int64_t channels, int64_t samples,
                     const double *threshold_db, const double *ratio, const double *attack_ms,
                     const double *release_ms, const double *knee_db, const double *makeup_db,
                     double sample_rate);
void dafx_compressor_dot(const float *x, const float *g, double *dots, int64_t repeat,
                         int64_t batch, int64_t channels, int64_t samples,
                         const double *threshold_db, const double *ratio, const double *attack_ms,
                         const double *release_ms, const double *knee_db, const double *makeup_db,
                         double sample_rate);
