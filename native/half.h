void dafx_f32_to_f16(const float *x, uint16_t *out, int64_t n);
void dafx_f16_to_f32(const uint16_t *x, float *out, int64_t n);
void dafx_f32_to_f16_portable(const float *x, uint16_t *out, int64_t n);
void dafx_f16_to_f32_portable(const uint16_t *x, float *out, int64_t n);
