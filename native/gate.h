void dafx_gate(const float *x, float *y, int64_t batch, int64_t channels, int64_t samples,
               const double *threshold_db, const double *attack_ms, const double *release_ms,
               const double *range_db, double sample_rate);
void dafx_gate_dot(const float *x, const float *g, double *dots, int64_t repeat, int64_t batch,
                   int64_t channels, int64_t samples, const double *threshold_db,
                   const double *attack_ms, const double *release_ms, const double *range_db,
                   double sample_rate);
