void dafx_set_num_threads(int n);
int dafx_get_num_threads(void);
int dafx_has_openmp(void);
