void dafx_set_num_threads(int n);
int dafx_get_num_threads(void);
int dafx_has_openmp(void);
int64_t dafx_count_nonfinite(const uint32_t *bits, int64_t n);
void dafx_sum_squares_rows(const float *x, int64_t rows, int64_t n, double *out);
