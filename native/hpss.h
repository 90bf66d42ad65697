int dafx_running_median(const double *s, double *out, int64_t n, int64_t m, int64_t row_stride, int64_t col_stride, int64_t out_row_stride, int64_t out_col_stride, int64_t width);
int dafx_running_median_f32(const float *s, float *out, int64_t n, int64_t m, int64_t row_stride, int64_t col_stride, int64_t out_row_stride, int64_t out_col_stride, int64_t width);
void dafx_hpss_percussive_mask_f32(float *spec, const float *harm, const float *perc, int64_t n, double tiny);
