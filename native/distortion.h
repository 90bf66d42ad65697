void dafx_distortion(const float *x, float *y, int64_t batch, int64_t channels, int64_t samples,
                     const double *drive_db, const double *tone_hz, const double *mix,
                     const double *output_db, double sample_rate, int mode);
void dafx_distortion_dot(const float *x, const float *g, double *dots, int64_t repeat,
                         int64_t batch, int64_t channels, int64_t samples, const double *drive_db,
                         const double *tone_hz, const double *mix, const double *output_db,
                         double sample_rate, int mode);
